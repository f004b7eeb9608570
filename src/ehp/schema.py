"""Every table of an EHP database, on one metadata: the store's and the security tables."""

from __future__ import annotations

import ehp.access.schema  # registers the access tables on the metadata
import ehp.security.launch_schema  # registers the App Launch tables on the metadata
import ehp.security.schema  # noqa: F401  (registers the security tables on the metadata)
from ehp.store.schema import metadata

__all__ = ["metadata"]
