"""Request bodies, read with a limit fixed before the first byte is read.

Every body the adapter reads goes through `read_body`: a declared Content-Length over the
limit is refused without reading anything, and a chunked body is counted as it streams in and
refused as soon as it passes the limit, so no client can make the adapter hold more than the
limit of its endpoint in memory. The browser routes call the readers below inside their own
error handling (a failure page, a reference id, an audit event); the admin API, whose bodies
FastAPI reads, sits behind `BodyLimit`, which reads with the same function.

Forms are parsed here rather than by Starlette: only `application/x-www-form-urlencoded`
(what an HTML form and the SAML HTTP-POST binding send), UTF-8, a bounded number of fields,
and no field given twice, each refusal an `AdapterError` with its own code for the audit trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapter.errors import AdapterError, BadRequest, TooLarge
from adapter.saml.service_provider import MAX_RESPONSE_BYTES

# {"code": …} and {"current_customer_jwt": …}: a Current Customer JWT is well under 2 KiB.
JSON_BODY_LIMIT = 8 * 1024
# The link form: the Current Customer JWT, channel_id and redirect_to.
LINK_FORM_LIMIT = 16 * 1024
# The SAML ACS form: a SAMLResponse of MAX_RESPONSE_BYTES (512 KiB) decoded is 683 KiB in
# base64 and about 730 KiB once a browser has percent-encoded its "+", "/" and "=", plus
# RelayState; twice the decoded limit (1 MiB) leaves room for all of it.
ACS_FORM_LIMIT = 2 * MAX_RESPONSE_BYTES
# Admin API bodies: a SAML connection may carry its IdP's metadata inline. Larger metadata
# documents can be given by idp_metadata_url instead.
ADMIN_BODY_LIMIT = 1024 * 1024
# The forms need two (SAMLResponse, RelayState) to four (current_customer_jwt, channel_id,
# redirect_to, login_hint) fields; a storefront's own form may add a few more.
FORM_MAX_FIELDS = 10

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isascii() or not value.strip().isdigit():
        raise BadRequest("Content-Length is not a number", code="body_malformed")
    return int(value)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or `TooLarge` as soon as it is known to pass `limit` bytes."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise TooLarge(f"Content-Length {declared} over the limit of {limit}")
    received = bytearray()
    try:
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:
                raise TooLarge(f"body passed the limit of {limit} bytes while streaming")
    except ClientDisconnect:
        raise BadRequest("client went away during the body", code="body_incomplete") from None
    return bytes(received)


async def read_json(request: Request, limit: int = JSON_BODY_LIMIT) -> Any:
    """The body parsed as JSON; `BadRequest("invalid_request")` for anything that is not."""
    raw = await read_body(request, limit)
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest("body is not UTF-8 JSON", code="invalid_request") from None


async def read_form(
    request: Request, limit: int, *, max_fields: int = FORM_MAX_FIELDS
) -> dict[str, str]:
    """The body as an urlencoded form: each field once, names and values as text."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        raise BadRequest(
            f"form posted as {media_type[:60]!r}, not {FORM_MEDIA_TYPE}", code="form_content_type"
        )
    raw = await read_body(request, limit)
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=max_fields,
        )
    except UnicodeDecodeError:
        raise BadRequest("form is not UTF-8", code="form_malformed") from None
    except ValueError:  # parse_qsl's own refusal of too many fields
        raise BadRequest(
            f"form has over {max_fields} fields", code="form_too_many_fields"
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            # Two values for one name: refuse rather than guess which one counts.
            raise BadRequest(f"form field {name[:40]!r} given twice", code="form_repeated_field")
        fields[name] = value
    return fields


class BodyLimit:
    """Reads each request body up to `limit` before the app sees it, and answers with
    `refuse(error)` instead when the body is larger (or cannot be read). For apps whose
    framework reads bodies itself, as FastAPI does for declared body parameters."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        refuse: Callable[[AdapterError], Response],
    ):
        self.app, self.limit, self.refuse = app, limit, refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(Request(scope, receive), self.limit)
        except (BadRequest, TooLarge) as exc:
            await self.refuse(exc)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
