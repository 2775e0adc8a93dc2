"""``pended release --reason CODE --all``: :func:`~claims_engine.services.examination.release_all`
releases claims in batches, each claim as :func:`~claims_engine.services.examination.act`
releases it, on SQLite and PostgreSQL.

The claims are LIAM HILL's (Gold PPO, family F00001), as in ``test_examination``: claims
charging more than 25,000.00 pend HIGH-DOLLAR. 29881 (a knee arthroscopy) is allowed
4,331.00 on the fee schedule, with the deductible (500.00) and 20% coinsurance; 99214 is an
office visit allowed 131.20, 25.00 copay only.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from claims_engine.services import examination as ex
from claims_engine.services.reference import Runtime
from claims_engine.store import tables as t
from claims_engine.store.vault import current_vault
from tests.integration.pipeline_support import prepared_store
from tests.integration.test_examination import (
    ALICE,
    BOB,
    LATER,
    OFFICE_VISIT,
    UNLISTED,
    _accumulators,
    _body,
    _claim_in_835,
    _open_codes,
    _pccn,
    _remit,
    _state,
    _submit,
)

D = Decimal
HIGH = "HIGH-DOLLAR"


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return prepared_store(engine)


def _knee(day: str, charge: str = "25100") -> str:
    return f"LX*1~\nSV1*HC:29881*{charge}*UN*1***1~\nDTP*472*D8*{day}~\n"


def _visit(day: str) -> str:
    return f"LX*1~\nSV1*HC:99214*25100*UN*1***1~\nDTP*472*D8*{day}~\n"


def _actions(engine: Engine, claim_id: int) -> list[dict[str, Any]]:
    x = t.examiner_actions_table.c
    vault = current_vault()
    with engine.connect() as conn:
        return [
            {
                "id": int(r.id),
                "kind": r.kind,
                "actor": r.actor,
                "state": r.state,
                "items": list(r.items),
                **vault.open_json(r.content, t.EXAMINER_ACTION, r.id),
            }
            for r in conn.execute(
                select(t.examiner_actions_table).where(x.claim_id == claim_id).order_by(x.id)
            )
        ]


def _items(engine: Engine, claim_id: int) -> list[tuple[str, str, int | None, str | None]]:
    i = t.pend_items_table.c
    with engine.connect() as conn:
        return [
            (str(r.code), str(r.state), r.resolved_action, r.resolved_by)
            for r in conn.execute(
                select(i.code, i.state, i.resolved_action, i.resolved_by)
                .where(i.claim_id == claim_id)
                .order_by(i.id)
            )
        ]


def _decisions(engine: Engine, claim_id: int) -> int:
    a = t.adjudications_table.c
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(a.claim_id == claim_id, a.kind == "decision")
            ).scalar_one()
        )


def test_release_all_releases_up_to_its_limit_in_claim_order_as_act_would(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    first = _submit(engine, runtime, _body("RA-1", "25100", _knee("20261012")), 21)
    second = _submit(engine, runtime, _body("RA-2", "25100", _knee("20261013")), 22)
    third = _submit(engine, runtime, _body("RA-3", "25100", _visit("20261014")), 23)
    assert [_state(engine, c) for c in (first, second, third)] == ["pended"] * 3
    with pytest.raises(ex.ExaminationError, match="say why"):
        ex.release_all(engine, runtime, HIGH, ALICE, " ", LATER)
    with pytest.raises(ex.ExaminationError, match="limit -1"):
        ex.release_all(engine, runtime, HIGH, ALICE, "checked", LATER, limit=-1)
    assert ex.release_all(engine, runtime, HIGH, ALICE, "checked", LATER, limit=0) == (0, 0)

    # the first two, in one batch: the second sees the deductible the first used
    assert ex.release_all(engine, runtime, HIGH, ALICE, "charges checked", LATER, limit=2) == (
        2,
        0,
    )
    assert [_state(engine, c) for c in (first, second, third)] == [
        "adjudicated",
        "adjudicated",
        "pended",
    ]
    # first: allowed 4,331.00, deductible 500.00, 20% of 3,831.00 is 766.20, paid 3,064.80
    # second: the deductible met, 20% of 4,331.00 is 866.20, paid 3,464.80
    assert _accumulators(engine) == {
        ("member", "deductible"): D("500.00"),
        ("family", "deductible"): D("500.00"),
        ("member", "oop"): D("2132.40"),  # 500.00 + 766.20 + 866.20
        ("family", "oop"): D("2132.40"),
    }
    (action,) = _actions(engine, first)
    assert (action["kind"], action["actor"], action["state"]) == ("release", "alice", "applied")
    assert action["why"] == "charges checked"
    assert action["request"] == {"kind": "release", "why": "charges checked", "codes": [HIGH]}
    assert (action["before"]["outcome"], action["after"]["outcome"]) == ("pended", "paid")
    assert action["after"]["paid"] == "3064.80"
    assert _items(engine, first) == [(HIGH, "resolved", action["id"], "alice")]
    assert action["items"] == [_items_ids(engine, first)[0]]
    assert _decisions(engine, first) == 1
    assert [e.claim_id for e in ex.queue_page(engine, "high-dollar", LATER).entries] == [third]

    # the rest (with no limit), and then nothing is left to release
    assert ex.release_all(engine, runtime, HIGH, BOB, "office visit checked", LATER) == (1, 0)
    assert ex.release_all(engine, runtime, HIGH, BOB, "again", LATER) == (0, 0)
    assert ex.queues(engine, LATER) == []
    text = _remit(engine, runtime, tmp_path)
    assert _claim_in_835(text, _pccn(engine, first))[0][4] == "3064.8"
    assert _claim_in_835(text, _pccn(engine, second))[0][4] == "3464.8"
    # 99214: allowed 131.20, copay 25.00, paid 106.20
    assert _claim_in_835(text, _pccn(engine, third))[0][4] == "106.2"
    assert _accumulators(engine)[("member", "oop")] == D("2157.40")


def _items_ids(engine: Engine, claim_id: int) -> list[int]:
    i = t.pend_items_table.c
    with engine.connect() as conn:
        return [
            int(x)
            for x in conn.execute(
                select(i.id).where(i.claim_id == claim_id).order_by(i.id)
            ).scalars()
        ]


def test_release_all_leaves_claims_held_by_another_examiner(
    engine: Engine, runtime: Runtime
) -> None:
    held = _submit(engine, runtime, _body("RA-HELD", "25100", _visit("20261012")), 31)
    mine = _submit(engine, runtime, _body("RA-MINE", "25100", _visit("20261013")), 32)
    free = _submit(engine, runtime, _body("RA-FREE", "25100", _visit("20261014")), 33)
    ex.take(engine, held, BOB, LATER)
    ex.take(engine, mine, ALICE, LATER)
    assert ex.release_all(engine, runtime, HIGH, ALICE, "charges checked", LATER) == (2, 1)
    assert (_state(engine, held), _state(engine, mine), _state(engine, free)) == (
        "pended",
        "adjudicated",
        "adjudicated",
    )
    (entry,) = ex.queue_page(engine, "high-dollar", LATER).entries
    assert (entry.claim_id, entry.assigned_to) == (held, "bob")
    assert _open_codes(engine, held) == [(HIGH, 0)]
    assert [a["kind"] for a in _actions(engine, held)] == ["take"]
    # once Bob's hold has run out, the claim is anyone's
    later = LATER + ex.HOLD + timedelta(minutes=1)
    assert ex.release_all(engine, runtime, HIGH, ALICE, "charges checked", later) == (1, 0)
    assert _state(engine, held) == "adjudicated"


def test_a_claim_pended_for_two_reasons_releasing_one_stays_pended(
    engine: Engine, runtime: Runtime
) -> None:
    # 99213 and the unlisted 17999 charged 25,000.00: HIGH-DOLLAR, and UNLISTED-PROCEDURE and
    # NO-PRICE on line 2
    claim_id = _submit(
        engine,
        runtime,
        _body("RA-TWO", "25140", OFFICE_VISIT + UNLISTED.format(charge="25000")),
        41,
    )
    assert _open_codes(engine, claim_id) == [
        (HIGH, 0),
        ("NO-PRICE", 2),
        ("UNLISTED-PROCEDURE", 2),
    ]
    (entry,) = ex.queue_page(engine, "high-dollar", LATER).entries
    version = entry.version
    assert ex.release_all(engine, runtime, HIGH, ALICE, "charge checked", LATER) == (1, 0)
    assert _state(engine, claim_id) == "pended"
    assert _open_codes(engine, claim_id) == [("NO-PRICE", 2), ("UNLISTED-PROCEDURE", 2)]
    (action,) = _actions(engine, claim_id)
    assert action["after"]["outcome"] == "pended"
    assert {p["code"] for p in action["after"]["pends"]} == {"NO-PRICE", "UNLISTED-PROCEDURE"}
    assert (HIGH, "resolved", action["id"], "alice") in _items(engine, claim_id)
    # it moved to the queue of what it still waits for, held by the examiner who acted
    assert ex.queue_page(engine, "high-dollar", LATER).entries == ()
    (moved,) = ex.queue_page(engine, "pricing", LATER).entries
    assert (moved.claim_id, moved.assigned_to, moved.version) == (claim_id, "alice", version + 1)
    assert moved.codes == ("UNLISTED-PROCEDURE", "NO-PRICE")  # both priority 3: as raised
    # HIGH-DOLLAR is not raised again: a second bulk release finds nothing
    assert ex.release_all(engine, runtime, HIGH, ALICE, "again", LATER) == (0, 0)
    # and the claim is worked on from there as any other
    done = ex.act(
        engine, runtime, claim_id, ALICE, ex.Price("priced from the op note", 2, D("700.00")), LATER
    )
    assert (done.claim_state, done.outcome) == ("adjudicated", "paid")


def test_release_all_of_a_replacement_reverses_its_paid_original(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    original = _submit(engine, runtime, _body("RA-ORIG", "140", OFFICE_VISIT), 51)
    paid = _claim_in_835(_remit(engine, runtime, tmp_path, LATER), _pccn(engine, original))
    assert paid[0][4] == "63.2"
    ref = f"REF*F8*{_pccn(engine, original)}~\n"
    replacement = _submit(
        engine, runtime, _body("RA-ORIG", "25100", _visit("20261015"), "7", ref), 52
    )
    assert _open_codes(engine, replacement) == [(HIGH, 0)]
    later = LATER + timedelta(minutes=5)
    assert ex.release_all(engine, runtime, HIGH, ALICE, "charge checked", later) == (1, 0)
    text = _remit(engine, runtime, tmp_path, later + timedelta(minutes=5))
    reversal = _claim_in_835(text, _pccn(engine, original))
    assert reversal[0][2] == "22" and reversal[0][4] == "-63.2"
    # the replacement as though the original had never been: 99214, copay 25.00, 106.20
    assert _claim_in_835(text, _pccn(engine, replacement))[0][4] == "106.2"
    assert _accumulators(engine)[("member", "oop")] == D("25.00")


def test_two_bulk_releases_at_once_release_each_claim_once(
    engine: Engine, runtime: Runtime
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL (SQLite has one writer at a time)")
    claims = [
        _submit(engine, runtime, _body(f"RA-BOTH-{n}", "25100", _visit(f"202610{n:02d}")), 60 + n)
        for n in range(1, 7)
    ]
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def release(who: ex.Examiner) -> None:
        barrier.wait()
        try:
            results.append(ex.release_all(engine, runtime, HIGH, who, "checked", LATER, batch=2))
        except Exception as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=release, args=(who,)) for who in (ALICE, BOB)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(r[0] for r in results) == len(claims)
    assert all(_state(engine, c) == "adjudicated" for c in claims)
    assert all(_decisions(engine, c) == 1 for c in claims)
    assert all(len(_actions(engine, c)) == 1 for c in claims)
    assert _accumulators(engine)[("member", "oop")] == D("150.00")  # six copays of 25.00


def _left_by_release(engine: Engine, claim_id: int) -> dict[str, Any]:
    """What a release left of a claim, without its ids, numbers and dates: its state, its
    pend items, its queue row, its actions and its last event."""
    i, p, e = t.pend_items_table.c, t.pended_claims_table.c, t.claim_events_table.c
    with engine.connect() as conn:
        items = [
            (r.code, r.line, r.queue, r.priority, r.state, r.resolved_by, r.resolved_action is None)
            for r in conn.execute(select(t.pend_items_table).where(i.claim_id == claim_id))
        ]
        filed = conn.execute(
            select(
                p.queue, p.priority, p.version, p.assigned_to, p.assigned_until, p.waiting_since
            ).where(p.claim_id == claim_id)
        ).first()
        event = conn.execute(
            select(e.actor, e.from_state, e.to_state, e.reason)
            .where(e.claim_id == claim_id)
            .order_by(e.id.desc())
            .limit(1)
        ).one()
    actions = [
        {k: v for k, v in a.items() if k not in ("id", "items")} | {"items": len(a["items"])}
        for a in _actions(engine, claim_id)
    ]
    return {
        "state": _state(engine, claim_id),
        "items": sorted(items),
        "filed": None if filed is None else tuple(filed),
        "actions": actions,
        "event": tuple(event),
    }


@pytest.mark.parametrize("pended_for", ["high-dollar only", "and two reasons more"])
def test_release_all_leaves_a_claim_as_act_leaves_it(
    engine: Engine, runtime: Runtime, pended_for: str
) -> None:
    def lines(day: str) -> str:
        if pended_for == "high-dollar only":
            return _visit(day)
        return (
            f"LX*1~\nSV1*HC:99213*140*UN*1***1~\nDTP*472*D8*{day}~\n"
            f"LX*2~\nSV1*HC:17999*25000*UN*1***1~\nDTP*472*D8*{day}~\n"
        )

    total = "25100" if pended_for == "high-dollar only" else "25140"
    by_act = _submit(engine, runtime, _body("RA-ACT", total, lines("20261012")), 71)
    in_bulk = _submit(engine, runtime, _body("RA-BULK", total, lines("20261013")), 72)
    ex.act(engine, runtime, by_act, ALICE, ex.Release("charge checked", (HIGH,)), LATER)
    assert ex.release_all(engine, runtime, HIGH, ALICE, "charge checked", LATER) == (1, 0)
    acted, released = _left_by_release(engine, by_act), _left_by_release(engine, in_bulk)
    assert released == acted
    assert acted["state"] == ("adjudicated" if pended_for == "high-dollar only" else "pended")
