"""Every table of an EHP database, on one metadata: the store's and those of each package with tables."""

from __future__ import annotations

import ehp.access.schema
import ehp.bulk.schema
import ehp.reindex.schema
import ehp.security.launch_schema
import ehp.security.schema
import ehp.sync.schema  # noqa: F401  (the federation tables)
from ehp.store.schema import metadata

__all__ = ["metadata"]
