"""Structured logging: one stream of JSON lines for the adapter and every library it uses, with
secrets, SAML documents and attacker-shaped text made harmless in one place before anything is
written.

Everything goes through the standard `logging` module. structlog's loggers hand their event
dictionaries to it (`ProcessorFormatter.wrap_for_formatter`); pysaml2, uvicorn, httpx,
SQLAlchemy, Alembic and the rest log to it as they always do; one handler on the root logger
renders both kinds of record with the same processors (`ProcessorFormatter`, whose
`foreign_pre_chain` gives a library's record the same shape as ours). So:

- every line is exactly one JSON object: a newline in a value is escaped by the renderer, never
  written, and no other handler writes plain text beside it;
- a library speaks only from WARNING up (its debug and info output dumps what it was handed:
  pysaml2 whole documents, SQLAlchemy statements with their parameters);
- pysaml2 is heard only when it calls something critical, and then only its fixed wording,
  never the documents, identifiers and attribute values it passes as arguments, nor
  tracebacks of the input it refused (the adapter logs each refusal itself, once);
- secrets are redacted by name (keys) and by shape (JWTs, PEM blocks, bearer tokens, SAML and
  other XML documents, long base64, secret query parameters), and overlong values are cut.
"""

from __future__ import annotations

import contextlib
import json as _json
import logging
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict

from adapter.redaction import REDACTED, redact_text, redact_value

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "redact_mapping",
    "redact_text",
    "redact_value",
]

# Loggers that speak at the configured level: ours and the server's. Every other library
# speaks from WARNING up, whatever the configured level (Alembic's info lines would come with
# every readiness probe, SQLAlchemy's with every statement and its parameters).
_AT_CONFIGURED_LEVEL = ("adapter", "uvicorn")
# Libraries that handle SAML documents and log them as arguments of their messages.
_DOCUMENT_HANDLERS = ("saml2", "xmlschema")
# The longest traceback kept (middle cut); other values are cut by redact_text.
_MAX_EXCEPTION_CHARS = 8000


def redact_mapping(event: Mapping[str, Any]) -> dict[str, Any]:
    redacted = redact_value(event)
    assert isinstance(redacted, dict)
    return redacted


def _redact_processor(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    exception = event_dict.pop("exception", None)
    event_dict = redact_mapping(event_dict)
    if exception is not None:
        event_dict["exception"] = redact_text(str(exception), limit=_MAX_EXCEPTION_CHARS)
    return event_dict


def _merge_context(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """What is bound to the context (the request id) joins every record, as structlog's own
    `merge_contextvars` does, except names starting with "_": state a request keeps for the
    code (the facts of a login, an e-mail address among them), not for the log."""
    for key, value in structlog.contextvars.get_contextvars().items():
        if not key.startswith("_"):
            event_dict.setdefault(key, value)
    return event_dict


def _within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def _library_record(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """A library's record, before it is shaped like ours."""
    record: logging.LogRecord = event_dict["_record"]
    args = event_dict.pop("positional_args", None)
    if _within(record.name, _DOCUMENT_HANDLERS):
        # pysaml2 passes what it handles (the response, the decrypted assertion, the
        # InResponseTo it was sent) as arguments: only its own wording is kept.
        if args:
            event_dict["event"] = str(record.msg)
        # A traceback from here is one of input we refuse: its type is enough.
        exc_info = event_dict.pop("exc_info", None)
        if isinstance(exc_info, tuple) and exc_info[0] is not None:
            event_dict["exc_type"] = exc_info[0].__name__
    return event_dict


def _escape_controls(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """For the console renderer, which writes strings as they are: a newline in a value must
    not start a line of its own."""

    def escape(value: Any) -> Any:
        if isinstance(value, str):
            return "".join(
                c if c.isprintable() or c == " " else c.encode("unicode_escape").decode()
                for c in value
            )
        if isinstance(value, Mapping):
            return {k: escape(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [escape(v) for v in value]
        return value

    return {
        key: value if key == "exception" else escape(value) for key, value in event_dict.items()
    }


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes each record to the sys.stdout of its moment (a test may have swapped it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass

    def handleError(self, record: logging.LogRecord) -> None:
        # logging's default prints a traceback and the record's raw arguments to stderr.
        line = {"event": "log_record_unwritable", "level": "error", "logger": record.name}
        with contextlib.suppress(Exception):  # nothing is left to tell
            sys.stdout.write(_json.dumps(line) + "\n")


def _log_uncaught(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    thread: str | None = None,
) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    get_logger("adapter").critical(
        "uncaught_exception", thread=thread, exc_info=(exc_type, exc, tb)
    )


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    thread = args.thread.name if args.thread is not None else None
    _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, thread)


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Route structlog and every library's `logging` records to one handler on stdout."""
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            _merge_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks become text here, so they are redacted with the rest.
            structlog.processors.format_exc_info,
            # Redacted before the record leaves structlog: any other handler (a test
            # runner's capture) sees no more than the log does.
            _redact_processor,
            ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _StdoutHandler()
    handler.setFormatter(_formatter(json))
    _route_every_record_to(handler, threshold)
    # The warnings module writes to stderr by itself; through logging it is one more record.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _formatter(json: bool) -> ProcessorFormatter:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    return ProcessorFormatter(
        # A library's record gets the shape of ours, and the same redaction.
        foreign_pre_chain=[
            _library_record,
            _merge_context,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_processor,
        ],
        # Both kinds of record arrive here redacted: ours in structlog's chain, a library's
        # in the foreign_pre_chain above.
        processors=[
            structlog.stdlib.add_logger_name,
            ProcessorFormatter.remove_processors_meta,
            *([] if json else [_escape_controls]),
            renderer,
        ],
        pass_foreign_args=True,
    )


def _route_every_record_to(handler: logging.Handler, threshold: int) -> None:
    handler._sso_adapter = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_sso_adapter", False) or type(existing) is logging.StreamHandler:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    # A library (uvicorn's default configuration, basicConfig) may have put its own plain-text
    # handler on a logger: its records go through ours instead.
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        for existing in list(logger.handlers):
            if type(existing) is logging.StreamHandler:
                logger.removeHandler(existing)
                logger.propagate = True
        # Whatever a library set for itself: from WARNING up only.
        if not _within(logger.name, _AT_CONFIGURED_LEVEL) and 0 < logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    for name in _AT_CONFIGURED_LEVEL:
        logging.getLogger(name).setLevel(threshold)
    # pysaml2 reports each response it refuses at ERROR, several times over, with the input as
    # arguments; the adapter logs that refusal itself, once, with its reason and reference
    # (login_failed). So an attacker's garbage raises no error-level alarm, and only what
    # pysaml2 calls critical gets through (its wording only, see _library_record).
    for name in _DOCUMENT_HANDLERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
