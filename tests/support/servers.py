"""Real servers on loopback sockets, each in its own thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from starlette.types import ASGIApp

from adapter.serving import bind_socket, bound_port, uvicorn_server


class ServerThread:
    def __init__(self, sock: socket.socket, host_name: str = "127.0.0.1"):
        self.sock = sock
        self.url = f"http://{host_name}:{bound_port(sock)}"
        self._thread: threading.Thread | None = None
        self._server = None

    @classmethod
    def bind(cls, host_name: str = "127.0.0.1") -> ServerThread:
        return cls(bind_socket("127.0.0.1"), host_name)

    def start(self, app: ASGIApp) -> ServerThread:
        self._server = uvicorn_server(app)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self.sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.sock.close()
