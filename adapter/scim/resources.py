"""The resources a connection's SCIM endpoint serves, read and written with scim2-models.

The models are the library's, with one relaxation: an e-mail value is any string. Okta's
test tenants provision `@okta.local` addresses and an IdP's directory is not ours to police;
whether an address may become a BigCommerce customer's is decided where customers are made.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Patch,
    PatchOp,
    ResourceType,
    SCIMException,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)
from scim2_models import Email as LibraryEmail
from scim2_models import Error as ErrorMessage
from scim2_models import User as LibraryUser

# The most resources a list answers at once, whatever `count` asks.
MAX_RESULTS = 200
# Not more members in one group document than this (larger groups: PATCH their members).
MAX_MEMBERS = 10_000

SCIM_CONTENT_TYPE = "application/scim+json"


class Email(LibraryEmail):
    value: str | None = None


class User(LibraryUser[Any]):
    emails: list[Email] | None = None  # type: ignore[assignment]


UserResource = User[EnterpriseUser]  # type: ignore[type-arg]
GroupResource = Group

# What the IdPs send that the RFCs do not: Entra ID's `remove` with a value that selects the
# members to remove, its `replace` on `emails[type eq "work"].value` when the user has no work
# address yet, and extension schemas (Entra's custom attributes) the endpoint does not keep.
TOLERANCE = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

SERVICE_PROVIDER_CONFIG = ServiceProviderConfig(
    documentation_uri=None,
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=False),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="A SCIM token made for this connection by the admin API or the CLI",
            primary=True,
        )
    ],
)

PROVIDER = ScimProvider(
    models=[User, EnterpriseUser, Group],
    resource_types=[
        ResourceType.from_resource(UserResource),
        ResourceType.from_resource(Group),
    ],
    config=SERVICE_PROVIDER_CONFIG,
)


class ScimError(Exception):
    """A request the endpoint refuses, answered in the SCIM error schema."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    @classmethod
    def from_library(cls, exc: SCIMException) -> ScimError:
        return cls(exc.status, exc.detail, exc.scim_type or None)

    @classmethod
    def from_validation(cls, exc: ValidationError) -> ScimError:
        errors = ErrorMessage.from_validation_errors(exc)
        first = errors[0] if errors else None
        if first is None:
            return cls(400, "invalid resource", "invalidValue")
        status = int(first.status) if first.status else 400
        return cls(status, first.detail or "invalid resource", first.scim_type or None)

    def body(self, reference: str | None = None) -> dict[str, Any]:
        detail = self.detail if reference is None else f"{self.detail} (reference {reference})"
        body: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(self.status),
            "detail": detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def _validated(model: Any, payload: Any, context: Context) -> Any:
    if not isinstance(payload, dict):
        raise ScimError(400, "the body is not a JSON object", "invalidSyntax")
    try:
        return model.model_validate(payload, scim_ctx=context, scim_policy=TOLERANCE)
    except ValidationError as exc:
        raise ScimError.from_validation(exc) from None
    except SCIMException as exc:
        raise ScimError.from_library(exc) from None


def read_user(payload: Any, *, replacing: bool = False) -> Any:
    """A user from a POST (or, `replacing`, a PUT) body."""
    context = (
        Context.RESOURCE_REPLACEMENT_REQUEST if replacing else Context.RESOURCE_CREATION_REQUEST
    )
    user = _validated(UserResource, _without_read_only(payload), context)
    if not user.user_name or not user.user_name.strip():
        raise ScimError(400, "userName is required", "invalidValue")
    return user


def read_group(payload: Any, *, replacing: bool = False) -> Group:
    context = (
        Context.RESOURCE_REPLACEMENT_REQUEST if replacing else Context.RESOURCE_CREATION_REQUEST
    )
    group: Group = _validated(Group, _without_read_only(payload), context)
    if not group.display_name or not group.display_name.strip():
        raise ScimError(400, "displayName is required", "invalidValue")
    if group.members and len(group.members) > MAX_MEMBERS:
        raise ScimError(413, f"more than {MAX_MEMBERS} members in one request", "tooMany")
    return group


def stored_user(document: dict[str, Any]) -> Any:
    """A user as kept (our own dump): read back without request rules."""
    return UserResource.model_validate(document, scim_policy=TOLERANCE)


def stored_group(document: dict[str, Any]) -> Group:
    return Group.model_validate(document, scim_policy=TOLERANCE)


def _without_read_only(payload: Any) -> Any:
    """A PUT may echo what it was given (`id`, `meta`, Entra and Okta do): the server's own
    values stand, so they are dropped before the body is read."""
    if isinstance(payload, dict):
        return {k: v for k, v in payload.items() if k not in ("id", "meta")}
    return payload


def patch_resource(payload: Any, resource: Any, *, resource_id: str) -> bool:
    """Apply a PATCH body to `resource` in place; whether anything changed."""
    if not isinstance(payload, dict):
        raise ScimError(400, "the body is not a JSON object", "invalidSyntax")
    operations = payload.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "a PATCH needs Operations", "invalidSyntax")
    cleaned = {**payload, "Operations": [_okta_and_entra(op, resource_id) for op in operations]}
    model = type(resource)
    patch = _validated(PatchOp[model], cleaned, Context.RESOURCE_PATCH_REQUEST)  # type: ignore[valid-type]
    try:
        return bool(patch.patch(resource, scim_policy=TOLERANCE))
    except SCIMException as exc:
        raise ScimError.from_library(exc) from None
    except ValidationError as exc:
        raise ScimError.from_validation(exc) from None


def _okta_and_entra(operation: Any, resource_id: str) -> Any:
    """Operations as the IdPs send them, made readable by the library:

    - Okta renames a pushed group with `{"op": "replace", "value": {"id": …, "displayName": …}}`:
      its own id is no change.
    - Entra ID sends the enterprise `manager` as a bare id string.
    """
    if not isinstance(operation, dict):
        return operation
    value = operation.get("value")
    if isinstance(value, dict) and "id" in value and value.get("id") == resource_id:
        operation = {**operation, "value": {k: v for k, v in value.items() if k != "id"}}
    path = operation.get("path")
    if isinstance(path, str) and path.lower().endswith(":manager") and isinstance(value, str):
        operation = {**operation, "value": {"value": value}}
    return operation


def dump(resource: Any, *, created: bool = False, params: Any = None) -> dict[str, Any]:
    """The resource as answered; `params`: the request's attributes / excludedAttributes."""
    context = Context.RESOURCE_CREATION_RESPONSE if created else Context.RESOURCE_QUERY_RESPONSE
    document: dict[str, Any] = resource.model_dump(scim_ctx=context, response_parameters=params)
    return document


def keep(resource: Any) -> dict[str, Any]:
    """What is stored of a resource: everything but the server's own id, meta and groups."""
    document = dump(resource)
    for key in ("id", "meta", "groups", "members"):
        document.pop(key, None)
    return document


def discovery(kind: str) -> list[dict[str, Any]] | dict[str, Any]:
    """The documents of ServiceProviderConfig, ResourceTypes and Schemas."""
    context = Context.RESOURCE_QUERY_RESPONSE
    if kind == "ServiceProviderConfig":
        return SERVICE_PROVIDER_CONFIG.model_dump(scim_ctx=context)
    if kind == "ResourceTypes":
        return [r.model_dump(scim_ctx=context) for r in PROVIDER.resource_types]
    return [s.model_dump(scim_ctx=context) for s in PROVIDER.schemas]
