"""The schema. Alembic revisions in migrations/ build exactly this; a test checks for drift.

Columns named `*_sealed` hold secrets encrypted by adapter.core.secretbox, never plaintext.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database, handed out timezone-aware."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    store_hash: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    api_token_sealed: Mapped[str] = mapped_column(Text)
    api_base_url: Mapped[str] = mapped_column(String(2048))
    default_channel_id: Mapped[int] = mapped_column(Integer)
    bind_request_ip: Mapped[bool] = mapped_column(Boolean, default=False)
    app_client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    app_client_secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    # B2B Edition; its token is optional (the store's api_token serves when it has the scope).
    b2b_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    b2b_api_base_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    b2b_api_token_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set when the BigCommerce app was uninstalled: no logins, credentials erased, links kept.
    app_uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    channels: Mapped[list[Channel]] = relationship(
        back_populates="store", cascade="all, delete-orphan", order_by="Channel.channel_id"
    )


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("store_id", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    storefront_url: Mapped[str] = mapped_column(String(2048))
    delivery: Mapped[str | None] = mapped_column(String(16), nullable=True)
    login_token_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    graphql_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    storefront_token_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    return_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    exchange_secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    logout_path: Mapped[str | None] = mapped_column(String(255), nullable=True)

    store: Mapped[Store] = relationship(back_populates="channels")


class Connection(Base):
    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("store_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(63))
    protocol: Mapped[str] = mapped_column(String(8))
    # Protocol settings without secrets, in the admin API's shape.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    # SAML: the service provider's own key pair for this connection (signing, decryption).
    sp_private_key_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    sp_certificate: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Link(Base):
    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("connection_id", "subject"),
        # One customer has at most one identity per connection: a second subject claiming the
        # same customer (a re-assigned e-mail, a race) must not get in.
        UniqueConstraint("connection_id", "customer_id"),
        Index("ix_links_store_id_customer_id", "store_id", "customer_id"),
        Index("ix_links_store_id_email", "store_id", "email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(512))
    customer_id: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    login_count: Mapped[int] = mapped_column(Integer, default=0)


class B2bCompany(Base):
    """A B2B Edition company the adapter created for a company key of a connection: the
    key's company from then on, on every replica. Mapped companies (the connection's
    `companies`) are not copied here."""

    __tablename__ = "b2b_companies"
    __table_args__ = (UniqueConstraint("connection_id", "company_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    # Case-folded: keys compare case-insensitively.
    company_key: Mapped[str] = mapped_column(String(200))
    company_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CreationIntent(Base):
    """A customer creation about to be asked of BigCommerce, written before the request.

    If BigCommerce creates the customer but its answer is lost (a timeout, a 5xx after the
    write, a replica killed mid-call), the subject's next first login finds the customer by
    e-mail, created at or after this row, and adopts it. Deleted once the link is written;
    purged when too old to adopt by.
    """

    __tablename__ = "creation_intents"
    __table_args__ = (
        Index("ix_creation_intents_connection_id_subject", "connection_id", "subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(512))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginState(Base):
    """One login in flight, keyed by a hash of its `state`, bound to one browser."""

    __tablename__ = "login_states"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(Integer)
    redirect_to: Mapped[str] = mapped_column(String(2048))
    # nonce, PKCE verifier, SAML request id, ...: sealed, since they are secrets until used.
    payload_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class UsedValue(Base):
    """A ledger of one-time values (assertion ids, token ids, claims) until they expire."""

    __tablename__ = "used_values"

    namespace: Mapped[str] = mapped_column(String(32), primary_key=True)
    value_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEvent(Base):
    """The audit trail. Keyed by store slug, not a foreign key: it outlives deleted stores."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_store_slug_id", "store_slug", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    store_slug: Mapped[str | None] = mapped_column(String(63), nullable=True)
    connection_slug: Mapped[str | None] = mapped_column(String(63), nullable=True)
    kind: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(512), nullable=True)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AdminToken(Base):
    """An admin API token: only its SHA-256 is kept; the token itself is shown once."""

    __tablename__ = "admin_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AppUser(Base):
    """A control-panel user of a store that installed the adapter as a BigCommerce app: the
    installer (its owner) and those BigCommerce let open the app since, until removed."""

    __tablename__ = "app_users"
    __table_args__ = (UniqueConstraint("store_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_load_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScimToken(Base):
    """A SCIM bearer token of one connection: only its SHA-256 is kept, the token is shown
    once; it authenticates that connection's SCIM endpoint and no other."""

    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScimUser(Base):
    """A user the IdP provisioned through a connection's SCIM endpoint, as SCIM sees it.

    `resource` is the SCIM representation as last written (without id, meta and groups);
    the columns beside it are what is searched and what the login and BigCommerce effects
    read. `subject` is the login subject `subject_attribute` gives (None when the user lacks
    that attribute)."""

    __tablename__ = "scim_users"
    __table_args__ = (
        UniqueConstraint("connection_id", "user_name_key"),
        UniqueConstraint("connection_id", "subject"),
        Index("ix_scim_users_connection_id_external_id", "connection_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(String(512))
    # userName compares case-insensitively (RFC 7643 section 4.1.1).
    user_name_key: Mapped[str] = mapped_column(String(512))
    external_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(512), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScimGroup(Base):
    """A group the IdP pushed through a connection's SCIM endpoint; members in
    `scim_group_members`."""

    __tablename__ = "scim_groups"
    __table_args__ = (UniqueConstraint("connection_id", "display_name_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(512))
    display_name_key: Mapped[str] = mapped_column(String(512))
    external_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScimGroupMember(Base):
    __tablename__ = "scim_group_members"
    __table_args__ = (Index("ix_scim_group_members_user_id", "user_id"),)

    group_id: Mapped[str] = mapped_column(
        ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("scim_users.id", ondelete="CASCADE"), primary_key=True
    )
    # The member's `display` as the IdP gave it.
    display: Mapped[str | None] = mapped_column(String(512), nullable=True)


class BlockedSubject(Base):
    """A subject the IdP deprovisioned: every login and headless code exchange of it is
    refused while this row exists. It outlives the SCIM user (a DELETE keeps the block).

    `customer_id` is the linked customer when the block was made; `undo` holds what the
    deactivation changed at BigCommerce, to be restored on reactivation; `settled` says the
    connection's BigCommerce actions were all carried out (a retry finishes them)."""

    __tablename__ = "blocked_subjects"
    __table_args__ = (Index("ix_blocked_subjects_store_id_customer_id", "store_id", "customer_id"),)

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(512), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    undo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IssuedCustomerToken(Base):
    """A customer access token the adapter obtained for a headless storefront, kept sealed
    until it expires so that a deprovisioning can end it (GraphQL `logout`)."""

    __tablename__ = "issued_customer_tokens"
    __table_args__ = (
        Index("ix_issued_customer_tokens_store_id_customer_id", "store_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    token_sealed: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ExchangeCode(Base):
    """A one-time code for a headless storefront's backend to fetch a customer access token.

    Found by the code's SHA-256 (the code itself is never stored), bound to one channel of one
    store, valid for 60 seconds, deleted when redeemed.
    """

    __tablename__ = "exchange_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    access_token_sealed: Mapped[str] = mapped_column(Text)
    access_token_expires_at: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # B2B Edition's storefront token for that customer and channel, where the store runs it.
    b2b_token_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SchemaCompatibility(Base):
    """One row: the oldest code revision that still works on the database's schema (see
    migrations/versions/0005_schema_compatibility.py). Read by `/readyz` during upgrades."""

    __tablename__ = "schema_compatibility"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    oldest_code_revision: Mapped[str] = mapped_column(String(32))
