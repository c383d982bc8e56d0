"""Remote engines: relay a task to an inference service that already runs the model.

They do no local compute, so one worker process carries many upstream tasks at
once on an event loop (``songforge/worker/relay.py``) instead of one song per
process. Families: ``minimax-cloud`` (MiniMax's own API), ``sglang-omni``
(MiniMax Music 3 served by SGLang-Omni) and ``ace-step-server`` (ACE-Step 1.5's
API server). See docs/engines.md.
"""
