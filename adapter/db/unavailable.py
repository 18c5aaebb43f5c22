"""Telling an unreachable database from a broken query, at the edge of the store.

A database that is down, restarting, failing over or out of pooled connections is not a bug:
the same request a moment later succeeds. Such an error becomes `DatabaseUnavailable` (503
with Retry-After, one warning line); any other database error stays what it is (a 500 with
its traceback, because it is a bug).
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from adapter.errors import DatabaseUnavailable

# A client told to come back sooner than a database restart takes would only come back to
# the same answer; much later and the shopper gives up.
RETRY_AFTER_SECONDS = 5


def database_unavailable(error: BaseException) -> DatabaseUnavailable | None:
    """`DatabaseUnavailable` when `error` says the database could not be reached, else None."""
    unreachable = (
        isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)
        or (isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated)
        # asyncpg lets a refused or reset connection through as the OS error itself.
        or isinstance(error, ConnectionError)
    )
    if not unreachable:
        return None
    original = getattr(error, "orig", None)
    cause = type(original).__name__ if original is not None else None
    # Class names only: a driver's message may quote the statement and its parameters.
    detail = type(error).__name__ + (f" ({cause})" if cause else "")
    return DatabaseUnavailable(f"database unreachable: {detail}", retry_after=RETRY_AFTER_SECONDS)
