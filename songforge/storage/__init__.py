"""Where finished audio lives (a local directory now; S3-compatible later), behind one interface."""
