"""Audio utilities shared by the engines and the worker: resampling, MP3 rules, inspection."""
