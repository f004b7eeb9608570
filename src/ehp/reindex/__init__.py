"""Custom search parameters and ``$reindex``: background jobs that put them into effect."""
