"""The input of an operation: a ``Parameters`` body, the URL's query, or both, read by type.

Errors are 400s whose expression names the parameter (``Parameters.parameter.where(name='x')``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ehp.api.call import Call
from ehp.errors import FhirError, bad_request
from ehp.fhir.primitives import is_whole_number
from ehp.index.refs import reference_id

Json = dict[str, Any]


class OperationInput:
    def __init__(self, call: Call) -> None:
        self.body: dict[str, list[Json]] = {}
        self.query: dict[str, str] = {}
        for name, value in call.request.query:
            if not name.startswith("_"):
                self.query.setdefault(name, value)
        if call.request.body or call.request.resource is not None:
            parameters = call.body_resource("Parameters")
            raw = parameters.get("parameter") or []
            if not isinstance(raw, list):
                raise bad_request("Parameters.parameter must be an array", "Parameters.parameter")
            for parameter in raw:
                if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
                    raise bad_request("every parameter needs a name", "Parameters.parameter")
                self.body.setdefault(parameter["name"], []).append(parameter)

    def _raw(self, name: str, value_types: tuple[str, ...]) -> Any:
        parameters = self.body.get(name)
        if parameters:
            if len(parameters) > 1:
                raise self.failure(name, "is given more than once")
            for value_type in value_types:
                if f"value{value_type}" in parameters[0]:
                    return parameters[0][f"value{value_type}"]
            raise self.failure(name, f"needs a value of type {' or '.join(value_types)}")
        return self.query.get(name)

    def failure(self, name: str, problem: str) -> FhirError:
        return bad_request(f"the parameter '{name}' {problem}", f"Parameters.parameter.where(name='{name}')")

    def resource(self, name: str, resource_type: str) -> Json:
        parameters = self.body.get(name) or []
        if len(parameters) != 1 or not isinstance(parameters[0].get("resource"), dict):
            raise self.failure(name, f"must be given once, holding a {resource_type}")
        resource: Json = parameters[0]["resource"]
        if resource.get("resourceType") != resource_type:
            raise self.failure(name, f"must hold a {resource_type}, not a {resource.get('resourceType')}")
        return resource

    def reference(self, name: str, resource_type: str, *, required: bool = True) -> str | None:
        """The id of a ``Type/id`` reference (valueReference, or a string in the query)."""
        value = self._raw(name, ("Reference", "String"))
        if value is None:
            if required:
                raise self.failure(name, f"is required: a reference to a {resource_type}")
            return None
        found = reference_id(value, resource_type)
        if found is None:
            raise self.failure(name, f"must be a reference {resource_type}/id")
        return found

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name, ("Boolean",))
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return bool(value == "true")
        raise self.failure(name, "must be true or false")

    def integer(self, name: str, default: int, maximum: int) -> int:
        value = self._raw(name, ("Integer", "PositiveInt", "UnsignedInt"))
        if value is None:
            return default
        if isinstance(value, str) and is_whole_number(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.failure(name, "must be a positive whole number")
        return min(value, maximum)

    def day(self, name: str, default: date) -> date:
        value = self._raw(name, ("Date",))
        if value is None:
            return default
        problem = self.failure(name, f"must be a date YYYY-MM-DD, not '{value}'")
        if not isinstance(value, str) or len(value) != 10:
            raise problem
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise problem from None

    def code(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        value = self._raw(name, ("Code", "String", "Coding"))
        if isinstance(value, dict):
            value = value.get("code")
        if value is None and default is not None:
            return default
        if value not in allowed:
            raise self.failure(name, f"must be one of {', '.join(allowed)}")
        return str(value)
