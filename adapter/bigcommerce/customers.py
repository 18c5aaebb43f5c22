"""The Customers v3 API.

Its requests go through a `BigCommerceTransport` (adapter.bigcommerce.transport), which states
the retry policy, caps the answers and translates httpx's errors. The rule of that policy this
client leans on: a create that timed out or answered 5xx is not sent again (the customer may
exist by now), while one refused with 429 is.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapter.bigcommerce.transport import Answer, BigCommerceTransport
from adapter.core.emails import UnmatchableEmail, mailbox_key, same_mailbox
from adapter.errors import UpstreamFailed


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    first_name: str
    last_name: str
    customer_group_id: int
    channel_ids: tuple[int, ...] | None
    # BigCommerce's clock, to the second; None when the answer does not say.
    date_created: datetime | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Customer:
        channels = data.get("channel_ids")
        return cls(
            id=int(data["id"]),
            email=str(data.get("email", "")),
            first_name=str(data.get("first_name") or ""),
            last_name=str(data.get("last_name") or ""),
            customer_group_id=int(data.get("customer_group_id") or 0),
            channel_ids=tuple(int(c) for c in channels) if isinstance(channels, list) else None,
            date_created=_timestamp(data.get("date_created")),
        )


def _timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time as BigCommerce writes it (`2026-12-01T07:30:00Z`), in UTC."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NewCustomer:
    email: str
    first_name: str
    last_name: str
    channel_id: int
    customer_group_id: int | None = None


class EmailInUse(Exception):
    def __init__(self, customer: Customer):
        super().__init__("a customer with this e-mail exists")
        self.customer = customer


def unusable_password() -> str:
    """A random password nobody ever sees, so password login cannot bypass the IdP.

    Mixed letters and digits satisfy any store's password rules.
    """
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(40))
    return body + secrets.choice(string.ascii_uppercase) + secrets.choice(string.digits)


class CustomersApi:
    """One store's customers, through its BigCommerce transport (which retries and
    translates errors: adapter.bigcommerce.transport)."""

    def __init__(self, transport: BigCommerceTransport, *, api_base_url: str, store_hash: str):
        self._transport = transport
        self._base = f"{api_base_url.rstrip('/')}/stores/{store_hash}/v3/customers"

    @staticmethod
    def _data(answer: Answer, what: str) -> list[dict[str, Any]]:
        document = answer.json()
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, list):
            raise UpstreamFailed(f"BigCommerce {what}: unexpected body", code="bigcommerce_error")
        return data

    async def probe(self) -> None:
        """One cheap read that proves the API token works for this store."""
        answer = await self._transport.request("GET", self._base, params={"limit": 1})
        if answer.status != 200:
            raise answer.failure("credentials check")
        self._data(answer, "credentials check")

    async def channel_allows_global_logins(self, channel_id: int) -> bool:
        """BigCommerce's per-channel customer setting: may customers of every channel (those
        without channel_ids) sign in to this one?"""
        base = self._base.removesuffix("/customers")
        answer = await self._transport.request(
            "GET", f"{base}/customers/settings/channels/{channel_id}"
        )
        if answer.status != 200:
            raise answer.failure("channel settings")
        document = answer.json()
        data = (document.get("data") or {}) if isinstance(document, dict) else {}
        return data.get("allow_global_logins") is not False

    async def find_by_email(self, email: str) -> list[Customer]:
        """Customers whose e-mail names the same mailbox as `email` (`core.emails`: exact but
        for the case of ASCII letters); none, without asking, for an address that rule never
        matches."""
        try:
            key = mailbox_key(email)
        except UnmatchableEmail:
            return []
        # Both spellings are ASCII; whatever BigCommerce's search folds, the filter below
        # keeps only the same mailbox.
        wanted = {email, key}
        answer = await self._transport.request(
            "GET", self._base, params={"email:in": ",".join(sorted(wanted)), "limit": 10}
        )
        if answer.status != 200:
            raise answer.failure("customer search")
        customers = [Customer.from_api(d) for d in self._data(answer, "customer search")]
        return [c for c in customers if same_mailbox(c.email, email)]

    async def get(self, customer_id: int) -> Customer | None:
        answer = await self._transport.request(
            "GET", self._base, params={"id:in": str(customer_id)}
        )
        if answer.status != 200:
            raise answer.failure("customer read")
        found = self._data(answer, "customer read")
        return Customer.from_api(found[0]) if found else None

    async def create(self, new: NewCustomer) -> Customer:
        body: dict[str, Any] = {
            "email": new.email,
            "first_name": new.first_name,
            "last_name": new.last_name,
            "authentication": {"force_password_reset": False, "new_password": unusable_password()},
            "origin_channel_id": new.channel_id,
            "channel_ids": [new.channel_id],
        }
        if new.customer_group_id is not None:
            body["customer_group_id"] = new.customer_group_id
        answer = await self._transport.request("POST", self._base, json=[body])
        if answer.status == 422:
            # BigCommerce does not document a distinct error for a taken e-mail: ask.
            existing = await self.find_by_email(new.email)
            if existing:
                raise EmailInUse(existing[0])
            raise answer.failure("customer create refused")
        if answer.status not in (200, 201):
            raise answer.failure("customer create")
        created = self._data(answer, "customer create")
        if len(created) != 1:
            raise UpstreamFailed(
                "BigCommerce customer create: no customer", code="bigcommerce_error"
            )
        return Customer.from_api(created[0])

    async def update(self, customer_id: int, fields: dict[str, Any]) -> None:
        answer = await self._transport.request(
            "PUT", self._base, json=[{"id": customer_id, **fields}]
        )
        if answer.status not in (200, 201):
            raise answer.failure("customer update")

    async def delete(self, customer_id: int) -> None:
        """Delete the customer (BigCommerce keeps their orders)."""
        answer = await self._transport.request(
            "DELETE", self._base, params={"id:in": str(customer_id)}
        )
        if answer.status not in (200, 204):
            raise answer.failure("customer deletion")

    async def add_channels(self, customer: Customer, channel_ids: Sequence[int]) -> None:
        current = list(customer.channel_ids or ())
        await self.update(customer.id, {"channel_ids": sorted({*current, *channel_ids})})
