"""Minimal rows for tests that work on the tables directly, below the services."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def store_columns(now: datetime, slug: str = "s") -> dict[str, Any]:
    """A store with placeholder credentials: nothing in these tests calls BigCommerce."""
    return {
        "slug": slug,
        "store_hash": "h",
        "client_id": "c",
        "client_secret_sealed": "x",
        "api_token_sealed": "x",
        "api_base_url": "https://api",
        "default_channel_id": 1,
        "bind_request_ip": False,
        "created_at": now,
        "updated_at": now,
    }


def connection_columns(now: datetime, store_id: int, slug: str = "c") -> dict[str, Any]:
    return {
        "store_id": store_id,
        "slug": slug,
        "protocol": "oidc",
        "settings": {},
        "created_at": now,
        "updated_at": now,
    }
