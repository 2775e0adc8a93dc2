"""The 837 writer: what it writes reads back as the same claims, in valid X12."""

from __future__ import annotations

import dataclasses
import io
import itertools
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims_engine.domain.model import Claim, ClaimType, Source
from claims_engine.domain.reference_data import load_members, load_providers
from claims_engine.synthetic.generator import generate_claims
from claims_engine.x12.envelope import (
    ClaimRead,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    TransactionEnd,
    TransactionStart,
)
from claims_engine.x12.interchange import read_events
from claims_engine.x12.tokenizer import Delimiters, SegmentReader
from claims_engine.x12.writer837 import WriteSummary, write_837
from tests.x12_oracle import pyx12_errors

REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "reference"
AS_OF = date(2025, 6, 30)
CREATED = datetime(2025, 7, 1, 9, 30)
_NO_SOURCE = Source("", "", "", "", "", 0)


# Loaded once for hypothesis, which does not mix with function-scoped fixtures.
MEMBERS = load_members(REFERENCE / "members.csv")
PROVIDERS = load_providers(REFERENCE / "providers.csv")


def _claims(seed: int, count: int, **kw: object) -> list[Claim]:
    return list(generate_claims(seed, MEMBERS, PROVIDERS, as_of=AS_OF, count=count, **kw))  # type: ignore[arg-type]


STANDARD = Delimiters("*", "^", ":", "~")


def _write(claims: list[Claim], delimiters: Delimiters = STANDARD, **kw: object) -> str:
    out = io.StringIO()
    write_837(
        claims,
        out,
        delimiters=delimiters,
        interchange_control=kw.pop("interchange_control", 42),  # type: ignore[arg-type]
        created=CREATED,
        sender_id="BCX0042",
        receiver_id="ACMEHP01",
        **kw,  # type: ignore[arg-type]
    )
    return out.getvalue()


def _read(text: str) -> tuple[list[Claim], list[object]]:
    """The claims read back and every event that carries issues."""
    claims: list[Claim] = []
    troubled: list[object] = []
    for event in read_events(SegmentReader(io.BytesIO(text.encode("ascii")))):
        if isinstance(event, ClaimRead):
            claims.append(event.claim)
            if event.issues:
                troubled.append(event)
        elif isinstance(event, TransactionEnd | GroupEnd | InterchangeEnd) and event.issues:
            troubled.append(event)
    return claims, troubled


def _comparable(claim: Claim) -> Claim:
    """A claim without where it sat in its input (envelope controls, segment positions)."""
    lines = tuple(dataclasses.replace(ln, position=0) for ln in claim.lines)
    return dataclasses.replace(claim, source=_NO_SOURCE, lines=lines)


def _delimiter_sets() -> st.SearchStrategy[Delimiters]:
    sets = st.builds(
        Delimiters,
        element=st.sampled_from(["*", "|", "!"]),
        repetition=st.sampled_from(["^", "{"]),
        component=st.sampled_from([":", ">", "\\"]),
        segment=st.sampled_from(["~", "\n", "'"]),
    )
    return sets.filter(lambda d: d.check() is None)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    count=st.integers(min_value=1, max_value=40),
    delimiters=_delimiter_sets(),
    per_transaction=st.integers(min_value=1, max_value=12),
)
def test_round_trip(seed: int, count: int, delimiters: Delimiters, per_transaction: int) -> None:
    claims = _claims(seed, count)
    text = _write(claims, delimiters, claims_per_transaction=per_transaction)
    back, troubled = _read(text)
    assert troubled == []
    assert [_comparable(c) for c in back] == [_comparable(c) for c in claims]


def test_same_seed_gives_byte_identical_output() -> None:
    first = _write(_claims(7, 300))
    second = _write(_claims(7, 300))
    assert first == second
    assert first != _write(_claims(8, 300))


def test_every_segment_on_its_own_line() -> None:
    text = _write(_claims(3, 20))
    lines = text.splitlines()
    assert lines[0].startswith("ISA*") and lines[0].endswith("*:~")
    assert all(line.endswith("~") and line.count("~") == 1 for line in lines)
    newline_terminated = _write(_claims(3, 20), Delimiters("|", "^", ">", "\n"))
    assert "\n\n" not in newline_terminated
    assert newline_terminated.splitlines()[0].endswith("|>")


def test_isa_carries_the_delimiters_and_fixed_widths() -> None:
    text = _write(_claims(1, 1), Delimiters("|", "{", "\\", "'"), interchange_control=1234)
    isa = text.split("'")[0]
    assert len(isa) == 105  # ISA is fixed width: 106 characters with its terminator
    fields = isa.split("|")
    assert fields[11] == "{" and fields[13] == "000001234" and fields[16] == "\\"
    assert text.rstrip("\n").endswith("IEA|1|000001234'")


def _envelopes(text: str) -> tuple[list[str], list[str]]:
    groups, transactions = [], []
    for event in read_events(SegmentReader(io.BytesIO(text.encode("ascii")))):
        if isinstance(event, GroupStart):
            groups.append(event.header.version)
        elif isinstance(event, TransactionStart):
            assert event.header.implementation == groups[-1]
            transactions.append(event.header.control)
    return groups, transactions


def test_transactions_split_at_the_claim_limit() -> None:
    claims = _claims(5, 12, mix={"P": 1})
    text = _write(claims, claims_per_transaction=5)
    groups, transactions = _envelopes(text)
    assert groups == ["005010X222A1"]
    assert transactions == ["0001", "0002", "0003"]
    assert _read(text)[1] == []


def test_one_group_per_run_of_claim_type() -> None:
    claims = _claims(9, 60)
    groups, _ = _envelopes(_write(claims))
    implementation = {
        ClaimType.PROFESSIONAL: "005010X222A1",
        ClaimType.INSTITUTIONAL: "005010X223A2",
        ClaimType.DENTAL: "005010X224A2",
    }
    runs = [implementation[c.claim_type] for c in claims]
    expected = [v for i, v in enumerate(runs) if i == 0 or runs[i - 1] != v]
    assert groups == expected


def test_streams_claims_without_holding_them() -> None:
    out = io.StringIO()
    sizes: list[int] = []

    def claims() -> Iterator[Claim]:
        for claim in generate_claims(4, MEMBERS, PROVIDERS, as_of=AS_OF, count=50):
            sizes.append(len(out.getvalue()))
            yield claim

    summary = write_837(
        claims(), out, interchange_control=1, created=CREATED, sender_id="A", receiver_id="B"
    )
    assert summary.claims == 50
    # Each claim was written before the next one was asked for.
    assert all(a < b for a, b in itertools.pairwise(sizes))


def test_summary_counts() -> None:
    text_out = io.StringIO()
    summary = write_837(
        _claims(2, 25, mix={"I": 1}),
        text_out,
        interchange_control=9,
        created=CREATED,
        sender_id="A",
        receiver_id="B",
        claims_per_transaction=10,
    )
    assert summary == WriteSummary(claims=25, groups=1, transactions=3, segments=summary.segments)
    assert summary.segments == len(text_out.getvalue().splitlines())


def test_an_empty_batch_is_an_empty_interchange() -> None:
    text = _write([])
    assert [line.split("*")[0] for line in text.splitlines()] == ["ISA", "IEA"]
    assert _read(text) == ([], [])


def test_a_value_holding_a_delimiter_is_refused() -> None:
    claim = _claims(1, 1)[0]
    bad = dataclasses.replace(claim, claim_id="A*B")
    with pytest.raises(ValueError, match="'A\\*B'"):
        _write([bad])
    with pytest.raises(ValueError, match="character sets"):
        _write([dataclasses.replace(claim, claim_id="CAFÉ1")])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"interchange_control": 0}, "interchange control"),
        ({"sender_id": "X" * 16}, "sender id"),
        ({"usage": "Q"}, "usage"),
        ({"claims_per_transaction": 0}, "claims_per_transaction"),
        ({"delimiters": Delimiters("*", "*", ":", "~")}, "delimiters"),
    ],
)
def test_bad_arguments_are_refused(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "interchange_control": 1,
        "created": CREATED,
        "sender_id": "A",
        "receiver_id": "B",
    }
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        write_837([], io.StringIO(), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["P", "I"])
def test_generated_837_validates_under_pyx12(tmp_path: Path, kind: str) -> None:
    """pyx12 is an independent validator (it has no dental map: 837P and 837I only)."""
    assert pyx12_errors(_write(_claims(11, 200, mix={kind: 1}))) == []


def test_claims_of_one_billing_provider_and_subscriber_share_their_loops() -> None:
    claims = _claims(21, 200, mix={"P": 1})
    own = next(c for c in claims if c.patient_relationship == "18")
    dependant = next(c for c in claims if c.patient_relationship != "18")
    batch = [
        own,
        dataclasses.replace(own, claim_id="SECOND1"),
        dependant,
        dataclasses.replace(dependant, claim_id="SECOND2"),
    ]
    text = _write(batch)
    levels = [line.split("*")[3] for line in text.splitlines() if line.startswith("HL*")]
    if own.billing_provider == dependant.billing_provider:
        assert levels == ["20", "22", "22", "23"]
    else:
        assert levels == ["20", "22", "20", "22", "23"]
    back, troubled = _read(text)
    assert troubled == []
    assert [_comparable(c) for c in back] == [_comparable(c) for c in batch]
