"""Two `sso-adapter serve` processes on one database, as two replicas behind a balancer:
a login started on one finishes on the other, and two first logins of one subject racing on
both make one customer and one link."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.world import ADMIN_TOKEN, Outcome, World

SSO_ADAPTER = str(Path(sys.executable).parent / "sso-adapter")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def replicas(world: World) -> Iterator[list[str]]:
    public_url = world.public_url  # what the OP redirects to; the balancer's address
    processes, urls = [], []
    for _ in range(2):
        port = _free_port()
        env = {
            **os.environ,
            "SSO_ADAPTER_DATABASE_URL": world.database_url,
            "SSO_ADAPTER_SECRET_KEY": world.secret_key,
            "SSO_ADAPTER_ADMIN_TOKEN": ADMIN_TOKEN,
            "SSO_ADAPTER_PUBLIC_URL": public_url,
            "SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK": "true",
            "SSO_ADAPTER_LOG_LEVEL": "WARNING",
        }
        processes.append(
            subprocess.Popen(
                [SSO_ADAPTER, "serve", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, process in zip(urls, processes, strict=True):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "replica did not become ready"
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _at(url: str, public_url: str, replica: str) -> str:
    return url.replace(public_url, replica)


def _race(world: World, replicas: list[str], params: list[dict[str, str]]) -> list[httpx.Response]:
    """One login per replica (with its `params`), taken to the IdP's redirect back; then both
    callbacks at the same moment, each on its own replica. Their answers, in order."""
    browsers = [world.browser() for _ in replicas]
    callbacks = []
    for browser, replica, query in zip(browsers, replicas, params, strict=True):
        start = browser.get(f"{replica}/sso/acme/okta/login", params=query)
        back = browser.get(start.headers["location"]).headers["location"]
        callbacks.append(_at(back, world.public_url, replica))
    answers: list[httpx.Response | None] = [None] * len(replicas)

    def finish(i: int) -> None:
        answers[i] = browsers[i].get(callbacks[i])

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(len(replicas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def test_a_login_started_on_one_replica_finishes_on_the_other(
    world: World, replicas: list[str]
) -> None:
    first, second = replicas
    browser = world.browser()
    start = browser.get(f"{first}/sso/acme/okta/login", params={"channel_id": 1})
    assert start.status_code == 302
    callback = browser.get(start.headers["location"]).headers["location"]
    finished = browser.get(_at(callback, world.public_url, second))
    outcome = world.follow_to_storefront(Outcome(start=start, callback=finished), browser)
    assert outcome.landed, finished.text


def test_two_replicas_racing_on_a_first_login_make_one_customer_and_one_link(
    world: World, replicas: list[str]
) -> None:
    world.shop.create_delay = 0.5
    answers = _race(world, replicas, [{}, {}])
    assert [a.status_code for a in answers] == [302, 302]
    assert len(world.customers) == 1 and len(world.links()) == 1


def test_people_of_a_new_b2b_company_on_two_replicas_make_one_company(
    world: World, replicas: list[str]
) -> None:
    from tests.support.world import STORE_HASH

    world.shop.b2b.enable(STORE_HASH)
    world.put_store(b2b={"enabled": True, "api_base_url": f"{world.shop.base_url}/b2b"})
    world.put_connection(b2b={"create_companies": True})
    world.op.add_user("grace", "pw", email="grace@example.com", email_verified=True)
    answers = _race(world, replicas, [{"login_hint": "ada"}, {"login_hint": "grace"}])
    assert [a.status_code for a in answers] == [302, 302]
    b2b = world.shop.b2b.stores[STORE_HASH]
    assert [c["name"] for c in b2b.companies.values()] == ["example.com"]
    (company_id,) = b2b.companies
    assert sorted(u["email"] for u in b2b.users.values()) == [
        "ada@example.com",
        "grace@example.com",
    ]
    assert {u["companyId"] for u in b2b.users.values()} == {company_id}


def _one_response(conn: socket.socket) -> bytes:
    """One whole HTTP/1.1 response (headers, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_idle_kept_alive_connection_outlives_uvicorns_default(
    world: World, replicas: list[str]
) -> None:
    # A balancer reuses idle connections for up to 60 s; uvicorn's default closes them after
    # 5 s, and a request sent as one closes is lost (the balancer answers 502).
    host, port = replicas[0].removeprefix("http://").split(":")
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        for pause in (0.0, 6.5):
            time.sleep(pause)
            conn.sendall(request)
            answer = _one_response(conn)
            assert answer.startswith(b"HTTP/1.1 200"), (pause, answer[:100])


def test_bind_request_ip_uses_the_forwarded_address_from_a_trusted_proxy(world: World) -> None:
    world.put_store(bind_request_ip=True)
    port = _free_port()
    env = {
        **os.environ,
        "SSO_ADAPTER_DATABASE_URL": world.database_url,
        "SSO_ADAPTER_SECRET_KEY": world.secret_key,
        "SSO_ADAPTER_PUBLIC_URL": world.public_url,
        "SSO_ADAPTER_ALLOW_INSECURE_LOOPBACK": "true",
        "SSO_ADAPTER_TRUSTED_PROXIES": "127.0.0.1",
    }
    process = subprocess.Popen(
        [SSO_ADAPTER, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    replica = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{replica}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        browser = world.browser()
        forwarded = {"X-Forwarded-For": "203.0.113.7"}
        start = browser.get(f"{replica}/sso/acme/okta/login", headers=forwarded)
        callback = browser.get(start.headers["location"]).headers["location"]
        finished = browser.get(_at(callback, world.public_url, replica), headers=forwarded)
        assert finished.status_code == 302
        token = finished.headers["location"].rsplit("/", 1)[1]
        import jwt

        claims = jwt.decode(token, world.shop_store.client_secret, algorithms=["HS256"])
        assert claims["request_ip"] == "203.0.113.7"
    finally:
        process.terminate()
        process.wait(timeout=15)
