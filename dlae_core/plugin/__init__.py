"""Plugin machinery: hook specifications, the plugin manager and the registry of components."""
