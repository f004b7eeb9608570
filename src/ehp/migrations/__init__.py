"""The database schema's history: Alembic's environment and one script per revision.

These know every package's tables (``tables.py`` gathers them on one metadata), so they sit above
all the layers; :func:`ehp.store.database.migrate` runs them by path, not by import.
"""
