"""The BigCommerce app callbacks: `auth` (install), `load` (opened in the control panel),
`uninstall` and `remove_user`. Pages shown inside the control panel's iframe may be framed by
BigCommerce's control panel only."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from adapter.errors import AdapterError
from adapter.logging import get_logger
from adapter.services.app_install import AppInstall, AppView
from adapter.services.availability import database_unavailable
from adapter.services.login_facts import new_reference
from adapter.web.pages import error_response

log = get_logger("adapter.bigcommerce_app")

router = APIRouter(prefix="/bigcommerce", include_in_schema=False)

# The control panel frames the app; nothing else may.
FRAMING = "frame-ancestors https://*.bigcommerce.com https://*.mybigcommerce.com"
CSP = f"default-src 'none'; style-src 'unsafe-inline'; {FRAMING}"


def _app(request: Request) -> AppInstall:
    service: AppInstall = request.app.state.app_install
    return service


def _page(view: AppView, headline: str) -> HTMLResponse:
    channels = "".join(
        f"<li>channel {cid}: <code>{escape(url)}</code></li>" for cid, url in view.channels
    )
    connections = (
        "".join(
            f"<li><code>{escape(slug)}</code> ({escape(p)})</li>" for slug, p in view.connections
        )
        or "<li>none yet</li>"
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sso-adapter</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:.1rem .3rem}}</style></head><body>
<h1>{escape(headline)}</h1>
<p>This store is <code>{escape(view.store_slug)}</code> in sso-adapter (store hash
<code>{escape(view.store_hash)}</code>){
        "" if not view.user_email else f", opened by {escape(view.user_email)}"
    }.</p>
<h2>Storefront channels</h2><ul>{channels}</ul>
<h2>Sign-in connections</h2><ul>{connections}</ul>
<p>Add and change connections in the
<a href="/console/from-control-panel?ticket={escape(quote(view.console_ticket or ""))}"
target="_blank" rel="noopener">console</a> (it opens in a tab of its own, signed in as you for
this store), with the admin API or with <code>sso-adapter apply</code>.</p>
</body></html>"""
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


def _failed(request: Request, exc: Exception, *, json: bool = False) -> Response:
    reference = new_reference()
    failure = exc if isinstance(exc, AdapterError) else database_unavailable(exc)
    if failure is None:
        log.error("app_callback_failed", reference=reference, exc_info=exc)
        return error_response(
            request,
            status=500,
            code="internal_error",
            message=AdapterError.public_message,
            reference=reference,
            json=json,
        )
    log.warning(
        "app_callback_refused",
        reference=reference,
        status=failure.status,
        reason=failure.code,
        detail=failure.detail,
    )
    return error_response(
        request,
        status=failure.status,
        code=failure.code,
        message=failure.public_message,
        reference=reference,
        json=json,
        headers={"Content-Security-Policy": CSP},
    )


@router.get("/auth")
async def auth(request: Request) -> Response:
    query = request.query_params
    try:
        view = await _app(request).install(
            code=query.get("code"), scope=query.get("scope"), context=query.get("context")
        )
    except Exception as exc:
        return _failed(request, exc)
    return _page(
        view,
        "sso-adapter is installed" if not view.reinstalled else "sso-adapter is installed again",
    )


@router.get("/load")
async def load(request: Request) -> Response:
    try:
        view = await _app(request).load(request.query_params.get("signed_payload_jwt"))
    except Exception as exc:
        return _failed(request, exc)
    return _page(view, "sso-adapter")


@router.get("/uninstall")
async def uninstall(request: Request) -> Response:
    try:
        await _app(request).uninstall(request.query_params.get("signed_payload_jwt"))
    except Exception as exc:
        return _failed(request, exc, json=True)
    return JSONResponse({"status": "uninstalled"})


@router.get("/remove_user")
async def remove_user(request: Request) -> Response:
    try:
        await _app(request).remove_user(request.query_params.get("signed_payload_jwt"))
    except Exception as exc:
        return _failed(request, exc, json=True)
    return JSONResponse({"status": "removed"})
