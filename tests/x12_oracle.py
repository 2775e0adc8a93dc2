"""pyx12 as an independent oracle: validate an X12 document and list every error it reports."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pyx12.params
import pyx12.x12n_document


def _walk(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        for key in ("errors", "err"):
            for err in node.get(key, []) or []:
                found.append(json.dumps(err, sort_keys=True))
        for value in node.values():
            if isinstance(value, (dict, list)):
                _walk(value, found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, found)


def pyx12_errors(text: str, map_path: str | None = None) -> list[str]:
    """Every error pyx12 finds in ``text`` (an empty list when it is valid)."""
    params = pyx12.params.params()
    if map_path is not None:
        params.set("map_path", map_path)
    out = io.StringIO()
    logger = logging.getLogger("pyx12")
    records: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                records.append(record.getMessage())

    handler = _Collect()
    logger.addHandler(handler)
    try:
        valid = pyx12.x12n_document.x12n_document(
            param=params,
            src_file=io.StringIO(text),
            fd_997=None,
            fd_html=None,
            fd_json=out,
            map_path=map_path,
        )
    finally:
        logger.removeHandler(handler)
    found: list[str] = []
    raw = out.getvalue()
    if raw.strip():
        try:
            _walk(json.loads(raw), found)
        except json.JSONDecodeError:
            found.append(raw)
    found.extend(records)
    if not valid and not found:
        found.append("pyx12 reports the document invalid")
    return found
