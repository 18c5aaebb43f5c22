"""The ASGI entry point `sso-adapter serve` gives uvicorn (one app per worker process)."""

from __future__ import annotations

from fastapi import FastAPI

from adapter.logging import configure_logging
from adapter.services.runtime import Runtime
from adapter.settings import Settings
from adapter.web.app import create_app


def app_factory() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(Runtime.build(settings))
