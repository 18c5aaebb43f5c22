"""Telling a database outage from a bug, for the web layer's error boundaries.

The rule itself lives at the edge of the store (`adapter.db.unavailable`); the web layer reaches
it here, since it talks to services and never to `adapter.db`.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from adapter.db.unavailable import database_unavailable

__all__ = ["DATABASE_ERRORS", "database_unavailable"]

# The exception classes a database failure arrives as (asyncpg lets a refused or reset
# connection through as the OS error itself): for handlers registered by class.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, ConnectionError)
