"""The write rule of ``SearchParameter``: a custom parameter must be one a ``$reindex`` can apply."""

from __future__ import annotations

from typing import Any

from ehp.errors import Category, error
from ehp.fhir.jsonio import loads
from ehp.index.custom import CustomParameterError, custom_parameter, is_custom
from ehp.reindex.jobs import search_parameter_query
from ehp.store.schema import resources
from ehp.store.writes import WriteTransaction


class SearchParameterRule:
    """Refuses (422) an active custom SearchParameter that cannot be applied (see
    :mod:`ehp.index.custom`) or whose code another active custom parameter of a shared base has."""

    resource_types = frozenset({"SearchParameter"})

    def check(self, tx: WriteTransaction, resource_id: str, resource: dict[str, Any]) -> bool:
        if not is_custom(resource):
            return False
        try:
            parameter = custom_parameter(resource)
        except CustomParameterError as failure:
            raise error(Category.UNPROCESSABLE, "business-rule", str(failure), failure.expression) from None
        for other_id, other in _other_search_parameters(tx, resource_id):
            if not is_custom(other) or other.get("code") != parameter.code:
                continue
            shared = sorted(set(parameter.base).intersection(other.get("base") or ()))
            if shared:
                raise error(
                    Category.UNPROCESSABLE,
                    "business-rule",
                    f"SearchParameter/{other_id} already defines the custom parameter '{parameter.code}' "
                    f"on {', '.join(shared)}",
                    "SearchParameter.code",
                )
        return False


def _other_search_parameters(tx: WriteTransaction, resource_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = tx.query(search_parameter_query().where(resources.c.id != resource_id))
    return [(row.id, loads(row.content)) for row in rows if row.content is not None]
