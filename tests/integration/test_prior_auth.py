"""Prior authorizations in the store, on SQLite and PostgreSQL: requests decided by the fixture
rules (rules/prior-auth/decisions.yaml) or by a clinical reviewer on a clock, and claims that
draw on the approved ones from intake to decision.

The people: SOPHIA JOHNSON (PG00000200, PPO-GOLD, born 1975-11-20) and LIAM HILL (PG00000100,
PPO-GOLD); MAUMEE RADIOLOGY ASSOCIATES (NPI 2422581191) is gold-carded for imaging in 2026;
BUCKEYE FAMILY MEDICINE (NPI 2781759230) is not. A 73721 (MRI of a lower-extremity joint) is
allowed 759.00 on the fee schedule; the coverage rule AUTH-MRI requires an authorization for it
outside the emergency department.
"""

from __future__ import annotations

import csv
import io
import json
import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, func, select, text

from claims_engine.cli.main import main
from claims_engine.domain.prior_auth import Action, AuthRequest, AuthService, Source, Urgency
from claims_engine.rules.authorization_rules import AuthRules, load_authorization_rules
from claims_engine.services import authorizations as pa
from claims_engine.services.access import Principal, Role
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.prior_auth_report import (
    prior_auth_report,
    report_csv,
    report_html,
    services_csv,
)
from claims_engine.services.queries import find_claims
from claims_engine.services.reference import Runtime, store_reference
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from tests.integration.pipeline_support import REFERENCE, RULES, prepared_store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 2, 9, 30)
D = Decimal
MAUMEE = "2422581191"
BUCKEYE = "2781759230"
OCT = date(2026, 10, 15)

MAUMEE_BILLING = """\
NM1*85*2*MAUMEE RADIOLOGY ASSOCIATES*****XX*2422581191~
N3*3985 PINE RD~
N4*COLUMBUS*OH*432265830~
REF*EI*478445893~
"""
SOPHIA = """\
HL*{hl}*1*22*0~
SBR*P*18*PPO-GOLD******12~
NM1*IL*1*JOHNSON*SOPHIA****MI*PG00000200~
N3*12 ELM STREET~
N4*AKRON*OH*443201234~
DMG*D8*19751120*F~
NM1*PR*2*ACME HEALTH PLAN*****PI*ACMEHP01~
"""


def _knee_mri(claim_id: str, day: str, *, void_of: str = "") -> str:
    frequency = "8" if void_of else "1"
    ref = f"REF*F8*{void_of}~\n" if void_of else ""
    return (
        f"CLM*{claim_id}*1000***11:B:{frequency}*Y*A*Y*Y~\n{ref}HI*ABK:M2551~\n"
        f"LX*1~\nSV1*HC:73721*1000*UN*1***1~\nDTP*472*D8*{day}~\n"
    )


def _837(control: int, *claims: str) -> bytes:
    st = (
        f"ST*837*0001*005010X222A1~\nBHT*0019*00*PA{control}*20261102*0900*CH~\n"
        "NM1*41*2*BUCKEYE CLAIMS EXCHANGE*****46*SUBMITTER01~\nPER*IC*EDI DEPARTMENT*TE*"
        "8005550100~\nNM1*40*2*ACME HEALTH PLAN*****46*ACMEHP01~\nHL*1**20*1~\n" + MAUMEE_BILLING
    )
    for n, claim in enumerate(claims):
        st += SOPHIA.format(hl=n + 2) + claim
    segments = st.count("~") + 1
    isa = (
        "ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*ACMEHP01       "
        f"*261102*0900*^*00501*{control:09d}*0*P*:~\n"
    )
    return (
        isa
        + f"GS*HC*SUBMITTER01*ACMEHP01*20261102*0900*{control}*X*005010X222A1~\n"
        + st
        + f"SE*{segments}*0001~\nGE*1*{control}~\nIEA*1*{control:09d}~\n"
    ).encode()


def _work(engine: Engine, runtime: Runtime, raw: bytes, now: datetime) -> None:
    sub = submit(engine, raw, f"pa-{now.isoformat()}.837", now)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, now).batches:
        adjudicate_claims(engine, batch, runtime, now)


def _decided(engine: Engine, claim_id: str) -> tuple[str, list[tuple[str, str, Decimal]]]:
    """The payer claim number of CLM01 ``claim_id`` of MAUMEE and its decision's line
    adjustments."""
    (row_id,) = find_claims(engine, claim_id, MAUMEE)
    a, j = t.adjudications_table.c, t.adjustments_table.c
    with engine.connect() as conn:
        pccn = conn.execute(
            select(t.claims_table.c.payer_claim_number).where(t.claims_table.c.id == row_id)
        ).scalar_one()
        found = conn.execute(
            select(j.group_code, j.reason_code, j.amount)
            .join(t.adjudications_table, a.id == j.adjudication_id)
            .where(a.claim_id == row_id, a.kind == "decision")
            .order_by(j.id)
        ).all()
    return str(pccn), [(str(g), str(r), amount) for g, r, amount in found]


def _request(
    code: str,
    *,
    npi: str = BUCKEYE,
    member: str = "PG00000100",
    urgency: Urgency = Urgency.STANDARD,
    diagnoses: tuple[str, ...] = (),
    trace: str = "TRN-1",
    quantity: str = "1",
) -> AuthRequest:
    return AuthRequest(
        member_id=member,
        subscriber_id=member,
        requesting_npi=npi,
        servicing_npi=npi,
        urgency=urgency,
        services=(AuthService(code, D(quantity), OCT, date(2026, 10, 31)),),
        diagnoses=diagnoses,
        trace=trace,
        source=Source.X12,
    )


@pytest.fixture
def store(engine: Engine) -> tuple[Engine, Runtime, AuthRules]:
    runtime = prepared_store(engine)
    rules = load_authorization_rules(
        RULES / "prior-auth" / "decisions.yaml", known_plans=runtime.reference.plans
    )
    return engine, runtime, rules


def _submit(
    store: tuple[Engine, Runtime, AuthRules], request: AuthRequest, now: datetime = NOW
) -> pa.AuthorizationView:
    engine, runtime, rules = store
    return pa.submit(engine, request, runtime.reference, runtime.book, rules, now)


def test_an_automatic_approval_is_drawn_by_two_claims_until_its_units_run_out(
    store: tuple[Engine, Runtime, AuthRules],
) -> None:
    engine, runtime, _ = store
    approved = _submit(store, _request("73721", npi=MAUMEE, member="PG00000200"))
    # the gold card approves one study at once: A1, no queue, decided on receipt
    assert (approved.state, approved.action, approved.queue) == ("approved", "A1", "")
    assert approved.decided_at == NOW and approved.services[0].approved == D(1)
    # the first claim draws the unit; the second finds none left: CO-198 on its 1000.00
    _work(engine, runtime, _837(801, _knee_mri("KNEE-1", "20261020")), NOW)
    _work(engine, runtime, _837(802, _knee_mri("KNEE-2", "20261027")), NOW)
    first, first_adjustments = _decided(engine, "KNEE-1")
    _, second = _decided(engine, "KNEE-2")
    # 1000.00 charged, 759.00 allowed: CO-45 241.00, then her cost share
    assert first_adjustments[0] == ("CO", "45", D("241.00"))
    assert second == [("CO", "198", D("1000.00"))]
    view = pa.inquire(engine, None, number=approved.number)
    assert (view.services[0].used, view.services[0].left) == (D(1), D(0))
    # a claim consumes exactly once: one use row, of the first claim's line 1
    u = t.prior_authorization_uses_table.c
    with engine.connect() as conn:
        uses = conn.execute(select(u.payer_claim_number, u.line_number, u.reversed_by)).all()
    assert [tuple(r) for r in uses] == [(first, 1, None)]
    # the first is voided: its unit is given back, and a third claim draws it
    later = NOW + timedelta(days=1)
    _work(engine, runtime, _837(803, _knee_mri("KNEE-1", "20261020", void_of=first)), later)
    assert pa.inquire(engine, None, number=approved.number).services[0].left == D(1)
    _work(engine, runtime, _837(804, _knee_mri("KNEE-3", "20261029")), later)
    third, third_adjustments = _decided(engine, "KNEE-3")
    assert third_adjustments[0] == ("CO", "45", D("241.00"))
    view = pa.inquire(engine, None, number=approved.number)
    assert (view.services[0].used, view.services[0].left) == (D(1), D(0))
    with engine.connect() as conn:
        after = conn.execute(select(u.payer_claim_number, u.reversed_by).order_by(u.id)).all()
    assert [str(r.payer_claim_number) for r in after] == [first, third]
    assert after[0].reversed_by is not None and after[1].reversed_by is None


def test_a_denial_carries_its_reason_and_a_provider_sees_only_its_own(
    store: tuple[Engine, Runtime, AuthRules],
) -> None:
    engine, _, _ = store
    denied = _submit(store, _request("72148", diagnoses=("M54.50",), trace="LBP-1"))
    assert (denied.state, denied.action) == ("denied", "A3")
    assert "six weeks of conservative treatment" in denied.reason
    assert denied.services[0].reason_code == "0F"  # X12 list 886: not medically necessary
    assert denied.reason.startswith("LBP6W - ")  # the decisions file's own code, with the words
    mine = Principal("k1", Role.PROVIDER, npis=frozenset({BUCKEYE}))
    theirs = Principal("k2", Role.PROVIDER, npis=frozenset({MAUMEE}))
    assert pa.inquire(engine, mine, number=denied.number).reason == denied.reason
    assert pa.inquire(engine, mine, trace="LBP-1", requesting_npi=BUCKEYE).number == denied.number
    # not yours reads exactly like missing
    with pytest.raises(pa.AuthorizationNotFound, match="no such authorization"):
        pa.inquire(engine, theirs, number=denied.number)
    with pytest.raises(pa.AuthorizationNotFound, match="no such authorization"):
        pa.inquire(engine, theirs, number="PA20269999999")
    # the same request sent again is the same request
    again = _submit(store, _request("72148", diagnoses=("M54.50",), trace="LBP-1"))
    assert again.number == denied.number
    # a member nobody knows is refused, not stored
    with pytest.raises(pa.AuthorizationRefused, match="member not found"):
        _submit(store, _request("72148", member="XX00000000", trace="LBP-2"))


def test_a_pended_request_is_decided_by_a_reviewer_within_its_clock(
    store: tuple[Engine, Runtime, AuthRules],
) -> None:
    engine, _, _ = store
    pended = _submit(store, _request("43775", trace="BAR-1"))
    # bariatric surgery is always reviewed: the clinical queue, due 7 calendar days later
    assert (pended.state, pended.action, pended.queue) == ("pended", "A4", "clinical")
    assert pended.due_at == NOW + timedelta(days=7)
    expedited = _submit(store, _request("43775", trace="BAR-2", urgency=Urgency.EXPEDITED))
    assert [q.number for q in pa.clinical_queue(engine)] == [expedited.number, pended.number]
    with pytest.raises(pa.AuthorizationRefused, match="needs a reason"):
        pa.decide(engine, pended.number, Action.NOT_CERTIFIED, "dr.reyes", NOW)
    decided_at = NOW + timedelta(days=2)
    decided = pa.decide(engine, pended.number, Action.CERTIFIED, "dr.reyes", decided_at)
    assert (decided.state, decided.action, decided.decided_by) == ("approved", "A1", "dr.reyes")
    assert decided.decided_at is not None and decided.decided_at <= decided.due_at
    assert decided.services[0].approved == D(1)
    with pytest.raises(pa.AuthorizationConflict, match="not pended"):
        pa.decide(engine, pended.number, Action.CERTIFIED, "dr.reyes", decided_at)
    # the provider asking again is sent the decision made since
    mine = Principal("k1", Role.PROVIDER, npis=frozenset({BUCKEYE}))
    answered = pa.answered_since(engine, mine, NOW)
    assert [v.number for v in answered] == [pended.number]
    assert (
        pa.answered_since(engine, Principal("k2", Role.PROVIDER, npis=frozenset({MAUMEE})), NOW)
        == []
    )
    # a modification approves less, with its reason
    modified = pa.decide(
        engine,
        expedited.number,
        Action.MODIFIED,
        "dr.reyes",
        NOW + timedelta(hours=30),
        reason="one procedure approved",
        approved={1: D(1)},
    )
    assert (modified.state, modified.action) == ("approved", "A1")  # all of what was asked


def test_an_expedited_request_is_alerted_before_its_72_hours(
    store: tuple[Engine, Runtime, AuthRules],
) -> None:
    engine, _, rules = store
    request = _submit(store, _request("43775", trace="BAR-3", urgency=Urgency.EXPEDITED))
    assert request.due_at == NOW + timedelta(hours=72)
    # alert_before 12h: nothing at 59 hours, the request at 61 hours, once
    assert pa.alert_due(engine, rules, NOW + timedelta(hours=59)) == []
    assert [
        q.number for q in pa.due_within(engine, NOW + timedelta(hours=59), timedelta(hours=12))
    ] == []
    alerted = pa.alert_due(engine, rules, NOW + timedelta(hours=61))
    assert [(q.number, q.urgency) for q in alerted] == [(request.number, "expedited")]
    assert pa.alert_due(engine, rules, NOW + timedelta(hours=62)) == []
    due = pa.due_within(engine, NOW + timedelta(hours=61), timedelta(hours=12))
    assert [(q.number, q.alerted, q.left(NOW + timedelta(hours=61))) for q in due] == [
        (request.number, True, timedelta(hours=11))
    ]


def test_a_cancellation(store: tuple[Engine, Runtime, AuthRules]) -> None:
    engine, _, _ = store
    approved = _submit(store, _request("73721", npi=MAUMEE, member="PG00000200", trace="C-1"))
    other = Principal("k1", Role.PROVIDER, npis=frozenset({BUCKEYE}))
    with pytest.raises(pa.AuthorizationNotFound):
        pa.cancel(engine, approved.number, "k1", NOW, other)
    owner = Principal("k2", Role.PROVIDER, npis=frozenset({MAUMEE}))
    cancelled = pa.cancel(engine, approved.number, "k2", NOW + timedelta(hours=1), owner)
    assert (cancelled.state, cancelled.action) == ("cancelled", "C")
    with pytest.raises(pa.AuthorizationConflict, match="nothing to cancel"):
        pa.cancel(engine, approved.number, "k2", NOW, owner)
    e = t.prior_authorization_events_table.c
    with engine.connect() as conn:
        states = conn.execute(select(e.from_state, e.to_state, e.action).order_by(e.id)).all()
    # the reference data's three imports, then this request's life
    assert [tuple(s) for s in states[3:]] == [
        (None, "requested", None),
        ("requested", "approved", "A1"),
        ("approved", "cancelled", "C"),
    ]


def test_the_reference_data_s_authorizations_are_imported_once(
    store: tuple[Engine, Runtime, AuthRules],
) -> None:
    engine, _, _ = store
    view = pa.inquire(engine, None, number="PA2026000101")
    assert (view.state, view.source, view.member_id) == ("approved", "csv", "PG00000100")
    assert [(s.codes, s.approved, s.left) for s in view.services] == [
        (("70551", "70553"), D("1.000"), D("1.000"))
    ]
    store_reference(engine, REFERENCE, NOW + timedelta(days=1))
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(t.prior_authorizations_table)
        ).scalar_one()
    assert count == 3
    # PA2026000103 ends on 2026-11-30, the others on 2026-12-31
    assert pa.expire(engine, datetime(2026, 12, 15)) == ["PA2026000103"]
    assert pa.inquire(engine, None, number="PA2026000103").state == "expired"
    assert pa.expire(engine, datetime(2026, 12, 15)) == []


# -- the public report of a generated year -------------------------------------------------------


@dataclass
class _Made:
    """What the test itself knows of a request it made: its urgency, how it ended, when it was
    received and decided, whether it appealed a denial and whether its clock was extended."""

    urgency: Urgency
    state: str
    received: datetime
    decided: datetime
    appeal: bool = False
    extended: bool = False


def _generate_year(store: tuple[Engine, Runtime, AuthRules], seed: int) -> list[_Made]:
    """A year of requests: gold-card approvals and rule denials decided on receipt, bariatric
    requests a reviewer approves, modifies or denies hours later, appeals of denials (approved
    by a reviewer), extended standard requests, cancellations; a few received in December 2025
    or decided in January 2027."""
    engine, _, _ = store
    rng = random.Random(seed)
    made: list[_Made] = []
    denied: list[tuple[str, datetime]] = []
    start = datetime(2025, 12, 20, 8, 0)
    for i in range(48):
        received = start + timedelta(
            days=8 * i, hours=rng.randint(0, 10), minutes=rng.choice((0, 15, 40))
        )
        urgency = rng.choice((Urgency.STANDARD, Urgency.EXPEDITED))
        kind = rng.choice(("gold", "deny", "review", "review", "appeal", "extend", "cancel"))
        day = received.date()
        if kind == "gold" and day.year == 2026:
            view = _submit(
                store,
                replace(
                    _request(
                        "73721", npi=MAUMEE, member="PG00000200", trace=f"G{i}", urgency=urgency
                    ),
                    services=(AuthService("73721", D(1), day, day),),
                ),
                received,
            )
            made.append(_Made(urgency, view.state, received, received))
            continue
        if kind == "deny" or (kind == "appeal" and not denied):
            view = _submit(
                store,
                replace(
                    _request("72148", diagnoses=("M54.50",), trace=f"D{i}"),
                    services=(AuthService("72148", D(1), day, day),),
                ),
                received,
            )
            assert view.state == "denied"
            denied.append((view.number, received))
            made.append(_Made(Urgency.STANDARD, "denied", received, received))
            continue
        appeal_of = ""
        if kind == "appeal":
            appeal_of, _ = denied.pop(0)
            request = replace(
                _request("72148", diagnoses=("M54.50",), trace=f"A{i}"),
                appeal_of=appeal_of,
                urgency=urgency,
                services=(AuthService("72148", D(1), day, day),),
            )
        else:
            request = replace(
                _request("43775", trace=f"R{i}", urgency=urgency, quantity="3"),
                services=(AuthService("43775", D(3), day, day),),
            )
        view = _submit(store, request, received)
        assert view.state == "pended", (kind, view.reason)
        if kind == "cancel":
            pa.cancel(engine, view.number, "desk", received + timedelta(hours=5))
            continue
        extended = False
        if kind == "extend" and urgency is Urgency.STANDARD:
            pa.extend(engine, view.number, store[2], "dr.reyes", received + timedelta(days=6))
            extended = True
        hours = rng.randint(1, 400 if extended else (70 if urgency is Urgency.EXPEDITED else 160))
        decided = received + timedelta(hours=hours, minutes=rng.choice((0, 30)))
        choice = (
            "approve" if kind in ("appeal", "extend") else rng.choice(("approve", "modify", "deny"))
        )
        if choice == "approve":
            pa.decide(engine, view.number, Action.CERTIFIED, "dr.reyes", decided)
            state = "approved"
        elif choice == "modify":
            pa.decide(
                engine,
                view.number,
                Action.MODIFIED,
                "dr.reyes",
                decided,
                reason="two of three sessions",
                approved={1: D(2)},
            )
            state = "approved"
        else:
            pa.decide(
                engine,
                view.number,
                Action.NOT_CERTIFIED,
                "dr.reyes",
                decided,
                reason="BMI under 35 without comorbidity",
            )
            state = "denied"
        made.append(
            _Made(urgency, state, received, decided, appeal=bool(appeal_of), extended=extended)
        )
    return made


def _expected_rows(made: list[_Made], year: int) -> list[list[str]]:
    """The report's rows worked out from what the test made: percentages half up to two
    places, hours half up to one."""
    rows = [["urgency", "measure", "count", "percent_or_hours"]]
    for urgency in (Urgency.STANDARD, Urgency.EXPEDITED):
        mine = [m for m in made if m.urgency is urgency and m.decided.year == year]
        approved = [m for m in mine if m.state == "approved"]
        counts = {
            "approved": len(approved),
            "denied": len(mine) - len(approved),
            "approved_after_appeal": sum(1 for m in approved if m.appeal),
            "approved_after_extension": sum(1 for m in approved if m.extended),
        }
        rows.append([urgency.value, "decided", str(len(mine)), ""])
        for name, count in counts.items():
            percent = (
                str((D(count) * 100 / len(mine)).quantize(D("0.01"), rounding=ROUND_HALF_UP))
                if mine
                else ""
            )
            rows.append([urgency.value, name, str(count), percent])
        hours = sorted(D((m.decided - m.received).total_seconds()) / 3600 for m in mine)
        half = len(hours) // 2
        median = (
            (hours[half] if len(hours) % 2 else (hours[half - 1] + hours[half]) / 2)
            if hours
            else None
        )
        mean = sum(hours, D(0)) / len(hours) if hours else None

        def shown(value: Decimal | None) -> str:
            return "" if value is None else str(value.quantize(D("0.1"), rounding=ROUND_HALF_UP))

        rows.append([urgency.value, "mean_hours_to_decision", "", shown(mean)])
        rows.append([urgency.value, "median_hours_to_decision", "", shown(median)])
    return rows


def test_the_public_report_of_a_generated_year(
    store: tuple[Engine, Runtime, AuthRules], tmp_path: Path
) -> None:
    engine, runtime, _ = store
    made = _generate_year(store, seed=2026)
    in_year = [m for m in made if m.decided.year == 2026]
    # the year has something of every kind the report counts
    assert {m.urgency for m in in_year} == {Urgency.STANDARD, Urgency.EXPEDITED}
    assert any(m.appeal for m in in_year) and any(m.extended for m in in_year)
    assert any(m.state == "denied" for m in in_year) and len(in_year) < len(made)
    figures = prior_auth_report(engine, runtime.book, 2026)
    rows = list(csv.reader(io.StringIO(report_csv(figures))))
    assert rows == _expected_rows(made, 2026)
    services = list(csv.reader(io.StringIO(services_csv(figures))))
    assert services[0] == ["plans", "codes", "description"]
    assert services[1][:2] == ["HMO-SILVER PPO-GOLD", "72148 73721 70551-70553"]
    page = report_html(figures, runtime.payer.name)
    (tmp_path / "prior-auth-2026.html").write_text(page, encoding="utf-8")
    # self-contained: nothing fetched, no script
    for outside in ("http://", "https://", "src=", "<script", "<link", "url("):
        assert outside not in page
    assert f"{figures.standard.percent(figures.standard.approved)}%" in page


def test_the_commands_list_the_queue_decide_and_write_the_report(
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    rules = load_authorization_rules(
        RULES / "prior-auth" / "decisions.yaml", known_plans=runtime.reference.plans
    )
    # received 2026-11-01 09:30, due 2026-11-04 09:30: 48 hours left at the CLI's frozen time
    expedited = pa.submit(
        engine,
        _request("43775", trace="CLI-1", urgency=Urgency.EXPEDITED),
        runtime.reference,
        runtime.book,
        rules,
        NOW - timedelta(days=1),
    )
    monkeypatch.setenv("CLAIMS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    capsys.readouterr()
    with freeze_time(NOW):
        assert main(["prior-auth", "queue", "--json"]) == 0
        (queued,) = json.loads(capsys.readouterr().out)
        assert (queued["number"], queued["hours_left"]) == (expedited.number, 48.0)
        assert main(["prior-auth", "due", "--within", "12h", "--alert"]) == 0
        # 48 hours left: not due yet
        assert capsys.readouterr().out == "no open request due within 12 hours\n"
        assert (
            main(["prior-auth", "decide", expedited.number, "--action", "A3", "--as", "dr.reyes"])
            == 1
        )
        assert "needs a reason" in capsys.readouterr().err
        args = ["prior-auth", "decide", expedited.number, "--action", "A3", "--as", "dr.reyes"]
        assert main([*args, "--why", "BMI under 35", "--json"]) == 0
        decided = json.loads(capsys.readouterr().out)
        assert (decided["state"], decided["reason"]) == ("denied", "BMI under 35")
        out = tmp_path / "report"
        assert main(["report", "prior-auth", "--year", "2026", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "prior-auth-2026-services.csv",
        "prior-auth-2026.csv",
        "prior-auth-2026.html",
    ]
    rows = list(csv.reader(io.StringIO((out / "prior-auth-2026.csv").read_text(encoding="utf-8"))))
    # one expedited request, denied after 24 hours
    assert ["expedited", "denied", "1", "100.00"] in rows
    assert ["expedited", "mean_hours_to_decision", "", "24.0"] in rows
    assert ["standard", "decided", "0", ""] in rows


def test_a_dependant_without_a_member_id_is_found_on_the_subscriber_s_policy(
    store: tuple[Engine, Runtime, AuthRules],
) -> None:
    # LIAM JACKSON (PG00000201), spouse (01) of SOPHIA JOHNSON, born 1975-01-02
    spouse = replace(
        _request("73721", npi=MAUMEE, member="PG00000200", trace="DEP-1"),
        relationship="01",
        patient_first_name="Liam",
        patient_birth_date=date(1975, 1, 2),
    )
    view = _submit(store, spouse)
    assert (view.member_id, view.subscriber_id, view.state) == (
        "PG00000201",
        "PG00000200",
        "approved",
    )
    born_else = replace(spouse, trace="DEP-2", patient_birth_date=date(1975, 1, 3))
    with pytest.raises(pa.AuthorizationRefused, match="member not found"):
        _submit(store, born_else)


def test_the_same_request_sent_twice_at_the_same_moment_is_stored_once(
    store: tuple[Engine, Runtime, AuthRules], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two server processes given the same request (requester and trace) at the same moment:
    each finds the trace free and decides it; one stores it, and the other is answered with
    it as it stands, as a request sent again later is (never an integrity error).

    On PostgreSQL two threads, each on its own connection, find the trace free and are held
    on the insert of a row of the same trace the test has not committed (each waits to see
    whether it will be) until both have started, and the test then takes its row back; SQLite
    takes its write lock at BEGIN, so two writers cannot overlap there: the second is made to
    look as though it looked for the trace before the first stored it."""
    engine, _, _ = store
    _submit(store, _request("73721", npi=MAUMEE, trace="BEFORE"))
    postgres = engine.dialect.name == "postgresql"
    if not postgres:
        looked = pa._find
        first_look: set[int] = set()

        def find(conn: Any, **where: Any) -> Any:
            first = where.get("trace") == "TWICE-1" and threading.get_ident() not in first_look
            if first:
                first_look.add(threading.get_ident())
                return None  # as though it looked before the other one stored
            return looked(conn, **where)

        monkeypatch.setattr(pa, "_find", find)
    request = _request("73721", npi=MAUMEE, trace="TWICE-1")
    views: list[pa.AuthorizationView] = []
    failures: list[BaseException] = []

    def send() -> None:
        try:
            views.append(_submit(store, request))
        except BaseException as exc:  # the test says which
            failures.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    with engine.connect() as holder:
        if postgres:  # the same trace, inserted and not committed: inserts of it wait for it
            holder.execute(
                t.prior_authorizations_table.insert().values(
                    number="HELD",
                    source="x12",
                    trace="TWICE-1",
                    requesting_npi=MAUMEE,
                    servicing_npi=MAUMEE,
                    member_id="",
                    family="",
                    plan_id="",
                    urgency="standard",
                    state="requested",
                    received_at=NOW,
                    due_at=NOW,
                    effective_from=NOW.date(),
                    effective_through=NOW.date(),
                    updated_at=NOW,
                    content=b"",
                )
            )
        for thread in threads:
            thread.start()
        if postgres:  # both wait on the held row, each having found the trace free
            for _ in range(200):
                holder.execute(text("SELECT pg_stat_clear_snapshot()"))  # in a transaction
                waiting = holder.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                ).scalar_one()
                if waiting >= 2:
                    break
                time.sleep(0.05)
            assert waiting >= 2
        holder.rollback()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert len(views) == 2 and views[0].number == views[1].number
    assert (views[0].state, views[1].state) == ("approved", "approved")
    with engine.connect() as conn:
        stored = conn.execute(
            select(func.count())
            .select_from(t.prior_authorizations_table)
            .where(t.prior_authorizations_table.c.trace == "TWICE-1")
        ).scalar_one()
    assert stored == 1
    # sent again later: the same, and nothing more stored
    assert _submit(store, request).number == views[0].number


def test_what_submit_answers_is_what_the_store_holds(
    store: tuple[Engine, Runtime, AuthRules],
) -> None:
    """A request is answered from what was written, not read back: the same view as one read
    from the store, for each kind of decision (approved, modified, denied, pended, not
    required), and for a request sent again."""
    engine, _, _ = store
    insurer = Principal("k", Role.INSURER)
    asked = [
        _request("73721", npi=MAUMEE, trace="V-1"),  # gold card: approved
        _request("70551", npi=MAUMEE, trace="V-2", quantity="2"),  # modified to one
        _request("72148", diagnoses=("M54.50",), trace="V-3"),  # denied
        _request("43644", diagnoses=("E66.01",), trace="V-4"),  # pended
        _request("99213", trace="V-5"),  # not required
        replace(_request("72148", diagnoses=("G83.4",)), trace=""),  # no trace: its number
    ]
    actions = []
    for request in asked:
        answered = _submit(store, request)
        assert answered == pa.inquire(engine, insurer, number=answered.number), request.trace
        actions.append(answered.action)
        if request.trace:
            assert _submit(store, request) == answered  # sent again: as it stands
    assert actions == ["A1", "A6", "A3", "A4", "NA", "A1"]
