"""Requests and responses of the FHIR interactions, independent of HTTP.

A REST call and an entry of a batch or transaction Bundle are the same :class:`FhirRequest`,
handled by the same interaction; only the way in and out differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ehp.index.extract import IndexRows
from ehp.store.versions import StoredVersion


@dataclass(slots=True)
class FhirRequest:
    method: str
    path: str
    """Relative to the FHIR base, without the query: ``Patient/123/_history/2``."""
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case header names."""
    body: bytes | None = None
    resource: Any = None
    """The parsed body when it came already parsed (a Bundle entry's ``resource``)."""
    assigned_id: str | None = None
    """For a create inside a transaction: the id chosen before the entry runs (``urn:uuid:`` links)."""
    validated: bool = False
    """The resource was already validated (a transaction validates before taking the write lock)."""
    index_rows: IndexRows | None = None
    """The resource's index rows, when extracted before the transaction began."""
    references_resolved: bool = False
    """Its conditional references were already resolved (a transaction's entries, an import's
    lines): the write does not walk the resource for them again."""

    @classmethod
    def from_url(
        cls, method: str, url: str, headers: Mapping[str, str] | None = None, resource: Any = None
    ) -> FhirRequest:
        path, _, query = url.partition("?")
        return cls(
            method=method.upper(),
            path=path.strip("/"),
            query=parse_qsl(query, keep_blank_values=True),
            headers=headers or {},
            resource=resource,
        )

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    @property
    def prefer_return(self) -> str:
        """``minimal``, ``representation`` (the default) or ``OperationOutcome``."""
        prefer = self.headers.get("prefer", "")
        for part in prefer.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip() == "return":
                return value.strip().strip('"')
        return "representation"

    @property
    def prefer_handling(self) -> str:
        prefer = self.headers.get("prefer", "")
        for part in prefer.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip() == "handling":
                return value.strip().strip('"')
        return "lenient"


@dataclass(slots=True)
class FhirResponse:
    status: int
    resource: dict[str, Any] | None = None
    """A resource to send, or ``None``."""
    body: bytes | None = None
    """A resource already serialised (a stored version): sent as is, never parsed."""
    headers: dict[str, str] = field(default_factory=dict)
    version: StoredVersion | None = None
    """The stored version this response is about (read or written), when there is one."""
    stream: Iterable[bytes] | None = None
    """A body sent as it is produced (a bulk export's NDJSON file), of ``media_type``."""
    media_type: str | None = None

    @property
    def has_content(self) -> bool:
        return self.resource is not None or self.body is not None or self.stream is not None
