"""An example dlae plugin distribution (see plugin.py)."""
