"""`sso-adapter apply`: stores and connections from a YAML file, applied idempotently.

The file maps store slugs to store bodies (the admin API's shape), each with its connections
by slug. Any secret may be given as `<name>_env: VARIABLE` to read it from the environment.
A store or connection whose stored state already equals the file is left alone; nothing is
ever deleted by `apply`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.core.warnings import connection_warnings, unreachable_channels
from adapter.db.audit import AuditLog, AuditRecord
from adapter.errors import ConfigurationError
from adapter.saml.metadata import InvalidMetadata, parse_idp_metadata
from adapter.schemas import (
    ANSWERED_FIELDS,
    CHANNEL_SECRETS,
    CONNECTION_SECRETS,
    SLUG_PATTERN,
    STORE_B2B_SECRETS,
    STORE_SECRETS,
    ConnectionBody,
    OidcConnectionBody,
    SamlConnectionBody,
    StoreBody,
)
from adapter.services.admin import AdminService
from adapter.services.configuration import Configuration, policy_from_body
from adapter.services.runtime import Runtime

ACTOR = "cli:apply"
_SLUG = re.compile(SLUG_PATTERN)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CONNECTION_ADAPTER: TypeAdapter[OidcConnectionBody | SamlConnectionBody] = TypeAdapter(
    ConnectionBody
)


class ApplyFileError(Exception):
    """A bad file: the message names the entry and the field."""


@dataclass
class DesiredStore:
    slug: str
    body: StoreBody
    connections: dict[str, OidcConnectionBody | SamlConnectionBody] = field(default_factory=dict)


def _resolve_env(entry: Mapping[str, Any], secrets: tuple[str, ...], where: str) -> dict[str, Any]:
    resolved = dict(entry)
    for name in secrets:
        env_key = f"{name}_env"
        if env_key not in resolved:
            continue
        if name in resolved:
            raise ApplyFileError(f"{where}.{name}: give the secret or {env_key}, not both")
        variable = resolved.pop(env_key)
        if not isinstance(variable, str) or not _ENV_NAME.match(variable):
            # Not echoed: a secret pasted here by mistake must not reach the terminal.
            raise ApplyFileError(f"{where}.{env_key}: not an environment variable name")
        if variable not in os.environ:
            raise ApplyFileError(f"{where}.{env_key}: environment variable {variable!r} is not set")
        resolved[name] = os.environ[variable]
    return resolved


def _located(where: str, exc: ConfigurationError) -> ApplyFileError:
    reason = exc.detail
    if exc.field and reason.startswith(exc.field + " "):
        reason = reason[len(exc.field) + 1 :]
    return ApplyFileError(f"{where}.{exc.field}: {reason}" if exc.field else f"{where}: {reason}")


def _first_error(exc: ValidationError, where: str) -> ApplyFileError:
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"] if p not in ("oidc", "saml")]
    path = ".".join([where, *loc]) if loc else where
    return ApplyFileError(f"{path}: {first['msg']}")


def parse_apply_file(text: str) -> list[DesiredStore]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ApplyFileError(f"not valid YAML{where}") from None
    if not isinstance(document, Mapping) or set(document) != {"stores"}:
        raise ApplyFileError("the file must be a mapping with exactly one key, 'stores'")
    stores = document["stores"]
    if not isinstance(stores, Mapping) or not stores:
        raise ApplyFileError("stores: must map store slugs to store bodies")
    desired = []
    for slug, entry in stores.items():
        where = f"stores.{slug}"
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise ApplyFileError(f"{where}: not a valid slug")
        if not isinstance(entry, Mapping):
            raise ApplyFileError(f"{where}: must be a mapping")
        entry = dict(entry)
        connections = entry.pop("connections", {}) or {}
        if not isinstance(connections, Mapping):
            raise ApplyFileError(f"{where}.connections: must map connection slugs to bodies")
        entry = _resolve_env(entry, STORE_SECRETS, where)
        channels = entry.get("channels")
        if isinstance(channels, list):
            entry["channels"] = [
                _resolve_env(c, CHANNEL_SECRETS, f"{where}.channels.{i}")
                if isinstance(c, Mapping)
                else c
                for i, c in enumerate(channels)
            ]
        if isinstance(entry.get("b2b"), Mapping):
            entry["b2b"] = _resolve_env(entry["b2b"], STORE_B2B_SECRETS, f"{where}.b2b")
        try:
            body = StoreBody.model_validate(entry)
        except ValidationError as exc:
            raise _first_error(exc, where) from None
        store = DesiredStore(slug=slug, body=body)
        for connection_slug, connection_entry in connections.items():
            cwhere = f"{where}.connections.{connection_slug}"
            if not isinstance(connection_slug, str) or not _SLUG.match(connection_slug):
                raise ApplyFileError(f"{cwhere}: not a valid slug")
            if not isinstance(connection_entry, Mapping):
                raise ApplyFileError(f"{cwhere}: must be a mapping")
            resolved = _resolve_env(dict(connection_entry), CONNECTION_SECRETS, cwhere)
            try:
                store.connections[connection_slug] = _CONNECTION_ADAPTER.validate_python(resolved)
            except ValidationError as exc:
                raise _first_error(exc, cwhere) from None
        desired.append(store)
    return desired


def _secret(value: Any) -> str | None:
    return None if value is None else value.get_secret_value()


def _store_state(body: StoreBody) -> dict[str, Any]:
    state = body.model_dump(
        mode="json", exclude=set(STORE_SECRETS) | ANSWERED_FIELDS | {"channels", "b2b"}
    )
    state["api_base_url"] = body.api_base_url.rstrip("/")
    for name in STORE_SECRETS:
        state[name] = _secret(getattr(body, name))
    state["b2b"] = None
    if body.b2b is not None and body.b2b.enabled:
        # As a store record says it: B2B Edition's URL, and the token it gets (none given:
        # the stored one is kept, see _changed).
        state["b2b"] = {
            "api_base_url": body.b2b.api_base_url.rstrip("/"),
            "b2b_api_token": _secret(body.b2b.api_token),
        }
    state["channels"] = {}
    for channel in body.channels:
        data = channel.model_dump(mode="json", exclude=set(CHANNEL_SECRETS))
        data["storefront_url"] = channel.storefront_url.rstrip("/")
        for name in CHANNEL_SECRETS:
            data[name] = _secret(getattr(channel, name))
        state["channels"][channel.channel_id] = data
    return state


def _record_state(record: StoreRecord) -> dict[str, Any]:
    state: dict[str, Any] = {
        "store_hash": record.store_hash,
        "client_id": record.client_id,
        "api_base_url": record.api_base_url,
        "default_channel_id": record.default_channel_id,
        "bind_request_ip": record.bind_request_ip,
        "app_client_id": record.app_client_id,
        "client_secret": record.client_secret,
        "api_token": record.api_token,
        "app_client_secret": record.app_client_secret,
        "b2b": None
        if record.b2b is None
        else {"api_base_url": record.b2b.api_base_url, "b2b_api_token": record.b2b.api_token},
        "channels": {},
    }
    for c in record.channels:
        state["channels"][c.channel_id] = {
            "channel_id": c.channel_id,
            "kind": c.kind,
            "storefront_url": c.storefront_url,
            "delivery": c.delivery,
            "login_token_path": c.login_token_path,
            "graphql_url": c.graphql_url,
            "storefront_token": c.storefront_token,
            "return_url": c.return_url,
            "exchange_secret": c.exchange_secret,
            "logout_path": c.logout_path,
        }
    return state


def _changed(desired: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """Names of the fields that differ; a secret omitted from the file means "keep it"."""
    changed = []
    for key in sorted(set(desired) | set(current), key=str):
        want, have = desired.get(key), current.get(key)
        name = f"{prefix}{key}"
        if isinstance(want, dict) and isinstance(have, dict):
            changed.extend(_changed(want, have, f"{name}."))
        elif (
            key in (*STORE_SECRETS, *CHANNEL_SECRETS, "b2b_api_token")
            and want is None
            and have is not None
        ):
            continue
        elif want != have:
            changed.append(_difference(name, key, have, want))
    return changed


def _show(value: Any) -> str:
    """A value as the file would write it (tuples as lists, policies as their fields)."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    return json.dumps(value, default=str, sort_keys=True)


SECRET_KEYS = frozenset((*STORE_SECRETS, *CHANNEL_SECRETS, "b2b_api_token", "client_secret"))


def _masked(value: Any) -> Any:
    """The value with every secret in it replaced by a mark (a section added or removed
    whole carries its secrets along)."""
    if isinstance(value, dict):
        return {
            k: ("(secret)" if k in SECRET_KEYS and v is not None else _masked(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _difference(name: str, key: str, have: Any, want: Any) -> str:
    """One changed field: old → new, or for a secret only that it is replaced."""
    if key in SECRET_KEYS:
        return f"{name} (secret replaced)"
    return f"{name} {_show(_masked(have))} → {_show(_masked(want))}"


def _connection_changes(
    body: OidcConnectionBody | SamlConnectionBody, current: ConnectionRecord | None
) -> list[str] | None:
    if current is None:
        return None
    # Compared as the policies they make: the stored body went through the same conversion.
    want = asdict(policy_from_body(body))
    have = asdict(current.settings)
    changed = [
        _difference(k, k, have.get(k), want.get(k))
        for k in sorted(set(want) | set(have))
        if want.get(k) != have.get(k)
    ]
    secret = _secret(getattr(body, "client_secret", None))
    if secret is not None and secret != current.client_secret:
        changed.append(_difference("client_secret", "client_secret", None, None))
    return changed


async def _preflight(runtime: Runtime, admin: AdminService, stores: list[DesiredStore]) -> None:
    """Every check that can fail, for every entry, before anything is written."""
    async with runtime.sessions() as session:
        repo = Configuration(
            session,
            runtime.box,
            runtime.clock,
            allow_loopback=runtime.settings.allow_insecure_loopback,
        )
        for desired in stores:
            where = f"stores.{desired.slug}"
            body = desired.body
            try:
                await repo.check_store_change(desired.slug, body)
            except ConfigurationError as exc:
                raise _located(where, exc) from None
            for slug, connection in desired.connections.items():
                try:
                    await repo.check_connection_change(desired.slug, slug, connection)
                except ConfigurationError as exc:
                    raise _located(f"{where}.connections.{slug}", exc) from None
    for desired in stores:
        channel_ids = {c.channel_id for c in desired.body.channels}
        for slug, connection in desired.connections.items():
            where = f"stores.{desired.slug}.connections.{slug}"
            unknown = sorted(set(connection.channel_ids) - channel_ids)
            if unknown:
                raise ApplyFileError(
                    f"{where}.channel_ids: {unknown} are not channels of the store"
                )
            try:
                await admin.validate_connection(connection)
            except ConfigurationError as exc:
                raise _located(where, exc) from None


def _inline_name_id_formats(body: OidcConnectionBody | SamlConnectionBody) -> tuple[str, ...]:
    if not isinstance(body, SamlConnectionBody) or body.idp_metadata_xml is None:
        return ()
    try:
        return parse_idp_metadata(body.idp_metadata_xml).name_id_formats
    except InvalidMetadata:
        return ()  # the preflight has refused it already


async def _warnings(repo: Configuration, stores: list[DesiredStore]) -> list[str]:
    """Settings of the file that cannot work together, one line each, with what to change."""
    lines: list[str] = []
    for desired in stores:
        where = f"stores.{desired.slug}"
        served = [list(c.channel_ids) for c in desired.connections.values()]
        current = await repo.store_row(desired.slug)
        if current is not None:
            for row in await repo.connection_rows(current.id):
                if row.slug not in desired.connections:
                    served.append(list(row.settings.get("channel_ids") or []))
        found = [
            (f"{where}.connections.{slug}", w)
            for slug, body in desired.connections.items()
            for w in connection_warnings(
                policy_from_body(body), idp_name_id_formats=_inline_name_id_formats(body)
            )
        ]
        found += [
            (where, w)
            for w in unreachable_channels([c.channel_id for c in desired.body.channels], served)
        ]
        lines += [f"warning: {place}.{w.field}: {w.message}" for place, w in found]
    return lines


def _repository(runtime: Runtime, session: AsyncSession) -> Configuration:
    return Configuration(
        session, runtime.box, runtime.clock, allow_loopback=runtime.settings.allow_insecure_loopback
    )


async def apply_file(runtime: Runtime, stores: list[DesiredStore], *, dry_run: bool) -> list[str]:
    """Apply (or, with dry_run, only compare) and return one line per store and connection.

    Every check runs before anything is written, and all writes are one transaction: a file
    is applied whole or not at all.
    """
    await _preflight(runtime, AdminService(runtime), stores)
    lines: list[str] = []
    writes: list[tuple[DesiredStore, str | None]] = []  # (store, connection slug or None)
    slug: str | None
    changes: list[str] | None
    async with runtime.sessions() as session:
        repo = _repository(runtime, session)
        for desired in stores:
            current = await repo.get_store(desired.slug)
            if current is None:
                lines.append(f"store {desired.slug}: {'would be ' if dry_run else ''}created")
                writes.append((desired, None))
            elif changes := _changed(_store_state(desired.body), _record_state(current)):
                verb = "would change" if dry_run else "updated"
                lines.append(f"store {desired.slug}: {verb} {', '.join(changes)}")
                writes.append((desired, None))
            else:
                lines.append(f"store {desired.slug}: unchanged")
            for slug, body in desired.connections.items():
                found = await repo.get_connection(desired.slug, slug)
                changes = _connection_changes(body, found[1] if found else None)
                name = f"connection {desired.slug}/{slug}"
                if changes is None:
                    lines.append(f"{name}: {'would be ' if dry_run else ''}created")
                elif changes:
                    verb = "would change" if dry_run else "updated"
                    lines.append(f"{name}: {verb} {', '.join(changes)}")
                else:
                    lines.append(f"{name}: unchanged")
                    continue
                writes.append((desired, slug))
        lines += await _warnings(repo, stores)
    if dry_run or not writes:
        return lines
    async with runtime.sessions.begin() as session:
        repo = _repository(runtime, session)
        audit = AuditLog(session, runtime.clock)
        for desired, slug in writes:
            where = f"stores.{desired.slug}" + (f".connections.{slug}" if slug else "")
            try:
                if slug is None:
                    saved = await repo.put_store(desired.slug, desired.body)
                    kind = "store.created" if saved.created else "store.updated"
                else:
                    saved = await repo.put_connection(desired.slug, slug, desired.connections[slug])
                    kind = "connection.created" if saved.created else "connection.updated"
            except ConfigurationError as exc:
                raise _located(where, exc) from None  # the transaction rolls back
            audit.record(
                AuditRecord(
                    kind=kind,
                    outcome="success",
                    store_slug=desired.slug,
                    connection_slug=slug,
                    actor=ACTOR,
                    details=saved.audit_details(),
                )
            )
    runtime.connections.clear()
    return lines
