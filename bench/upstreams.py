"""The benchmark's IdP and BigCommerce emulator, in a process of their own.

An adapter's callback waits for the IdP's token endpoint, and a first login for the Customers
API. Served from the benchmark's own process they would share its interpreter lock with the
simulated browsers and slow the adapter down by the benchmark's load; here they answer from a
child process. The parent drives them through a pipe: `upstreams.op.add_user(...)` runs
that method on the child's object and returns its (picklable) result; `upstreams.op.issuer`
reads an attribute.
"""

from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _serve(pipe: Connection) -> None:
    sys.path.insert(0, str(ROOT))
    from adapter.sandbox.bigcommerce import BigCommerceEmulator
    from adapter.sandbox.oidc_provider import SandboxOidcProvider
    from tests.support.servers import ServerThread

    op_server = ServerThread.bind("localhost")
    shop_server = ServerThread.bind("127.0.0.1")
    objects: dict[str, Any] = {
        "op": SandboxOidcProvider(op_server.url, auto_login="default"),
        "shop": BigCommerceEmulator(shop_server.url),
    }
    op_server.start(objects["op"].app())
    shop_server.start(objects["shop"].app())
    pipe.send("ready")
    while True:
        try:
            target, name, call, args, kwargs = pipe.recv()
        except EOFError:
            return
        try:
            value = getattr(objects[target], name)
            if call:
                pipe.send(("ok", value(*args, **kwargs)))
            else:
                pipe.send(("method", None) if callable(value) else ("ok", value))
        except Exception as exc:  # handed back to the caller, who raises it
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))


class Upstreams:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        if self._pipe.recv() != "ready":
            raise RuntimeError("the upstream servers did not start")

        self.op = _Remote(self, "op")
        self.shop = _Remote(self, "shop")

    def ask(self, target: str, name: str, call: bool, *args: Any, **kwargs: Any) -> Any:
        self._pipe.send((target, name, call, args, kwargs))
        status, value = self._pipe.recv()
        if status == "error":
            raise RuntimeError(value)
        return _Method(self, target, name) if status == "method" else value

    def close(self) -> None:
        self._pipe.close()
        self._process.terminate()
        self._process.join(timeout=10)


class _Remote:
    """Stands for the child's object: attributes are read, methods are called, over the pipe."""

    def __init__(self, upstreams: Upstreams, target: str):
        self._upstreams = upstreams
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return self._upstreams.ask(self._target, name, False)


class _Method:
    def __init__(self, upstreams: Upstreams, target: str, name: str):
        self._upstreams, self._target, self._name = upstreams, target, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._upstreams.ask(self._target, self._name, True, *args, **kwargs)
