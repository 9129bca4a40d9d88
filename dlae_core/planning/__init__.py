"""Planning: from a parsed config to checked graphs (no framework, no data)."""
