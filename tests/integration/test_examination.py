"""Pended claims worked to a decision, on SQLite and PostgreSQL: each examiner action with the
835 and the accumulators after it, worked by hand.

The member is LIAM HILL (PG00000100, family F00001, Gold PPO since 2024-01-01), billed by
BUCKEYE FAMILY MEDICINE (NPI 2781759230, in the Gold PPO network). Gold PPO in network:
deductible 500 (family 1,000), coinsurance 20%, office visit copay 25 (copay only), claims
charging more than 25,000.00 pend (HIGH-DOLLAR), a second examiner approves prices and
overrides allowing more than 5,000.00 on a line. Fee schedule: 99213 88.20, 99214 131.20,
72148 715.00; 17999 (unlisted skin procedure) has no price and a rule pends it
(UNLISTED-PROCEDURE), so its line pends twice (UNLISTED-PROCEDURE and NO-PRICE). 72148 (an
MRI of the lumbar spine) needs an authorization Liam does not have (CO-197 N54). The store is
new in each test: no accumulator has moved.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from claims_engine.services import audit
from claims_engine.services import examination as ex
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.reference import Runtime
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims, family_lock_key
from claims_engine.store import tables as t
from claims_engine.store.db import upgrade
from claims_engine.store.vault import current_vault
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, RULES, prepared_store
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837

D = Decimal
LATER = NOW + timedelta(hours=2)
ALICE, BOB = ex.Examiner("alice"), ex.Examiner("bob")
BUCKEYE_NPI = "2781759230"

OFFICE_VISIT = """\
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
UNLISTED = """\
LX*2~
SV1*HC:17999*{charge}*UN*1***1~
DTP*472*D8*20261015~
"""


def _body(claim_id: str, total: str, lines: str, frequency: str = "1", ref: str = "") -> str:
    return (
        LIAM_HILL
        + f"CLM*{claim_id}*{total}***11:B:{frequency}*Y*A*Y*Y~\n"
        + ref
        + "HI*ABK:L989~\n"
        + lines
    )


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return prepared_store(engine)


def _submit(engine: Engine, runtime: Runtime, body: str, control: int) -> int:
    """Submit one claim, adjudicate it; its claim id."""
    claim = claim_from_837(body)
    out = io.StringIO()
    write_837(
        [claim],
        out,
        interchange_control=control,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    sub = submit(engine, out.getvalue().encode(), f"claim-{control}.837", NOW)
    batches = ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches
    for batch in batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(t.claims_table.c.id).where(
                    t.claims_table.c.interchange_id == sub.interchange_id
                )
            ).scalar_one()
        )


def _state(engine: Engine, claim_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(t.claims_table.c.state).where(t.claims_table.c.id == claim_id)
            ).scalar_one()
        )


def _pccn(engine: Engine, claim_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(t.claims_table.c.payer_claim_number).where(t.claims_table.c.id == claim_id)
            ).scalar_one()
        )


def _remit(engine: Engine, runtime: Runtime, tmp_path: Path, now: datetime = LATER) -> str:
    """Run a payment cycle; the 835s' text."""
    files = run_payment_cycle(engine, runtime, now, tmp_path / f"835-{now:%H%M%S%f}")
    return "".join(f.path.read_text() for f in files if f.path is not None)


def _claim_in_835(text: str, pccn: str) -> list[list[str]]:
    """The CLP loop of ``pccn`` in 835 text: its CLP, CAS, SVC segments (elements split)."""
    found: list[list[str]] = []
    inside = False
    for raw in text.split("~"):
        seg = raw.strip().split("*")
        if seg[0] == "CLP":
            inside = seg[7] == pccn
            if inside:
                found.append(seg)
            continue
        if inside and seg[0] in ("PLB", "SE", "LX"):
            inside = False
        elif inside and seg[0] in ("CAS", "SVC"):
            found.append(seg)
    assert found, f"{pccn} is in no 835"
    return found


def _accumulators(engine: Engine) -> dict[tuple[str, str], Decimal]:
    """The accumulators of Liam (member) and his family, by holder and bucket."""
    vault = current_vault()
    names = {vault.lookup("member:PG00000100"): "member", vault.lookup("family:F00001"): "family"}
    a = t.accumulators_table.c
    with engine.connect() as conn:
        return {
            (names.get(r.holder, r.holder), r.bucket): r.amount
            for r in conn.execute(select(a.holder, a.bucket, a.amount))
            if r.amount
        }


def _open_codes(engine: Engine, claim_id: int) -> list[tuple[str, int]]:
    i = t.pend_items_table.c
    with engine.connect() as conn:
        return sorted(
            (str(r.code), int(r.line))
            for r in conn.execute(
                select(i.code, i.line).where(i.claim_id == claim_id, i.state == "open")
            )
        )


# -- the pend itself ------------------------------------------------------------------------------


def test_a_pended_claim_waits_in_the_queue_of_its_reasons_and_is_paid_nothing(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-PEND", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 1
    )
    assert _state(engine, claim_id) == "pended"
    assert _open_codes(engine, claim_id) == [("NO-PRICE", 2), ("UNLISTED-PROCEDURE", 2)]
    # NO-PRICE and UNLISTED-PROCEDURE are both priority 3 in pricing: the claim is filed there
    (summary,) = ex.queues(engine, LATER)
    assert (summary.queue, summary.claims, summary.charge) == ("pricing", 1, D("940.00"))
    (entry,) = ex.queue_page(engine, "pricing", LATER).entries
    assert (entry.claim_id, entry.priority, entry.due_on.isoformat(), entry.days_left) == (
        claim_id,
        3,
        "2026-12-02",  # received 2026-11-02, plus the plan's 30 prompt-payment days
        30,
    )
    assert _remit(engine, runtime, tmp_path) == ""  # nothing is paid while it pends
    assert _accumulators(engine) == {}


# -- price ----------------------------------------------------------------------------------------


def test_price_decides_the_line_and_cost_share_and_accumulators_follow(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-PRICE", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 2
    )
    result = ex.act(
        engine, runtime, claim_id, ALICE, ex.Price("priced from the op note", 2, D("700.00")), LATER
    )
    assert (result.state, result.claim_state, result.outcome) == ("applied", "adjudicated", "paid")
    # line 1: 99213 allowed 88.20 (CO-45 51.80), copay PR-3 25.00, paid 63.20
    # line 2: allowed 700.00 (CO-45 100.00); deductible PR-1 500.00, then 20% of 200.00 is
    #         PR-2 40.00; paid 160.00
    assert result.paid == D("223.20")
    pccn = _pccn(engine, claim_id)
    loop = _claim_in_835(_remit(engine, runtime, tmp_path), pccn)
    assert loop[0][2:6] == ["1", "940", "223.2", "565"]  # CLP02 1, charge, paid, patient
    assert loop[1:] == [
        ["SVC", "HC:99213", "140", "63.2"],
        ["CAS", "CO", "45", "51.8"],
        ["CAS", "PR", "3", "25"],
        ["SVC", "HC:17999", "800", "160"],
        ["CAS", "CO", "45", "100"],
        ["CAS", "PR", "1", "500", "", "2", "40"],
    ]
    assert _accumulators(engine) == {
        ("member", "deductible"): D("500.00"),
        ("family", "deductible"): D("500.00"),
        ("member", "oop"): D("565.00"),  # 25.00 + 500.00 + 40.00
        ("family", "oop"): D("565.00"),
    }
    assert _state(engine, claim_id) == "remitted"
    assert ex.queues(engine, LATER) == []
    assert _open_codes(engine, claim_id) == []


def test_a_price_above_the_plans_amount_waits_for_a_second_examiner(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-4EYES", "8140", OFFICE_VISIT + UNLISTED.format(charge="8000")), 3
    )
    asked = ex.act(
        engine,
        runtime,
        claim_id,
        ALICE,
        ex.Price("priced from the records", 2, D("6000.00")),
        LATER,
    )
    assert (asked.state, asked.claim_state) == ("awaiting approval", "pended")
    assert _state(engine, claim_id) == "pended"
    assert _remit(engine, runtime, tmp_path) == ""
    with pytest.raises(ex.NotAllowed):  # no one approves their own
        ex.approve(engine, runtime, asked.action_id, ALICE, LATER)
    done = ex.approve(engine, runtime, asked.action_id, BOB, LATER)
    # line 2: allowed 6,000.00 (CO-45 2,000.00), deductible 500.00, 20% of 5,500.00 is
    # 1,100.00; paid 4,400.00; with line 1's 63.20, 4,463.20
    assert (done.state, done.claim_state, done.paid) == ("approved", "adjudicated", D("4463.20"))
    loop = _claim_in_835(_remit(engine, runtime, tmp_path), _pccn(engine, claim_id))
    assert loop[0][4] == "4463.2"
    assert ["CAS", "PR", "1", "500", "", "2", "1100"] in loop
    with pytest.raises(ex.ClaimChanged):  # approved once
        ex.approve(engine, runtime, asked.action_id, BOB, LATER)
    assert _accumulators(engine)[("member", "oop")] == D("1625.00")  # 25 + 500 + 1,100


# -- release --------------------------------------------------------------------------------------


def test_release_resolves_the_reason_and_every_other_stage_still_applies(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    # 99214 charged 25,100.00: over the 25,000.00 threshold; allowed 131.20 (CO-45 24,968.80),
    # copay PR-3 25.00, paid 106.20
    lines = "LX*1~\nSV1*HC:99214*25100*UN*1***1~\nDTP*472*D8*20261015~\n"
    claim_id = _submit(engine, runtime, _body("EX-HIGH", "25100", lines), 4)
    assert _open_codes(engine, claim_id) == [("HIGH-DOLLAR", 0)]
    with pytest.raises(ex.ExaminationError, match="no open pend reason NO-PRICE"):
        ex.act(engine, runtime, claim_id, ALICE, ex.Release("ok", ("NO-PRICE",)), LATER)
    result = ex.act(engine, runtime, claim_id, ALICE, ex.Release("charge checked", ()), LATER)
    assert (result.claim_state, result.paid) == ("adjudicated", D("106.20"))
    loop = _claim_in_835(_remit(engine, runtime, tmp_path), _pccn(engine, claim_id))
    assert loop[1:] == [
        ["SVC", "HC:99214", "25100", "106.2"],
        ["CAS", "CO", "45", "24968.8"],
        ["CAS", "PR", "3", "25"],
    ]
    assert _accumulators(engine) == {("member", "oop"): D("25.00"), ("family", "oop"): D("25.00")}


def test_a_release_of_one_reason_leaves_the_others_pending(
    engine: Engine, runtime: Runtime
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-HALF", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 5
    )
    result = ex.act(
        engine, runtime, claim_id, ALICE, ex.Release("records read", ("UNLISTED-PROCEDURE",)), LATER
    )
    # the rule's reason is resolved; the line still has no price, so it pends for that alone
    assert result.claim_state == "pended"
    assert _open_codes(engine, claim_id) == [("NO-PRICE", 2)]
    again = ex.act(engine, runtime, claim_id, ALICE, ex.Release("no price: deny", ()), LATER)
    # NO-PRICE resolved without a price: the line keeps its CO-16 M51; line 1 pays 63.20
    assert (again.claim_state, again.outcome, again.paid) == (
        "adjudicated",
        "partly paid",
        D("63.20"),
    )


# -- override and deny ----------------------------------------------------------------------------


def test_override_sets_aside_a_rule_denial(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    # line 1: 72148 without an authorization (CO-197 N54); line 2: the unlisted 17999
    lines = "LX*1~\nSV1*HC:72148*1200*UN*1***1~\nDTP*472*D8*20261015~\n" + UNLISTED.format(
        charge="300"
    )
    claim_id = _submit(engine, runtime, _body("EX-OVER", "1500", lines), 6)
    view = ex.show(engine, runtime, claim_id, LATER)
    assert view.decision is not None
    assert view.decision["lines"][0]["adjustments"] == ["CO-197 1200.00"]
    ex.act(engine, runtime, claim_id, ALICE, ex.Override("authorized by phone, ref 5512", 1), LATER)
    assert _state(engine, claim_id) == "pended"  # line 2 still waits
    result = ex.act(
        engine, runtime, claim_id, ALICE, ex.Deny("cosmetic", 2, "96", "CO", ("N130",)), LATER
    )
    # line 1: 72148 allowed 715.00 (CO-45 485.00), deductible PR-1 500.00, 20% of 215.00 is
    # PR-2 43.00, paid 172.00; line 2 denied CO-96 N130
    assert (result.claim_state, result.outcome, result.paid) == (
        "adjudicated",
        "partly paid",
        D("172.00"),
    )
    loop = _claim_in_835(_remit(engine, runtime, tmp_path), _pccn(engine, claim_id))
    assert loop[1:] == [
        ["SVC", "HC:72148", "1200", "172"],
        ["CAS", "CO", "45", "485"],
        ["CAS", "PR", "1", "500", "", "2", "43"],
        ["SVC", "HC:17999", "300", "0", "", "0", "", "1"],  # no units paid of 1
        ["CAS", "CO", "96", "300"],
    ]
    assert _accumulators(engine)[("member", "deductible")] == D("500.00")


def test_deny_checks_its_codes_and_denies_the_whole_claim(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-DENY", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 7
    )
    for bad, message in [
        (ex.Deny("x", 0, "96"), "CARC 96 needs at least one remark code"),
        (ex.Deny("x", 0, "ZZ9", "CO", ("N130",)), "CARC 'ZZ9' is not a code"),
        (ex.Deny("x", 0, "96", "XX", ("N130",)), "group code 'XX'"),
        (ex.Deny("x", 0, "96", "CO", ("Q1",)), "RARC 'Q1' is not a code"),
        (ex.Deny("", 0, "96", "CO", ("N130",)), "say why"),
        (ex.Deny("x", 9, "96", "CO", ("N130",)), "no line 9"),
    ]:
        with pytest.raises(ex.ExaminationError, match=message):
            ex.act(engine, runtime, claim_id, ALICE, bad, LATER)
    assert _state(engine, claim_id) == "pended"
    result = ex.act(
        engine,
        runtime,
        claim_id,
        ALICE,
        ex.Deny("not a covered service", 0, "96", "CO", ("N130",)),
        LATER,
    )
    assert (result.claim_state, result.outcome, result.paid) == ("adjudicated", "denied", D("0.00"))
    loop = _claim_in_835(_remit(engine, runtime, tmp_path), _pccn(engine, claim_id))
    assert loop[0][2] == "4"  # CLP02 4: denied
    assert ["CAS", "CO", "96", "140"] in loop and ["CAS", "CO", "96", "800"] in loop
    assert _accumulators(engine) == {}


# -- requests for information ---------------------------------------------------------------------


def test_a_request_for_information_unanswered_is_denied_co16_by_the_sweep(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-INFO", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 8
    )
    asked = ex.act(
        engine,
        runtime,
        claim_id,
        ALICE,
        ex.RequestInfo("need the operative report", "Send the operative report for line 2", "M127"),
        LATER,
    )
    assert asked.claim_state == "pended"
    (entry,) = ex.queue_page(engine, "waiting-for-provider", LATER).entries
    assert entry.waiting_for_provider and entry.claim_id == claim_id
    # the plan allows 45 days: on day 44 nothing happens, on day 46 the claim is denied
    assert ex.expire_info_requests(engine, runtime, LATER + timedelta(days=44)) == []
    (swept,) = ex.expire_info_requests(engine, runtime, LATER + timedelta(days=46))
    assert (swept.claim_state, swept.outcome, swept.paid) == ("adjudicated", "denied", D("0.00"))
    loop = _claim_in_835(
        _remit(engine, runtime, tmp_path, LATER + timedelta(days=46)), _pccn(engine, claim_id)
    )
    assert ["CAS", "CO", "16", "140"] in loop and ["CAS", "CO", "16", "800"] in loop
    assert ex.expire_info_requests(engine, runtime, LATER + timedelta(days=47)) == []


def test_an_answered_request_moves_the_due_day_by_the_days_waited(
    engine: Engine, runtime: Runtime
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-WAIT", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 9
    )
    ex.act(engine, runtime, claim_id, ALICE, ex.RequestInfo("records", "Send the records"), LATER)
    answered = ex.act(
        engine,
        runtime,
        claim_id,
        ALICE,
        ex.InfoReceived("records arrived"),
        LATER + timedelta(days=10),
    )
    assert answered.claim_state == "pended"
    (entry,) = ex.queue_page(engine, "pricing", LATER + timedelta(days=10)).entries
    # due 2026-12-02; the plan stops the clock while waiting: 10 days later, 2026-12-12
    assert entry.due_on.isoformat() == "2026-12-12" and not entry.waiting_for_provider
    assert ex.expire_info_requests(engine, runtime, LATER + timedelta(days=60)) == []


# -- who holds it, and two at once ----------------------------------------------------------------


def test_a_claim_held_by_one_examiner_is_refused_to_another(
    engine: Engine, runtime: Runtime
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-HOLD", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 10
    )
    ex.take(engine, claim_id, ALICE, LATER)
    with pytest.raises(ex.ClaimChanged, match="held by alice"):
        ex.act(engine, runtime, claim_id, BOB, ex.Note("looking"), LATER)
    with pytest.raises(ex.ClaimChanged, match="held by alice"):
        ex.take(engine, claim_id, BOB, LATER)
    with pytest.raises(ex.NotAllowed):
        ex.reassign(engine, claim_id, BOB, BOB, LATER, "mine now")
    supervisor = ex.Examiner("carol", supervisor=True)
    ex.reassign(engine, claim_id, supervisor, BOB, LATER, "alice is away")
    ex.act(engine, runtime, claim_id, BOB, ex.Note("taking over"), LATER)
    # a hold expires: after it, anyone may take the claim
    ex.take(engine, claim_id, ALICE, LATER + timedelta(hours=5))
    with pytest.raises(ex.ClaimNotFound):
        ex.take(engine, 999_999, ALICE, LATER)


def test_of_two_actions_on_one_version_one_wins_and_the_other_is_told(
    engine: Engine, runtime: Runtime
) -> None:
    claim_id = _submit(
        engine, runtime, _body("EX-RACE", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 11
    )
    version = ex.show(engine, runtime, claim_id, LATER).version
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def act(who: ex.Examiner, request: ex.Request) -> None:
        barrier.wait()
        try:
            results.append(
                ex.act(engine, runtime, claim_id, who, request, LATER, expected_version=version)
            )
        except ex.ExaminationError as exc:
            results.append(exc)

    threads = [
        threading.Thread(target=act, args=(ALICE, ex.Price("contract", 2, D("700.00")))),
        threading.Thread(target=act, args=(BOB, ex.Deny("not covered", 0, "96", "CO", ("N130",)))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [r for r in results if isinstance(r, ex.ActionResult)]
    lost = [r for r in results if isinstance(r, ex.ExaminationError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].status == 409
    with engine.connect() as conn:
        decisions = conn.execute(
            select(func.count()).where(
                t.adjudications_table.c.claim_id == claim_id,
                t.adjudications_table.c.kind == "decision",
            )
        ).scalar_one()
        applied = conn.execute(
            select(func.count()).where(
                t.examiner_actions_table.c.claim_id == claim_id,
                t.examiner_actions_table.c.kind.in_(("price", "deny")),
            )
        ).scalar_one()
    assert (decisions, applied) == (1, 1)


# -- a replacement of a paid claim ----------------------------------------------------------------


def test_a_pended_replacement_is_paid_with_the_reversal_of_its_original(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    original = _submit(engine, runtime, _body("EX-ORIG", "140", OFFICE_VISIT), 12)
    first = _claim_in_835(_remit(engine, runtime, tmp_path, NOW), _pccn(engine, original))
    assert first[0][4] == "63.2"
    ref = f"REF*F8*{_pccn(engine, original)}~\n"
    replacement = _submit(
        engine,
        runtime,
        _body("EX-ORIG", "940", OFFICE_VISIT + UNLISTED.format(charge="800"), "7", ref),
        13,
    )
    assert _state(engine, replacement) == "pended"
    assert _remit(engine, runtime, tmp_path, NOW + timedelta(minutes=1)) == ""  # nothing yet
    ex.act(engine, runtime, replacement, ALICE, ex.Price("from the records", 2, D("700.00")), LATER)
    text = _remit(engine, runtime, tmp_path)
    reversal = _claim_in_835(text, _pccn(engine, original))
    assert reversal[0][2] == "22" and reversal[0][4] == "-63.2"
    corrected = _claim_in_835(text, _pccn(engine, replacement))
    # as though the original had never been: the copay once, deductible 500.00, PR-2 40.00
    assert corrected[0][4] == "223.2"
    assert _accumulators(engine)[("member", "oop")] == D("565.00")


# -- a store from before pend reasons were codes --------------------------------------------------


def test_db_upgrade_gives_claims_pended_before_it_their_pend_items(
    engine: Engine, runtime: Runtime
) -> None:
    unlisted = _submit(
        engine, runtime, _body("EX-OLD1", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 14
    )
    lines = "LX*1~\nSV1*HC:99214*25100*UN*1***1~\nDTP*472*D8*20261015~\n"
    high = _submit(engine, runtime, _body("EX-OLD2", "25100", lines), 15)
    # the store as it was before step 5: no examination tables, the reasons only as text
    with engine.begin() as conn:
        for table in (t.examiner_actions_table, t.pended_claims_table, t.pend_items_table):
            table.drop(conn)
        conn.execute(
            t.SchemaVersion.__table__.delete().where(  # type: ignore[attr-defined]
                t.SchemaVersion.__table__.c.version == 5  # type: ignore[attr-defined]
            )
        )
    assert upgrade(engine) == [
        "5: examination of pended claims: pend items, queues, examiner actions"
    ]
    # routed by the engine's default pend reasons: the rule's reason was RULE-REVIEW then
    assert _open_codes(engine, unlisted) == [("NO-PRICE", 2), ("RULE-REVIEW", 2)]
    assert _open_codes(engine, high) == [("HIGH-DOLLAR", 0)]
    queues = {q.queue: q.claims for q in ex.queues(engine, LATER)}
    # both of the unlisted line's reasons are priority 3: the first queue by name files it
    assert queues == {"clinical-review": 1, "high-dollar": 1}
    (entry,) = ex.queue_page(engine, "high-dollar", LATER).entries
    assert entry.due_on.isoformat() == "2026-12-02"  # received 2026-11-02 + 30 days
    # and they are worked as any other
    result = ex.act(engine, runtime, high, ALICE, ex.Release("checked", ()), LATER)
    assert (result.claim_state, result.paid) == ("adjudicated", D("106.20"))


# -- the audit ------------------------------------------------------------------------------------


def test_examiner_actions_and_approvals_are_in_the_audit_chain(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    claim_id = _submit(
        engine,
        runtime,
        _body("EX-AUDIT", "8140", OFFICE_VISIT + UNLISTED.format(charge="8000")),
        16,
    )
    ex.act(engine, runtime, claim_id, ALICE, ex.Note("Mrs X called about this claim"), LATER)
    asked = ex.act(
        engine, runtime, claim_id, ALICE, ex.Price("from the records", 2, D("6000.00")), LATER
    )
    ex.approve(engine, runtime, asked.action_id, BOB, LATER + timedelta(hours=1))
    rng = audit.AuditRange(NOW - timedelta(days=1), LATER + timedelta(days=1))
    path = tmp_path / "audit.jsonl"
    with path.open("w", encoding="utf-8", newline="") as out:
        summary = audit.export(engine, rng, out, "jsonl", LATER + timedelta(days=2))
    assert summary.examiner_actions == 3  # the note, the price, its approval
    records = [json.loads(line) for line in path.read_text().splitlines()]
    mine = [r for r in records if r["kind"].startswith("examiner_")]
    assert [(r["kind"], r["actor"], r["state"]) for r in mine] == [
        ("examiner_action", "alice", "applied"),
        ("examiner_action", "alice", "awaiting approval"),
        ("examiner_approval", "bob", "approved"),
    ]
    assert mine[0]["action"] == "note" and mine[1]["action"] == "price"
    # the reason is kept sealed in the store; the export holds its hash, never its words
    assert "Mrs X" not in path.read_text()
    assert mine[0]["why_sha256"] == hashlib.sha256(b"Mrs X called about this claim").hexdigest()
    assert (mine[2]["before"], mine[2]["after"]) == ("pended", "paid, paid 4463.20")
    assert audit.verify_file(engine, path).ok
    with engine.begin() as conn:  # someone rewrites who approved it
        conn.execute(
            t.examiner_actions_table.update()
            .where(t.examiner_actions_table.c.id == asked.action_id)
            .values(approved_by="mallory")
        )
    problems = audit.verify_file(engine, path).problems
    assert [p.what for p in problems] == ["altered"]
    assert f"examiner_actions row {asked.action_id}" in problems[0].message


# -- a crash between the decision and the payment -------------------------------------------------


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "claims_engine.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _blocked(engine: Engine, process: subprocess.Popen[str], waiting_on: str) -> None:
    """Wait until ``process`` waits on a lock in PostgreSQL (``waiting_on``: its wait event)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND wait_event = :event AND datname = current_database()"
                ),
                {"event": waiting_on},
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.1)
    raise AssertionError(f"the command never waited on {waiting_on}")


def test_a_released_claim_is_paid_once_across_processes_killed_mid_transaction(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    engine = postgres_engine
    runtime = prepared_store(engine)
    original = _submit(engine, runtime, _body("EX-KILL0", "140", OFFICE_VISIT), 17)
    _remit(engine, runtime, tmp_path, NOW)  # the counters exist; the first claim is paid
    claim_id = _submit(
        engine, runtime, _body("EX-KILL", "940", OFFICE_VISIT + UNLISTED.format(charge="800")), 18
    )
    env = dict(os.environ)
    env["CLAIMS_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    env["CLAIMS_RULES_DIR"] = str(RULES)
    env.pop("CLAIMS_REDIS_URL", None)
    release = (
        "pended", "price", str(claim_id), "--line", "2", "--allowed", "700.00", "--as", "alice",
        "--why", "priced from the records",
    )  # fmt: skip
    # 1. the examiner's command is killed inside its transaction: nothing of it stays
    with engine.connect() as holder, holder.begin():
        holder.execute(
            select(t.pended_claims_table.c.version)
            .where(t.pended_claims_table.c.claim_id == claim_id)
            .with_for_update()
        )
        process = _cli(env, *release)
        _blocked(engine, process, "transactionid")
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert _state(engine, claim_id) == "pended"
    assert _open_codes(engine, claim_id) == [("NO-PRICE", 2), ("UNLISTED-PROCEDURE", 2)]
    # 2. again, to the end: decided
    process = _cli(env, *release)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert _state(engine, claim_id) == "adjudicated"
    # 3. the payment cycle is killed inside the payee's transaction: nothing is paid
    payee = f"payee:{BUCKEYE_NPI}"
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": family_lock_key(payee)})
        process = _cli(env, "remit", "--out", str(tmp_path / "killed"))
        _blocked(engine, process, "advisory")
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        holder.execute(text("SELECT pg_advisory_unlock_all()"))
        holder.commit()
    assert _state(engine, claim_id) == "adjudicated"
    assert not list((tmp_path / "killed").glob("*.x12"))
    # 4. and again: paid once, in one 835; a third cycle finds nothing
    process = _cli(env, "remit", "--out", str(tmp_path / "paid"))
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    (paid,) = tmp_path.joinpath("paid").glob("*.x12")
    assert _claim_in_835(paid.read_text(), _pccn(engine, claim_id))[0][4] == "223.2"
    assert _remit(engine, runtime, tmp_path, LATER + timedelta(hours=1)) == ""
    with engine.connect() as conn:
        items = conn.execute(
            select(func.count())
            .select_from(t.remittance_claims_table)
            .join(
                t.adjudications_table,
                t.adjudications_table.c.id == t.remittance_claims_table.c.adjudication_id,
            )
            .where(t.adjudications_table.c.claim_id.in_((claim_id, original)))
        ).scalar_one()
    assert items == 2  # the first claim's decision and the released one's, once each
    assert _state(engine, claim_id) == "remitted"
