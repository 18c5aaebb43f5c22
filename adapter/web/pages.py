"""Answers a person (HTML) or a program (JSON) sees when a login fails."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

_TITLES = {
    400: "This sign-in link is not valid",
    401: "We could not verify your sign-in",
    403: "Sign-in not allowed",
    404: "Not found",
    405: "Not found",
    413: "This sign-in request was too large",
    502: "A service is not responding",
    503: "Please try again in a moment",
    500: "Something went wrong",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
h1{{font-size:1.4rem}} .ref{{color:#666;font-size:.9rem}}
code{{background:#f3f3f3;padding:.1rem .3rem}}
</style></head>
<body><h1>{title}</h1><p>{message}</p>{back}
<p class="ref">If you contact support, quote reference <code>{reference}</code>.</p>
</body></html>
"""


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    request: Request,
    *,
    status: int,
    code: str,
    message: str,
    reference: str,
    json: bool = False,
    headers: dict[str, str] | None = None,
    back_url: str | None = None,
) -> Response:
    """`back_url`: the storefront the page links back to (from configuration only)."""
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        **(headers or {}),
    }
    if json or wants_json(request):
        return JSONResponse(
            {"error": code, "message": message, "reference": reference},
            status_code=status,
            headers=headers,
        )
    title = _TITLES.get(status, _TITLES[500])
    back = ""
    if back_url and back_url.startswith(("https://", "http://")):
        back = f'<p><a href="{escape(back_url)}/">Back to the store</a></p>'
    body = _PAGE.format(
        title=escape(title), message=escape(message), reference=escape(reference), back=back
    )
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            **headers,
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )
