"""National registries: citizens by IIN, organisations, practitioners, attachment."""
