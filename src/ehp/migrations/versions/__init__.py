"""One Alembic script per schema revision, applied in order by ``ehp.store.database.migrate``."""
