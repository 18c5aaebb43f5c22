"""The admin API's bodies (also the shapes `sso-adapter apply` reads), validated by pydantic.

Secrets are SecretStr so that no repr, log line or error message can print them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
ChannelId = Annotated[int, Field(ge=1, le=2**31 - 1)]
GroupId = Annotated[int, Field(ge=0, le=2**31 - 1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


READ_ONLY = "read-only: answered by GET, ignored by PUT"


class _Answered(BaseModel):
    """What GET answers besides the body: accepted back by PUT (so GET, edit, PUT works) and
    ignored, but for a `slug` naming another resource than the path."""

    slug: str | None = Field(
        default=None, description=f"{READ_ONLY} (must be the path's slug when given)"
    )
    created_at: datetime | None = Field(default=None, description=READ_ONLY)
    updated_at: datetime | None = Field(default=None, description=READ_ONLY)


# Fields of the bodies that are never stored: GET's read-only answers.
ANSWERED_FIELDS = {"slug", "created_at", "updated_at", "has_client_secret", "has_own_api_token"}


class ChannelBody(_Body):
    channel_id: ChannelId
    kind: Literal["hosted", "headless"]
    storefront_url: str = Field(max_length=2048)
    delivery: Literal["jwt", "access_token"] | None = None
    login_token_path: str | None = Field(default=None, max_length=255)
    graphql_url: str | None = Field(default=None, max_length=2048)
    storefront_token: SecretStr | None = None
    return_url: str | None = Field(default=None, max_length=2048)
    exchange_secret: SecretStr | None = None
    # Where /sso/{store}/logout sends the shopper, relative to storefront_url. Default:
    # /login.php?action=logout (hosted), /logout (headless).
    logout_path: str | None = Field(default=None, max_length=255, pattern=r"^/[^/\\]")

    @model_validator(mode="after")
    def _headless_fields(self) -> ChannelBody:
        if self.kind == "hosted" and self.delivery is not None:
            raise ValueError("delivery is only for headless channels")
        if self.kind == "headless" and self.delivery is None:
            self.delivery = "jwt"
        if self.delivery == "access_token" and self.return_url is None:
            raise ValueError("delivery access_token needs return_url")
        if self.delivery != "access_token":
            stray = [
                name
                for name in ("graphql_url", "storefront_token", "return_url", "exchange_secret")
                if getattr(self, name) is not None
            ]
            if stray:
                raise ValueError(f"{', '.join(stray)} only go with delivery access_token")
        if self.kind == "hosted" and self.login_token_path is not None:
            raise ValueError("login_token_path is only for headless channels")
        if self.login_token_path is not None and not (
            self.login_token_path.startswith("/") and self.login_token_path.endswith("/")
        ):
            raise ValueError("login_token_path must start and end with /")
        return self


class StoreB2bBody(_Body):
    """B2B Edition for this store: absent or `enabled: false` means none."""

    enabled: bool = False
    api_base_url: str = Field(default="https://api-b2b.bigcommerce.com", max_length=2048)
    # Write-only; when absent the store's api_token is used (it needs the B2B Edition scope).
    api_token: SecretStr | None = None
    has_own_api_token: bool | None = Field(default=None, description=READ_ONLY)


class StoreBody(_Body, _Answered):
    store_hash: str = Field(pattern=r"^[a-z0-9]{1,64}$")
    client_id: str = Field(min_length=1, max_length=255)
    # Write-only secrets: required when the store is created, kept when omitted on replace.
    client_secret: SecretStr | None = Field(
        default=None,
        description="write-only: the API account's client secret (signs login JWTs); "
        "required when the store is created, kept when omitted",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="write-only: the API account's access token; required when the store "
        "is created, kept when omitted",
    )
    api_base_url: str = Field(default="https://api.bigcommerce.com", max_length=2048)
    default_channel_id: ChannelId = 1
    bind_request_ip: bool = False
    app_client_id: str | None = Field(default=None, max_length=255)
    app_client_secret: SecretStr | None = None
    channels: list[ChannelBody] = Field(min_length=1)
    b2b: StoreB2bBody | None = None

    @model_validator(mode="after")
    def _channels_consistent(self) -> StoreBody:
        ids = [c.channel_id for c in self.channels]
        if len(ids) != len(set(ids)):
            raise ValueError("channel ids must be unique")
        if self.default_channel_id not in ids:
            raise ValueError("default_channel_id must be one of the channels")
        return self


class GroupMapping(_Body):
    group: str = Field(min_length=1, max_length=512)
    customer_group_id: GroupId


BuiltInRole = Literal["admin", "senior_buyer", "junior_buyer"]


class CompanyMapping(_Body):
    key: str = Field(min_length=1, max_length=200)
    company_id: int = Field(ge=1, le=2**31 - 1)


class RoleMapping(_Body):
    group: str = Field(min_length=1, max_length=512)
    role: BuiltInRole | None = None
    company_role_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _one_role(self) -> RoleMapping:
        if (self.role is None) == (self.company_role_id is None):
            raise ValueError("give exactly one of role and company_role_id")
        return self


class ConnectionB2bBody(_Body):
    """Where people signing in through this connection land in B2B Edition."""

    company_from: Literal["email_domain", "tenant", "claim", "fixed"] = "email_domain"
    company_claim: str | None = Field(default=None, min_length=1, max_length=256)
    companies: list[CompanyMapping] = Field(default_factory=list, max_length=10_000)
    create_companies: bool = False
    company_customer_group_id: GroupId | None = None
    role_mappings: list[RoleMapping] = Field(default_factory=list, max_length=1000)
    default_role: BuiltInRole = "junior_buyer"

    @model_validator(mode="after")
    def _consistent(self) -> ConnectionB2bBody:
        if (self.company_from == "claim") != (self.company_claim is not None):
            raise ValueError("company_claim goes with company_from claim, and only with it")
        if self.company_from == "fixed" and len(self.companies) != 1:
            raise ValueError("company_from fixed needs exactly one entry in companies")
        keys = [c.key.casefold() for c in self.companies]
        if len(keys) != len(set(keys)):
            raise ValueError("company keys must be unique (compared case-insensitively)")
        return self


DeactivationAction = Literal[
    "block", "customer_group", "remove_channels", "b2b_deactivate", "delete_customer"
]


class ConnectionScimBody(_Body):
    """What the connection's SCIM endpoint does with the people the IdP provisions."""

    subject_attribute: Literal["externalId", "userName"] = Field(
        default="externalId",
        description="the SCIM attribute that carries the login subject",
    )
    provision_customers: bool = Field(
        default=False,
        description="an active user gets their BigCommerce customer and link at once",
    )
    on_deactivate: list[DeactivationAction] = Field(
        default_factory=lambda: list[DeactivationAction](["block"]),
        max_length=5,
        description="what deactivation does; `block` is always done",
    )
    deactivated_customer_group_id: GroupId | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ConnectionScimBody:
        if len(set(self.on_deactivate)) != len(self.on_deactivate):
            raise ValueError("on_deactivate lists an action twice")
        if "block" not in self.on_deactivate:
            self.on_deactivate = ["block", *self.on_deactivate]
        wants_group = "customer_group" in self.on_deactivate
        if wants_group != (self.deactivated_customer_group_id is not None):
            raise ValueError(
                "deactivated_customer_group_id goes with the customer_group action, "
                "and only with it"
            )
        if "delete_customer" in self.on_deactivate and len(self.on_deactivate) > 2:
            raise ValueError("delete_customer goes with block alone")
        return self


class _ConnectionCommon(_Body, _Answered):
    channel_ids: list[ChannelId] = Field(min_length=1)
    create_customers: bool = True
    link_by_email: bool = False
    customer_group_id: GroupId | None = None
    group_mappings: list[GroupMapping] = Field(default_factory=list)
    profile_sync: Literal["on_create", "every_login"] = "on_create"
    # An existing customer who may not use the requested channel: add the channel to the
    # customer (true) or refuse with 403 (false).
    add_channel_to_customer: bool = False
    # The operator's statement that this IdP only ever asserts e-mail addresses it verified.
    # Without it (or, for OIDC, an `email_verified: true` claim) an e-mail is never used to
    # link, create or update a customer: that would let an IdP user pre-claim someone's account.
    email_verified: bool = False
    b2b: ConnectionB2bBody | None = None
    scim: ConnectionScimBody | None = None


class OidcConnectionBody(_ConnectionCommon):
    protocol: Literal["oidc"]
    issuer: str = Field(max_length=2048)
    client_id: str = Field(min_length=1, max_length=255)
    # Write-only: required when the connection is created, kept when omitted on replace.
    client_secret: SecretStr | None = Field(
        default=None,
        description="write-only: required when the connection is created, kept when omitted",
    )
    has_client_secret: bool | None = Field(default=None, description=READ_ONLY)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    subject_claim: str = Field(default="sub", min_length=1, max_length=128)
    allowed_tenants: list[str] | None = None
    groups_claim: str | None = Field(default=None, max_length=128)
    # Other audiences an ID token may name besides client_id (OpenID Connect Core 3.1.3.7
    # step 3); a token naming any audience not listed here is refused.
    trusted_audiences: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=20
    )

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, scopes: list[str]) -> list[str]:
        if "openid" not in scopes:
            raise ValueError("must include openid")
        if any(not s or " " in s for s in scopes):
            raise ValueError("scopes must be non-empty words")
        return scopes

    @model_validator(mode="after")
    def _tenants(self) -> OidcConnectionBody:
        if self.allowed_tenants is not None and not self.allowed_tenants:
            raise ValueError("allowed_tenants must be null or list at least one tenant")
        return self

    @field_validator("trusted_audiences")
    @classmethod
    def _audiences_exact(cls, audiences: list[str], info: ValidationInfo) -> list[str]:
        # Audiences are compared exactly: an entry differing from the intended one by padding
        # or an invisible character would trust an audience nobody meant, so it is refused
        # rather than trimmed.
        if any(a != a.strip() or not a.isprintable() for a in audiences):
            raise ValueError("entries must be printable, without spaces around them")
        if len(set(audiences)) != len(audiences):
            raise ValueError("must not repeat an audience")
        if info.data.get("client_id") in audiences:
            raise ValueError("lists the audiences besides client_id, not client_id itself")
        return audiences


class SamlConnectionBody(_ConnectionCommon):
    protocol: Literal["saml"]
    idp_metadata_xml: str | None = None
    idp_metadata_url: str | None = Field(default=None, max_length=2048)
    subject_attribute: str | None = Field(default=None, max_length=512)
    email_attribute: str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
    first_name_attribute: str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
    last_name_attribute: str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
    allow_idp_initiated: bool = False
    # Sign AuthnRequests (always done when the IdP's metadata asks for it).
    sign_requests: bool = False
    # SHA-1 signatures and digests are refused unless the IdP cannot do better.
    allow_sha1: bool = False
    groups_attribute: str | None = Field(default=None, max_length=512)


ConnectionBody = Annotated[OidcConnectionBody | SamlConnectionBody, Field(discriminator="protocol")]

# Which fields of each body are secrets (write-only, stored sealed).
STORE_SECRETS = ("client_secret", "api_token", "app_client_secret")
STORE_B2B_SECRETS = ("api_token",)
CHANNEL_SECRETS = ("storefront_token", "exchange_secret")
CONNECTION_SECRETS = ("client_secret",)


# -- answers -----------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    error: str
    message: str
    field: str | None = None


class ChannelView(BaseModel):
    channel_id: int
    kind: str
    storefront_url: str
    delivery: str | None = None
    login_token_path: str | None = None
    graphql_url: str | None = None
    return_url: str | None = None
    logout_path: str | None = None


class TokenExchange(BaseModel):
    code: str = Field(min_length=1, max_length=256)


class StoreB2bView(BaseModel):
    enabled: bool
    api_base_url: str
    # Whether B2B Edition gets a token of its own (else the store's api_token).
    has_own_api_token: bool


class StoreView(BaseModel):
    slug: str
    store_hash: str
    client_id: str
    api_base_url: str
    default_channel_id: int
    bind_request_ip: bool
    app_client_id: str | None
    channels: list[ChannelView]
    b2b: StoreB2bView | None = None
    created_at: datetime
    updated_at: datetime


class StoreList(BaseModel):
    items: list[StoreView]


class OidcConnectionView(OidcConnectionBody):
    """GET's answer: the body PUT takes, less client_secret, with the read-only fields."""

    client_secret: SecretStr | None = Field(default=None, exclude=True)
    slug: str
    created_at: datetime
    updated_at: datetime
    has_client_secret: bool


class SamlConnectionView(SamlConnectionBody):
    """GET's answer: the body PUT takes, with the read-only fields."""

    slug: str
    created_at: datetime
    updated_at: datetime


ConnectionView = Annotated[OidcConnectionView | SamlConnectionView, Field(discriminator="protocol")]


class ScimTokenView(BaseModel):
    id: int
    created_at: datetime
    last_used_at: datetime | None


class ScimTokenCreated(BaseModel):
    id: int
    # Shown this once: only its SHA-256 is kept.
    token: str
    created_at: datetime


class ScimTokenList(BaseModel):
    items: list[ScimTokenView]


class ConnectionList(BaseModel):
    items: list[ConnectionView]


class LinkView(BaseModel):
    id: int
    connection: str
    subject: str
    customer_id: int
    email: str | None
    created_at: datetime
    last_login_at: datetime | None
    login_count: int


class LinkPage(BaseModel):
    items: list[LinkView]
    next_cursor: str | None


class NewLink(_Body):
    connection: Slug
    subject: str = Field(min_length=1, max_length=512)
    customer_id: int = Field(ge=1, le=2**53)


class LinkUpdate(_Body):
    customer_id: int = Field(ge=1, le=2**53)


class EventView(BaseModel):
    id: int
    created_at: datetime
    kind: str
    outcome: str
    reason: str | None
    reference: str | None
    actor: str | None
    connection: str | None
    subject: str | None
    customer_id: int | None
    email: str | None
    details: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventView]
    next_cursor: str | None


class CredentialCheck(BaseModel):
    ok: bool
    message: str


class TestLoginRequest(_Body):
    """A dry run: what would the adapter do for this identity? Nothing is written."""

    claims: dict[str, Any] = Field(
        description=(
            "OIDC: ID token / userinfo claims as the IdP would send them. SAML: "
            '{"name_id": …, "name_id_format": …, "attributes": {name: [values]}}'
        )
    )
    channel_id: ChannelId | None = None
    redirect_to: str | None = None


class TestLoginAnswer(BaseModel):
    outcome: Literal["login", "refused"]
    action: str
    subject: str | None
    email: str | None
    email_verified: bool
    customer_id: int | None
    reason: str | None
    customer_to_create: dict[str, Any] | None
    jwt_claims: dict[str, Any] | None
    # Whether the customer may use the channel, as the login would find it: "member",
    # "global", "add_channel" (the login adds the channel to the customer), "new_customer",
    # "denied"; None when the login is refused before a customer is chosen.
    channel_access: str | None = None
    # Where B2B Edition applies: the company key, its company (null: to be created), the role
    # and whether the customer is a user already.
    b2b: dict[str, Any] | None = None
    # Settings of this connection (and its store) that cannot work together, with what to
    # change: [{"code", "field", "message"}].
    warnings: list[dict[str, str]] = Field(default_factory=list)
