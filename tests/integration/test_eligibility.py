"""Eligibility inquiries (270 in, 271 out) against the reference data and the store's live
accumulators, on SQLite and PostgreSQL.

Every 271 is parsed back by an independent parser (x12sdk's models of 005010X279A1) and its
benefits are checked against the plan of the reference data; every 999 validates under pyx12.

The scenario worked by hand: LIAM HILL (PG00000100, Gold PPO: in-network deductible 500.00
individual and 1,000.00 family, out-of-pocket maximum 3,000.00 and 6,000.00, a calendar plan
year) has a chest x-ray (71046, allowed 90.00 at Buckeye Family Medicine, in network) decided:
it all goes to the deductible. The 271 then says 500 a year, 410 remaining (EB*C*IND ... 29),
910 of the family's, and 2,910 and 5,910 of the out-of-pocket maximums. A knee arthroscopy
(29881, allowed 4,331.00) decided next takes exactly the 410.00 remaining as deductible (PR-1),
and a 271 asked after it says 0 remains of the individual's, 500 of the family's.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import OperationalError
from x12sdk.io import X12ModelReader

from adapters.api.app import ApiConfig, create_app
from claims_engine.cli.main import main
from claims_engine.domain.reference_data import CoverageSpan, member_with_spans
from claims_engine.services.access import Role, create_key, reads_of
from claims_engine.services.claim_inquiry import UnusableInquiry
from claims_engine.services.eligibility import (
    CORE_SERVICE_TYPES,
    FALLBACK_CONTROL_BASE,
    answer_270,
    find_member,
)
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.reference import Runtime, load_runtime, store_reference
from claims_engine.services.stored_adjudication import adjudicate_claims, read_decision
from claims_engine.store import tables as t
from claims_engine.store.db import upgrade
from claims_engine.store.vault import current_vault
from claims_engine.x12.reader270 import EligibilityRequest, read_270
from claims_engine.x12.writer271 import Rejection
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, REFERENCE, RULES
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837
from tests.x12_oracle import pyx12_errors
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "x12" / "270"
BUCKEYE_NPI = "2781759230"
OTHER_NPI = "1234567893"
TODAY = NOW.strftime("%Y%m%d")
# AAA03 codes of loops 2100C/2100D (005010X279A1) the engine writes
SUBSCRIBER_REASONS = frozenset({"15", "42", "58", "65", "67", "68", "71", "72", "73", "75", "76"})
# The corpus's subscriber and his wife, added to the reference data for its examples.
CORPUS_MEMBERS = (
    "11122333301,11122333301,FSMITH,18,SMITH,ROBERT,1943-05-19,M,1 MAIN ST,AKRON,OH,44301,"
    "PPO-GOLD,2006-01-01,\n"
    "11122333302,11122333301,FSMITH,01,SMITH,MARY,1978-10-14,F,1 MAIN ST,AKRON,OH,44301,"
    "PPO-GOLD,2006-01-01,\n"
)
# A family with twins (EMMA and ELLA) and, by a clerk's mistake, a second EMMA of that birth
# date: a dependent asked by birth date alone is ambiguous, and so is EMMA.
TWINS = (
    "TW00000100,TW00000100,FKING,18,KING,ANNA,1985-04-04,F,2 ELM ST,AKRON,OH,44301,"
    "PPO-GOLD,2024-01-01,\n"
    "TW00000101,TW00000100,FKING,19,KING,EMMA,2015-03-03,F,2 ELM ST,AKRON,OH,44301,"
    "PPO-GOLD,2024-01-01,\n"
    "TW00000102,TW00000100,FKING,19,KING,ELLA,2015-03-03,F,2 ELM ST,AKRON,OH,44301,"
    "PPO-GOLD,2024-01-01,\n"
    "TW00000103,TW00000100,FKING,19,KING,EMMA,2015-03-03,F,2 ELM ST,AKRON,OH,44301,"
    "PPO-GOLD,2024-01-01,\n"
)


# -- building and reading -------------------------------------------------------------------------
@dataclass(frozen=True)
class Patient:
    trace: str
    member_id: str
    last: str = ""
    first: str = ""
    born: str = ""
    dependent: tuple[str, str, str] | None = None  # last, first, born
    day: str = ""
    types: str = "30"


def build_270(patients: list[Patient], *, npi: str = BUCKEYE_NPI, control: int = 1) -> bytes:
    body = [
        "BHT*0022*13*REQ1*20261102*0930",
        "HL*1**20*1",
        "NM1*PR*2*CLAIMS ENGINE PAYER*****PI*CE001",
        "HL*2*1*21*1",
        f"NM1*1P*2*A CLINIC*****XX*{npi}",
    ]
    hl = 2
    for p in patients:
        hl += 1
        sub = hl
        if p.dependent is None:
            body += [f"HL*{sub}*2*22*0", f"TRN*1*{p.trace}*9877281234"]
        else:
            body.append(f"HL*{sub}*2*22*1")
        # NM108 and NM109 come together (syntax rule P0809): no id, no qualifier
        ident = f"****MI*{p.member_id}" if p.member_id else ""
        body.append(f"NM1*IL*1*{p.last}*{p.first}{ident}")
        if p.dependent is None:
            if p.born:
                body.append(f"DMG*D8*{p.born}")
            if p.day:
                body.append(f"DTP*291*D8*{p.day}")
            body.append(f"EQ*{p.types}")
        else:
            hl += 1
            last, first, born = p.dependent
            body += [f"HL*{hl}*{sub}*23*0", f"TRN*1*{p.trace}*9877281234"]
            body.append(f"NM1*03*1*{last}*{first}")
            if born:
                body.append(f"DMG*D8*{born}")
            if p.day:
                body.append(f"DTP*291*D8*{p.day}")
            body.append(f"EQ*{p.types}")
    segments = ["ST*270*0001*005010X279A1", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    text = (
        "ISA*00*          *00*          *ZZ*PROVIDER01     *ZZ*CLAIMSENGINE   *261102*0930*^"
        f"*00501*{control:09d}*0*T*:~GS*HS*PROVIDER01*CLAIMSENGINE*20261102*0930*{control}*X"
        "*005010X279A1~" + "~".join(segments) + f"~GE*1*{control}~IEA*1*{control:09d}~"
    )
    return text.encode()


def segments(x12: str) -> list[list[str]]:
    return [s.strip().split("*") for s in x12.split("~") if s.strip()]


@dataclass
class Answered:
    """One patient of a 271: its TRN, names, AAA reasons and EB segments."""

    trace: str
    names: list[list[str]]
    aaa: list[str]
    eb: list[list[str]]


def by_trace(x12: str) -> dict[str, Answered]:
    """The 271's patients by trace number (loops 2000C/D), read segment by segment."""
    out: dict[str, Answered] = {}
    current: Answered | None = None
    pending_aaa: list[str] = []
    for seg in segments(x12):
        if seg[0] == "HL":
            current = None
        elif seg[0] == "TRN":
            current = out[seg[2]] = Answered(seg[2], [], list(pending_aaa), [])
        elif seg[0] == "AAA":
            if current is None:
                pending_aaa.append(seg[3])
            else:
                current.aaa.append(seg[3])
        elif seg[0] == "NM1" and current is not None:
            current.names.append(seg)
        elif seg[0] == "EB" and current is not None:
            current.eb.append(seg + [""] * (13 - len(seg)))
    return out


def parsed_by_x12sdk(x12: str) -> list[Any]:
    """The 271 through x12sdk's models: every transaction set, or the parser's error.

    One known fault of x12sdk 2.2.0 is let through: its loops 2100C and 2100D take their AAA
    from the model of loop 2100B (``Loop2100BAaaSegment``), whose AAA03 codes are the
    receiver's (15, 41, 43 ...), not the subscriber's and dependent's of the guide (58, 67,
    71, 72, 73, 75 ...). A 271 whose only errors are such codes in those loops passes; any
    other error fails."""
    try:
        with X12ModelReader(x12) as reader:
            return list(reader.models())
    except ValidationError as exc:
        others = [
            e
            for e in exc.errors()
            if not (
                e["loc"][-1] == "reject_reason_code"
                and e["loc"][-3] == "aaa_segment"
                and e["loc"][-4] in ("loop_2100c", "loop_2100d")
                and e["input"] in SUBSCRIBER_REASONS
            )
        ]
        assert others == [], (others, x12)
        return [None]


def eb(a: Answered, info: str, level: str, service: str, period: str, network: str) -> str:
    found = [
        s[7]
        for s in a.eb
        if s[1] == info
        and s[2] == level
        and s[3] == service
        and s[6] == period
        and s[12] == network
    ]
    assert len(found) == 1, (info, level, service, period, network, a.eb)
    return found[0]


# -- the store ----------------------------------------------------------------------------------
def _store(engine: Engine, reference: Path = REFERENCE) -> Runtime:
    upgrade(engine)
    store_reference(engine, reference, NOW)
    return load_runtime(engine, RULES)


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return _store(engine)


def _claim(engine: Engine, runtime: Runtime, claim_id: str, code: str, charge: str, n: int) -> int:
    body = (
        LIAM_HILL
        + f"CLM*{claim_id}*{charge}***11:B:1*Y*A*Y*Y~\nHI*ABK:M5450~\n"
        + f"LX*1~\nSV1*HC:{code}*{charge}*UN*1***1~\nDTP*472*D8*20261020~\n"
    )
    out = io.StringIO()
    write_837(
        [claim_from_837(body)],
        out,
        interchange_control=n,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    sub = submit(engine, out.getvalue().encode(), f"claim-{n}.837", NOW)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    c = t.claims_table.c
    with engine.connect() as conn:
        return int(
            conn.execute(select(c.id).where(c.interchange_id == sub.interchange_id)).scalar_one()
        )


def _deductible_taken(engine: Engine, claim_row: int) -> Decimal:
    a, c = t.adjudications_table.c, t.claims_table.c
    with engine.connect() as conn:
        row = conn.execute(
            select(a.decision, c.claim)
            .join(t.claims_table, c.id == a.claim_id)
            .where(a.claim_id == claim_row, a.kind == "decision")
        ).one()
    decision = read_decision(row.decision, row.claim)
    return sum(
        (
            adj.amount
            for line in decision.lines
            for adj in line.adjustments
            if adj.group == "PR" and adj.reason == "1"
        ),
        start=Decimal(0),
    )


def _ask(engine: Engine, runtime: Runtime, patients: list[Patient], **kw: Any) -> str:
    answer = answer_270(engine, build_270(patients), reference=runtime.reference, now=NOW, **kw)
    assert parsed_by_x12sdk(answer.x12), answer.x12
    return answer.x12


# -- the scenario worked by hand ------------------------------------------------------------------
def test_the_remaining_deductible_is_what_the_next_claim_takes(
    engine: Engine, runtime: Runtime
) -> None:
    liam = Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227")
    fresh = by_trace(_ask(engine, runtime, [liam], allowed_npis=None))["T-LIAM"]
    assert eb(fresh, "C", "IND", "30", "23", "Y") == "500"
    assert eb(fresh, "C", "IND", "30", "29", "Y") == "500"

    first = _claim(engine, runtime, "XRAY-1", "71046", "120", 1)
    assert _deductible_taken(engine, first) == Decimal("90.00")

    x12 = _ask(engine, runtime, [liam], allowed_npis=None)
    a = by_trace(x12)["T-LIAM"]
    assert a.aaa == []
    for service in ("30", "1", "50"):
        assert eb(a, "C", "IND", service, "23", "Y") == "500"
        assert eb(a, "C", "IND", service, "29", "Y") == "410"
        assert eb(a, "C", "FAM", service, "23", "Y") == "1000"
        assert eb(a, "C", "FAM", service, "29", "Y") == "910"
        assert eb(a, "G", "IND", service, "23", "Y") == "3000"
        assert eb(a, "G", "IND", service, "29", "Y") == "2910"
        assert eb(a, "G", "FAM", service, "29", "Y") == "5910"
        # nothing was met out of network
        assert eb(a, "C", "IND", service, "23", "N") == "1000"
        assert eb(a, "C", "IND", service, "29", "N") == "1000"
    remaining = Decimal(eb(a, "C", "IND", "30", "29", "Y"))

    second = _claim(engine, runtime, "SCOPE-1", "29881", "5200", 2)
    assert _deductible_taken(engine, second) == remaining == Decimal("410")

    after = by_trace(_ask(engine, runtime, [liam], allowed_npis=None))["T-LIAM"]
    assert eb(after, "C", "IND", "30", "29", "Y") == "0"
    assert eb(after, "C", "FAM", "30", "29", "Y") == "500"


def test_active_coverage_and_the_plans_cost_sharing(engine: Engine, runtime: Runtime) -> None:
    x12 = _ask(
        engine,
        runtime,
        [Patient("T-1", "PG00000100", "HILL", "LIAM", "19871227", types="30")],
        allowed_npis=None,
    )
    a = by_trace(x12)["T-1"]
    plan = runtime.reference.plans["PPO-GOLD"]
    version = plan.versions[-1]
    actives = [s for s in a.eb if s[1] == "1"]
    assert [s[3] for s in actives] == list(CORE_SERVICE_TYPES)
    assert {s[5] for s in actives} == {plan.name} and {s[4] for s in actives} == {"PR"}
    assert "REF*18*PPO-GOLD" in x12
    assert a.names[0][:4] == ["NM1", "IL", "1", "HILL"] and a.names[0][9] == "PG00000100"
    # copays by category, in network, per visit
    copays = {s[3]: Decimal(s[7]) for s in a.eb if s[1] == "B"}
    assert copays == {
        "98": version.copays["office_visit"],
        "86": version.copays["emergency"],
        "UC": version.copays["urgent_care"],
        "33": version.copays["specialist"],
        "AL": version.copays["specialist"],
        "MH": version.copays["specialist"],
    }
    assert all(s[6] == "27" and s[12] == "Y" for s in a.eb if s[1] == "B")
    coinsurance = {(s[3], s[12]): s[8] for s in a.eb if s[1] == "A"}
    assert coinsurance[("30", "Y")] == ".2" and coinsurance[("30", "N")] == ".4"
    assert coinsurance[("98", "Y")] == "0"  # a copay-only visit
    assert "DTP*346*D8*20260101" in x12 and "TRN*2*T-1*9877281234" in x12


def test_inactive_and_unanswerable_inquiries(engine: Engine, runtime: Runtime) -> None:
    reference = runtime.reference
    ended = next(
        m
        for m in sorted(reference.members.values(), key=lambda m: m.member_id)
        if m.is_subscriber and m.effective_through is not None
    )
    assert ended.effective_through is not None
    after = ended.effective_through + timedelta(days=1)
    patients = [
        Patient(
            "T-ENDED",
            ended.member_id,
            ended.last_name,
            ended.first_name,
            ended.birth_date.strftime("%Y%m%d"),
            day=after.strftime("%Y%m%d"),
        ),
        Patient("T-NOID", "", "HILL", "LIAM"),
        Patient("T-NOTHING", ""),
        Patient("T-UNKNOWN", "ZZ99999999", "HILL", "LIAM"),
        Patient("T-NAME", "PG00000100", "HALL", "LIAM", "19871227"),
        Patient("T-BORN", "PG00000100", "HILL", "LIAM", "19871228"),
        Patient("T-FUTURE", "PG00000100", "HILL", "LIAM", "20300101"),
        Patient("T-DEP", "PG00000200", dependent=("JOHNSON", "NOBODY", "20100101")),
        Patient("T-DEPOK", "PG00000200", dependent=("JOHNSON", "CALEB", "20000210")),
    ]
    answer = answer_270(
        engine, build_270(patients), reference=reference, allowed_npis=None, now=NOW
    )
    assert parsed_by_x12sdk(answer.x12)
    got = by_trace(answer.x12)
    assert {s[1] for s in got["T-ENDED"].eb} == {"6"}
    assert got["T-NOID"].aaa == ["72"]
    assert got["T-NOTHING"].aaa == ["15"]
    assert got["T-UNKNOWN"].aaa == ["75"]
    assert got["T-NAME"].aaa == ["73"]
    assert got["T-BORN"].aaa == ["71"]
    assert got["T-FUTURE"].aaa == ["58"]
    assert got["T-DEP"].aaa == ["67"] and got["T-DEP"].eb == []
    for rejected in ("T-NOID", "T-UNKNOWN", "T-NAME", "T-BORN", "T-FUTURE", "T-DEP"):
        assert got[rejected].eb == []
    # an AAA echoes the request: the payer's name for the id is not told
    assert got["T-NAME"].names[0][3] == "HALL"
    dep = got["T-DEPOK"]
    assert dep.aaa == [] and {s[1] for s in dep.eb} >= {"1", "A", "C", "G"}
    assert dep.names[0][:5] == ["NM1", "03", "1", "JOHNSON", "CALEB"]
    assert "INS*N*19" in answer.x12
    assert set(answer.member_ids) == {ended.member_id, "PG00000202", "PG00000200"}


def test_the_corpus_270s_are_read_and_answered(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "reference"
    shutil.copytree(REFERENCE, folder)
    with (folder / "members.csv").open("a", encoding="utf-8") as f:
        f.write(CORPUS_MEMBERS)
    runtime = _store(engine, folder)
    for name, trace_names in (
        ("subscriber-request.x12", ["IL"]),
        ("dependent-request.x12", ["IL", "03"]),
    ):
        raw = (CORPUS / name).read_bytes()
        # as sent (2006-05-01: before the plan's first version): not covered that day
        old = answer_270(engine, raw, reference=runtime.reference, allowed_npis=None, now=NOW)
        [model] = parsed_by_x12sdk(old.x12)
        assert model is not None
        [patient] = by_trace(old.x12).values()
        assert patient.aaa == [] and {s[1] for s in patient.eb} == {"6"}
        # asked for a covered day: active, with the plan's benefits
        today = raw.replace(b"DTP*291*D8*20060501", f"DTP*291*D8*{TODAY}".encode())
        new = answer_270(engine, today, reference=runtime.reference, allowed_npis=None, now=NOW)
        parsed_by_x12sdk(new.x12)
        [patient] = by_trace(new.x12).values()
        assert patient.trace == "93175-012547"
        entities = [n[1] for n in segments(new.x12) if n[0] == "NM1"][2:]
        assert entities == trace_names
        assert eb(patient, "C", "IND", "30", "23", "Y") == "500"
        assert eb(patient, "C", "IND", "30", "29", "Y") == "500"
        assert "EB*1**30*PR*Gold PPO" in new.x12
        if name.startswith("dependent"):
            assert "NM1*03*1*SMITH*MARY" in new.x12 and "INS*N*01" in new.x12
            assert "NM1*IL*1*SMITH*ROBERT****MI*11122333301" in new.x12


def test_an_id_that_names_more_than_one_person_is_answered_aaa_76(
    engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "reference"
    shutil.copytree(REFERENCE, folder)
    with (folder / "members.csv").open("a", encoding="utf-8") as f:
        f.write(TWINS)
    runtime = _store(engine, folder)
    patients = [
        # SOPHIA JOHNSON's id, asked at the subscriber level for her son CALEB
        Patient("T-SHARED", "PG00000200", "JOHNSON", "CALEB", "20000210"),
        Patient("T-SHARED-BORN", "PG00000200", "", "", "20000210"),
        # the subscriber herself, by the same id: no doubt
        Patient("T-SOPHIA", "PG00000200", "JOHNSON", "SOPHIA", "19751120"),
        # a birth date nobody in the family has: not the member's (71), as before
        Patient("T-NOBODY", "PG00000200", "JOHNSON", "SOPHIA", "19751121"),
        # twins asked by birth date alone, and a first name two of them have
        Patient("T-TWIN", "TW00000100", dependent=("KING", "", "20150303")),
        Patient("T-EMMA", "TW00000100", dependent=("KING", "EMMA", "20150303")),
        Patient("T-ELLA", "TW00000100", dependent=("KING", "ELLA", "20150303")),
    ]
    answer = answer_270(
        engine, build_270(patients), reference=runtime.reference, allowed_npis=None, now=NOW
    )
    parsed_by_x12sdk(answer.x12)
    got = by_trace(answer.x12)
    assert got["T-SHARED"].aaa == ["76"] and got["T-SHARED"].eb == []
    assert got["T-SHARED-BORN"].aaa == ["76"]
    assert "AAA*N**76*C" in answer.x12
    assert got["T-SOPHIA"].aaa == [] and {s[1] for s in got["T-SOPHIA"].eb} >= {"1", "C"}
    assert got["T-NOBODY"].aaa == ["71"]
    assert got["T-TWIN"].aaa == ["65"] and got["T-EMMA"].aaa == ["68"]
    assert got["T-ELLA"].aaa == [] and got["T-ELLA"].names[-1][3:5] == ["KING", "ELLA"]
    assert set(answer.member_ids) == {"PG00000200", "TW00000100", "TW00000102"}
    assert (answer.asked, answer.answered, answer.unavailable) == (7, 2, 0)

    # an id written two ways that finds two members (keys the reference data never makes
    # itself, but a store may hold)
    reference = runtime.reference
    liam = reference.members["PG00000100"]
    two = dataclasses.replace(
        reference,
        members={
            **reference.members,
            "pg00000100": dataclasses.replace(liam, member_id="pg00000100"),
        },
    )
    [q] = _request_of([Patient("T-CASE", "pg00000100", "HILL", "LIAM")]).inquiries
    assert find_member(two, q, NOW.date()) == Rejection("2100C", "76")
    # one member, asked in either case: found
    assert find_member(reference, q, NOW.date()) == find_member(
        reference,
        _request_of([Patient("T-CASE", "PG00000100", "HILL", "LIAM")]).inquiries[0],
        NOW.date(),
    )


def _request_of(patients: list[Patient]) -> EligibilityRequest:
    read = read_270(build_270(patients))
    assert isinstance(read, EligibilityRequest), read
    return read


def _fail_on(engine: Engine, table: str) -> Any:
    """Make every statement of ``engine`` that reads ``table`` raise what a database that went
    down raises; returns the listener (for event.remove)."""

    def down(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if table in statement:
            raise OperationalError(statement, None, Exception("the database is down"))

    event.listen(engine, "before_cursor_execute", down)
    return down


def test_a_store_that_cannot_be_read_is_answered_aaa_42(
    engine: Engine, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    patients = [
        Patient("T-UNKNOWN", "ZZ99999999", "NOBODY", "ANNA"),  # needs no store: 75
        Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227"),
        Patient("T-DEPOK", "PG00000200", dependent=("JOHNSON", "CALEB", "20000210")),
    ]
    down = _fail_on(engine, "accumulators")
    try:
        with caplog.at_level(logging.ERROR, logger="claims_engine.services.eligibility"):
            answer = answer_270(
                engine,
                build_270(patients, control=42),
                reference=runtime.reference,
                allowed_npis=None,
                now=NOW,
            )
    finally:
        event.remove(engine, "before_cursor_execute", down)
    parsed_by_x12sdk(answer.x12)
    got = by_trace(answer.x12)
    assert got["T-UNKNOWN"].aaa == ["75"]
    assert got["T-LIAM"].aaa == ["42"] and got["T-DEPOK"].aaa == ["42"]
    assert "AAA*Y**42*R" in answer.x12
    # nothing the payer knows goes out: the request's names, no benefits, no dates
    assert all(got[t].eb == [] for t in got) and "DTP*346" not in answer.x12
    assert answer.member_ids == () and (answer.asked, answer.answered, answer.unavailable) == (
        3,
        0,
        2,
    )
    # the 271's control number still comes from the store's counter
    assert int(segments(answer.x12)[0][13]) < FALLBACK_CONTROL_BASE
    (line,) = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert line.levelno == logging.ERROR and "ISA13 000000042" in line.getMessage()
    assert "OperationalError" in line.getMessage() and "HILL" not in line.getMessage()

    # the store works again: answered
    again = answer_270(
        engine, build_270(patients), reference=runtime.reference, allowed_npis=None, now=NOW
    )
    assert by_trace(again.x12)["T-LIAM"].aaa == [] and again.unavailable == 0


def test_a_store_that_cannot_be_reached_is_answered_aaa_42(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    runtime = _store(sqlite_engine)
    # a database that cannot be opened at all: the answer, and its control number, need none
    gone = create_engine(f"sqlite:///{tmp_path / 'no such folder' / 'claims.db'}")
    patients = [
        Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227"),
        Patient("T-DEPOK", "PG00000200", dependent=("JOHNSON", "CALEB", "20000210")),
    ]
    answer = answer_270(
        gone, build_270(patients), reference=runtime.reference, allowed_npis=None, now=NOW
    )
    parsed_by_x12sdk(answer.x12)
    got = by_trace(answer.x12)
    assert got["T-LIAM"].aaa == ["42"] and got["T-DEPOK"].aaa == ["42"]
    control = segments(answer.x12)[0][13]
    assert int(control) >= FALLBACK_CONTROL_BASE and len(control) == 9
    assert segments(answer.x12)[-1] == ["IEA", "1", control]
    # a provider asking for another's NPI still learns nothing, store or no store
    other = answer_270(
        gone,
        build_270(patients, npi=OTHER_NPI),
        reference=runtime.reference,
        allowed_npis=frozenset({BUCKEYE_NPI}),
        now=NOW,
    )
    assert by_trace(other.x12)["T-LIAM"].aaa == ["43"] and other.unavailable == 0


def test_unusable_270s_are_answered_with_a_ta1_or_a_999(engine: Engine, runtime: Runtime) -> None:
    reference = runtime.reference
    with pytest.raises(UnusableInquiry) as caught:
        answer_270(engine, b"am I covered?", reference=reference, allowed_npis=None, now=NOW)
    assert caught.value.status == 400 and caught.value.acknowledgment is None

    good = build_270([Patient("T-1", "PG00000100", "HILL", "LIAM", "19871227")], control=7)
    bad_count = good.replace(b"IEA*1*", b"IEA*3*")
    with pytest.raises(UnusableInquiry) as caught:
        answer_270(engine, bad_count, reference=reference, allowed_npis=None, now=NOW)
    assert caught.value.status == 400 and caught.value.acknowledgment is not None
    assert "TA1*000000007*261102*0930*R*021~" in caught.value.acknowledgment

    for broken, says in (
        (good.replace(b"HL*2*1*21*1~", b"HL*2*9*21*1~"), "HL02 '9'"),
        (good.replace(b"NM1*IL*1*HILL", b"NM1*XX*1*HILL"), "entity of the subscriber"),
        (good.replace(b"BHT*0022", b"BHT*0019"), "hierarchical structure code"),
        (good.replace(b"DMG*D8", b"DTP*D8"), "date qualifier"),
        (good.replace(b"GS*HS", b"GS*HR"), "only HS"),
    ):
        assert broken != good, says
        with pytest.raises(UnusableInquiry) as caught:
            answer_270(engine, broken, reference=reference, allowed_npis=None, now=NOW)
        ack = caught.value.acknowledgment
        assert caught.value.status == 422 and ack is not None, caught.value.reason
        assert says in caught.value.reason, caught.value.reason
        assert pyx12_errors(ack) == [], ack

    many = build_270([Patient(f"T-{n}", "PG00000100") for n in range(5)])
    with pytest.raises(UnusableInquiry) as caught:
        answer_270(engine, many, reference=reference, allowed_npis=None, now=NOW, max_inquiries=3)
    assert caught.value.status == 413 and caught.value.acknowledgment is None


# -- the command --------------------------------------------------------------------------------
def test_the_eligibility_command_writes_271s_and_999s(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    engine = sqlite_engine
    _store(engine)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))
    good = tmp_path / "ask.270"
    good.write_bytes(build_270([Patient("T-1", "PG00000100", "HILL", "LIAM", "19871227")]))
    bad = tmp_path / "bad.270"
    bad.write_bytes(good.read_bytes().replace(b"HL*2*1*21*1~", b"HL*2*9*21*1~"))
    out = tmp_path / "out"
    code = main(["eligibility", str(good), str(bad), "--out", str(out), "--json"])
    printed = capsys.readouterr()
    assert code == 1, printed
    assert (out / "ask.270.271").read_text().startswith("ISA*")
    a = by_trace((out / "ask.270.271").read_text())["T-1"]
    assert eb(a, "C", "IND", "30", "29", "Y") == "500"
    ack = (out / "bad.270.999").read_text()
    assert "IK5*R" in ack and pyx12_errors(ack) == []
    assert '"answered": false' in printed.out and '"answered": true' in printed.out

    missing = tmp_path / "nowhere.270"
    assert main(["eligibility", str(missing), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert f"cannot read {missing}" in printed.err and "Traceback" not in printed.err
    assert main(["eligibility", str(good), "--out", str(good)]) == 2
    assert "--out" in capsys.readouterr().err


# -- the API ------------------------------------------------------------------------------------
@pytest.fixture
def client(engine: Engine, runtime: Runtime) -> Iterator[tuple[TestClient, dict[str, str]]]:
    keys = {
        "insurer": create_key(engine, Role.INSURER, now=NOW).token,
        "provider": create_key(engine, Role.PROVIDER, now=NOW, npis=[BUCKEYE_NPI]).token,
        "member": create_key(
            engine,
            Role.MEMBER,
            now=NOW,
            member_id="PG00000100",
            reference=runtime.reference,
        ).token,
    }
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        redis_url=None,
        rules_dir=RULES,
        levels=frozenset({1, 2, 3, 4, 5}),
    )
    app = create_app(
        ApiConfig(
            Environment(settings, engine),
            now=lambda: NOW + timedelta(hours=1),
            inprocess_workers=False,
        )
    )
    with TestClient(app) as c:
        yield c, keys


def _post(client: TestClient, token: str, body: bytes) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/edi-x12"}
    return client.post("/v1/x12/270", content=body, headers=headers)


def test_the_270_route_answers_a_provider_for_its_own_npi_only(
    engine: Engine, client: tuple[TestClient, dict[str, str]]
) -> None:
    c, keys = client
    liam = Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227")
    own = _post(c, keys["provider"], build_270([liam]))
    assert own.status_code == 200, own.text
    assert own.headers["content-type"].startswith("application/edi-x12")
    a = by_trace(own.text)["T-LIAM"]
    assert a.aaa == [] and eb(a, "C", "IND", "30", "29", "Y") == "500"
    parsed_by_x12sdk(own.text)
    reads = reads_of(engine, "member", current_vault().lookup("PG00000100"))
    assert len(reads) == 1 and reads[0]["route"] == "/v1/x12/270"

    other = _post(c, keys["provider"], build_270([liam], npi=OTHER_NPI, control=2))
    assert other.status_code == 200, other.text
    answered = by_trace(other.text)["T-LIAM"]
    assert answered.aaa == ["43"] and answered.eb == []
    # nothing the payer knows: no birth date, no plan, no benefits, no coverage dates
    assert "DMG" not in other.text.replace("DMG*D8*19871227", "")
    for leak in ("PPO-GOLD", "Gold PPO", "EB*", "DTP*346", "DTP*356", "CHESTNUT"):
        assert leak not in other.text
    assert len(reads_of(engine, "member", current_vault().lookup("PG00000100"))) == 1

    insurer = _post(c, keys["insurer"], build_270([liam], npi=OTHER_NPI, control=3))
    assert insurer.status_code == 200 and by_trace(insurer.text)["T-LIAM"].aaa == []

    member = _post(c, keys["member"], build_270([liam], control=4))
    assert member.status_code == 403

    broken = _post(c, keys["insurer"], build_270([liam]).replace(b"HL*2*1*", b"HL*2*9*"))
    assert broken.status_code == 422
    assert pyx12_errors(broken.json()["error"]["acknowledgment"]) == []


def _counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "claims_inquiries_total", {"transaction": "270", "outcome": outcome}
    )
    return value or 0.0


def test_every_270_is_logged_by_its_control_numbers_and_counted(
    client: tuple[TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    c, keys = client
    before = {o: _counted(o) for o in ("answered", "not found", "rejected")}
    liam = Patient("T-LOG", "PG00000100", "HILL", "LIAM", "19871227")
    nobody = Patient("T-NOBODY", "ZZ99999999", "NOBODY", "ANNA", "19800101")
    with caplog.at_level(logging.INFO, logger="claims_engine.services.eligibility"):
        assert _post(c, keys["insurer"], build_270([liam, nobody], control=77)).status_code == 200
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("270 answered")]
    assert "ISA13 000000077" in line and "TRN02 T-LOG,T-NOBODY" in line and "2 patients" in line
    broken = _post(
        c, keys["insurer"], build_270([liam], control=78).replace(b"HL*2*1*", b"HL*2*9*")
    )
    assert broken.status_code == 422
    assert _counted("answered") - before["answered"] == 1
    assert _counted("not found") - before["not found"] == 1
    assert _counted("rejected") - before["rejected"] == 1


def test_the_270_route_answers_aaa_42_when_the_store_cannot_be_read(
    engine: Engine, client: tuple[TestClient, dict[str, str]]
) -> None:
    c, keys = client
    before = _counted("unavailable")
    liam = Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227")
    down = _fail_on(engine, "accumulators")
    try:
        answered = _post(c, keys["provider"], build_270([liam], control=90))
    finally:
        event.remove(engine, "before_cursor_execute", down)
    assert answered.status_code == 200, answered.text
    assert by_trace(answered.text)["T-LIAM"].aaa == ["42"]
    assert _counted("unavailable") - before == 1
    # nothing of the member was told: no read recorded
    assert reads_of(engine, "member", current_vault().lookup("PG00000100")) == []


def test_the_plan_answered_is_the_one_covering_the_day_asked(
    engine: Engine, runtime: Runtime
) -> None:
    """A member with two coverage spans on different plans (Gold PPO through June 2025, a gap,
    Silver HMO from August 2025): each day asked is answered with the plan of its span, and
    its dates; a day in the gap is inactive. The member's newest plan (``plan_id``, Silver
    HMO) is not the answer for a day of the first span."""
    reference = runtime.reference
    liam = member_with_spans(
        reference.members["PG00000100"],
        (
            CoverageSpan("PPO-GOLD", date(2024, 1, 1), date(2025, 6, 30)),
            CoverageSpan("HMO-SILVER", date(2025, 8, 1)),
        ),
    )
    assert liam.plan_id == "HMO-SILVER"
    moved = dataclasses.replace(
        reference,
        members={**reference.members, liam.member_id: liam},
        families={
            **reference.families,
            liam.family_id: tuple(
                liam if m.member_id == liam.member_id else m
                for m in reference.families.get(liam.family_id, ())
            ),
        },
    )

    def ask(day: str) -> Answered:
        patient = Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227", day=day)
        answer = answer_270(
            engine, build_270([patient]), reference=moved, allowed_npis=None, now=NOW
        )
        assert parsed_by_x12sdk(answer.x12), answer.x12
        assert answer.member_ids == ("PG00000100",)
        return by_trace(answer.x12)["T-LIAM"]

    def dtp(day: str) -> list[str]:
        patient = Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227", day=day)
        x12 = answer_270(
            engine, build_270([patient]), reference=moved, allowed_npis=None, now=NOW
        ).x12
        return ["*".join(s) for s in segments(x12) if s[0] == "DTP"]

    gold = ask("20250315")
    assert gold.aaa == [] and gold.eb[0][1] == "1" and gold.eb[0][4:6] == ["PR", "Gold PPO"]
    assert eb(gold, "C", "IND", "30", "23", "Y") == "500"
    assert eb(gold, "C", "IND", "30", "29", "Y") == "500"
    assert dtp("20250315") == ["DTP*346*D8*20250101", "DTP*356*D8*20240101", "DTP*357*D8*20250630"]

    silver = ask("20260315")
    assert silver.aaa == [] and silver.eb[0][1] == "1" and silver.eb[0][4:6] == ["HM", "Silver HMO"]
    assert eb(silver, "C", "IND", "30", "23", "Y") == "1500"
    assert dtp("20260315") == ["DTP*346*D8*20260101", "DTP*356*D8*20250801"]

    gap = ask("20250715")
    assert gap.aaa == [] and {s[1] for s in gap.eb} == {"6"}


def test_the_270_audit_row_is_written_with_the_accumulators_read(
    engine: Engine, runtime: Runtime
) -> None:
    """With ``audit``, answer_270 writes one phi_reads row a member told about, in the round
    trip (PostgreSQL) or transaction (SQLite) that reads the accumulators; none for AAAs."""
    entry = {"at": NOW, "key_id": "k1", "role": "provider", "route": "/v1/x12/270"}
    patients = [
        Patient("T-LIAM", "PG00000100", "HILL", "LIAM", "19871227"),
        Patient("T-DEPOK", "PG00000200", dependent=("JOHNSON", "CALEB", "20000210")),
        Patient("T-NOBODY", "ZZ99999999", "NOBODY", "ANNA", "19800101"),
    ]
    answer = answer_270(
        engine,
        build_270(patients),
        reference=runtime.reference,
        allowed_npis=None,
        now=NOW,
        audit=entry,
    )
    assert answer.member_ids == ("PG00000100", "PG00000200", "PG00000202")
    lookup = current_vault().lookup
    for member in answer.member_ids:
        (read,) = reads_of(engine, "member", lookup(member))
        assert read["route"] == "/v1/x12/270" and read["key_id"] == "k1"
    assert reads_of(engine, "member", lookup("ZZ99999999")) == []
    # a member not covered on the day asked (no accumulators to read) is told about: audited
    before = Patient("T-EARLY", "PG00000300", "", "", "", day="20100101")
    inactive = answer_270(
        engine,
        build_270([before]),
        reference=runtime.reference,
        allowed_npis=None,
        now=NOW,
        audit=entry,
    )
    assert {s[1] for s in by_trace(inactive.x12)["T-EARLY"].eb} == {"6"}
    assert inactive.member_ids == ("PG00000300",)
    assert len(reads_of(engine, "member", lookup("PG00000300"))) == 1
    # the store cannot be read: AAA 42, and no row
    down = _fail_on(engine, "accumulators")
    try:
        again = answer_270(
            engine,
            build_270(patients[:1]),
            reference=runtime.reference,
            allowed_npis=None,
            now=NOW,
            audit=entry,
        )
    finally:
        event.remove(engine, "before_cursor_execute", down)
    assert by_trace(again.x12)["T-LIAM"].aaa == ["42"] and again.member_ids == ()
    assert len(reads_of(engine, "member", lookup("PG00000100"))) == 1
