"""Structured logging, with every secret redacted in one place before anything is written."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[redacted]"
# Keys whose values are secrets or bearer material wherever they appear.
_SECRET_KEYS = re.compile(
    r"(secret|token|password|passwd|authorization|cookie|jwt|assertion|samlresponse|"
    r"code_verifier|nonce|^code$|^state$|api_key|private)",
    re.IGNORECASE,
)
# JWT- and JWS-shaped strings, wherever they hide in a value.
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _JWT_SHAPE.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_mapping(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: REDACTED if _SECRET_KEYS.search(str(key)) else redact_value(value)
        for key, value in event.items()
    }


def _redact_processor(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return redact_mapping(event_dict)


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks become text before redaction, so they are redacted too.
            structlog.processors.format_exc_info,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        # No file bound here: each logger writes to the sys.stdout of its moment.
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
