"""Claim status inquiries (276 in, 277 out) against a store the pipeline filled.

Claims are submitted, ingested, adjudicated and paid through the service functions, as in
``test_pipeline``; 276s then ask about them. Every 277 validates under pyx12 (its X212 map, see
:mod:`tests.x12_maps`) with zero errors, and its amounts and trace numbers are those of the
stored decision and of the 835 that paid it.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from claims_engine.domain.model import Claim, ClaimType
from claims_engine.services import claim_inquiry
from claims_engine.services.claim_inquiry import (
    MAX_INQUIRIES,
    InquiryAnswer,
    UnusableInquiry,
    answer_276,
)
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.queries import identity_of
from claims_engine.services.reference import Runtime
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims, read_claim, read_decision
from claims_engine.store import tables as t
from claims_engine.store.vault import current_vault
from claims_engine.x12.reader276 import StatusRequest, read_276
from claims_engine.x12.writer277 import InquiryReport, write_277
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, generated_837, prepared_store
from tests.integration.x212_support import Ask, Block, blocks, build_276, d8
from tests.x12_maps import x212_map_folder
from tests.x12_oracle import pyx12_errors

pytestmark = pytest.mark.integration

_claims = t.claims_table
_adjudications = t.adjudications_table
_items = t.remittance_claims_table
_remittances = t.remittances_table
TODAY = NOW.strftime("%Y%m%d")


@pytest.fixture(scope="module")
def x212_maps(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(x212_map_folder(tmp_path_factory.mktemp("pyx12-maps")))


def _without_controls(text: str) -> str:
    """The interchange with its control numbers (ISA13, GS06, GE02, IEA02) blanked."""
    places = {"ISA": 13, "GS": 6, "GE": 2, "IEA": 2}
    segments = [raw.split("*") for raw in text.split("~")]
    for seg in segments:
        where = places.get(seg[0].strip())
        if where is not None:
            seg[where] = "#"
    return "~".join("*".join(seg) for seg in segments)


def _stc(seg: list[str], i: int) -> str:
    return seg[i] if len(seg) > i else ""


def _checked(answer: InquiryAnswer, maps: str) -> dict[str, list[Block]]:
    assert pyx12_errors(answer.x12, maps) == [], answer.x12
    return blocks(answer.x12)


# -- the store ----------------------------------------------------------------------------------
@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return prepared_store(engine)


def _ingest(engine: Engine, runtime: Runtime, raw: bytes, name: str) -> list[list[int]]:
    sub = submit(engine, raw, name, NOW)
    assert not sub.duplicate
    return ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches


def _adjudicate(engine: Engine, runtime: Runtime, batches: list[list[int]]) -> None:
    for batch in batches:
        adjudicate_claims(engine, batch, runtime, NOW)


def _write(claims: list[Claim], control: int) -> bytes:
    out = io.StringIO()
    write_837(
        claims,
        out,
        interchange_control=control,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    return out.getvalue().encode()


def _rows(engine: Engine, *where: Any) -> list[Any]:
    """Claim rows with their decisions; member and CLM01 opened from the sealed identity."""
    c = _claims.c
    with engine.connect() as conn:
        return [
            SimpleNamespace(
                **{
                    **r._mapping,
                    "member_id": identity_of(r).member_id,
                    "submitter_claim_id": identity_of(r).claim_id,
                }
            )
            for r in conn.execute(
                select(_claims, _adjudications.c.outcome, _adjudications.c.paid)
                .outerjoin(
                    _adjudications,
                    (_adjudications.c.claim_id == c.id) & (_adjudications.c.kind == "decision"),
                )
                .where(*where)
                .order_by(c.id)
            )
        ]


def _paid_in_835(engine: Engine, pccn: str) -> tuple[str, Decimal, list[list[str]]]:
    """The trace number of the 835 holding the claim, its CLP04 and its SVC segments."""
    with engine.connect() as conn:
        for trace, content in conn.execute(
            select(_remittances.c.trace_number, _remittances.c.content)
        ):
            claim: list[str] | None = None
            lines: list[list[str]] = []
            for raw in current_vault().open_text(content, t.REMITTANCE).split("~"):
                seg = raw.strip().split("*")
                if seg[0] == "CLP":
                    if claim is not None:
                        break
                    if seg[7] == pccn:
                        claim = seg
                elif claim is not None and seg[0] == "SVC":
                    lines.append(seg)
                elif claim is not None and seg[0] in ("PLB", "SE"):
                    break
            if claim is not None:
                return trace, Decimal(claim[4]), lines
    raise AssertionError(f"{pccn} is in no 835")


@dataclass
class Scenario:
    remitted: Any  # paid and in an 835
    denied: Any
    adjudicated: Any  # pays, no 835 yet
    accepted: Any
    pended: Any
    rejected: Any
    lined: Any  # a remitted professional claim with a paid line


def _scenario(engine: Engine, runtime: Runtime, tmp_path: Path) -> Scenario:
    c = _claims.c
    paid_batches = _ingest(engine, runtime, generated_837(tmp_path / "a", 40, seed=41), "a")
    _adjudicate(engine, runtime, paid_batches)
    run_payment_cycle(engine, runtime, NOW, None)
    waiting = _ingest(engine, runtime, generated_837(tmp_path / "b", 12, 42, control=702), "b")
    _adjudicate(engine, runtime, waiting)
    _ingest(engine, runtime, generated_837(tmp_path / "c", 6, seed=43, control=703), "c")

    [base] = [r for r in _rows(engine, c.state == "accepted") if r.claim_type == "P"][:1]
    claim = read_claim(base.claim)
    later = NOW.date() + timedelta(days=30)
    future = replace(
        claim,
        claim_id=claim.claim_id + "F",
        lines=tuple(replace(ln, service_from=later, service_to=later) for ln in claim.lines),
    )
    big = replace(
        claim,
        claim_id=claim.claim_id + "B",
        total_charge=Decimal("30000.00"),
        lines=(replace(claim.lines[0], charge=Decimal("30000.00")),),
    )
    _adjudicate(engine, runtime, _ingest(engine, runtime, _write([future, big], 704), "d"))

    remitted = [r for r in _rows(engine, c.state == "remitted") if r.paid > 0]
    return Scenario(
        remitted=remitted[0],
        denied=_rows(engine, c.state == "remitted", _adjudications.c.outcome == "denied")[0],
        adjudicated=next(r for r in _rows(engine, c.state == "adjudicated") if r.paid > 0),
        accepted=_rows(engine, c.state == "accepted")[0],
        pended=_rows(engine, c.state == "pended")[0],
        rejected=_rows(engine, c.state == "rejected")[0],
        lined=next(r for r in remitted if r.claim_type == "P" and r.paid > 0),
    )


def _by_number(row: Any, trace: str) -> Ask:
    return Ask(trace, row.billing_npi, row.member_id, payer_claim_number=row.payer_claim_number)


def _by_submitter_id(row: Any, trace: str, **more: Any) -> Ask:
    return Ask(
        trace, row.billing_npi, row.member_id, submitter_claim_id=row.submitter_claim_id, **more
    )


# -- the tests ----------------------------------------------------------------------------------
def test_claims_in_every_state_are_answered_from_the_store(
    engine: Engine, runtime: Runtime, tmp_path: Path, x212_maps: str
) -> None:
    s = _scenario(engine, runtime, tmp_path)
    asks = [
        _by_number(s.remitted, "T-REMITTED"),
        _by_submitter_id(s.denied, "T-DENIED"),
        _by_number(s.adjudicated, "T-WAITING"),
        _by_number(s.accepted, "T-ACCEPTED"),
        _by_number(s.pended, "T-PENDED"),
        _by_submitter_id(s.rejected, "T-REJECTED"),
        Ask("T-UNKNOWN", s.remitted.billing_npi, s.remitted.member_id, submitter_claim_id="NOPE"),
    ]
    answer = answer_276(engine, build_276(asks), allowed_npis=None, now=NOW)
    found = _checked(answer, x212_maps)
    assert set(answer.claim_ids) == {
        s.remitted.id,
        s.denied.id,
        s.adjudicated.id,
        s.accepted.id,
        s.pended.id,
        s.rejected.id,
    }

    # remitted: F1:65, paid what the decision says and the 835 paid, with the 835's trace
    [block] = found["T-REMITTED"]
    [stc] = block.stc
    trace, clp04, _ = _paid_in_835(engine, s.remitted.payer_claim_number)
    assert stc[1] == "F1:65"
    assert Decimal(stc[4]) == s.remitted.total_charge
    assert Decimal(stc[5]) == s.remitted.paid == clp04
    assert (stc[6], stc[8], stc[9]) == (TODAY, TODAY, trace)  # decided, paid, 835 trace
    assert block.refs["1K"] == s.remitted.payer_claim_number
    assert block.refs["EJ"] == s.remitted.submitter_claim_id

    # denied: F2 with its reason, nothing paid, in the 835 that told it
    [block] = found["T-DENIED"]
    stc = block.stc[0]
    assert stc[1].split(":")[0] == "F2"
    assert Decimal(stc[5]) == Decimal(0) == s.denied.paid
    assert stc[9] == _paid_in_835(engine, s.denied.payer_claim_number)[0]

    # adjudicated, awaiting the payment cycle: F0:3 with the amount, no 835 yet
    stc = found["T-WAITING"][0].stc[0]
    assert stc[1] == "F0:3"
    assert Decimal(stc[5]) == s.adjudicated.paid > 0
    assert (stc[6], _stc(stc, 8), _stc(stc, 9)) == (TODAY, "", "")

    assert found["T-ACCEPTED"][0].stc[0][1:3] == ["A2:20", TODAY]
    assert found["T-PENDED"][0].stc[0][1] == "P2:46"  # 30000 is above the plan's 25000
    # rejected on its 277CA for a service date 30 days ahead: 510 future date, 187 dates
    rejected = found["T-REJECTED"][0]
    assert rejected.stc[0][1] == "A3:510" and rejected.stc[0][10] == "A3:187"
    assert "1K" not in rejected.refs and rejected.refs["EJ"] == s.rejected.submitter_claim_id
    [unknown] = found["T-UNKNOWN"]
    assert unknown.stc[0][1:6] == ["A4:35", TODAY, "", "0", "0"]
    assert unknown.refs == {"EJ": "NOPE"}

    # the same request again: the same answer, under a new interchange control number
    again = answer_276(engine, build_276(asks), allowed_npis=None, now=NOW)
    assert again.x12[90:99] != answer.x12[90:99]
    assert _without_controls(again.x12) == _without_controls(answer.x12)
    assert again.claim_ids == answer.claim_ids


def test_a_provider_sees_only_its_own_claims(
    sqlite_engine: Engine, tmp_path: Path, x212_maps: str
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    _adjudicate(
        engine, runtime, _ingest(engine, runtime, generated_837(tmp_path / "a", 30, 51), "a")
    )
    run_payment_cycle(engine, runtime, NOW, None)
    rows = _rows(engine, _claims.c.state == "remitted")
    owner = rows[0]
    other = next(r.billing_npi for r in rows if r.billing_npi != owner.billing_npi)
    asks = [
        _by_number(owner, "T-1K"),
        _by_submitter_id(owner, "T-EJ"),
    ]
    data = build_276(asks)

    hidden = answer_276(engine, data, allowed_npis=frozenset({other}), now=NOW)
    assert hidden.claim_ids == ()
    assert pyx12_errors(hidden.x12, x212_maps) == []
    # exactly what a claim that does not exist gets: the not-found answer written from the
    # request alone, byte for byte
    request = read_276(data)
    assert isinstance(request, StatusRequest)
    control = int(hidden.x12[90:99])
    out = io.StringIO()
    write_277(
        out, request, [InquiryReport(q) for q in request.inquiries], control=control, created=NOW
    )
    assert hidden.x12 == out.getvalue()
    assert all(b.stc[0][1] == "A4:35" for bs in blocks(hidden.x12).values() for b in bs)
    nobody = answer_276(engine, data, allowed_npis=frozenset(), now=NOW)
    assert nobody.claim_ids == () and "A4:35" in nobody.x12

    seen = answer_276(engine, data, allowed_npis=frozenset({owner.billing_npi, other}), now=NOW)
    assert owner.id in seen.claim_ids
    found = _checked(seen, x212_maps)
    assert found["T-1K"][0].stc[0][1][:2] in ("F1", "F2", "F4")  # remitted, paid or not
    assert found["T-1K"][0].refs["1K"] == owner.payer_claim_number
    assert any(b.refs.get("1K") == owner.payer_claim_number for b in found["T-EJ"])


def test_the_inquiry_narrows_by_member_charge_and_dates(
    sqlite_engine: Engine, tmp_path: Path, x212_maps: str
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    _adjudicate(
        engine, runtime, _ingest(engine, runtime, generated_837(tmp_path / "a", 20, 61), "a")
    )
    row = _rows(engine)[0]
    claim = read_claim(row.claim)
    start = claim.statement_from or claim.service_from
    end = claim.statement_to or claim.service_to
    assert start is not None and end is not None
    far = (date(2001, 1, 1), date(2001, 1, 2))
    asks = [
        _by_submitter_id(row, "T-ALL", charge=row.total_charge, dates=(start, end)),
        replace(_by_submitter_id(row, "T-MEMBER"), member_id="ZZ0000000"),
        _by_submitter_id(row, "T-CHARGE", charge=row.total_charge + Decimal("0.01")),
        _by_submitter_id(row, "T-DATES", dates=far),
        Ask("T-NPI", "1999999999", row.member_id, submitter_claim_id=row.submitter_claim_id),
        Ask("T-NOKEY", row.billing_npi, row.member_id),
    ]
    answer = answer_276(engine, build_276(asks), allowed_npis=None, now=NOW)
    found = _checked(answer, x212_maps)
    assert found["T-ALL"][0].refs["1K"] == row.payer_claim_number
    for trace in ("T-MEMBER", "T-CHARGE", "T-DATES", "T-NPI", "T-NOKEY"):
        assert [b.stc[0][1] for b in found[trace]] == ["A4:35"], trace
    assert answer.claim_ids == (row.id,)


def test_a_line_asked_about_is_answered_with_what_the_835_paid_for_it(
    sqlite_engine: Engine, tmp_path: Path, x212_maps: str
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    _adjudicate(
        engine, runtime, _ingest(engine, runtime, generated_837(tmp_path / "a", 40, 71), "a")
    )
    run_payment_cycle(engine, runtime, NOW, None)
    row = next(
        r
        for r in _rows(engine, _claims.c.state == "remitted", _claims.c.claim_type == "P")
        if r.paid > 0
    )
    claim = read_claim(row.claim)
    assert claim.claim_type is ClaimType.PROFESSIONAL
    first = claim.lines[0]
    assert first.procedure is not None and first.service_from is not None
    ask = replace(
        _by_number(row, "T-LINE"),
        line=(first.procedure.code, first.charge, first.service_from),
    )
    answer = answer_276(engine, build_276([ask]), allowed_npis=None, now=NOW)
    [block] = _checked(answer, x212_maps)["T-LINE"]
    assert block.lines is not None
    [[svc, stc, dtp]] = block.lines
    _, _, svcs = _paid_in_835(engine, row.payer_claim_number)
    paid_835 = next(s for s in svcs if s[1].split(":")[1] == first.procedure.code)
    assert svc[1].startswith(f"HC:{first.procedure.code}")
    assert Decimal(svc[2]) == first.charge == Decimal(paid_835[2])
    assert Decimal(svc[3]) == Decimal(paid_835[3])
    assert stc[1] == "F1:65" if Decimal(svc[3]) else stc[1].startswith("F2:")
    assert dtp[1:] == ["472", "D8", d8(first.service_from)]


def test_replacements_and_voids_are_answered_as_revised(
    sqlite_engine: Engine, tmp_path: Path, x212_maps: str
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    _adjudicate(
        engine, runtime, _ingest(engine, runtime, generated_837(tmp_path / "a", 60, 81), "a")
    )
    run_payment_cycle(engine, runtime, NOW, None)
    paid = [r for r in _rows(engine, _claims.c.state == "remitted") if r.paid > 0]
    voided, replaced = paid[0], paid[1]
    original = read_claim(voided.claim)
    void = replace(
        original,
        claim_id=original.claim_id + "V",
        frequency_code="8",
        original_claim_number=voided.payer_claim_number,
    )
    replacement = replace(
        read_claim(replaced.claim),
        frequency_code="7",
        original_claim_number=replaced.payer_claim_number,
    )
    _adjudicate(engine, runtime, _ingest(engine, runtime, _write([void, replacement], 901), "c"))
    run_payment_cycle(engine, runtime, NOW, None)
    [void_row] = _rows(
        engine, _claims.c.submitter_claim_id == current_vault().lookup(void.claim_id)
    )
    [new_row] = _rows(engine, _claims.c.original_claim_number == replaced.payer_claim_number)

    asks = [
        _by_number(voided, "T-VOIDED"),
        _by_number(void_row, "T-VOID"),
        _by_number(replaced, "T-REPLACED"),
        _by_number(new_row, "T-REPLACEMENT"),
        _by_submitter_id(replaced, "T-BOTH"),
    ]
    answer = answer_276(engine, build_276(asks), allowed_npis=None, now=NOW)
    found = _checked(answer, x212_maps)
    for trace in ("T-VOIDED", "T-REPLACED"):
        stc = found[trace][0].stc[0]
        assert (stc[1], Decimal(stc[5]), _stc(stc, 9)) == ("F3:101", Decimal(0), ""), trace
    void_stc = found["T-VOID"][0].stc[0]
    assert void_stc[1] == "F3:101"
    # the void's reversal went out in the second cycle's 835 to the original's payee
    with engine.connect() as conn:
        reversal_trace = conn.execute(
            select(_remittances.c.trace_number)
            .join(_items, _items.c.remittance_id == _remittances.c.id)
            .join(_adjudications, _adjudications.c.id == _items.c.adjudication_id)
            .where(_adjudications.c.claim_id == void_row.id, _adjudications.c.kind == "reversal")
        ).scalar_one()
    assert void_stc[9] == reversal_trace
    replacement_stc = found["T-REPLACEMENT"][0].stc[0]
    assert replacement_stc[-1] == "F3:101" and replacement_stc[1] != "F3:101"
    assert Decimal(replacement_stc[5]) == new_row.paid
    # one claim id, two claims: both answered, each with its payer claim number
    assert {b.refs["1K"] for b in found["T-BOTH"]} == {
        replaced.payer_claim_number,
        new_row.payer_claim_number,
    }


def _drop(data: bytes, segment: str) -> bytes:
    """``data`` without ``segment``, its SE01 counted again."""
    kept = [s for s in data.decode().split("~\n") if s and s != segment]
    se = next(i for i, s in enumerate(kept) if s.startswith("SE*"))
    st = next(i for i, s in enumerate(kept) if s.startswith("ST*"))
    kept[se] = f"SE*{se - st + 1}*0001"
    return ("~\n".join(kept) + "~\n").encode()


def _statuses(answer: InquiryAnswer) -> Iterator[str]:
    for bs in blocks(answer.x12).values():
        for b in bs:
            yield b.stc[0][1]


def test_unusable_requests_are_answered_with_a_ta1_or_a_999(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    prepared_store(engine)
    with pytest.raises(UnusableInquiry) as caught:
        answer_276(engine, b"where is my claim?", allowed_npis=None, now=NOW)
    assert caught.value.status == 400 and caught.value.acknowledgment is None
    assert caught.value.reason.startswith("not an X12 interchange")

    good = build_276([Ask("T-1", "1234567893", "M1", submitter_claim_id="C1")], control=5)
    bad_count = good.replace(b"IEA*1*", b"IEA*3*")
    with pytest.raises(UnusableInquiry) as caught:
        answer_276(engine, bad_count, allowed_npis=None, now=NOW)
    ta1 = caught.value.acknowledgment
    assert caught.value.status == 400 and ta1 is not None
    assert "TA1*000000005*261102*0930*R*021~" in ta1
    assert "IEA01 says '3' functional groups" in caught.value.reason

    no_trn = _drop(good, "TRN*1*T-1")
    with pytest.raises(UnusableInquiry) as caught:
        answer_276(engine, no_trn, allowed_npis=None, now=NOW)
    ack = caught.value.acknowledgment
    assert caught.value.status == 422 and ack is not None
    assert "REF outside a claim (no TRN before it)" in caught.value.reason
    assert "IK5*R*5~" in ack and pyx12_errors(ack) == []
    # each acknowledgment has an interchange control number of its own
    assert ack[90:99] != ta1[90:99]

    answer = answer_276(engine, good, allowed_npis=None, now=NOW)
    assert list(_statuses(answer)) == ["A4:35"] and answer.claim_ids == ()


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def heard(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", heard)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", heard)


def test_a_request_over_the_inquiry_cap_is_refused_before_the_store_is_read(
    sqlite_engine: Engine,
) -> None:
    engine = sqlite_engine
    prepared_store(engine)
    asks = [
        Ask(f"T-{i}", "1234567893", "M1", submitter_claim_id=f"C{i}")
        for i in range(MAX_INQUIRIES + 1)
    ]
    with _statements(engine) as run, pytest.raises(UnusableInquiry) as caught:
        answer_276(engine, build_276(asks), allowed_npis=None, now=NOW)
    assert caught.value.status == 413 and caught.value.acknowledgment is None
    assert caught.value.reason.startswith(f"more than {MAX_INQUIRIES} claim inquiries")
    assert run == []  # no claim looked up, not even a control number taken

    at_cap = answer_276(engine, build_276(asks[:MAX_INQUIRIES]), allowed_npis=None, now=NOW)
    assert sorted(blocks(at_cap.x12)) == sorted(a.trace for a in asks[:MAX_INQUIRIES])
    assert set(_statuses(at_cap)) == {"A4:35"}
    # the cap the caller sets (the API's CLAIMS_API_MAX_INQUIRIES)
    with pytest.raises(UnusableInquiry) as caught:
        answer_276(engine, build_276(asks[:3]), allowed_npis=None, now=NOW, max_inquiries=2)
    assert caught.value.status == 413
    answer_276(engine, build_276(asks[:2]), allowed_npis=None, now=NOW, max_inquiries=2)


def test_a_claim_asked_about_again_in_a_request_is_looked_up_and_decoded_once(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, x212_maps: str
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    _adjudicate(
        engine, runtime, _ingest(engine, runtime, generated_837(tmp_path / "a", 30, 51), "a")
    )
    run_payment_cycle(engine, runtime, NOW, None)
    row = next(r for r in _rows(engine, _claims.c.state == "remitted") if r.paid > 0)
    asks = [_by_number(row, f"T-1K-{i}") for i in range(5)]
    asks += [_by_submitter_id(row, f"T-EJ-{i}") for i in range(3)]

    decodes: Counter[str] = Counter()

    def counted(name: str, decode: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            decodes[name] += 1
            return decode(*args, **kwargs)

        return call

    monkeypatch.setattr(claim_inquiry, "read_claim", counted("claim", read_claim))
    monkeypatch.setattr(claim_inquiry, "read_decision", counted("decision", read_decision))
    with _statements(engine) as run:
        answer = answer_276(engine, build_276(asks), allowed_npis=None, now=NOW)
    assert decodes == {"claim": 1, "decision": 1}
    # one look-up by the payer claim number, one by the submitter's claim id and NPI
    assert sum(bool(re.search(r"\bFROM claims\b", s)) for s in run) == 2
    found = _checked(answer, x212_maps)
    stcs = {tuple(found[a.trace][0].stc[0]) for a in asks}
    assert len(stcs) == 1 and next(iter(stcs))[1] == "F1:65"
    assert all(len(found[a.trace]) == 1 for a in asks)
    assert answer.claim_ids == (row.id,)
