"""The techniques (model types): each a package registered as a plugin component."""
