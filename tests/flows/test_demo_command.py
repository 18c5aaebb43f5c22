"""The `sso-adapter` command as a person runs it: `demo` end to end, `serve`'s refusal to
start without a master key, and the help texts."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import httpx
import pytest

SSO_ADAPTER = str(Path(sys.executable).with_name("sso-adapter"))
READY_LINE = "Press Ctrl+C to stop."
START_TIMEOUT_SECONDS = 20


def free_ports(count: int) -> list[int]:
    # All bound at once, so the ports differ; closed before the demo binds them (a small race
    # with other processes on this machine, acceptable for a test).
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def command_env(tmp_path: Path, database: str, **extra: str) -> dict[str, str]:
    """This environment without any SSO_ADAPTER_* setting the developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_ADAPTER_")}
    env["SSO_ADAPTER_DATABASE_URL"] = f"sqlite:///{tmp_path / database}"
    return {**env, **extra}


@dataclass
class Demo:
    process: subprocess.Popen[str]
    port: int
    idp_port: int
    shop_port: int
    output: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.output)

    @property
    def storefront(self) -> str:
        return f"http://127.0.0.1:{self.shop_port}/s/demostore/1/"

    def drain(self) -> None:
        # Read continuously so the demo never blocks on a full pipe.
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while READY_LINE not in self.text:
            assert self.process.poll() is None, f"demo exited early:\n{self.text}"
            assert time.monotonic() < deadline, f"demo printed no URLs:\n{self.text}"
            time.sleep(0.05)
        # The sockets listen before the banner is printed, so this normally answers at once;
        # the loop only guards against a demo that printed and then failed to serve.
        while True:
            try:
                httpx.get(self.storefront, timeout=2)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"demo is not answering:\n{self.text}"
                time.sleep(0.05)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl+C, as the banner says
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port, idp_port, shop_port = free_ports(3)
    process = subprocess.Popen(
        [
            SSO_ADAPTER,
            "demo",
            "--port",
            str(port),
            "--idp-port",
            str(idp_port),
            "--shop-port",
            str(shop_port),
        ],
        env=command_env(tmp_path, "demo.db"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Demo(process, port, idp_port, shop_port)
    reader = threading.Thread(target=running.drain, daemon=True)
    reader.start()
    try:
        running.wait_until_serving()
        yield running
    finally:
        running.stop()
        reader.join(timeout=5)


def hidden_fields(html: str) -> dict[str, str]:
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)
    }


def test_demo_without_secret_key_walks_a_login_from_storefront_to_signed_in(demo: Demo) -> None:
    idp = f"http://localhost:{demo.idp_port}"
    assert f"Open the storefront:   {demo.storefront}" in demo.text
    assert f"Sample IdP: {idp}" in demo.text

    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        shop_page = browser.get(demo.storefront)
        assert shop_page.status_code == 200
        assert "Not signed in." in shop_page.text
        [sign_in] = re.findall(
            r'<a class=sso href="([^"]+)">Sign in with Example Corp</a>', shop_page.text
        )

        start = browser.get(unescape(sign_in))
        assert start.status_code == 302
        assert start.headers["location"].startswith(f"{idp}/authorize?")

        form = browser.get(start.headers["location"])
        assert form.status_code == 200
        assert f'action="{idp}/authorize"' in form.text
        request = hidden_fields(form.text)
        assert request["client_id"] == "sso-adapter-demo" and request["state"]

        signed_in_at_idp = browser.post(
            f"{idp}/authorize", data={**request, "username": "ada", "password": "lovelace"}
        )
        assert signed_in_at_idp.status_code == 302
        callback = signed_in_at_idp.headers["location"]
        assert callback.startswith(
            f"http://127.0.0.1:{demo.port}/sso/demo/example-corp/oidc/callback?"
        )

        to_shop = browser.get(callback)
        assert to_shop.status_code == 302, to_shop.text
        assert to_shop.headers["location"].startswith(f"{demo.storefront}login/token/")
        into_session = browser.get(to_shop.headers["location"])
        assert into_session.status_code == 302
        assert into_session.headers["location"] == f"{demo.storefront}account.php"
        page = browser.get(into_session.headers["location"])

    assert page.status_code == 200
    assert "Signed in as customer #1, e-mail ada@example.com" in page.text
    assert "B2B buyer" not in page.text

    # The second demo user lands as a buyer of the B2B company Contoso.
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        [b2b_sign_in] = re.findall(
            r'<a class=sso href="([^"]+)">Sign in as a Contoso buyer',
            browser.get(demo.storefront).text,
        )
        start = browser.get(unescape(b2b_sign_in))
        request = hidden_fields(browser.get(start.headers["location"]).text)
        at_idp = browser.post(
            f"{idp}/authorize", data={**request, "username": "grace", "password": "hopper"}
        )
        to_shop = browser.get(at_idp.headers["location"])
        assert to_shop.status_code == 302, to_shop.text
        into_session = browser.get(to_shop.headers["location"])
        buyer_page = browser.get(into_session.headers["location"])
    assert "e-mail grace@contoso.example" in buyer_page.text
    assert "B2B buyer of Contoso, role senior buyer" in buyer_page.text
    # The banner hands over what it takes to operate the demo: the admin token it runs with.
    [token] = re.findall(r"export SSO_ADAPTER_ADMIN_TOKEN=(\S+)", demo.text)
    assert re.search(r"export SSO_ADAPTER_SECRET_KEY=\S+", demo.text)
    stores = httpx.get(
        f"http://127.0.0.1:{demo.port}/admin/v1/stores",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert stores.status_code == 200 and stores.json()["items"][0]["slug"] == "demo"
    # The install a person can click through: the sandbox's Apps page, Install, the adapter.
    with httpx.Client(follow_redirects=True, timeout=10) as person:
        apps = person.get(f"http://127.0.0.1:{demo.shop_port}/manage/apps/demostore")
        [install] = re.findall(r'href="([^"]+/install/[^"]+)"', apps.text)
        installed = person.get(f"http://127.0.0.1:{demo.shop_port}{unescape(install)}")
    assert installed.status_code == 200 and "sso-adapter is installed" in installed.text
    assert "store-demostore" in installed.text
    assert demo.stop() == 0  # Ctrl+C, as the banner tells a person, ends it cleanly


@pytest.mark.parametrize("secret_key", [None, ""], ids=["unset", "empty"])
def test_serve_without_secret_key_exits_2_with_one_line_reason(
    tmp_path: Path, secret_key: str | None
) -> None:
    extra = {} if secret_key is None else {"SSO_ADAPTER_SECRET_KEY": secret_key}
    [port] = free_ports(1)

    done = subprocess.run(
        [SSO_ADAPTER, "serve", "--port", str(port)],
        env=command_env(tmp_path, "serve.db", **extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    [reason] = done.stderr.splitlines()
    assert reason == "sso-adapter: SSO_ADAPTER_SECRET_KEY is not set: the service refuses to start"
    # It refuses before touching anything: no database was created or migrated.
    assert not (tmp_path / "serve.db").exists()


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["--help"], ["serve", "migrate", "demo", "SSO_ADAPTER_"]),
        (["demo", "--help"], ["--port", "--idp-port", "--shop-port"]),
    ],
    ids=["top-level", "demo"],
)
def test_help_exits_0_and_describes_the_commands(argv: list[str], mentions: list[str]) -> None:
    # Our own command, with arguments from the parametrize list above.
    done = subprocess.run([SSO_ADAPTER, *argv], capture_output=True, text=True, timeout=30)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: sso-adapter")
    for word in mentions:
        assert word in done.stdout
