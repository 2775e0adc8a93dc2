"""The store on SQLite and on PostgreSQL: migrations, the unique keys that carry exactly-once
effects, and exact money."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, inspect
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, SQLModel, col, select

from claims_engine.store import tables as t
from claims_engine.store.db import (
    MIGRATIONS,
    KeptConnections,
    begin_write,
    current_version,
    engine_for,
    upgrade,
)

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 2, 8, 0)


def _interchange(
    raw: bytes = b"ISA*00*...~", sender: str = "SUBMITTER1", isa13: str = "000000001"
) -> t.InterchangeRow:
    return t.InterchangeRow(
        sha256=hashlib.sha256(raw).hexdigest(),
        sender_id=sender,
        control_number=isa13,
        raw=raw,
        received_at=AT,
        state=t.InterchangeState.RECEIVED,
    )


def _claim(
    interchange_id: int, number: str, charge: Decimal = Decimal("100.00"), ordinal: int = 1
) -> t.ClaimRow:
    return t.ClaimRow(
        payer_claim_number=number,
        interchange_id=interchange_id,
        ordinal=ordinal,
        submitter_claim_id=f"S-{number}",
        billing_npi="1234567893",
        member_id="M1",
        family="family:F1",
        claim_type="P",
        frequency="1",
        state=t.ClaimState.ACCEPTED,
        total_charge=charge,
        received_on=AT.date(),
        updated_at=AT,
        identity=b'{"member_id": "M1"}',
        claim=b'{"id": "%s"}' % number.encode(),
    )


def _add(engine: Engine, *rows: SQLModel) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.add_all(rows)
        session.commit()


def _stored_interchange(engine: Engine) -> int:
    ix = _interchange()
    with Session(engine) as session:
        session.add(ix)
        session.commit()
        assert ix.id is not None
        return ix.id


def _count(engine: Engine, table: type[SQLModel]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_upgrade_creates_the_schema_then_is_a_no_op(engine: Engine) -> None:
    assert current_version(engine) == 0
    first = upgrade(engine)
    assert first == [f"{v}: {name}" for v, name, _ in MIGRATIONS]
    assert current_version(engine) == len(MIGRATIONS)
    names = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= names

    ix_id = _stored_interchange(engine)
    assert upgrade(engine) == []
    assert current_version(engine) == len(MIGRATIONS)
    assert _count(engine, t.SchemaVersion) == len(MIGRATIONS)
    assert _count(engine, t.InterchangeRow) == 1, "a second upgrade must keep the data"
    assert ix_id


def test_concurrent_upgrades_apply_each_step_once(engine: Engine) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: upgrade(engine), range(4)))
    # each step applied by exactly one of them (not always the same one: they interleave)
    applied = sorted((name for r in results for name in r), key=lambda n: int(n.split(":")[0]))
    assert applied == [f"{v}: {name}" for v, name, _ in MIGRATIONS]
    assert _count(engine, t.SchemaVersion) == len(MIGRATIONS)


def test_a_failing_step_leaves_the_previous_version(engine: Engine) -> None:
    def broken(conn: Any) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (id INTEGER)")
        raise RuntimeError("step failed")

    upgrade(engine)
    with pytest.raises(RuntimeError):
        upgrade(engine, [*MIGRATIONS, (len(MIGRATIONS) + 1, "broken", broken)])
    assert current_version(engine) == len(MIGRATIONS)
    assert "half_done" not in inspect(engine).get_table_names(), "the step was not rolled back"


def test_an_interchange_is_stored_once_by_content_hash(engine: Engine) -> None:
    upgrade(engine)
    _add(engine, _interchange(isa13="000000001"))
    with pytest.raises(IntegrityError):
        _add(engine, _interchange(isa13="000000002"))


def test_an_interchange_is_stored_once_by_sender_and_isa13(engine: Engine) -> None:
    upgrade(engine)
    _add(engine, _interchange(raw=b"first"))
    _add(engine, _interchange(raw=b"other sender", sender="SUBMITTER2"))
    with pytest.raises(IntegrityError):
        _add(engine, _interchange(raw=b"second"))


def _remittance(trace: str) -> t.RemittanceRow:
    return t.RemittanceRow(
        payee_npi="1234567893",
        trace_number=trace,
        interchange_control=1,
        created_at=AT,
        claims=1,
        total_paid=Decimal("80.00"),
        file_name=f"835-{trace}.x12",
        content=b"",
    )


def _adjudication(claim_id: int, kind: str = "decision") -> t.AdjudicationRow:
    return t.AdjudicationRow(
        claim_id=claim_id,
        kind=kind,
        payer_claim_number="PCN1",
        payee_npi="1234567893",
        rule_pack_version="2026.11",
        status="1",
        outcome="paid",
        charge=Decimal("12345.67"),
        allowed=Decimal("10000.01"),
        paid=Decimal("7999.99"),
        patient_responsibility=Decimal("2000.02"),
        decided_at=AT,
        decision=b'{"payer_claim_number": "PCN1"}',
    )


def test_a_decision_is_never_in_two_remittances_nor_made_twice(engine: Engine) -> None:
    upgrade(engine)
    ix_id = _stored_interchange(engine)
    claim = _claim(ix_id, "PCN1")
    _add(engine, claim)
    assert claim.id is not None
    decision = _adjudication(claim.id)
    first, second = _remittance("T1"), _remittance("T2")
    with Session(engine, expire_on_commit=False) as session:
        session.add_all([decision, first, second])
        session.commit()
        assert decision.id and first.id and second.id
        adjudication_id, first_id, second_id = decision.id, first.id, second.id
    _add(engine, t.RemittanceClaimRow(remittance_id=first_id, adjudication_id=adjudication_id))
    with pytest.raises(IntegrityError):
        _add(engine, t.RemittanceClaimRow(remittance_id=second_id, adjudication_id=adjudication_id))
    with pytest.raises(IntegrityError):
        _add(engine, _adjudication(claim.id))
    _add(engine, _adjudication(claim.id, kind="reversal"))  # one reversal beside it is fine


def test_payer_claim_numbers_and_accumulator_keys_are_unique(engine: Engine) -> None:
    upgrade(engine)
    ix_id = _stored_interchange(engine)
    _add(engine, _claim(ix_id, "PCN1"))
    with pytest.raises(IntegrityError):
        _add(engine, _claim(ix_id, "PCN1", ordinal=2))
    with pytest.raises(IntegrityError):  # one claim per place in an interchange
        _add(engine, _claim(ix_id, "PCN2"))

    def acc(amount: str) -> t.AccumulatorRow:
        return t.AccumulatorRow(
            family="family:F1",
            holder="family:F1",
            plan_id="PPO",
            plan_year=date(2026, 1, 1),
            bucket="deductible",
            network="in",
            amount=Decimal(amount),
        )

    _add(engine, acc("10.00"))
    with pytest.raises(IntegrityError):
        _add(engine, acc("20.00"))


def test_a_claim_state_outside_the_lifecycle_is_refused(engine: Engine) -> None:
    upgrade(engine)
    ix_id = _stored_interchange(engine)
    claim = _claim(ix_id, "PCN1")
    claim.state = "lost"
    with pytest.raises(IntegrityError):
        _add(engine, claim)


@pytest.mark.parametrize(
    "amount", ["12345.67", "0.01", "-0.10", "9999999999.99", "-9999999999.99", "100"]
)
def test_money_round_trips_exactly(engine: Engine, amount: str) -> None:
    upgrade(engine)
    ix_id = _stored_interchange(engine)
    value = Decimal(amount)
    claim = _claim(ix_id, "PCN1", charge=value)
    _add(engine, claim)
    with Session(engine) as session:
        stored = session.exec(select(t.ClaimRow)).one()
        total = session.exec(select(func.sum(t.ClaimRow.total_charge))).one()
    assert isinstance(stored.total_charge, Decimal)
    assert stored.total_charge == value
    assert str(stored.total_charge) == str(value.quantize(Decimal("0.01")))
    assert total == value


def test_adjudication_amounts_and_adjustments_round_trip(engine: Engine) -> None:
    upgrade(engine)
    ix_id = _stored_interchange(engine)
    claim = _claim(ix_id, "PCN1", charge=Decimal("12345.67"))
    _add(engine, claim)
    assert claim.id is not None
    adj = _adjudication(claim.id)
    _add(engine, adj)
    assert adj.id is not None
    _add(
        engine,
        t.AdjustmentRow(
            adjudication_id=adj.id,
            line_number=None,
            group_code="CO",
            reason_code="45",
            amount=Decimal("2345.66"),
        ),
        t.AdjustmentRow(
            adjudication_id=adj.id,
            line_number=1,
            group_code="PR",
            reason_code="1",
            amount=Decimal("2000.02"),
            quantity=Decimal("1.5"),
        ),
    )
    with Session(engine) as session:
        got = session.get(t.AdjudicationRow, adj.id)
        assert got is not None
        adjustments = session.exec(select(t.AdjustmentRow).order_by(col(t.AdjustmentRow.id))).all()
    assert (got.charge, got.allowed, got.paid, got.patient_responsibility) == (
        Decimal("12345.67"),
        Decimal("10000.01"),
        Decimal("7999.99"),
        Decimal("2000.02"),
    )
    # claim charge - all adjustments = paid: 12345.67 - 2345.66 - 2000.02 = 7999.99
    assert got.charge - sum(a.amount for a in adjustments) == got.paid
    assert [a.line_number for a in adjustments] == [None, 1]
    assert adjustments[1].quantity == Decimal("1.500")


def test_money_with_more_than_two_places_is_refused(engine: Engine) -> None:
    upgrade(engine)
    ix_id = _stored_interchange(engine)
    with pytest.raises(Exception, match="more than 2 decimal places"):
        _add(engine, _claim(ix_id, "PCN1", charge=Decimal("1.005")))


def test_the_first_numbers_of_a_counter_taken_side_by_side_are_all_distinct(
    engine: Engine,
) -> None:
    """Two payment cycles starting at once on a fresh store both create the counter row they
    need: one creates it, the other waits for it, and no number is given twice."""
    from claims_engine.store.db import next_numbers

    upgrade(engine)
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: BEGIN IMMEDIATE queues the second before it reads")
    workers = 6
    start = threading.Barrier(workers)

    def take(_: int) -> list[int]:
        with engine.begin() as conn:
            start.wait()  # every transaction open, none has looked at the counter yet
            first = next_numbers(conn, "race", 3)
        return [first, first + 1, first + 2]

    with ThreadPoolExecutor(workers) as pool:
        taken = [n for numbers in pool.map(take, range(workers)) for n in numbers]
    assert sorted(taken) == list(range(1, len(taken) + 1))


def _backend(conn: Any) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_kept_connections_are_reused_and_one_that_failed_is_not(postgres_engine: Engine) -> None:
    """KeptConnections (the 270 route's): the same server session answers again and again
    (no pool checkout each time), in autocommit (a write is committed without a COMMIT); one
    whose statement raised is given back and the next use takes another; close() gives back
    the idle ones (none is held out of the pool after it)."""
    kept = KeptConnections(postgres_engine, 1)
    with kept.connect() as conn:
        first = _backend(conn)
        conn.exec_driver_sql("CREATE TABLE kept_probe (n int)")
        conn.exec_driver_sql("INSERT INTO kept_probe VALUES (1)")
    with postgres_engine.connect() as other:  # committed: another session sees the row
        assert other.exec_driver_sql("SELECT count(*) FROM kept_probe").scalar_one() == 1
    with kept.connect() as conn:
        assert _backend(conn) == first
    with pytest.raises(ProgrammingError), kept.connect() as failed:
        failed.exec_driver_sql("SELECT * FROM no_such_table")
    assert failed.closed
    with kept.connect() as conn:
        assert conn is not failed and not conn.closed
    # two at once: the second is opened, and not kept beyond ``keep``
    with kept.connect() as a, kept.connect() as b:
        assert _backend(a) != _backend(b)
    pool = postgres_engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedout() == 1  # the one kept
    kept.close()
    assert pool.checkedout() == 0
    with kept.connect():  # used after close(): given back at the end, not kept
        pass
    assert pool.checkedout() == 0


def test_kept_connections_with_generic_plans_reset_them_when_given_back(
    postgres_engine: Engine,
) -> None:
    """The portal's and the 278's kept connections plan each prepared statement once
    (``plan_cache_mode``: a page's statement cost the server more to plan than to run); a
    connection given back to the pool (its use raised, or close()) is reset first, so the
    pool's next user plans as PostgreSQL does by default."""

    def mode(conn: Any) -> str:
        return str(conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one())

    one = create_engine(postgres_engine.url, pool_size=1, max_overflow=0)  # one connection
    try:
        kept = KeptConnections(one, 1, generic_plans=True)
        with kept.connect() as conn:
            assert mode(conn) == "force_generic_plan"
            first = _backend(conn)
        kept.close()
        with one.connect() as pooled:  # the same server session, reset
            assert _backend(pooled) == first
            assert mode(pooled) == "auto"
        kept = KeptConnections(one, 1, generic_plans=True)
        with pytest.raises(ProgrammingError), kept.connect() as failed:
            assert mode(failed) == "force_generic_plan"
            failed.exec_driver_sql("SELECT * FROM no_such_table")
        with one.connect() as pooled:
            assert _backend(pooled) == first
            assert mode(pooled) == "auto"
    finally:
        one.dispose()
    assert KeptConnections(postgres_engine, 1).generic_plans is False  # the 270's: as it was


def _in_transaction(conn: Any) -> bool:
    return bool(conn.connection.driver_connection.in_transaction)


def test_kept_connections_on_sqlite_hold_no_transaction_between_statements(
    tmp_path: Path,
) -> None:
    """On SQLite too a kept connection is in autocommit: no BEGIN is issued for it (a
    transaction left open would hold its lock and its old snapshot), so another connection
    writes at once, and the kept one reads what it wrote."""
    engine = engine_for(f"sqlite:///{tmp_path / 'kept.db'}")
    kept = KeptConnections(engine, 1)
    with kept.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE kept_probe (n int)")
        conn.exec_driver_sql("INSERT INTO kept_probe VALUES (1)")
        assert not _in_transaction(conn)
    with begin_write(engine) as other:  # the write lock, at once
        other.exec_driver_sql("INSERT INTO kept_probe VALUES (2)")
    with kept.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM kept_probe").scalar_one() == 2
        assert not _in_transaction(conn)
    kept.close()
    engine.dispose()
