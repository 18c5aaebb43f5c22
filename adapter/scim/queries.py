"""A list request (`GET /Users?filter=…&startIndex=…&count=…`) as the endpoint runs it.

The filter is parsed and checked by scim2-models. The comparisons Okta and Entra ID send
(`userName eq "…"`, `externalId eq "…"`, `displayName eq "…"`, `id eq "…"`) are answered from
an index; any other valid filter is evaluated by the library over the connection's resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, SCIMException, SearchRequest
from scim2_models.path.expressions import CompareOperator, Comparison

from adapter.scim.resources import MAX_RESULTS, TOLERANCE, ScimError

# The attributes each resource keeps an index for, as lower-case filter names.
INDEXED = {"users": ("username", "externalid", "id"), "groups": ("displayname", "externalid", "id")}
QUERY_PARAMETERS = ("filter", "startIndex", "count", "attributes", "excludedAttributes")


@dataclass(frozen=True)
class ExactMatch:
    attribute: str  # lower case: "username", "externalid", "displayname", "id"
    value: str


@dataclass(frozen=True)
class ListQuery:
    request: Any  # the library's SearchRequest: filter, attributes, excludedAttributes
    exact: ExactMatch | None
    start_index: int
    count: int

    @property
    def filtered(self) -> bool:
        return self.request.filter is not None


def read_query(params: Mapping[str, str], model: Any, kind: str) -> ListQuery:
    given = {k: v for k, v in params.items() if k in QUERY_PARAMETERS}
    try:
        request = SearchRequest[model].model_validate(
            given, scim_ctx=Context.SEARCH_REQUEST, scim_policy=TOLERANCE
        )
    except ValidationError as exc:
        raise ScimError.from_validation(exc) from None
    except SCIMException as exc:
        raise ScimError.from_library(exc) from None
    count = MAX_RESULTS if request.count is None else max(0, min(request.count, MAX_RESULTS))
    return ListQuery(
        request=request,
        exact=_exact(request.filter, kind),
        start_index=request.start_index or 1,
        count=count,
    )


def _exact(scim_filter: Any, kind: str) -> ExactMatch | None:
    if scim_filter is None:
        return None
    node = scim_filter.ast
    if not isinstance(node, Comparison) or node.op is not CompareOperator.eq:
        return None
    path = node.attr_path
    name = path.attr.lower()
    if path.sub_attr is not None or name not in INDEXED[kind] or not isinstance(node.value, str):
        return None
    if path.uri is not None and not path.uri.lower().startswith(
        "urn:ietf:params:scim:schemas:core:2.0:"
    ):
        return None
    return ExactMatch(name, node.value)


def matches(query: ListQuery, resource: Any) -> bool:
    if query.request.filter is None:
        return True
    try:
        return bool(query.request.filter.match(resource))
    except SCIMException as exc:
        raise ScimError.from_library(exc) from None
