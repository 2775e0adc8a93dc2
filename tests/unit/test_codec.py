"""The JSON codec: claims and decisions come back exactly, from rows holding only JSON values.

"Exactly" is stricter than ``==``: ``Decimal("10.5") == Decimal("10.50")`` and a ``StrEnum``
equals its value, so every round trip here also compares ``repr``, which shows a Decimal's
exponent, an enum's class and a tuple's brackets.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims_engine.adjudication.adjudicate import AdjudicationContext, adjudicate
from claims_engine.adjudication.batch import Ledger, adjudicate_in_order
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.adjudication.decision import (
    ClaimDecision,
    ClaimStatusCode,
    LineDecision,
    Outcome,
)
from claims_engine.domain import codec
from claims_engine.domain.codec import (
    claim_from_json,
    claim_to_json,
    decision_from_json,
    decision_to_json,
)
from claims_engine.domain.errors import ClaimsEngineError, StoredDataError
from claims_engine.domain.model import (
    Address,
    Adjustment,
    Claim,
    ClaimType,
    Party,
    Person,
    Procedure,
    Provider,
    ServiceLine,
    Source,
)
from claims_engine.domain.reference_data import load_members, load_providers, load_reference
from claims_engine.rules.engine import load_pack
from claims_engine.synthetic.generator import generate_claims
from claims_engine.x12.envelope import ClaimRead
from claims_engine.x12.interchange import read_events
from claims_engine.x12.tokenizer import SegmentReader
from tests.conftest import FIXTURES, ROOT, X12_FIXTURES

REFERENCE = load_reference(FIXTURES / "reference")
MEMBERS = load_members(FIXTURES / "reference" / "members.csv")
PROVIDERS = load_providers(FIXTURES / "reference" / "providers.csv")
AS_OF = date(2026, 11, 1)
RECEIVED = date(2026, 11, 2)
X12_FILES = sorted(X12_FIXTURES.glob("*/*.edi"))


def _claims_in(path: Path) -> list[Claim]:
    with path.open("rb") as fh:
        return [e.claim for e in read_events(SegmentReader(fh)) if isinstance(e, ClaimRead)]


def _assert_json_values(value: object, where: str = "$") -> None:
    """Only what JSON and JSONB hold: str, int, bool, None, lists, objects with str keys."""
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r}"
            _assert_json_values(item, f"{where}.{key}")
    elif type(value) is list:
        for i, item in enumerate(value):
            _assert_json_values(item, f"{where}[{i}]")
    else:
        assert value is None or type(value) in (str, int, bool), f"{where}: {type(value)}"


def _assert_same(back: object, original: object) -> None:
    assert back == original
    assert repr(back) == repr(original)


def _round_trip_claim(claim: Claim) -> None:
    data = claim_to_json(claim)
    _assert_json_values(data)
    _assert_same(claim_from_json(data), claim)
    _assert_same(claim_from_json(json.loads(json.dumps(data))), claim)


def _round_trip_decision(decision: ClaimDecision) -> None:
    data = decision_to_json(decision)
    _assert_json_values(data)
    _assert_same(decision_from_json(data), decision)
    _assert_same(decision_from_json(json.loads(json.dumps(data))), decision)


# -- a claim by hand, and what it is stored as --------------------------------------------------

PAYER = Party("ACME HEALTH PLAN", "PI", "ACMEHP01")
CLAIM = Claim(
    claim_type=ClaimType.PROFESSIONAL,
    claim_id="C1",
    total_charge=Decimal("10.50"),
    facility_code="11",
    facility_qualifier="B",
    frequency_code="1",
    submitter=PAYER,
    receiver=PAYER,
    billing_provider=Provider("85", "2", "CLINIC", address=Address("1 MAIN ST", city="AKRON")),
    subscriber=Person("DOE", "JANE", birth_date=date(1980, 5, 1)),
    patient=Person("DOE", "JANE", birth_date=date(1980, 5, 1)),
    patient_relationship="18",
    payer=PAYER,
    payer_responsibility="P",
    lines=(
        ServiceLine(1, Decimal("10.50"), Decimal("1"), "UN", Procedure("HC", "99213", ("25",))),
    ),
    source=Source("000000777", "SUBMITTER01", "777", "0001", "005010X222A1", 12),
)
PAYER_JSON = {"name": "ACME HEALTH PLAN", "id_qualifier": "PI", "id": "ACMEHP01"}
JANE_JSON = {"last_name": "DOE", "first_name": "JANE", "birth_date": "1980-05-01"}
CLAIM_JSON: dict[str, Any] = {
    "claim_type": "P",
    "claim_id": "C1",
    "total_charge": "10.50",
    "facility_code": "11",
    "facility_qualifier": "B",
    "frequency_code": "1",
    "submitter": dict(PAYER_JSON),
    "receiver": dict(PAYER_JSON),
    "billing_provider": {
        "role": "85",
        "entity_type": "2",
        "last_name": "CLINIC",
        "address": {"line1": "1 MAIN ST", "city": "AKRON"},
    },
    "subscriber": dict(JANE_JSON),
    "patient": dict(JANE_JSON),
    "patient_relationship": "18",
    "payer": dict(PAYER_JSON),
    "payer_responsibility": "P",
    "lines": [
        {
            "number": 1,
            "charge": "10.50",
            "units": "1",
            "unit_type": "UN",
            "procedure": {"qualifier": "HC", "code": "99213", "modifiers": ["25"]},
        }
    ],
    "source": {
        "interchange_control": "000000777",
        "sender_id": "SUBMITTER01",
        "group_control": "777",
        "transaction_control": "0001",
        "implementation": "005010X222A1",
        "position": 12,
    },
}


def test_a_claim_is_stored_without_its_defaults() -> None:
    assert claim_to_json(CLAIM) == CLAIM_JSON
    _assert_same(claim_from_json(CLAIM_JSON), CLAIM)


def test_none_is_kept_where_it_is_not_the_default() -> None:
    line = LineDecision(
        line_number=1,
        procedure=None,
        revenue_code="0450",
        charge=Decimal("100.00"),
        units=Decimal("1"),
        paid_units=Decimal("1"),
        allowed=Decimal("0.00"),
        paid=Decimal("0.00"),
        adjustments=(Adjustment("CO", "96", Decimal("100.00")),),
        service_from=None,
        service_to=None,
        outcome=Outcome.DENIED,
    )
    decision = ClaimDecision(CLAIM, "P1", ClaimStatusCode.DENIED, Outcome.DENIED, (line,))
    data = decision_to_json(decision)
    assert data["lines"] == [
        {
            "line_number": 1,
            "procedure": None,
            "revenue_code": "0450",
            "charge": "100.00",
            "units": "1",
            "paid_units": "1",
            "allowed": "0.00",
            "paid": "0.00",
            "adjustments": [{"group": "CO", "reason": "96", "amount": "100.00"}],
            "service_from": None,
            "service_to": None,
            "outcome": "denied",
        }
    ]
    assert (data["status"], data["outcome"]) == ("4", "denied")
    _round_trip_decision(decision)


@pytest.mark.parametrize(
    "text",
    ["10.50", "10.5", "10", "0.00", "-0.00", "-12.345", "1E+2", "0E-7", "1.000000000000000000001"],
)
def test_decimals_keep_their_exponent(text: str) -> None:
    amount = Decimal(text)
    line = replace(CLAIM.lines[0], charge=amount, units=amount, ndc_quantity=amount)
    claim = replace(CLAIM, total_charge=amount, lines=(line,))
    data = json.loads(json.dumps(claim_to_json(claim)))
    assert data["total_charge"] == data["lines"][0]["ndc_quantity"] == text
    back = claim_from_json(data)
    for value in (back.total_charge, back.lines[0].charge, back.lines[0].ndc_quantity):
        assert value is not None and value.as_tuple() == amount.as_tuple()


def test_json_text_round_trip() -> None:
    text = json.dumps(claim_to_json(CLAIM), sort_keys=True)
    _assert_same(claim_from_json(json.loads(text)), CLAIM)
    assert json.dumps(claim_to_json(claim_from_json(json.loads(text))), sort_keys=True) == text


# -- every claim of the fixture 837s and of the generator ----------------------------------------


@pytest.mark.parametrize("path", X12_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_claims_round_trip(path: Path) -> None:
    claims = _claims_in(path)
    assert claims
    for claim in claims:
        _round_trip_claim(claim)


def test_generated_claims_round_trip() -> None:
    claims = list(generate_claims(2025, MEMBERS, PROVIDERS, as_of=AS_OF, count=3000))
    assert {c.claim_type for c in claims} == set(ClaimType)
    assert any(c.other_payers for c in claims) and any(c.frequency_code == "7" for c in claims)
    assert any(ln.teeth for c in claims for ln in c.lines)
    for claim in claims:
        _round_trip_claim(claim)


@settings(max_examples=40)
@given(seed=st.integers(0, 10**9))
def test_generated_claims_of_any_seed_round_trip(seed: int) -> None:
    for claim in generate_claims(seed, MEMBERS, PROVIDERS, as_of=AS_OF, count=25):
        _round_trip_claim(claim)


# -- decisions: paid, partly paid, denied, pended, reversed ---------------------------------------


def _context() -> AdjudicationContext:
    pack = load_pack(ROOT / "rules")
    return AdjudicationContext(
        reference=REFERENCE,
        received_on=RECEIVED,
        rules=rule_hook(pack),
        rule_pack_version=pack.version,
    )


def _pended(ctx: AdjudicationContext) -> Iterator[ClaimDecision]:
    """Claims charging 30,000.00 more than they did: over every plan's pend threshold."""
    for i, claim in enumerate(generate_claims(8, MEMBERS, PROVIDERS, as_of=AS_OF, count=20)):
        first = claim.lines[0]
        extra = Decimal("30000.00")
        big = replace(
            claim,
            total_charge=claim.total_charge + extra,
            lines=(replace(first, charge=first.charge + extra), *claim.lines[1:]),
        )
        yield from adjudicate(big, ctx, f"X{i:06d}").decisions


@pytest.fixture(scope="module")
def decisions() -> list[ClaimDecision]:
    ctx = _context()
    ledger = Ledger()
    claims = generate_claims(7, MEMBERS, PROVIDERS, as_of=AS_OF, count=400)
    results = list(
        adjudicate_in_order(((c, f"P{i:06d}") for i, c in enumerate(claims)), ctx, ledger)
    )
    # replacements (7) and voids (8) of paid claims: each reverses the decision it names
    paid = [r.decision for r in results if r.decision.outcome is Outcome.PAID][:12]
    follow_ups = [
        (
            replace(
                d.claim,
                frequency_code="7" if k % 2 else "8",
                original_claim_number=d.payer_claim_number,
            ),
            f"R{k:06d}",
        )
        for k, d in enumerate(paid)
    ]
    results += adjudicate_in_order(follow_ups, ctx, ledger)
    found = [d for r in results for d in r.decisions]
    found += _pended(ctx)
    for i, path in enumerate(X12_FILES):  # mostly denied: their members are not on file
        for j, claim in enumerate(_claims_in(path)):
            found += adjudicate(claim, ctx, f"F{i:03d}{j:03d}").decisions
    return found


def test_the_decisions_cover_every_outcome_and_reversals(decisions: list[ClaimDecision]) -> None:
    assert {d.outcome for d in decisions} == set(Outcome)
    statuses = {d.status for d in decisions}
    assert {ClaimStatusCode.REVERSAL, ClaimStatusCode.DENIED, ClaimStatusCode.PRIMARY} <= statuses
    # every replacement (7) and void (8) reverses its original; a void decides nothing else
    reversals = [d for d in decisions if d.status is ClaimStatusCode.REVERSAL]
    assert len(reversals) == 12 and all(d.reverses and d.decided_on for d in reversals)
    assert (
        sum(
            d.claim.frequency_code == "7" and d.status is not ClaimStatusCode.REVERSAL
            for d in decisions
        )
        >= 6
    )
    assert any(d.pend_reason for d in decisions)


def test_decisions_round_trip(decisions: list[ClaimDecision]) -> None:
    for decision in decisions:
        _round_trip_decision(decision)


# -- any value the types allow -------------------------------------------------------------------


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    """Values of an annotated type of the model, any the annotation allows."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is tuple:
        return st.lists(_strategy(args[0]), max_size=2).map(tuple)
    if args:  # X | None
        (inner,) = (a for a in args if a is not type(None))
        return st.none() | _strategy(inner)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: _strategy(hints[f.name]) for f in dataclasses.fields(tp)}
        return st.builds(tp, **fields)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(tp)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=8) | st.just(""),
        int: st.integers(),
        bool: st.booleans(),
        date: st.dates(),
        Decimal: st.decimals(allow_nan=False, allow_infinity=False),
    }
    return simple[tp]


@settings(max_examples=100)
@given(claim=_strategy(Claim))
def test_any_claim_round_trips(claim: Claim) -> None:
    _round_trip_claim(claim)


@settings(max_examples=50)
@given(decision=_strategy(ClaimDecision))
def test_any_decision_round_trips(decision: ClaimDecision) -> None:
    _round_trip_decision(decision)


# -- corrupt rows --------------------------------------------------------------------------------


def _corrupt(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = copy.deepcopy(CLAIM_JSON)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d.pop("claim_id"),
            "corrupt stored Claim at claim_id (Claim.claim_id): missing",
        ),
        (
            lambda d: d["lines"][0].update(charge=10.5),
            "corrupt stored Claim at lines[0].charge (ServiceLine.charge): "
            "expected a decimal string, got float",
        ),
        (
            lambda d: d["lines"][0].update(charge="ten"),
            "at lines[0].charge (ServiceLine.charge): not a finite decimal number",
        ),
        (
            lambda d: d["lines"][0].update(units="NaN"),
            "at lines[0].units (ServiceLine.units): not a finite decimal number",
        ),
        (
            lambda d: d["lines"][0].update(number=True),
            "at lines[0].number (ServiceLine.number): expected int, got bool",
        ),
        (
            lambda d: d["lines"][0]["procedure"].pop("code"),
            "at lines[0].procedure.code (Procedure.code): missing",
        ),
        (
            lambda d: d["lines"][0]["procedure"].update(modifiers=["25", 59]),
            "at lines[0].procedure.modifiers[1] (Procedure.modifiers): expected str, got int",
        ),
        (
            lambda d: d["lines"][0]["procedure"].update(modifiers="25"),
            "at lines[0].procedure.modifiers (Procedure.modifiers): expected a list, got str",
        ),
        (
            lambda d: d.update(claim_type="X"),
            "at claim_type (Claim.claim_type): not one of 'P', 'I', 'D'",
        ),
        (
            lambda d: d["patient"].update(birth_date="1980-13-01"),
            "at patient.birth_date (Person.birth_date): not a date in ISO format",
        ),
        (
            lambda d: d["patient"].update(birth_date=19800501),
            "at patient.birth_date (Person.birth_date): expected an ISO date string, got int",
        ),
        (
            lambda d: d.update(payer="ACME"),
            "at payer (Claim.payer): expected an object, got str",
        ),
        (
            lambda d: d.update(lines=None),
            "at lines (Claim.lines): expected a list, got null",
        ),
        (
            lambda d: d["billing_provider"]["address"].update(zip="44325"),
            "at billing_provider.address (Address): unknown field 'zip'",
        ),
        (
            lambda d: d.update(comment="x"),
            "corrupt stored Claim: unknown field 'comment'",
        ),
    ],
)
def test_a_corrupt_claim_says_which_class_and_field(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    with pytest.raises(StoredDataError, match=re.escape(message)):
        claim_from_json(_corrupt(change))


def test_the_message_leaves_the_value_out() -> None:
    with pytest.raises(StoredDataError) as raised:
        claim_from_json(_corrupt(lambda d: d["patient"].update(last_name=["SMITH"])))
    assert str(raised.value) == (
        "corrupt stored Claim at patient.last_name (Person.last_name): expected str, got list"
    )


def test_not_an_object_at_all() -> None:
    with pytest.raises(StoredDataError, match=r"^corrupt stored Claim: expected an object"):
        claim_from_json([CLAIM_JSON])  # type: ignore[arg-type]
    with pytest.raises(StoredDataError, match=r"^corrupt stored ClaimDecision: expected an object"):
        decision_from_json("{}")  # type: ignore[arg-type]


def test_a_corrupt_decision_names_the_path_through_its_claim() -> None:
    decision = ClaimDecision(CLAIM, "P1", ClaimStatusCode.PRIMARY, Outcome.PAID, ())
    data = decision_to_json(decision)
    del data["claim"]["lines"][0]["unit_type"]
    with pytest.raises(StoredDataError) as raised:
        decision_from_json(data)
    assert str(raised.value) == (
        "corrupt stored ClaimDecision at claim.lines[0].unit_type (ServiceLine.unit_type): missing"
    )
    assert isinstance(raised.value, ClaimsEngineError)
    data = decision_to_json(decision)
    data["status"] = 1
    with pytest.raises(StoredDataError, match=r"at status \(ClaimDecision.status\): expected one"):
        decision_from_json(data)


# -- the generator of encoders and decoders, on shapes the model does not use (yet) -------------


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, slots=True)
class Shapes:
    name: str | None = ""  # not None by default: None must be written
    colour: Colour | None = Colour.RED
    count: int = 7
    flags: tuple[bool | None, ...] = (True,)
    amounts: tuple[Decimal | None, ...] = ()
    grid: tuple[tuple[int, ...], ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)
    stamp: date = date(2000, 1, 1)
    note: str = field(default="", kw_only=True)


@dataclass(frozen=True, slots=True)
class HasFloat:
    ratio: float


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (Shapes(), {"tags": [], "stamp": "2000-01-01"}),
        (
            Shapes(name=None, colour=None),
            {"name": None, "colour": None, "tags": [], "stamp": "2000-01-01"},
        ),
        (
            Shapes("x", Colour.BLUE, 0, (None, False), (None, Decimal("1.0")), ((1, 2), ())),
            {
                "name": "x",
                "colour": "blue",
                "count": 0,
                "flags": [None, False],
                "amounts": [None, "1.0"],
                "grid": [[1, 2], []],
                "tags": [],
                "stamp": "2000-01-01",
            },
        ),
        (Shapes(tags=("a",), note="n"), {"tags": ["a"], "stamp": "2000-01-01", "note": "n"}),
    ],
)
def test_other_shapes_round_trip(value: Shapes, stored: dict[str, Any]) -> None:
    # a default made by a factory, and a date default, are always written
    data = codec._encoder(Shapes)(value)
    assert data == stored
    _assert_json_values(data)
    _assert_same(codec._decoder(Shapes)(json.loads(json.dumps(data))), value)
    _assert_same(codec._decoder(Shapes)({"stamp": "2000-01-01"}), Shapes())


def test_a_type_the_codec_cannot_store_fails_when_the_codec_is_built() -> None:
    with pytest.raises(TypeError, match=r"HasFloat\.ratio has a type it cannot store"):
        codec._encoder(HasFloat)
