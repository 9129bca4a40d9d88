"""An example third-party dlae plugin distribution: ``plugin.py`` registers the components,
``torch_impl.py`` and ``tf_impl.py`` implement them for the two backends (see README.md)."""
