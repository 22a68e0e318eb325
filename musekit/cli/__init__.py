"""Command-line entry points (absl flags, defined per call, never at import time)."""
