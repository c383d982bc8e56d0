"""Engines turn a validated request into audio samples; one module per engine family."""
