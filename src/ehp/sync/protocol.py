"""The replication wire format: NDJSON lines, one resource version each (``docs/federation.md``).

A line is a JSON object whose last member is the resource exactly as stored::

    {"seq":42,"type":"Encounter","id":"...","version":3,"lastUpdated":1764...,"method":"PUT","resource":{...}}

``resource`` is ``null`` for a delete. The resource's bytes are cut out of the line rather than
parsed and written again, so what arrives is byte for byte what the sender stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ehp.store.versions import StoredVersion

NDJSON = "application/x-ndjson"
NODE_SOURCE = "urn:ehp:node:"
"""``meta.source`` (and the store's actor) of a version replicated from a node: ``urn:ehp:node:{ID}``."""
PULLED_ACTOR = "urn:ehp:central"
"""The actor a node records on versions it pulled from the centre: they are never shipped back."""
_RESOURCE = b',"resource":'


class ProtocolError(ValueError):
    """A line of the replication stream is malformed."""


@dataclass(frozen=True, slots=True)
class Change:
    """One resource version on the wire: ``seq`` is its position in the sender's change sequence."""

    seq: int
    version: StoredVersion
    extra: dict[str, Any]
    """Other members of the line (``origin`` in the centre's feed)."""


def node_source(node_id: str) -> str:
    return f"{NODE_SOURCE}{node_id}"


def encode(seq: int, version: StoredVersion, **extra: Any) -> bytes:
    header = {
        "seq": seq,
        "type": version.resource_type,
        "id": version.id,
        "version": version.version,
        "lastUpdated": version.last_updated,
        "method": version.method,
        **extra,
    }
    content = version.content if version.content is not None else b"null"
    return orjson.dumps(header)[:-1] + _RESOURCE + content + b"}\n"


def decode(line: bytes) -> Change:
    cut = line.find(_RESOURCE)
    if cut < 0 or not line.rstrip().endswith(b"}"):
        raise ProtocolError('a change line must end with its "resource" member')
    try:
        header = orjson.loads(line[:cut] + b"}")
    except orjson.JSONDecodeError as failure:
        raise ProtocolError(f"malformed change line: {failure}") from None
    body = line[cut + len(_RESOURCE) :].rstrip()[:-1]
    content = None if body.strip() == b"null" else body
    try:
        version = StoredVersion(
            resource_type=_text(header, "type"),
            id=_text(header, "id"),
            version=_number(header, "version"),
            last_updated=_number(header, "lastUpdated"),
            method=_text(header, "method"),
            content=content,
        )
        seq = _number(header, "seq")
    except KeyError as missing:
        raise ProtocolError(f"a change line lacks {missing}") from None
    if (content is None) != (version.method == "DELETE"):
        raise ProtocolError(f"{version.location}: a delete and only a delete has no resource")
    extra = {key: value for key, value in header.items() if key not in _HEADER}
    return Change(seq, version, extra)


_HEADER = frozenset({"seq", "type", "id", "version", "lastUpdated", "method"})


def _text(header: dict[str, Any], name: str) -> str:
    value = header[name]
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"'{name}' must be a non-empty string")
    return value


def _number(header: dict[str, Any], name: str) -> int:
    value = header[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"'{name}' must be a non-negative integer")
    return value


def decode_lines(body: bytes) -> Iterator[bytes]:
    """The non-empty lines of an NDJSON body."""
    for line in body.split(b"\n"):
        if line.strip():
            yield line
