"""A connection's SCIM endpoint: the users and groups its IdP provisions, kept in the
directory, and their effects at BigCommerce (`provisioning`).

Each write commits the directory, the block on logins where a user is deactivated and its
audit event in one transaction, then carries out the BigCommerce effects. When those fail, the
request answers the error (502/503) the IdP retries: a retry finds the directory already
right and finishes the effects, which are safe to repeat. A user created by a request whose
effects failed is taken back out, so that the IdP's retry creates it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim2_models import GroupMember, GroupMembership, Meta

from adapter.core.policy import ProvisioningPolicy, SamlPolicy
from adapter.core.records import ConnectionRecord, StoreRecord
from adapter.db.audit import AuditLog, AuditRecord
from adapter.db.links import LinkRepository
from adapter.db.models import ScimGroup, ScimUser
from adapter.db.scim_directory import NotUnique, ScimDirectory, fold, new_id
from adapter.db.scim_tokens import ScimTokens
from adapter.errors import AdapterError, NotFound
from adapter.logging import get_logger
from adapter.scim.queries import ListQuery, matches, read_query
from adapter.scim.resources import (
    MAX_MEMBERS,
    GroupResource,
    ScimError,
    UserResource,
    dump,
    keep,
    patch_resource,
    read_group,
    read_user,
    stored_group,
    stored_user,
)
from adapter.scim.subjects import login_subject, subject_value
from adapter.services.login_steps import LoginSteps
from adapter.services.provisioning import Person, Provisioning, provisioning_policy
from adapter.services.runtime import Runtime

log = get_logger("adapter.scim")

# A filter no index answers is evaluated over at most this many resources of the connection.
MAX_SCANNED = 20_000
# BigCommerce takes three concurrent customer updates per store (customers.v3.yml).
GROUP_EFFECT_CONCURRENCY = 3
# A large group's effects are reported in the audit trail every so many members.
PROGRESS_EVERY = 100
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@dataclass(frozen=True)
class Caller:
    """An authenticated SCIM request: the connection it is for and the token it came with."""

    store: StoreRecord
    connection: ConnectionRecord
    token_id: int
    base_url: str
    # The IdP's entity id where the connection keys logins on the SAML NameID.
    name_id_issuer: str | None

    @property
    def actor(self) -> str:
        return f"scim:{self.token_id}"

    @property
    def policy(self) -> ProvisioningPolicy:
        return provisioning_policy(self.connection)


@dataclass(frozen=True)
class ScimAnswer:
    status: int
    body: Any = None
    location: str | None = None


def _bearer(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer …`; Okta's header mode may send the bare token."""
    if not authorization:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()
    return token or None


def _person(row: ScimUser, groups: Sequence[ScimGroup]) -> Person:
    resource = row.resource
    emails = [e for e in resource.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    name = resource.get("name") or {}
    names = [g.display_name for g in groups] + [g.external_id for g in groups if g.external_id]
    assert row.subject is not None
    return Person(
        subject=row.subject,
        email=None if primary is None else str(primary["value"]).strip(),
        first_name=name.get("givenName"),
        last_name=name.get("familyName"),
        groups=tuple(names),
    )


def _meta(kind: str, row: ScimUser | ScimGroup, location: str) -> Meta:
    return Meta(
        resource_type=kind,
        created=row.created_at,
        last_modified=row.updated_at,
        location=location,
        version=f'W/"{row.version}"',
    )


def _page(rows: list[Any], query: ListQuery) -> tuple[int, list[Any]]:
    start = query.start_index - 1
    return len(rows), rows[start : start + query.count]


def _list_answer(total: int, query: ListQuery, resources: list[dict[str, Any]]) -> ScimAnswer:
    return ScimAnswer(
        200,
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": query.start_index,
            "itemsPerPage": len(resources),
            "Resources": resources,
        },
    )


def _members_of(group: Any) -> dict[str, str | None]:
    """The members a group document names: user id to the `display` given with it."""
    return {str(m.value): m.display for m in group.members or [] if m.value}


def _mentioned_ids(payload: Any) -> set[str]:
    """The user ids a group PATCH names (in values, or in `members[value eq "…"]` paths): a
    retry of the PATCH re-applies their effects even where the directory is already right."""
    found: set[str] = set()
    for operation in payload.get("Operations") or [] if isinstance(payload, dict) else []:
        if not isinstance(operation, dict):
            continue
        value = operation.get("value")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                found.add(item["value"])
        path = operation.get("path")
        if isinstance(path, str) and "value eq" in path:
            found.add(path.split('"')[1] if path.count('"') >= 2 else "")
    found.discard("")
    return found


class ScimService:
    def __init__(self, runtime: Runtime, steps: LoginSteps):
        self._rt = runtime
        self._steps = steps
        self._effects = Provisioning(runtime)

    # -- who is calling ----------------------------------------------------------------------

    async def authenticate(
        self, store_slug: str, connection_slug: str, authorization: str | None
    ) -> Caller:
        """The caller, or 401: the same answer for a missing, unknown or revoked token, a
        token of another connection and a connection that does not exist."""
        token = _bearer(authorization)
        refused = ScimError(401, "a valid SCIM token of this connection is required")
        if token is None:
            raise refused
        try:
            store, connection = await self._steps.find(store_slug, connection_slug)
        except NotFound:
            raise refused from None
        async with self._rt.sessions.begin() as session:
            caller = await ScimTokens(session, self._rt.clock).find(connection.id, token)
        if caller is None:
            raise refused
        issuer = None
        settings = connection.settings
        if isinstance(settings, SamlPolicy) and settings.subject_attribute is None:
            provider = await self._steps.saml_provider(store, connection)
            issuer = provider.settings.idp_entity_id
        base = f"{self._rt.settings.public_url}/scim/v2/{store.slug}/{connection.slug}"
        return Caller(store, connection, caller.token_id, base, issuer)

    def _subject(self, caller: Caller, user: Any) -> str | None:
        return login_subject(
            subject_value(user, caller.policy), name_id_issuer=caller.name_id_issuer
        )

    def _audit(self, caller: Caller, kind: str, **fields: Any) -> AuditRecord:
        return AuditRecord(
            kind=kind,
            outcome=fields.pop("outcome", "success"),
            store_slug=caller.store.slug,
            connection_slug=caller.connection.slug,
            actor=caller.actor,
            **fields,
        )

    # -- users -------------------------------------------------------------------------------

    async def _user_document(
        self,
        caller: Caller,
        row: ScimUser,
        groups: Sequence[ScimGroup],
        *,
        created: bool = False,
        params: Any = None,
    ) -> dict[str, Any]:
        user = stored_user(row.resource)
        user.id = row.id
        user.groups = [GroupMembership(value=g.id, display=g.display_name) for g in groups] or None
        user.meta = _meta("User", row, f"{caller.base_url}/Users/{row.id}")
        return dump(user, created=created, params=params)

    async def create_user(self, caller: Caller, payload: Any) -> ScimAnswer:
        user = read_user(payload)
        if user.active is None:
            user.active = True
        subject = self._subject(caller, user)
        async with self._rt.sessions.begin() as session:
            directory = ScimDirectory(session, self._rt.clock)
            now = directory.now()
            row = ScimUser(
                id=new_id(),
                store_id=caller.store.id,
                connection_id=caller.connection.id,
                user_name=user.user_name,
                user_name_key=fold(user.user_name),
                external_id=user.external_id,
                subject=subject,
                active=bool(user.active),
                resource=keep(user),
                version=1,
                created_at=now,
                updated_at=now,
            )
            directory.add_user(row)
            await self._flush(directory, "userName or subject")
            if not row.active and subject is not None:
                await directory.block(
                    store_id=caller.store.id, connection_id=caller.connection.id, subject=subject
                )
            AuditLog(session, self._rt.clock).record(
                self._audit(
                    caller,
                    "scim.user.created",
                    subject=subject,
                    details={"id": row.id, "userName": row.user_name, "active": row.active},
                )
            )
            document = await self._user_document(caller, row, [], created=True)
        try:
            await self._settle_user(caller, row.id)
        except AdapterError:
            await self._take_back(caller, row.id)
            raise
        return ScimAnswer(201, document, location=f"{caller.base_url}/Users/{row.id}")

    async def _take_back(self, caller: Caller, user_id: str) -> None:
        """Remove a user whose creation's effects failed, so the IdP's retry is a creation
        again. A failure here is logged: the retry then meets a 409 and the IdP looks the user
        up by userName, and its update finishes the effects."""
        try:
            async with self._rt.sessions.begin() as session:
                directory = ScimDirectory(session, self._rt.clock)
                row = await directory.user(caller.connection.id, user_id)
                if row is not None:
                    await directory.delete_user(row)
        except Exception as exc:
            log.warning("scim_take_back_failed", error=type(exc).__name__)

    async def _flush(self, directory: ScimDirectory, what: str) -> None:
        try:
            await directory.flush()
        except NotUnique:
            raise ScimError(
                409, f"another resource of this connection has that {what}", "uniqueness"
            ) from None

    async def get_user(self, caller: Caller, user_id: str, params: Mapping[str, str]) -> ScimAnswer:
        query = read_query(params, UserResource, "users")
        async with self._rt.sessions() as session:
            directory = ScimDirectory(session, self._rt.clock)
            row = await directory.user(caller.connection.id, user_id)
            if row is None:
                raise ScimError(404, f"no user {user_id}")
            groups = await directory.groups_of(row.id)
            return ScimAnswer(
                200, await self._user_document(caller, row, groups, params=query.request)
            )

    async def list_users(self, caller: Caller, params: Mapping[str, str]) -> ScimAnswer:
        query = read_query(params, UserResource, "users")
        connection_id = caller.connection.id
        async with self._rt.sessions() as session:
            directory = ScimDirectory(session, self._rt.clock)
            if query.exact is not None:
                found = await directory.users_where(
                    connection_id, query.exact.attribute, query.exact.value
                )
                total, rows = _page(found, query)
            elif query.filtered:
                scanned = await directory.all_users(connection_id, MAX_SCANNED)
                found = [r for r in scanned if matches(query, self._matchable_user(r))]
                total, rows = _page(found, query)
            else:
                total, rows = await directory.users_page(
                    connection_id, query.start_index - 1, query.count
                )
            resources = [
                await self._user_document(
                    caller, r, await directory.groups_of(r.id), params=query.request
                )
                for r in rows
            ]
        return _list_answer(total, query, resources)

    @staticmethod
    def _matchable_user(row: ScimUser) -> Any:
        user = stored_user(row.resource)
        user.id = row.id
        user.active = row.active
        return user

    async def replace_user(self, caller: Caller, user_id: str, payload: Any) -> ScimAnswer:
        user = read_user(payload, replacing=True)
        if user.active is None:
            user.active = True
        return await self._write_user(caller, user_id, lambda _row: user, "scim.user.replaced")

    async def patch_user(self, caller: Caller, user_id: str, payload: Any) -> ScimAnswer:
        def patched(row: ScimUser) -> Any:
            user = stored_user(row.resource)
            user.id = row.id
            patch_resource(payload, user, resource_id=row.id)
            if not user.user_name or not str(user.user_name).strip():
                raise ScimError(400, "userName is required", "invalidValue")
            return user

        return await self._write_user(caller, user_id, patched, "scim.user.patched")

    async def _write_user(self, caller: Caller, user_id: str, change: Any, kind: str) -> ScimAnswer:
        async with self._rt.sessions.begin() as session:
            directory = ScimDirectory(session, self._rt.clock)
            row = await directory.user(caller.connection.id, user_id, for_update=True)
            if row is None:
                raise ScimError(404, f"no user {user_id}")
            user = change(row)
            user.id = row.id
            before = {
                "userName": row.user_name,
                "externalId": row.external_id,
                "active": row.active,
            }
            subject = self._subject(caller, user)
            resource = keep(user)
            after = {
                "userName": user.user_name,
                "externalId": user.external_id,
                "active": bool(user.active if user.active is not None else True),
            }
            changed = resource != row.resource or before != after
            if changed:
                row.user_name = user.user_name
                row.user_name_key = fold(user.user_name)
                row.external_id = user.external_id
                row.subject = subject
                row.active = after["active"]
                row.resource = resource
                row.version += 1
                row.updated_at = directory.now()
                await self._flush(directory, "userName or subject")
                moved = {
                    k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]
                }
                AuditLog(session, self._rt.clock).record(
                    self._audit(
                        caller,
                        kind,
                        subject=subject,
                        details={"id": row.id, "changed": moved},
                    )
                )
            if not row.active and row.subject is not None:
                await directory.block(
                    store_id=caller.store.id,
                    connection_id=caller.connection.id,
                    subject=row.subject,
                )
            groups = await directory.groups_of(row.id)
            document = await self._user_document(caller, row, groups)
        await self._settle_user(caller, user_id)
        return ScimAnswer(200, document)

    async def delete_user(self, caller: Caller, user_id: str) -> ScimAnswer:
        async with self._rt.sessions.begin() as session:
            directory = ScimDirectory(session, self._rt.clock)
            row = await directory.user(caller.connection.id, user_id, for_update=True)
            if row is None:
                raise ScimError(404, f"no user {user_id}")
            subject = row.subject
            await directory.delete_user(row)
            if subject is not None:
                await directory.block(
                    store_id=caller.store.id, connection_id=caller.connection.id, subject=subject
                )
            AuditLog(session, self._rt.clock).record(
                self._audit(
                    caller,
                    "scim.user.deleted",
                    subject=subject,
                    details={"id": user_id, "userName": row.user_name},
                )
            )
        if subject is not None:
            await self._effects.deactivate(caller.store, caller.connection, subject, caller.actor)
        return ScimAnswer(204)

    async def _settle_user(self, caller: Caller, user_id: str) -> None:
        """Bring BigCommerce in line with the user as the directory now has them."""
        async with self._rt.sessions() as session:
            directory = ScimDirectory(session, self._rt.clock)
            row = await directory.user(caller.connection.id, user_id)
            if row is None or row.subject is None:
                return
            active, subject = row.active, row.subject
            person = _person(row, await directory.groups_of(row.id))
            link = await LinkRepository(session, self._rt.clock).find(caller.connection.id, subject)
            customer_id = None if link is None else link.customer_id
        store, connection, actor = caller.store, caller.connection, caller.actor
        if not active:
            await self._effects.deactivate(store, connection, subject, actor)
            return
        await self._effects.reactivate(store, connection, subject, actor)
        if caller.policy.provision_customers:
            await self._effects.provision(store, connection, person, actor)
        elif customer_id is not None:
            await self._effects.apply_groups(store, connection, person, customer_id, actor)

    async def search(self, caller: Caller, kind: str, payload: Any) -> ScimAnswer:
        """POST `/Users/.search` or `/Groups/.search`: a list request in a body."""
        if not isinstance(payload, dict):
            raise ScimError(400, "the body is not a JSON object", "invalidSyntax")
        params: dict[str, str] = {}
        for key in ("filter", "startIndex", "count"):
            if payload.get(key) is not None:
                params[key] = str(payload[key])
        for key in ("attributes", "excludedAttributes"):
            value = payload.get(key)
            if isinstance(value, list):
                params[key] = ",".join(str(v) for v in value)
            elif isinstance(value, str):
                params[key] = value
        if kind == "users":
            return await self.list_users(caller, params)
        return await self.list_groups(caller, params)

    # -- groups ------------------------------------------------------------------------------

    async def _group_document(
        self,
        caller: Caller,
        row: ScimGroup,
        members: Mapping[str, str | None],
        *,
        created: bool = False,
        params: Any = None,
    ) -> dict[str, Any]:
        group = GroupResource(
            display_name=row.display_name,
            external_id=row.external_id,
            members=[self._member(caller, uid, shown) for uid, shown in members.items()] or None,
        )
        group.id = row.id
        group.meta = _meta("Group", row, f"{caller.base_url}/Groups/{row.id}")
        return dump(group, created=created, params=params)

    @staticmethod
    def _member(caller: Caller, user_id: str, display: str | None) -> GroupMember:
        return GroupMember.model_validate(
            {
                "value": user_id,
                "$ref": f"{caller.base_url}/Users/{user_id}",
                "type": "User",
                "display": display,
            }
        )

    async def _known_members(
        self, directory: ScimDirectory, caller: Caller, members: dict[str, str | None]
    ) -> dict[str, str | None]:
        wanted = set(members)
        if len(wanted) > MAX_MEMBERS:
            raise ScimError(413, f"more than {MAX_MEMBERS} members", "tooMany")
        known = {u.id for u in await directory.users_by_ids(caller.connection.id, wanted)}
        unknown = wanted - known
        if unknown:
            raise ScimError(
                400,
                f"members not provisioned here: {', '.join(sorted(unknown)[:5])}",
                "invalidValue",
            )
        return members

    async def create_group(self, caller: Caller, payload: Any) -> ScimAnswer:
        group = read_group(payload)
        async with self._rt.sessions.begin() as session:
            directory = ScimDirectory(session, self._rt.clock)
            members = await self._known_members(directory, caller, _members_of(group))
            now = directory.now()
            row = ScimGroup(
                id=new_id(),
                connection_id=caller.connection.id,
                display_name=group.display_name,
                display_name_key=fold(group.display_name or ""),
                external_id=group.external_id,
                version=1,
                created_at=now,
                updated_at=now,
            )
            directory.add_group(row)
            await self._flush(directory, "displayName")
            await directory.set_members(row.id, members, {})
            await self._flush(directory, "member")
            AuditLog(session, self._rt.clock).record(
                self._audit(
                    caller,
                    "scim.group.created",
                    details={
                        "id": row.id,
                        "displayName": row.display_name,
                        "members": len(members),
                    },
                )
            )
            document = await self._group_document(
                caller, row, await directory.members(row.id), created=True
            )
        await self._apply_group_change(caller, row.id, set(members))
        return ScimAnswer(201, document, location=f"{caller.base_url}/Groups/{row.id}")

    async def get_group(
        self, caller: Caller, group_id: str, params: Mapping[str, str]
    ) -> ScimAnswer:
        query = read_query(params, GroupResource, "groups")
        async with self._rt.sessions() as session:
            directory = ScimDirectory(session, self._rt.clock)
            row = await directory.group(caller.connection.id, group_id)
            if row is None:
                raise ScimError(404, f"no group {group_id}")
            members = await directory.members(row.id)
            return ScimAnswer(
                200, await self._group_document(caller, row, members, params=query.request)
            )

    async def list_groups(self, caller: Caller, params: Mapping[str, str]) -> ScimAnswer:
        query = read_query(params, GroupResource, "groups")
        connection_id = caller.connection.id
        async with self._rt.sessions() as session:
            directory = ScimDirectory(session, self._rt.clock)
            if query.exact is not None:
                found = await directory.groups_where(
                    connection_id, query.exact.attribute, query.exact.value
                )
                total, rows = _page(found, query)
            elif query.filtered:
                scanned = await directory.all_groups(connection_id, MAX_SCANNED)
                candidates = []
                for r in scanned:
                    group = await self._matchable_group(directory, r)
                    if matches(query, group):
                        candidates.append(r)
                total, rows = _page(candidates, query)
            else:
                total, rows = await directory.groups_page(
                    connection_id, query.start_index - 1, query.count
                )
            resources = [
                await self._group_document(
                    caller, r, await directory.members(r.id), params=query.request
                )
                for r in rows
            ]
        return _list_answer(total, query, resources)

    @staticmethod
    async def _matchable_group(directory: ScimDirectory, row: ScimGroup) -> Any:
        group = stored_group(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": row.display_name,
                **({"externalId": row.external_id} if row.external_id else {}),
            }
        )
        group.id = row.id
        group.members = [
            GroupMember(value=uid, display=shown)
            for uid, shown in (await directory.members(row.id)).items()
        ] or None
        return group

    async def replace_group(self, caller: Caller, group_id: str, payload: Any) -> ScimAnswer:
        group = read_group(payload, replacing=True)
        return await self._write_group(
            caller, group_id, lambda _g: group, set(), "scim.group.replaced"
        )

    async def patch_group(self, caller: Caller, group_id: str, payload: Any) -> ScimAnswer:
        def patched(current: Any) -> Any:
            patch_resource(payload, current, resource_id=group_id)
            if not current.display_name or not str(current.display_name).strip():
                raise ScimError(400, "displayName is required", "invalidValue")
            return current

        return await self._write_group(
            caller, group_id, patched, _mentioned_ids(payload), "scim.group.patched", no_body=True
        )

    async def _write_group(
        self,
        caller: Caller,
        group_id: str,
        change: Any,
        mentioned: set[str],
        kind: str,
        *,
        no_body: bool = False,
    ) -> ScimAnswer:
        async with self._rt.sessions.begin() as session:
            directory = ScimDirectory(session, self._rt.clock)
            row = await directory.group(caller.connection.id, group_id, for_update=True)
            if row is None:
                raise ScimError(404, f"no group {group_id}")
            current = await self._matchable_group(directory, row)
            had = await directory.members(row.id)
            group = change(current)
            wanted = await self._known_members(directory, caller, _members_of(group))
            renamed = group.display_name != row.display_name or group.external_id != row.external_id
            if renamed or wanted != had:
                details: dict[str, Any] = {
                    "id": row.id,
                    "added": len(set(wanted) - set(had)),
                    "removed": len(set(had) - set(wanted)),
                }
                if renamed:
                    details["displayName"] = {"from": row.display_name, "to": group.display_name}
                row.display_name = group.display_name
                row.display_name_key = fold(group.display_name)
                row.external_id = group.external_id
                row.version += 1
                row.updated_at = directory.now()
                await self._flush(directory, "displayName")
                await directory.set_members(row.id, wanted, had)
                AuditLog(session, self._rt.clock).record(self._audit(caller, kind, details=details))
            document = await self._group_document(caller, row, await directory.members(row.id))
        # A rename changes every member's mapping; otherwise those who came or went, and those
        # the request named (so that its retry finishes what a failure left).
        came_or_went = set(had) ^ set(wanted)
        affected = (set(had) | set(wanted)) if renamed else came_or_went | mentioned
        await self._apply_group_change(caller, group_id, affected)
        if no_body:
            return ScimAnswer(204)
        return ScimAnswer(200, document)

    async def delete_group(self, caller: Caller, group_id: str) -> ScimAnswer:
        async with self._rt.sessions.begin() as session:
            directory = ScimDirectory(session, self._rt.clock)
            row = await directory.group(caller.connection.id, group_id, for_update=True)
            if row is None:
                raise ScimError(404, f"no group {group_id}")
            had = await directory.members(row.id)
            name = row.display_name
            await directory.set_members(row.id, {}, had)
            await directory.delete_group(row)
            AuditLog(session, self._rt.clock).record(
                self._audit(
                    caller,
                    "scim.group.deleted",
                    details={"id": group_id, "displayName": name, "members": len(had)},
                )
            )
        await self._apply_group_change(caller, group_id, set(had))
        return ScimAnswer(204)

    async def _apply_group_change(self, caller: Caller, group_id: str, user_ids: set[str]) -> None:
        """Write the customer group (and B2B role) of every affected, active, linked member,
        a few at a time; the first failure is answered once all have been tried."""
        if not user_ids:
            return
        async with self._rt.sessions() as session:
            directory = ScimDirectory(session, self._rt.clock)
            links = LinkRepository(session, self._rt.clock)
            work: list[tuple[Person, int]] = []
            for row in await directory.users_by_ids(caller.connection.id, user_ids):
                if not row.active or row.subject is None:
                    continue
                link = await links.find(caller.connection.id, row.subject)
                if link is not None:
                    work.append((_person(row, await directory.groups_of(row.id)), link.customer_id))
        if not work:
            return
        gate = asyncio.Semaphore(GROUP_EFFECT_CONCURRENCY)
        failures: list[BaseException] = []
        done = 0

        async def one(person: Person, customer_id: int) -> None:
            nonlocal done
            async with gate:
                try:
                    await self._effects.apply_groups(
                        caller.store, caller.connection, person, customer_id, caller.actor
                    )
                except AdapterError as exc:
                    failures.append(exc)
                done += 1
                if done % PROGRESS_EVERY == 0 and done < len(work):
                    await self._progress(caller, group_id, done, len(work), len(failures))

        await asyncio.gather(*(one(p, c) for p, c in work))
        await self._progress(caller, group_id, done, len(work), len(failures))
        if failures:
            raise failures[0]

    async def _progress(
        self, caller: Caller, group_id: str, done: int, total: int, failed: int
    ) -> None:
        async with self._rt.sessions.begin() as session:
            AuditLog(session, self._rt.clock).record(
                self._audit(
                    caller,
                    "scim.group.applied",
                    outcome="success" if not failed else "failure",
                    details={"id": group_id, "done": done, "of": total, "failed": failed},
                )
            )
