"""Fusion-quality metrics (functional, batched, device-agnostic) and their conventions."""
