"""Enrollment in the store: X12 834s applied, on SQLite and PostgreSQL.

The guide's ten examples (fixtures/x12/834, sponsor 999888777 of fixtures/reference/
sponsors.yaml) are applied in the order their stories need, then sent again (nothing changes);
hand-made 834s (tests/integration/enrollment_support.py, each valid under pyx12) show every
maintenance code, a verify file, a full file with members missing, a stale file and the members
a file cannot apply. Every 999 validates under pyx12.

The golden scenarios, worked by hand (fee schedule and Gold PPO of fixtures/reference):

* Retro-termination. LIAM HILL (PG00000100, Gold PPO since 2024-01-01) has two office visits
  paid on the 835 of 2026-11-02: 99213 on 2026-10-20 (charge 150.00, allowed 88.20, copay PR-3
  25.00, paid 63.20) and 99214 on 2026-10-27 (charge 200.00, allowed 131.20, copay 25.00, paid
  106.20): 169.40. On 2026-11-05 his employer's 834 ends his coverage on 2026-09-30. Both claims
  go back to adjudication; the next 835 reverses them (CLP02 22, -63.20 and -106.20) and denies
  them again CO-27 (paid 0.00): the claims pay -169.40, so BPR02 is 0.00 and PLB FB -169.40
  carries the 169.40 he was overpaid to the next payment. His out-of-pocket accumulator for
  2026 (the 50.00 of copays) goes back to 0.00. The practice's next 835 pays a visit of SOPHIA
  JOHNSON (63.20) and takes the balance back (PLB FB 169.40): it pays 0.00 again and carries
  the 106.20 still owed (FB -106.20); the one after pays her knee arthroscopy (29881, allowed
  4,331.00, deductible 500.00, coinsurance 766.20, paid 3,064.80) less FB 106.20: 2,958.60.
* Retro-add. A claim for NORA QUINN (PG09999900, not enrolled: 99213 on 2026-10-20, charge
  150.00) is denied CO-31 on the 835 of 2026-11-02. The 834 of 2026-11-05 enrolls her in the
  Gold PPO from 2026-10-01. The next 835 reverses the denial (0.00) and pays the claim: allowed
  88.20, copay 25.00, paid 63.20; BPR02 63.20.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from claims_engine.adjudication.adjudicate import accumulator_keys
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.members import (
    EnrollmentReport,
    apply_834,
    member_history,
    members_known_at,
)
from claims_engine.services.readjustment import readjust
from claims_engine.services.reference import Runtime, load_runtime, store_reference
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.store.db import upgrade
from claims_engine.x12.writer837 import write_837
from tests.conftest import FIXTURES
from tests.integration.enrollment_support import GROUP, Line, Person, write_834
from tests.integration.pipeline_support import NOW, REFERENCE, RULES
from tests.unit.adjudication.support import claim_from_837, subscriber
from tests.x12_oracle import pyx12_errors

pytestmark = pytest.mark.integration

LATER = datetime(2026, 11, 5, 10, 0)
EXAMPLES = FIXTURES / "x12" / "834"


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    upgrade(engine)
    store_reference(engine, REFERENCE, NOW)
    return load_runtime(engine, RULES)


def _apply(
    engine: Engine,
    runtime: Runtime,
    data: bytes,
    name: str = "file.834",
    now: datetime = LATER,
    sponsor: str | None = None,
) -> EnrollmentReport:
    fresh = load_runtime(engine, RULES)
    report = apply_834(
        engine,
        data,
        file_name=name,
        now=now,
        plans=tuple(fresh.reference.plans),
        sponsors=fresh.sponsors,
        sponsor_id=sponsor,
        readjust=readjust,
    )
    for kind, x12 in report.acknowledgments:
        assert pyx12_errors(x12) == [], (kind, x12)
    return report


def _outcomes(report: EnrollmentReport) -> list[tuple[str, str]]:
    return [(m["member_id"], m["outcome"]) for m in report.members]


def _member(engine: Engine, member_id: str) -> Any:
    return load_runtime(engine, RULES).reference.members.get(member_id)


# -- the guide's examples ---------------------------------------------------------------------

# the order their stories need, and what each does
GUIDE_ORDER = [
    ("enroll-employee-in-multiple-health-care-insurance-products", [("123456789", "added")]),
    ("add-dependent-(full-time-student)-to-existing-enrollment", [("103229876", "added")]),
    # sponsor 000111000 may not change a member sponsor 999888777 enrolled
    ("change-subscriber-information", [("123456789", "refused")]),
    ("cancel-a-dependent", [("103229876", "terminated")]),
    ("terminate-eligibility-for-subscriber", [("123456789", "terminated")]),
    ("reinstate-an-employee", [("123456789", "reinstated")]),
    ("enroll-employee-in-managed-care-product", [("202443307", "added")]),
    ("add-subscriber-coverage", [("202443307", "changed")]),
    ("reinstate-employee-at-coverage-(hd)-level", [("202443307", "unchanged")]),
    ("reinstate-member-eligibility-(ins)", [("202443307", "unchanged")]),
]


def _example(name: str, n: int) -> bytes:
    # the examples share one ISA13; a sender numbers its interchanges
    return (EXAMPLES / f"{name}.x12").read_bytes().replace(b"000010216", f"{n:09d}".encode())


def test_the_guide_examples_apply_and_apply_once(engine: Engine, runtime: Runtime) -> None:
    assert len(GUIDE_ORDER) == len(list(EXAMPLES.glob("*.x12")))
    for n, (name, expected) in enumerate(GUIDE_ORDER, start=1):
        report = _apply(engine, runtime, _example(name, n), name)
        assert report.error == "", (name, report.error)
        assert _outcomes(report) == expected, (name, report.text())
        assert [k for k, _ in report.acknowledgments] == ["999"]
    john = _member(engine, "123456789")
    # HLT and DEN from 1996-06-01 (vision is carved out: VIS null for this sponsor), ended
    # 1996-10-01 and reinstated: open again
    assert [(s.plan_id, s.start, s.end) for s in john.spans] == [
        ("DENTAL-BASIC", date(1996, 6, 1), None),
        ("PPO-GOLD", date(1996, 6, 1), None),
    ]
    james = _member(engine, "103229876")
    assert james.subscriber_id == "123456789" and james.relationship == "19"
    assert james.effective_through == date(1996, 8, 1)
    smith = _member(engine, "202443307")
    assert {s.plan_id for s in smith.spans} == {"HMO-SILVER", "DENTAL-BASIC"}
    assert smith.address.city == "ANYTOWN" and smith.birth_date == date(1970, 6, 14)
    # the same files again: nothing changes
    with engine.connect() as conn:
        versions = conn.execute(select(t.enrollment_members_table.c.id)).all()
    for n, (name, expected) in enumerate(GUIDE_ORDER, start=1):
        again = _apply(engine, runtime, _example(name, n), name)
        assert again.duplicate_of is not None
        assert _outcomes(again) == expected
        assert "already applied" in again.text()
    with engine.connect() as conn:
        assert conn.execute(select(t.enrollment_members_table.c.id)).all() == versions


# -- hand-made files ---------------------------------------------------------------------------

KATE = Person(
    "021",
    "SP0000100",
    last="MORROW",
    first="KATE",
    birth=date(1984, 3, 9),
    sex="F",
    eligibility_begin=date(2026, 1, 1),
    lines=[Line("021", "HLT", "PPO-GOLD", date(2026, 1, 1))],
)
KATE_CHILD = Person(
    "021",
    "SP0000100",
    member_id="SP0000101",
    relationship="19",
    last="MORROW",
    first="TED",
    birth=date(2015, 7, 1),
    lines=[Line("021", "HLT", "", date(2026, 1, 1))],
)


def test_each_maintenance_code_with_history(engine: Engine, runtime: Runtime) -> None:
    added = _apply(engine, runtime, write_834([KATE, KATE_CHILD], control=1), "add.834")
    assert _outcomes(added) == [("SP0000100", "added"), ("SP0000101", "added")]
    ted = _member(engine, "SP0000101")
    assert ted.family_id == "SP0000100" and ted.plan_id == "PPO-GOLD"
    assert ted.sponsor_id == "999888777" and ted.group_id == GROUP

    # 001: a new name; 024: coverage ends, the child's with the subscriber's
    changed = Person("001", "SP0000100", last="MORROW-LEE", first="KATE", birth=None)
    ended = Person(
        "024",
        "SP0000100",
        last="MORROW-LEE",
        first="KATE",
        birth=None,
        eligibility_end=date(2026, 6, 30),
    )
    report = _apply(
        engine,
        runtime,
        write_834([changed], control=2, created=date(2026, 12, 2)),
        "chg.834",
        now=LATER + timedelta(minutes=2),
    )
    assert _outcomes(report) == [("SP0000100", "changed")]
    assert _member(engine, "SP0000100").last_name == "MORROW-LEE"
    report = _apply(
        engine,
        runtime,
        write_834([ended], control=3, created=date(2026, 12, 3)),
        "term.834",
        now=LATER + timedelta(minutes=3),
    )
    assert _outcomes(report) == [("SP0000100", "terminated"), ("SP0000101", "terminated")]
    assert _member(engine, "SP0000101").effective_through == date(2026, 6, 30)
    assert not _member(engine, "SP0000100").covered_on(date(2026, 7, 1))

    # 025: coverage again from 2026-09-01, a gap between
    back = Person(
        "025",
        "SP0000100",
        last="MORROW-LEE",
        first="KATE",
        birth=None,
        eligibility_begin=date(2026, 9, 1),
    )
    report = _apply(
        engine,
        runtime,
        write_834([back], control=4, created=date(2026, 12, 4)),
        "back.834",
        now=LATER + timedelta(minutes=4),
    )
    assert _outcomes(report) == [("SP0000100", "reinstated")]
    kate = _member(engine, "SP0000100")
    assert [(s.start, s.end) for s in kate.spans] == [
        (date(2026, 1, 1), date(2026, 6, 30)),
        (date(2026, 9, 1), None),
    ]
    assert kate.covered_on(date(2026, 9, 1)) and not kate.covered_on(date(2026, 8, 1))

    # 030 in a change file compares: the store is not changed
    audit = Person("030", "SP0000100", last="MORROW", first="KATE", birth=None)
    report = _apply(
        engine, runtime, write_834([audit], control=5, created=date(2026, 12, 5)), "audit.834"
    )
    assert _outcomes(report) == [("SP0000100", "differs")]
    assert "last_name" in report.members[0]["reason"]
    assert _member(engine, "SP0000100").last_name == "MORROW-LEE"

    # the history: what was true on which day, and since when the payer knew it
    history = []
    with engine.connect() as conn:
        history = member_history(conn, "SP0000100")
        known_in_the_gap = members_known_at(conn, LATER + timedelta(minutes=3, seconds=30))
    assert [h["source"].split(" ")[0] for h in history] == ["834"] * 4
    assert [h["superseded_at"] is None for h in history] == [False, False, False, True]
    # between the termination and the reinstatement the payer knew her coverage ended
    assert known_in_the_gap["SP0000100"].effective_through == date(2026, 6, 30)
    assert len(known_in_the_gap["SP0000100"].spans) == 1
    with engine.connect() as conn:
        earlier = members_known_at(conn, datetime(2026, 11, 5, 9, 59))
    assert "SP0000100" not in earlier and "PG00000100" in earlier


def test_a_verify_file_changes_nothing(engine: Engine, runtime: Runtime) -> None:
    _apply(engine, runtime, write_834([KATE], control=1), "add.834")
    other = Person("030", "SP0000100", last="MORROW", first="KATIE", birth=date(1984, 3, 9))
    report = _apply(engine, runtime, write_834([KATE, other], control=2, action="4"), "v.834")
    assert report.actions == ("verify",)
    assert [m["outcome"] for m in report.members] == ["matches", "differs"]
    assert _member(engine, "SP0000100").first_name == "KATE"


def test_a_full_file_ends_the_sponsors_members_it_leaves_out(
    engine: Engine, runtime: Runtime
) -> None:
    ann = Person(
        "021",
        "SP0000200",
        last="ROWE",
        first="ANN",
        lines=[Line("021", "HLT", "HMO-SILVER", date(2026, 1, 1))],
    )
    _apply(engine, runtime, write_834([KATE, ann], control=1), "add.834")
    full = [dataclasses.replace(KATE, maintenance="030")]
    report = _apply(
        engine,
        runtime,
        write_834(full, control=2, action="RX", created=date(2026, 12, 10)),
        "full.834",
    )
    # the sponsor's setting: members left out end at the end of the file's month
    assert _outcomes(report) == [("SP0000100", "unchanged"), ("SP0000200", "terminated")]
    assert report.members[1]["position"] == 0
    assert _member(engine, "SP0000200").effective_through == date(2026, 12, 31)
    # members of no sponsor (members.csv) are not the sponsor's to end
    assert _member(engine, "PG00000100").effective_through is None


def test_a_stale_file_is_reported_not_applied(engine: Engine, runtime: Runtime) -> None:
    _apply(engine, runtime, write_834([KATE], control=1, created=date(2026, 12, 1)), "a.834")
    newer = Person("001", "SP0000100", last="NEWER", first="KATE", birth=None)
    _apply(engine, runtime, write_834([newer], control=2, created=date(2026, 12, 3)), "b.834")
    older = Person("001", "SP0000100", last="OLDER", first="KATE", birth=None)
    report = _apply(
        engine, runtime, write_834([older], control=3, created=date(2026, 12, 2)), "c.834"
    )
    assert _outcomes(report) == [("SP0000100", "stale")]
    assert "newer file" in report.members[0]["reason"]
    assert _member(engine, "SP0000100").last_name == "NEWER"


def test_members_a_file_cannot_apply_are_refused_and_the_rest_applies(
    engine: Engine, runtime: Runtime
) -> None:
    orphan = Person(
        "021",
        "SP0000999",
        member_id="SP0000998",
        relationship="19",
        first="ORPHAN",
        lines=[Line(begin=date(2026, 1, 1))],
    )
    unknown_plan = Person(
        "021", "SP0000300", first="NOPLAN", lines=[Line("021", "LTD", "", date(2026, 1, 1))]
    )
    early = Person("024", "PG00000100", birth=None, eligibility_end=date(2020, 1, 1))
    born_later = Person(
        "021", "SP0000400", birth=date(2027, 1, 1), lines=[Line(begin=date(2026, 1, 1))]
    )
    other_group = Person("021", "SP0000500", group="999", lines=[Line(begin=date(2026, 1, 1))])
    people = [orphan, unknown_plan, early, born_later, other_group, KATE]
    report = _apply(engine, runtime, write_834(people, control=1), "mixed.834")
    got = {m["member_id"]: (m["outcome"], m["reason"], m["position"]) for m in report.members}
    assert got["SP0000998"][0] == "refused" and "without subscriber" in got["SP0000998"][1]
    assert "unknown plan" in got["SP0000300"][1]
    assert got["PG00000100"][0] == "refused"  # a members.csv member: not the sponsor's
    assert "birth date" in got["SP0000400"][1]
    assert "group 999" in got["SP0000500"][1]
    assert got["SP0000100"][0] == "added"
    positions = [m["position"] for m in report.members]
    assert positions == sorted(positions) and positions[0] == 5  # ST is 1: the first INS is 5
    assert "INS at segment 5" in report.text()


def test_a_termination_before_the_start_is_refused(engine: Engine, runtime: Runtime) -> None:
    _apply(engine, runtime, write_834([KATE], control=1), "a.834")
    early = Person("024", "SP0000100", birth=None, eligibility_end=date(2025, 6, 30))
    report = _apply(engine, runtime, write_834([early], control=2), "b.834")
    assert _outcomes(report) == [("SP0000100", "refused")]
    assert "before the coverage starts" in report.members[0]["reason"]


def test_a_broken_or_foreign_file_applies_nothing(engine: Engine, runtime: Runtime) -> None:
    data = write_834([KATE], control=1).replace(b"NM1*IL*1*MORROW*KATE****ZZ*SP0000100~\n", b"")
    report = _apply(engine, runtime, data, "broken.834")
    assert report.error and "rejected" in report.error
    assert [k for k, _ in report.acknowledgments] == ["999"]
    assert "AK9*R" in report.acknowledgments[0][1]
    assert _member(engine, "SP0000100") is None
    # a sponsor sending another sponsor's file
    report = _apply(
        engine, runtime, write_834([KATE], control=2), "theirs.834", sponsor="000111000"
    )
    assert "not 000111000" in report.error
    assert _member(engine, "SP0000100") is None
    # a sponsor the reference data does not list
    report = _apply(engine, runtime, write_834([KATE], control=3, sponsor="123123123"), "x.834")
    assert "not one the reference data's sponsors.yaml lists" in report.error


def test_reference_load_keeps_what_834s_changed(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    _apply(engine, runtime, write_834([KATE], control=1), "a.834")
    folder = tmp_path / "reference"
    shutil.copytree(REFERENCE, folder)
    csv = (folder / "members.csv").read_text()
    # the CSV moves LIAM HILL's address, and lists KATE as an 834 does not
    csv = csv.replace("6053 CHESTNUT ST", "6055 CHESTNUT ST")
    csv += (
        "SP0000100,SP0000100,F09999,18,MORROW,KATHERINE,1984-03-09,F,"
        "1 MAIN ST,AKRON,OH,44301,PPO-GOLD,2020-01-01,\n"
    )
    (folder / "members.csv").write_text(csv)
    stored = store_reference(engine, folder, LATER)
    assert stored.members is not None
    assert (stored.members.added, stored.members.changed, stored.members.left) == (0, 1, 1)
    assert _member(engine, "PG00000100").address.line1 == "6055 CHESTNUT ST"
    assert _member(engine, "SP0000100").first_name == "KATE"  # the 834's, not the CSV's


# -- the golden scenarios ---------------------------------------------------------------------

NORA = subscriber("PG09999900", "QUINN", "NORA", "19900304", "F", "PPO-GOLD")
LIAM = subscriber("PG00000100", "HILL", "LIAM", "19871227", "M", "PPO-GOLD")
SOPHIA = subscriber("PG00000200", "JOHNSON", "SOPHIA", "19751120", "F", "PPO-GOLD")


def _visit(patient: str, claim_id: str, code: str, charge: str, day: str) -> str:
    return (
        patient
        + f"CLM*{claim_id}*{charge}***11:B:1*Y*A*Y*Y~\nHI*ABK:M5450~\n"
        + f"LX*1~\nSV1*HC:{code}*{charge}*UN*1***1~\nDTP*472*D8*{day}~\n"
    )


def _submit(engine: Engine, runtime: Runtime, bodies: list[str], n: int) -> None:
    out = io.StringIO()
    write_837(
        [claim_from_837(b) for b in bodies],
        out,
        interchange_control=n,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    sub = submit(engine, out.getvalue().encode(), f"claims-{n}.837", NOW)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)


def _readjust(engine: Engine, report: EnrollmentReport) -> None:
    fresh = load_runtime(engine, RULES)
    ids = [int(r["claim_id"]) for r in report.readjusted]
    adjudicate_claims(engine, ids, fresh, LATER)


def _segments(x12: str) -> list[list[str]]:
    return [s.strip().split("*") for s in x12.split("~") if s.strip()]


def _clps(segments: list[list[str]]) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(s[1], s[2], Decimal(s[3]), Decimal(s[4])) for s in segments if s[0] == "CLP"]


def _money(value: str) -> Decimal:
    return Decimal(value)


def _pay(engine: Engine, when: datetime, tmp: Path) -> list[list[str]]:
    files = run_payment_cycle(engine, load_runtime(engine, RULES), when, tmp)
    assert len(files) == 1
    text = files[0].path.read_text() if files[0].path else ""
    assert pyx12_errors(text) == [], text
    return _segments(text)


def test_a_retro_termination_recoups_two_paid_claims_through_plb(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    _submit(
        engine,
        runtime,
        [
            _visit(LIAM, "LH1020", "99213", "150.00", "20261020"),
            _visit(LIAM, "LH1027", "99214", "200.00", "20261027"),
        ],
        1,
    )
    first = _pay(engine, NOW, tmp_path / "first")
    assert _clps(first) == [
        ("LH1020", "1", Decimal("150.00"), Decimal("63.20")),
        ("LH1027", "1", Decimal("200.00"), Decimal("106.20")),
    ]
    assert _money(next(s for s in first if s[0] == "BPR")[2]) == Decimal("169.40")

    # the employer's 834 ends his coverage on 2026-09-30; he is a members.csv member, so the
    # insurer sends the change as his employer's after giving him to it (members.csv sponsor_id)
    term = Person("024", "PG00000100", birth=None, eligibility_end=date(2026, 9, 30))
    _give_to_sponsor(engine, "PG00000100")
    report = _apply(engine, runtime, write_834([term], control=7, created=date(2026, 11, 5)))
    assert _outcomes(report) == [("PG00000100", "terminated")]
    assert [r["claim"][-7:] for r in report.readjusted] == ["0000001", "0000002"]
    assert all("does not include 2026-10-" in r["why"] for r in report.readjusted)
    _readjust(engine, report)

    second = _pay(engine, LATER, tmp_path / "second")
    assert _clps(second) == [
        ("LH1020", "22", Decimal("-150.00"), Decimal("-63.20")),
        ("LH1020", "4", Decimal("150.00"), Decimal("0.00")),
        ("LH1027", "22", Decimal("-200.00"), Decimal("-106.20")),
        ("LH1027", "4", Decimal("200.00"), Decimal("0.00")),
    ]
    denial = next(s for s in second if s[0] == "CAS" and s[2] == "27")
    assert denial[1] == "CO" and _money(denial[3]) == Decimal("150.00")
    assert _money(next(s for s in second if s[0] == "BPR")[2]) == Decimal("0.00")
    plb = next(s for s in second if s[0] == "PLB")
    assert plb[3].startswith("FB") and _money(plb[4]) == Decimal("-169.40")
    # the copays he paid no longer count toward his out-of-pocket maximum
    assert _accumulated(engine, "PG00000100") == Decimal("0.00")

    # the practice's next 835 takes the 169.40 back: a visit of SOPHIA JOHNSON (PG00000200)
    # paid 63.20, less PLB FB 169.40: BPR02 0.00 again and 106.20 still owed, then taken back
    # from her knee arthroscopy (29881, allowed 4,331.00: 500.00 deductible, 20% of the rest
    # 766.20, paid 3,064.80): BPR02 2,958.60
    _submit(engine, runtime, [_visit(SOPHIA, "SJ1028", "99213", "150.00", "20261028")], 3)
    third = _pay(engine, LATER + timedelta(days=1), tmp_path / "third")
    assert _clps(third) == [("SJ1028", "1", Decimal("150.00"), Decimal("63.20"))]
    assert _money(next(s for s in third if s[0] == "BPR")[2]) == Decimal("0.00")
    plbs = [s for s in third if s[0] == "PLB"]
    assert [(p[3].split(":")[0], _money(p[4])) for p in plbs] == [("FB", Decimal("169.40"))]
    assert [(p[5].split(":")[0], _money(p[6])) for p in plbs if len(p) > 5] == [
        ("FB", Decimal("-106.20"))
    ]
    _submit(engine, runtime, [_visit(SOPHIA, "SJ1029", "29881", "5000.00", "20261029")], 4)
    fourth = _pay(engine, LATER + timedelta(days=2), tmp_path / "fourth")
    assert _clps(fourth) == [("SJ1029", "1", Decimal("5000.00"), Decimal("3064.80"))]
    assert _money(next(s for s in fourth if s[0] == "BPR")[2]) == Decimal("2958.60")
    plb = next(s for s in fourth if s[0] == "PLB")
    assert plb[3].split(":")[0] == "FB" and _money(plb[4]) == Decimal("106.20")


def test_a_retro_add_pays_a_co31_denial(engine: Engine, runtime: Runtime, tmp_path: Path) -> None:
    _submit(engine, runtime, [_visit(NORA, "NQ1020", "99213", "150.00", "20261020")], 2)
    first = _pay(engine, NOW, tmp_path / "first")
    assert _clps(first) == [("NQ1020", "4", Decimal("150.00"), Decimal("0.00"))]
    assert any(s[0] == "CAS" and s[1:3] == ["CO", "31"] for s in first)

    nora = Person(
        "021",
        "PG09999900",
        last="QUINN",
        first="NORA",
        birth=date(1990, 3, 4),
        sex="F",
        eligibility_begin=date(2026, 10, 1),
        lines=[Line("021", "HLT", "PPO-GOLD", date(2026, 10, 1))],
    )
    report = _apply(engine, runtime, write_834([nora], control=8, created=date(2026, 11, 5)))
    assert _outcomes(report) == [("PG09999900", "added")]
    assert len(report.readjusted) == 1
    assert report.readjusted[0]["why"] == "the member is covered on 2026-10-20 now"
    _readjust(engine, report)

    second = _pay(engine, LATER, tmp_path / "second")
    assert _clps(second) == [
        ("NQ1020", "22", Decimal("-150.00"), Decimal("0.00")),
        ("NQ1020", "1", Decimal("150.00"), Decimal("63.20")),
    ]
    assert _money(next(s for s in second if s[0] == "BPR")[2]) == Decimal("63.20")
    assert _accumulated(engine, "PG09999900") == Decimal("25.00")  # her copay, toward her OOP


def _give_to_sponsor(engine: Engine, member_id: str) -> None:
    """Make a members.csv member the guide sponsor's, as a new version (what an insurer's
    ``sponsor_id`` column in members.csv would do on its next load)."""
    from dataclasses import replace

    from claims_engine.services.members import enrolled, lock_enrollment, write_versions
    from claims_engine.store.db import begin_write

    with begin_write(engine) as conn:
        lock_enrollment(conn)
        view = enrolled(conn)
        member = replace(view.members[member_id], sponsor_id="999888777", group_id=GROUP)
        write_versions(conn, view, [member], now=NOW, as_of=NOW, source="test")


def _accumulated(engine: Engine, member_id: str) -> Decimal:
    runtime = load_runtime(engine, RULES)
    member = runtime.reference.members[member_id]
    plan = runtime.reference.plans[member.plan_id]
    keys = accumulator_keys(
        member.member_id, member.family_id, plan.id, plan.plan_year(date(2026, 10, 20)), "in"
    )
    from claims_engine.store.vault import current_vault

    a = t.accumulators_table.c
    with engine.connect() as conn:
        amount = conn.execute(
            select(a.amount).where(
                a.holder == current_vault().lookup(keys.member_oop.holder),
                a.bucket == keys.member_oop.bucket,
            )
        ).scalar()
    return Decimal(amount or 0).quantize(Decimal("0.01"))


def test_a_cancellation_before_the_coverage_begins_leaves_no_day_covered(
    engine: Engine, runtime: Runtime
) -> None:
    future = dataclasses.replace(
        KATE, eligibility_begin=date(2027, 1, 1), lines=[Line("021", "HLT", "", date(2027, 1, 1))]
    )
    _apply(engine, runtime, write_834([future], control=1), "a.834")
    cancel = Person(
        "024",
        "SP0000100",
        last="MORROW",
        first="KATE",
        birth=None,
        eligibility_end=date(2026, 12, 31),
    )
    report = _apply(engine, runtime, write_834([cancel], control=2, created=date(2026, 12, 2)))
    assert _outcomes(report) == [("SP0000100", "terminated")]
    kate = _member(engine, "SP0000100")
    assert kate.plan_id == "PPO-GOLD"
    assert not any(kate.covered_on(date(2027, 1, 1) + timedelta(days=d)) for d in (0, 400))


def test_a_store_made_again_at_the_same_address_is_read_again(
    engine: Engine, runtime: Runtime
) -> None:
    from claims_engine.services.members import enrolled

    _apply(engine, runtime, write_834([KATE], control=1), "a.834")
    assert _member(engine, "SP0000100") is not None
    with engine.begin() as conn:  # the enrollment as a store made again would have it
        conn.execute(t.enrollment_members_table.delete())
    store_reference(engine, REFERENCE, LATER)  # members.csv again, with lower version ids
    with engine.connect() as conn:
        view = enrolled(conn)
    assert "SP0000100" not in view.members and "PG00000100" in view.members
