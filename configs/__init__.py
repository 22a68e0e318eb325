"""Named configs: one JSON file each, data not code (see musekit/config.py)."""
