"""Matching sounds to synth presets: audio I/O, the command line, and (later) encoders,
training and ``match_preset``."""
