"""What the store hands back: one stored version of a resource."""

from __future__ import annotations

from dataclasses import dataclass

from ehp.store.clock import to_instant


@dataclass(frozen=True, slots=True)
class StoredVersion:
    resource_type: str
    id: str
    version: int
    last_updated: int
    """Microseconds since the Unix epoch, UTC."""
    method: str
    """The HTTP method that made this version: POST, PUT, PATCH or DELETE."""
    content: bytes | None
    """The resource's JSON exactly as stored (``None`` for a delete)."""
    seq: int = 0
    """Position in the store's change sequence (0 while not yet committed)."""

    @property
    def deleted(self) -> bool:
        return self.method == "DELETE"

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def last_updated_instant(self) -> str:
        return to_instant(self.last_updated)

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version}"
