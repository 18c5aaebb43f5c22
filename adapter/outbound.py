"""Calls to hosts that an administrator named: the size cap.

Issuers, IdP metadata URLs and GraphQL URLs come from configuration, and whoever may change
the configuration must not be able to make the adapter hold a response of unbounded size.

Size cap: `read_capped` streams the body and stops reading at the cap, whatever the
Content-Length says or whether there is one; a document larger than the cap is refused.

    UpstreamFailed (502, adapter.errors)
    └── FetchFailed      a fetch of an IdP document failed; `reason` is safe to show operators
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from adapter.errors import UpstreamFailed


class FetchFailed(UpstreamFailed):
    """`detail` is for the log; `reason` says what an operator can fix, and no more: no
    exception names, no remote values (they would make the admin API a probe of other
    hosts)."""

    def __init__(self, detail: str, *, reason: str, code: str):
        super().__init__(detail, code=code)
        self.reason = reason


# -- the size cap -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Capped:
    status_code: int
    content: bytes


async def read_capped(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    max_bytes: int,
    unreachable_code: str = "idp_unreachable",
    too_large_code: str = "idp_bad_response",
    **request: Any,
) -> Capped:
    """One request whose answer is read up to `max_bytes` and refused beyond.

    Every outbound fetch of an IdP document goes through here, and the storefront GraphQL
    call; the caller judges the status.
    """
    too_large = FetchFailed(
        f"{what}: larger than {max_bytes} bytes",
        reason=f"{what} is larger than {max_bytes // 1024} KiB",
        code=too_large_code,
    )
    try:
        async with http.stream(method, url, **request) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large  # refused unread
            body = bytearray()
            # Decoded bytes are counted, so a compressed body is capped at its real size.
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise too_large  # leaving the block closes the connection mid-body
            return Capped(response.status_code, bytes(body))
    except httpx.HTTPError as exc:
        raise FetchFailed(
            f"{what}: {type(exc).__name__}: {exc}",
            reason=f"{what} could not be reached",
            code=unreachable_code,
        ) from None


async def fetch_document(
    http: httpx.AsyncClient, url: str, *, what: str, max_bytes: int, accept: str | None = None
) -> bytes:
    """GET a document that must answer 200, capped at `max_bytes`."""
    headers = {"Accept": accept} if accept else {}
    answer = await read_capped(http, "GET", url, what=what, max_bytes=max_bytes, headers=headers)
    if answer.status_code != 200:
        raise FetchFailed(
            f"{what}: HTTP {answer.status_code}",
            reason=f"{what} answered HTTP {answer.status_code}",
            code="idp_unreachable",
        )
    return answer.content
