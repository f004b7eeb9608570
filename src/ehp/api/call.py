"""One interaction being handled: the request, where it was routed, and the store session it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ehp.api.messages import FhirRequest
from ehp.context import RequestContext
from ehp.errors import bad_request
from ehp.fhir.jsonio import JsonError, loads
from ehp.store.store import StoreReader
from ehp.store.writes import WriteTransaction

if TYPE_CHECKING:
    from ehp.access.policy import Access
    from ehp.api.service import FhirService


@dataclass(slots=True)
class Call:
    service: FhirService
    ctx: RequestContext
    request: FhirRequest
    base: str
    """The absolute FHIR base URL, e.g. ``http://127.0.0.1:8080/fhir``."""
    resource_type: str | None
    resource_id: str | None
    version_id: str | None
    reader: StoreReader | WriteTransaction | None = None
    tx: WriteTransaction | None = None
    access: Access | None = None
    """The caller's grant when authorization is on (``None``: nothing is filtered, ``--auth none``)."""

    @property
    def type(self) -> str:
        """The resource type of a type- or instance-level route (always set there)."""
        assert self.resource_type is not None
        return self.resource_type

    @property
    def id(self) -> str:
        assert self.resource_id is not None
        return self.resource_id

    @property
    def store_reader(self) -> StoreReader | WriteTransaction:
        assert self.reader is not None
        return self.reader

    @property
    def write_tx(self) -> WriteTransaction:
        assert self.tx is not None
        return self.tx

    def body_json(self) -> Any:
        """The request body as JSON (already parsed for a Bundle entry)."""
        request = self.request
        if request.resource is not None:
            return request.resource
        if not request.body:
            raise bad_request("the request has no body; a FHIR resource in JSON is expected")
        try:
            return loads(request.body)
        except JsonError as failure:
            raise bad_request(f"the body is not valid JSON: {failure}", code="structure") from None

    def body_resource(self, expected_type: str | None = None) -> dict[str, Any]:
        """The body as a resource object whose ``resourceType`` is ``expected_type`` when given."""
        value = self.body_json()
        if not isinstance(value, dict):
            raise bad_request("the body must be a JSON object holding a FHIR resource", code="structure")
        resource_type = value.get("resourceType")
        if not isinstance(resource_type, str):
            raise bad_request("the resource has no 'resourceType'", "resourceType", code="structure")
        if expected_type is not None and resource_type != expected_type:
            raise bad_request(
                f"the resource is a {resource_type} but the URL is for {expected_type}", "resourceType"
            )
        return value
