"""The Customers v3 API, over httpx.

Every call has the client's timeout. A 429 is waited out by `X-Rate-Limit-Time-Reset-Ms`
within a bounded budget; a 5xx on a read is retried with backoff; a write is never retried
after a 5xx (it may have happened), only after a 429 (which means it did not).
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from adapter.core.emails import UnmatchableEmail, mailbox_key, same_mailbox
from adapter.errors import UpstreamFailed

_READ_RETRY_DELAYS = (0.2, 0.5, 1.0)
# With no reset header, BigCommerce says the platform is under load: retry after a pause.
_DEFAULT_RATE_LIMIT_PAUSE = 1.0
# A reset header of 0 must not turn the wait into a busy loop against the API.
_MIN_RATE_LIMIT_PAUSE = 0.05
_MAX_RATE_LIMITED_ATTEMPTS = 20
# A page of customers or a settings object is a few KiB; an answer past this is not one.
MAX_ANSWER_BYTES = 1024 * 1024
# Headers that describe the bytes on the wire, not the body kept after reading it.
_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


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


Sleep = Callable[[float], Awaitable[None]]
CallObserver = Callable[[str, int], None]


class CustomersApi:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_base_url: str,
        store_hash: str,
        api_token: str,
        max_rate_limit_wait: float,
        sleep: Sleep = asyncio.sleep,
        observe: CallObserver | None = None,
    ):
        self._http = http
        self._base = f"{api_base_url.rstrip('/')}/stores/{store_hash}/v3/customers"
        self._headers = {
            "X-Auth-Token": api_token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        self._max_wait = max_rate_limit_wait
        self._sleep = sleep
        self._observe = observe

    async def _call(
        self, method: str, url: str, *, params: Any = None, json: Any = None
    ) -> httpx.Response:
        waited = 0.0
        rate_limited = 0
        read_retries = iter(_READ_RETRY_DELAYS if method == "GET" else ())
        while True:
            try:
                response = await self._read_capped(method, url, params=params, json=json)
            except httpx.TimeoutException:
                if method == "GET" and (delay := next(read_retries, None)) is not None:
                    await self._sleep(delay)
                    continue
                raise UpstreamFailed(
                    f"BigCommerce {method} timed out", code="bigcommerce_unavailable"
                ) from None
            except httpx.HTTPError as exc:
                raise UpstreamFailed(
                    f"BigCommerce {method}: {type(exc).__name__}", code="bigcommerce_unavailable"
                ) from None
            if self._observe:
                self._observe(method, response.status_code)
            status = response.status_code
            if status == 429:
                pause = self._reset_seconds(response)
                rate_limited += 1
                if waited + pause > self._max_wait or rate_limited >= _MAX_RATE_LIMITED_ATTEMPTS:
                    raise UpstreamFailed(
                        f"BigCommerce rate limit: would wait {waited + pause:.1f}s",
                        code="bigcommerce_rate_limited",
                    )
                waited += pause
                await self._sleep(pause)
                continue
            if status >= 500 and (delay := next(read_retries, None)) is not None:
                await self._sleep(delay)
                continue
            return response

    async def _read_capped(
        self, method: str, url: str, *, params: Any, json: Any
    ) -> httpx.Response:
        """The answer, read up to MAX_ANSWER_BYTES (decoded) and refused beyond: an API
        base URL that answers without end must not fill the worker's memory."""
        too_large = UpstreamFailed(
            f"BigCommerce {method}: answer over {MAX_ANSWER_BYTES} bytes", code="bigcommerce_error"
        )
        async with self._http.stream(
            method, url, params=params, json=json, headers=self._headers
        ) as streamed:
            declared = streamed.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                raise too_large
            body = bytearray()
            async for chunk in streamed.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise too_large
            headers = [(k, v) for k, v in streamed.headers.multi_items() if k not in _WIRE_HEADERS]
            return httpx.Response(
                streamed.status_code, headers=headers, content=bytes(body), request=streamed.request
            )

    @staticmethod
    def _reset_seconds(response: httpx.Response) -> float:
        value = response.headers.get("X-Rate-Limit-Time-Reset-Ms")
        try:
            if value is None:
                return _DEFAULT_RATE_LIMIT_PAUSE
            return max(_MIN_RATE_LIMIT_PAUSE, int(value) / 1000.0)
        except ValueError:
            return _DEFAULT_RATE_LIMIT_PAUSE

    @staticmethod
    def _fail(what: str, response: httpx.Response) -> UpstreamFailed:
        code = "bigcommerce_auth" if response.status_code in (401, 403) else "bigcommerce_error"
        return UpstreamFailed(f"BigCommerce {what}: HTTP {response.status_code}", code=code)

    @staticmethod
    def _data(response: httpx.Response, what: str) -> list[dict[str, Any]]:
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            raise UpstreamFailed(f"BigCommerce {what}: unexpected body", code="bigcommerce_error")
        return data

    async def probe(self) -> None:
        """One cheap read that proves the API token works for this store."""
        response = await self._call("GET", self._base, params={"limit": 1})
        if response.status_code != 200:
            raise self._fail("credentials check", response)
        self._data(response, "credentials check")

    async def channel_allows_global_logins(self, channel_id: int) -> bool:
        """BigCommerce's per-channel customer setting: may customers of every channel (those
        without channel_ids) sign in to this one?"""
        base = self._base.removesuffix("/customers")
        response = await self._call("GET", f"{base}/customers/settings/channels/{channel_id}")
        if response.status_code != 200:
            raise self._fail("channel settings", response)
        try:
            data = response.json().get("data") or {}
        except (ValueError, AttributeError):
            data = {}
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
        response = await self._call(
            "GET", self._base, params={"email:in": ",".join(sorted(wanted)), "limit": 10}
        )
        if response.status_code != 200:
            raise self._fail("customer search", response)
        customers = [Customer.from_api(d) for d in self._data(response, "customer search")]
        return [c for c in customers if same_mailbox(c.email, email)]

    async def get(self, customer_id: int) -> Customer | None:
        response = await self._call("GET", self._base, params={"id:in": str(customer_id)})
        if response.status_code != 200:
            raise self._fail("customer read", response)
        found = self._data(response, "customer read")
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
        response = await self._call("POST", self._base, json=[body])
        if response.status_code == 422:
            # BigCommerce does not document a distinct error for a taken e-mail: ask.
            existing = await self.find_by_email(new.email)
            if existing:
                raise EmailInUse(existing[0])
            raise self._fail("customer create refused", response)
        if response.status_code not in (200, 201):
            raise self._fail("customer create", response)
        created = self._data(response, "customer create")
        if len(created) != 1:
            raise UpstreamFailed(
                "BigCommerce customer create: no customer", code="bigcommerce_error"
            )
        return Customer.from_api(created[0])

    async def update(self, customer_id: int, fields: dict[str, Any]) -> None:
        response = await self._call("PUT", self._base, json=[{"id": customer_id, **fields}])
        if response.status_code not in (200, 201):
            raise self._fail("customer update", response)

    async def add_channels(self, customer: Customer, channel_ids: Sequence[int]) -> None:
        current = list(customer.channel_ids or ())
        await self.update(customer.id, {"channel_ids": sorted({*current, *channel_ids})})
