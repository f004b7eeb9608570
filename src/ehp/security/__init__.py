"""Authentication (tokens, keys, scopes); authorization and audit build on it."""
