"""The `sso-adapter` command: each sub-command is a few lines that call library code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from adapter import __version__
from adapter.settings import MissingSecretKey, Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "SSO_ADAPTER_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise UsageError(f"{field}: {first['msg']}") from None


class UsageError(Exception):
    pass


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from adapter.db.engine import async_database_url
    from adapter.db.migrate import upgrade

    settings = _settings()
    settings.require_secret_key()
    if async_database_url(settings.database_url).startswith("sqlite"):
        upgrade(settings.database_url)
    uvicorn.run(
        "adapter.web.asgi:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_level=settings.log_level.lower(),
    )
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from adapter.db.migrate import upgrade

    upgrade(_settings().database_url)
    print("database schema is at the newest revision")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from adapter.demo import run_demo

    return run_demo(_settings(), port=args.port, idp_port=args.idp_port, shop_port=args.shop_port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sso-adapter",
        description="Enterprise single sign-on (OIDC, SAML) for BigCommerce storefronts.",
        epilog="Settings come from SSO_ADAPTER_* environment variables; see the README.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the web service (applies pending migrations first on SQLite)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser(
        "migrate", help="bring the database schema to the newest Alembic revision"
    )
    migrate.set_defaults(handler=cmd_migrate)

    demo = commands.add_parser(
        "demo",
        help="run the adapter with a sample IdP and a BigCommerce sandbox, on SQLite",
        description=(
            "Starts the adapter, a sample OpenID provider with a test user and a BigCommerce "
            "sandbox in one process, and prints a URL where you can click through a login."
        ),
    )
    demo.add_argument("--port", type=int, default=8000, help="adapter port")
    demo.add_argument("--idp-port", type=int, default=8001, help="sample IdP port")
    demo.add_argument("--shop-port", type=int, default=8002, help="BigCommerce sandbox port")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (UsageError, MissingSecretKey) as exc:
        print(f"sso-adapter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        print(f"sso-adapter: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
