"""What is known so far about the login a request is handling, for its audit event and log line.

The facts live in structlog's context variables, bound for one request by `facts_of_request`
and added to by whichever step learns one (`note`); `current()` reads them back as one typed
record. A request never sees the facts of another: `facts_of_request` binds every fact afresh
and, when the request ends, puts back what was bound before. That matters wherever one task
runs several requests (an in-process ASGI client); under uvicorn each request has a task, and
so a context, of its own.

Their names start with "_": request state for the code, not fields of every log line (the
logging setup leaves such names out). The log names what it needs explicitly, and never an
e-mail address.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import structlog

from adapter.core.current_customer import CurrentCustomer

_PREFIX = "_login_"


@dataclass(frozen=True)
class LoginFacts:
    # Named from the start, so that what is logged on the way (a claim that could not be
    # given back, say) carries the reference the shopper will quote if the login fails.
    reference: str
    store_slug: str | None = None
    connection_slug: str | None = None
    protocol: str | None = None
    # Set once the store is found: only then is a failure filed under the store's name.
    store_known: bool = False
    channel_id: int | None = None
    subject: str | None = None
    email: str | None = None
    customer_id: int | None = None
    # The shopper the storefront's Current Customer JWT named, once verified.
    current_customer: CurrentCustomer | None = None
    # Where a failure page offers the way back: the login's storefront, once known (from the
    # store's configuration, never from the request).
    storefront_url: str | None = None


_NAMES = tuple(f.name for f in fields(LoginFacts))


def new_reference() -> str:
    return secrets.token_hex(6)


@contextmanager
def facts_of_request(
    *,
    store_slug: str | None = None,
    connection_slug: str | None = None,
    protocol: str | None = None,
) -> Iterator[None]:
    """Bind a fresh set of facts (and reference) for the length of one request."""
    fresh = LoginFacts(
        reference=new_reference(),
        store_slug=store_slug,
        connection_slug=connection_slug,
        protocol=protocol,
    )
    tokens = structlog.contextvars.bind_contextvars(
        **{_PREFIX + name: getattr(fresh, name) for name in _NAMES}
    )
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def note(
    *,
    protocol: str | None = None,
    store_known: bool | None = None,
    channel_id: int | None = None,
    subject: str | None = None,
    email: str | None = None,
    customer_id: int | None = None,
    current_customer: CurrentCustomer | None = None,
    storefront_url: str | None = None,
) -> None:
    """Add what a step has learnt; a fact given as None is left as it was."""
    given: dict[str, Any] = {
        "protocol": protocol,
        "store_known": store_known,
        "channel_id": channel_id,
        "subject": subject,
        "email": email,
        "customer_id": customer_id,
        "current_customer": current_customer,
        "storefront_url": storefront_url,
    }
    structlog.contextvars.bind_contextvars(
        **{_PREFIX + name: value for name, value in given.items() if value is not None}
    )


def current() -> LoginFacts:
    """The facts of the request being handled (a fresh, empty set outside any request)."""
    bound = structlog.contextvars.get_contextvars()
    known = {name: bound[_PREFIX + name] for name in _NAMES if _PREFIX + name in bound}
    if "reference" not in known:
        known["reference"] = new_reference()
    return LoginFacts(**known)
