"""The audit export on a real store: the migration step that adds its anchors (on SQLite and
PostgreSQL), and on PostgreSQL an export streamed through server-side cursors in small
batches, verified, then rows changed under it and named; a range not yet settled, or an export
that cannot be put in place, stores no anchor."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, inspect, select, update

from claims_engine.domain.errors import ConfigurationError
from claims_engine.services import audit
from claims_engine.services.access import Principal, Role, record_reads
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.store.db import MIGRATIONS, begin_write, upgrade
from tests.integration.pipeline_support import NOW, generated_837, prepared_store

RANGE = audit.AuditRange(datetime(2026, 11, 2), datetime(2026, 11, 3))
SETTLED = RANGE.until + audit.SETTLE_WINDOW  # the first moment RANGE may be exported


def test_the_anchor_step_upgrades_a_store_made_before_it(engine: Engine) -> None:
    upgrade(engine, MIGRATIONS[:1])  # a store made before the audit export existed
    assert upgrade(engine) == [f"{v}: {name}" for v, name, _ in MIGRATIONS[1:]]
    found = inspect(engine)
    made = {c["name"]: type(c["type"]).__name__ for c in found.get_columns("audit_anchors")}
    assert set(made) == set(t.audit_anchors_table.c.keys())
    indexes = {i["name"]: i["column_names"] for i in found.get_indexes("claim_events")}
    assert indexes["ix_claim_events_at"] == ["at", "id"]


@pytest.fixture
def busy_store(postgres_engine: Engine, tmp_path: Path) -> Engine:
    """Forty claims received, ingested and adjudicated at ``NOW``, and reads of them before,
    at the same second, and after."""
    engine = postgres_engine
    runtime = prepared_store(engine)
    sub = submit(engine, generated_837(tmp_path / "a.837", claims=40, seed=7), "a.837", NOW)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW + timedelta(minutes=1))
    who = Principal("k1", Role.INSURER)
    with begin_write(engine) as conn:
        for minutes in (-60, 0, 0, 1, 90):
            at = NOW + timedelta(minutes=minutes)
            record_reads(conn, who, "/v1/claims", "claim", [3, 1, 2], at)
    return engine


def test_an_export_streams_verifies_and_names_changed_rows(
    busy_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = busy_store
    monkeypatch.setattr(audit, "STREAM_BATCH", 7)  # many fetches from two open cursors
    path = tmp_path / "audit.jsonl"
    with path.open("w", encoding="utf-8", newline="") as fh:
        summary = audit.export(engine, RANGE, fh, "jsonl", SETTLED)
    assert summary.claim_events == 80 and summary.phi_reads == 15  # intake + adjudication
    again = io.StringIO(newline="")
    audit.write_export(engine, RANGE, again, "jsonl")
    assert again.getvalue() == path.read_text()

    with path.open(encoding="utf-8", newline="") as fh:
        _fmt, lines = audit.lines_of(fh, str(path))
        records = [line for _n, line in lines if line and line["kind"] in audit.TABLE_OF]
    keys = [audit.order_key(r) for r in records]
    assert keys == sorted(keys) and len(keys) == 95
    assert audit.verify_file(engine, path).ok
    assert audit.verify_store(engine).ok

    e, r = t.claim_events_table, t.phi_reads_table
    with engine.begin() as conn:
        conn.execute(update(e).where(e.c.id == 5).values(to_state="rejected"))
        conn.execute(delete(r).where(r.c.id == 7))
    result = audit.verify_file(engine, path)
    assert [(p.what, p.table, p.row) for p in result.problems] == [
        ("altered", "claim_events", 5),
        ("removed", "phi_reads", 7),
    ]
    [problem] = audit.verify_store(engine).problems
    assert problem.message.startswith(f"anchor {summary.anchor_id} (2026-11-02T00:00:00Z to ")


def _anchors(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(t.audit_anchors_table)).scalar_one()
        )


def test_a_range_not_yet_settled_is_refused_and_not_anchored(busy_store: Engine) -> None:
    out = io.StringIO(newline="")
    with pytest.raises(ConfigurationError, match="not settled"):
        audit.export(busy_store, RANGE, out, "jsonl", SETTLED - timedelta(seconds=1))
    assert out.getvalue() == "" and _anchors(busy_store) == 0


def test_an_export_that_cannot_be_put_in_place_is_not_anchored(busy_store: Engine) -> None:
    def refuse() -> None:
        raise OSError("cannot rename")

    with pytest.raises(OSError, match="cannot rename"):
        audit.export(busy_store, RANGE, io.StringIO(newline=""), "jsonl", SETTLED, refuse)
    assert _anchors(busy_store) == 0
    published: list[int] = []
    summary = audit.export(
        busy_store,
        RANGE,
        io.StringIO(newline=""),
        "csv",
        SETTLED,
        lambda: published.append(_anchors(busy_store)),
    )
    # published before the anchor's commit: another connection does not see it yet
    assert published == [0] and _anchors(busy_store) == 1 and summary.anchor_id >= 1
