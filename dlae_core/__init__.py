"""dlae: the Deep Learning Application Engine (framework-free core)."""

__version__ = "0.1.0"
