"""The assembled server: the route table and the application (above every other layer but the CLI)."""
