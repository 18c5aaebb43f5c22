"""The `sso-adapter` command: each sub-command is a few lines that call library code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from adapter import __version__
from adapter.settings import MissingSecretKey, Settings

if TYPE_CHECKING:
    from adapter.services.runtime import Runtime

T = TypeVar("T")
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
    from adapter.logging import configure_logging, get_logger

    settings = _settings()
    settings.require_secret_key()
    # From here on the process writes nothing but log records, one JSON object a line.
    configure_logging(settings.log_level, json=settings.log_json)
    try:
        _serve(args, settings)
    except Exception:
        # Its last words too: a database error can quote a statement and its parameters.
        get_logger("adapter.serve").error("serve_failed", exc_info=True)
        return EXIT_FAILURE
    return EXIT_OK


KEEP_ALIVE_SECONDS = 75


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from adapter.db.engine import async_database_url
    from adapter.db.migrate import upgrade

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
        # The shopper's address (bind_request_ip) comes from X-Forwarded-For only when the
        # connection comes from a proxy the operator named.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # SIGTERM: stop accepting, let logins in flight finish.
        timeout_graceful_shutdown=30,
        # An idle kept-alive connection stays open longer than a load balancer keeps its own
        # (60 s on the common ones): closed first by the server, the balancer may send the
        # next request onto it just as it closes, and the shopper gets the balancer's 502.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_level=settings.log_level.lower(),
        # No handlers of uvicorn's own (plain text on stderr): its records go through ours,
        # configured above and again by the app factory in each worker process.
        log_config=None,
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    from adapter.db.migrate import upgrade

    upgrade(_settings().database_url)
    print("database schema is at the newest revision")
    return EXIT_OK


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one coroutine against a fresh runtime, closing it afterwards."""
    import asyncio

    from adapter.services.runtime import Runtime

    async def main() -> T:
        runtime = Runtime.build(_settings())
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


def cmd_token_create(args: argparse.Namespace) -> int:
    from adapter.db.tokens import RESERVED_ACTORS, SCOPES, TokenRepository

    if args.name in RESERVED_ACTORS:
        raise UsageError(f"the name {args.name!r} is reserved for the audit trail")
    unknown = sorted(set(args.scope) - set(SCOPES))
    if unknown:
        raise UsageError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")

    async def work(runtime: Runtime) -> Any:
        async with runtime.sessions.begin() as session:
            repo = TokenRepository(session, runtime.clock)
            if any(t.name == args.name for t in await repo.list()):
                raise UsageError(f"a token named {args.name!r} exists already")
            return await repo.create(args.name, args.scope)

    token = _run(work)
    print(token)
    print(
        f"token {args.name!r} with scopes {' '.join(sorted(set(args.scope)))}: "
        "shown once, stored only as a hash",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_token_list(args: argparse.Namespace) -> int:
    from adapter.db.tokens import TokenRepository

    async def work(runtime: Runtime) -> Any:
        async with runtime.sessions() as session:
            return await TokenRepository(session, runtime.clock).list()

    tokens = _run(work)
    if not tokens:
        print(
            "no admin tokens (make one: sso-adapter token create --name NAME --scope SCOPE...)",
            file=sys.stderr,
        )
    for token in tokens:
        print(f"{token.name}\t{' '.join(token.scopes)}\tcreated {token.created_at:%Y-%m-%d %H:%M}")
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from adapter.db.tokens import TokenRepository

    async def work(runtime: Runtime) -> Any:
        async with runtime.sessions.begin() as session:
            return await TokenRepository(session, runtime.clock).revoke(args.name)

    if not _run(work):
        raise UsageError(f"no token named {args.name!r}")
    print(f"token {args.name!r} revoked")
    return EXIT_OK


SCIM_TOKEN_ACTOR = "cli:scim-token"  # noqa: S105 - an actor name, not a secret


def _scim_tokens(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work` with the admin service; an unknown store or connection is bad input."""
    from adapter.errors import NotFound
    from adapter.services.admin import AdminService

    async def with_service(runtime: Runtime) -> T:
        return await work(AdminService(runtime))

    try:
        return _run(with_service)
    except NotFound as exc:
        raise UsageError(exc.detail) from None


def cmd_scim_token_create(args: argparse.Namespace) -> int:
    made = _scim_tokens(
        lambda admin: admin.create_scim_token(args.store, args.connection, SCIM_TOKEN_ACTOR)
    )
    print(made.token)
    print(
        f"SCIM token {made.id} of {args.store}/{args.connection}: shown once, stored only as "
        "a hash",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_scim_token_list(args: argparse.Namespace) -> int:
    tokens = _scim_tokens(lambda admin: admin.list_scim_tokens(args.store, args.connection))
    if not tokens:
        print(f"no SCIM tokens for {args.store}/{args.connection}", file=sys.stderr)
    for token in tokens:
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        print(f"{token.id}\tcreated {token.created_at:%Y-%m-%d %H:%M}\tlast used {used}")
    return EXIT_OK


def cmd_scim_token_revoke(args: argparse.Namespace) -> int:
    _scim_tokens(
        lambda admin: admin.revoke_scim_token(
            args.store, args.connection, args.id, SCIM_TOKEN_ACTOR
        )
    )
    print(f"SCIM token {args.id} of {args.store}/{args.connection} revoked")
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from adapter.services.apply import ApplyFileError, apply_file, parse_apply_file

    try:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UsageError(f"{args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{args.file}: not UTF-8 text") from None
    try:
        stores = parse_apply_file(text)
        lines = _run(lambda runtime: apply_file(runtime, stores, dry_run=args.dry_run))
    except ApplyFileError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    for line in lines:
        print(line)
    if all(line.endswith(": unchanged") for line in lines):
        print("nothing to change")
    return EXIT_OK


def cmd_rotate_secrets(args: argparse.Namespace) -> int:
    from adapter.db.config import reseal_all

    async def work(runtime: Runtime) -> Any:
        async with runtime.sessions.begin() as session:
            return await reseal_all(session, runtime.box)

    count = _run(work)
    print(f"re-sealed {count} secret(s) with the current SSO_ADAPTER_SECRET_KEY")
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

    apply = commands.add_parser(
        "apply",
        help="create or update stores and connections from a YAML file (idempotent)",
        description=(
            "Applies a YAML file of stores (admin API store bodies, each with its connections "
            "by slug). Prints what changed; a second run changes nothing. Nothing is deleted."
        ),
    )
    apply.add_argument("file", help="the YAML file")
    apply.add_argument(
        "--dry-run", action="store_true", help="print the differences without writing"
    )
    apply.set_defaults(handler=cmd_apply)

    token = commands.add_parser("token", help="manage admin API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="make a token and print it once")
    create.add_argument("--name", required=True, help="a name for the audit trail")
    create.add_argument(
        "--scope",
        required=True,
        nargs="+",
        action="extend",
        metavar="SCOPE",
        help="stores:read stores:write links:read links:write events:read",
    )
    create.set_defaults(handler=cmd_token_create)
    listing = token_commands.add_parser("list", help="list tokens (names and scopes)")
    listing.set_defaults(handler=cmd_token_list)
    revoke = token_commands.add_parser("revoke", help="delete a token")
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(handler=cmd_token_revoke)

    scim = commands.add_parser(
        "scim-token", help="manage the SCIM bearer tokens of a connection (one connection each)"
    )
    scim_commands = scim.add_subparsers(dest="scim_command", required=True, metavar="ACTION")
    for action, helptext, handler in (
        ("create", "make a token for the connection and print it once", cmd_scim_token_create),
        (
            "list",
            "list the connection's tokens (ids and dates, never the tokens)",
            cmd_scim_token_list,
        ),
        ("revoke", "revoke one of the connection's tokens", cmd_scim_token_revoke),
    ):
        sub = scim_commands.add_parser(action, help=helptext)
        sub.add_argument("--store", required=True, help="the store's slug")
        sub.add_argument("--connection", required=True, help="the connection's slug")
        if action == "revoke":
            sub.add_argument("--id", required=True, type=int, help="the token's id")
        sub.set_defaults(handler=handler)

    rotate = commands.add_parser(
        "rotate-secrets",
        help="re-seal stored secrets with the current SSO_ADAPTER_SECRET_KEY",
        description=(
            "After setting a new SSO_ADAPTER_SECRET_KEY with the previous one in "
            "SSO_ADAPTER_OLD_SECRET_KEYS, re-seals every stored secret with the new key. "
            "Then the old key can be dropped."
        ),
    )
    rotate.set_defaults(handler=cmd_rotate_secrets)

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
