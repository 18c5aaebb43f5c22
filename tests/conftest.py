"""Shared fixtures: a migrated database per session (emptied after each test), and real
servers on loopback: the sample OpenID provider, the BigCommerce emulator and the adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from adapter.logging import configure_logging
from tests.support.databases import clear_all_tables, migrated_database, sync_url
from tests.support.servers import ServerThread
from tests.support.world import Dispatcher, World, build_world


@pytest.fixture(scope="session", autouse=True)
def _production_logging() -> None:
    """Tests log through the same pipeline (and redaction) as the service."""
    configure_logging("DEBUG", json=True)


@pytest.fixture(scope="session")
def session_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return migrated_database(tmp_path_factory.mktemp("db"), "sso_adapter_test")


@pytest.fixture(scope="session")
def sync_engine(session_database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sync_url(session_database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(session_database_url: str, sync_engine: sa.Engine) -> Iterator[str]:
    clear_all_tables(sync_engine)
    yield session_database_url
    clear_all_tables(sync_engine)


def _serve(host_name: str) -> Iterator[tuple[ServerThread, Dispatcher]]:
    server = ServerThread.bind(host_name)
    dispatcher = Dispatcher()
    server.start(dispatcher)
    yield server, dispatcher
    server.stop()


# The IdPs answer as "localhost" and the adapter as 127.0.0.1: two sites, as in real life.
@pytest.fixture(scope="session")
def op_server() -> Iterator[tuple[ServerThread, Dispatcher]]:
    yield from _serve("localhost")


@pytest.fixture(scope="session")
def idp_server() -> Iterator[tuple[ServerThread, Dispatcher]]:
    yield from _serve("localhost")


@pytest.fixture(scope="session")
def shop_server() -> Iterator[tuple[ServerThread, Dispatcher]]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def world(
    database_url: str,
    sync_engine: sa.Engine,
    op_server: tuple[ServerThread, Dispatcher],
    shop_server: tuple[ServerThread, Dispatcher],
) -> Iterator[World]:
    w = build_world(database_url, sync_engine, op_server, shop_server)
    yield w
    w.close()
