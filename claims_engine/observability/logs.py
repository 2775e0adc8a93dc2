"""Structured logs: one JSON object a line (or plain text), with the correlation ids of the
work in hand.

:func:`configure_logging` is called once per process (the command line, each dramatiq worker
process, the API under uvicorn). ``CLAIMS_LOG_LEVEL`` (default ``info``) sets the level of the
engine's own loggers (``claims_engine.*``); ``CLAIMS_LOG_FORMAT`` is ``json`` (default) or
``text``. Third-party loggers stay at ``warning`` whatever the level: SQLAlchemy's engine
logger at info or debug prints statements with their parameters and rows, which hold PHI.

Correlation ids ride in context variables: :func:`log_context` binds ``interchange_id`` and
``payer_claim_number`` for the work inside it (an actor's message, an API request, one claim)
and every line logged meanwhile carries them. Both are the engine's own numbers, never a
member's or a patient's data. Messages say what happened with counts and codes only: no names,
member ids, birth dates or addresses ever go into a log line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

LEVEL_ENV = "CLAIMS_LOG_LEVEL"
# logged (info) by each worker process once it serves its queues: what a supervisor waits for
WORKER_READY = "worker process ready"
FORMAT_ENV = "CLAIMS_LOG_FORMAT"
LEVELS = ("critical", "error", "warning", "info", "debug")
FORMATS = ("json", "text")
ENGINE_LOGGERS = ("claims_engine",)
# uvicorn is left to `serve --log-level` (its lines say nothing of patients; access lines are off)
QUIET_LOGGERS = ("sqlalchemy", "dramatiq", "httpx", "asyncio", "pyx12", "multipart")

_interchange_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "claims_interchange_id", default=None
)
_payer_claim_number: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "claims_payer_claim_number", default=None
)
_CONTEXT: dict[str, contextvars.ContextVar[Any]] = {
    "interchange_id": _interchange_id,
    "payer_claim_number": _payer_claim_number,
}
# LogRecord attributes, so that only the fields a caller adds with ``extra`` are written
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


@contextmanager
def log_context(
    *, interchange_id: int | None = None, payer_claim_number: str | None = None
) -> Iterator[None]:
    """Bind the correlation ids given (others keep their value) for the lines logged inside."""
    tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
    if interchange_id is not None:
        tokens.append((_interchange_id, _interchange_id.set(interchange_id)))
    if payer_claim_number is not None:
        tokens.append((_payer_claim_number, _payer_claim_number.set(payer_claim_number)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(*, interchange_id: int | None = None) -> None:
    """Set a correlation id for the rest of the current context (an API request's task)."""
    if interchange_id is not None:
        _interchange_id.set(interchange_id)


def current_context() -> dict[str, Any]:
    """The correlation ids bound now."""
    found = {name: var.get() for name, var in _CONTEXT.items()}
    return {k: v for k, v in found.items() if v is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the correlation
    ids bound, the fields given with ``extra``, and the exception's type and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current_context())
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = dict(current_context())
        fields.update(
            (k, v) for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")
        )
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is logged (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def settings_from_env(level: str | None = None) -> tuple[str, str]:
    """The level (``level`` when given, else ``CLAIMS_LOG_LEVEL``) and format to use."""
    from claims_engine.domain.errors import ConfigurationError

    chosen = (level or os.environ.get(LEVEL_ENV) or "info").lower()
    if chosen not in LEVELS:
        raise ConfigurationError(f"{LEVEL_ENV} must be one of {', '.join(LEVELS)}, not {chosen!r}")
    fmt = (os.environ.get(FORMAT_ENV) or "json").lower()
    if fmt not in FORMATS:
        raise ConfigurationError(f"{FORMAT_ENV} must be json or text, not {fmt!r}")
    return chosen, fmt


def configure_logging(level: str | None = None, *, stream: TextIO | None = None) -> None:
    """Set the engine's loggers up from the environment (``level`` overrides
    ``CLAIMS_LOG_LEVEL``). Handlers already on the root logger (dramatiq's pipe to its main
    process, in a worker process) keep their stream and get the formatter; without any, one
    is added on standard error. Calling it again reconfigures."""
    chosen, fmt = settings_from_env(level)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "claims_engine_handler", False)]
    for old in ours:
        root.removeHandler(old)
    if stream is not None or not root.handlers:
        new: logging.Handler = (
            logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        )
        setattr(new, "claims_engine_handler", True)  # noqa: B010 - a mark of our own
        root.addHandler(new)
    for handler in root.handlers:
        handler.setFormatter(formatter)
        handler.setLevel(logging.NOTSET)
    root.setLevel(logging.WARNING)
    for name in ENGINE_LOGGERS:
        logging.getLogger(name).setLevel(chosen.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
