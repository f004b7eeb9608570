"""Store failures the API turns into HTTP statuses."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's own failures."""


class VersionConflict(StoreError):
    """``If-Match`` named a version that is no longer current (HTTP 412)."""


class ConcurrentWrite(StoreError):
    """Another transaction wrote the same resource first (HTTP 409); the client may retry."""
