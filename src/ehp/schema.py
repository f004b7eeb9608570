"""Every table of an EHP database, on one metadata: the store's, the security and the reindex tables."""

from __future__ import annotations

import ehp.reindex.schema  # registers the reindex jobs table on the metadata
import ehp.security.schema  # noqa: F401  (registers the security tables on the metadata)
from ehp.store.schema import metadata
from ehp.sync import schema as sync_schema  # noqa: F401  (registers the federation tables)

__all__ = ["metadata"]
