"""Every implementation-guide structure rule, broken one at a time (issue 17).

The mutants of :mod:`tests.unit.guide_mutants` (a valid 837P, 837I, 837D and 276 each, one
structure fault per mutant: a required segment or loop removed, a segment or loop repeated past
its limit, an ID element given a code its place does not list, a required element dropped,
HL03 or HL04 broken) go through pyx12 4.0.0 and through the engine. For every mutant where
pyx12 reports an error the engine must reject the claim (277CA) or the transaction set (999) or
the interchange (TA1), and its 999 must name the segment (IK3: id and position) and, for an
element fault, the element (IK4). pyx12 has no map for the 837D (X224A2) nor for the 276
(X212): there the table is the expected answer, and every mutant is a fault.

The two oracles disagree in two ways, each pinned by a test with its reasons: mutants pyx12
passes though the guide says they are faults (:data:`PYX12_MISSES`: there the guide is the
expected answer, and the engine must reject them too), and errors pyx12 reports that the guide
does not support (:data:`KNOWN_DISAGREEMENTS`: the engine need not reject those; none found).

    .venv/bin/python benchmarks/guide_agreement.py    # the same run, as numbers
"""

from __future__ import annotations

import functools
import re
from collections import Counter

import pytest

from tests.conftest import run_intake
from tests.unit.guide_mutants import (
    BASES,
    KINDS,
    MISSING_KINDS,
    PYX12_MAPPED,
    EngineAnswer,
    Ik3,
    Mutant,
    Outcome,
    bases,
    cached_pyx12_maps,
    element_position,
    engine_answer,
    evaluate,
    mutants,
    oracle_errors,
    split_x12,
)
from tests.x12_oracle import pyx12_errors

TRANSACTIONS = tuple(BASES)

# (transaction, kind, target) -> why pyx12's error is not a fault of the guide, where target
# is Mutant.target ("<loop> <segment or element ref>"). Only real oracle disagreements belong
# here, each justified from the guide; a fault the engine's table walker is meant to catch
# never does. None is known: on these bases every error pyx12 reports is about the mutated
# segment or element and is a fault of the guide too (checked by reading each message).
KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], str] = {}

# (transaction, kind, target) -> why a mutant of a transaction pyx12 has no map for (837D,
# 276), counted a fault by the mutant maker, is a valid document of the guide: the engine
# accepts it, rightly (a test checks each entry still matches a mutant the engine accepts).
NOT_FAULTS: dict[tuple[str, str, str], str] = {
    ("276", "remove-required-segment", "2210E SVC"): (
        "Removing the service line's opening SVC leaves its DTP*472, which the claim level "
        "(2200E) takes as the claim's service date (DTP*472 is allowed there): what remains "
        "is a valid 276 that asks about the whole claim, with no service line loop."
    ),
}

# (transaction, kind, target) -> why pyx12 passes a mutant the guide says is a fault: every
# mutant of the mapped transactions that pyx12 passes is listed here (a test checks that the
# list is exact), and for these the guide table is the expected answer.
_EMPTY_FIRST_COMPONENT = (
    "pyx12 bug: an empty first component of a composite is not reported when a later component "
    "is present. The component is required whenever the composite is used (HI02-01, the code "
    "list qualifier of a diagnosis; SV202-01, the product or service id qualifier). pyx12 "
    "reports HI*ABK:J069*ABF: (HI02-02 missing) and HI*ABK:J069*QQQ:R05 (a bad HI02-01) but "
    "passes HI*ABK:J069*:R05."
)
_HL04_NOT_COMPARED = (
    "pyx12 checks HL04 against the place's code list only, never against the HLs that follow. "
    "At the subscriber level the list has both 0 and 1, so HL04 1 with no subordinate HL (the "
    "patient, 2000C) after it, or 0 with one, passes. The guide defines 1 as 'additional "
    "subordinate HL data segment in this hierarchical structure' and 0 as 'no subordinate HL "
    "segment': either flip contradicts the HLs that follow. (At the billing provider and "
    "patient levels the lists hold one code, 1 and 0, so pyx12 catches those flips.)"
)
PYX12_MISSES: dict[tuple[str, str, str], str] = {
    ("837p", "drop-required-element", "2300 HI02-01"): _EMPTY_FIRST_COMPONENT,
    ("837i", "drop-required-element", "2400 SV202-01"): _EMPTY_FIRST_COMPONENT,
    ("837p", "hl04", "2000B HL04"): _HL04_NOT_COMPARED,  # HL 2 (1 -> 0), HL 4 (0 -> 1)
    ("837i", "hl04", "2000B HL04"): _HL04_NOT_COMPARED,  # HL 2 (0 -> 1)
}


@functools.cache
def outcomes(transaction: str) -> tuple[Outcome, ...]:
    with cached_pyx12_maps():
        return tuple(evaluate(m) for m in mutants(transaction))


def _key(outcome: Outcome) -> tuple[str, str, str]:
    m = outcome.mutant
    return m.transaction, m.kind, m.target


def _expected_fault(outcome: Outcome) -> bool:
    """pyx12 reports an error (no map: every mutant), or pyx12 is known to miss the fault,
    unless the error is a known disagreement with the guide."""
    key = _key(outcome)
    return (
        (outcome.fault or key in PYX12_MISSES)
        and key not in KNOWN_DISAGREEMENTS
        and key not in NOT_FAULTS
    )


# -- the bases -----------------------------------------------------------------------------------
@pytest.mark.parametrize("transaction", TRANSACTIONS)
def test_the_base_fits_its_table_and_is_accepted_whole(transaction: str) -> None:
    base = bases()[transaction]
    assert base.data == base.path.read_bytes()  # read and written back unchanged
    assert len(base.placed) == len(base.tx)  # every segment has a place in the table
    if transaction in PYX12_MAPPED:
        assert pyx12_errors(base.data.decode()) == []
    else:
        with pytest.raises(Exception, match="Map not found"):
            pyx12_errors(base.data.decode())
    answer = engine_answer(transaction, base.data)
    assert not answer.rejected and answer.errors == (), answer
    if transaction != "276":
        run = run_intake(base.data)
        claims = sum(1 for s in base.tx if s[0] == "CLM")
        assert (run.summary.claims_accepted, run.summary.claims_rejected) == (claims, 0)
        assert "IK5*A~" in run.ack("999")


# -- the mutants ---------------------------------------------------------------------------------
@pytest.mark.parametrize("transaction", TRANSACTIONS)
def test_each_mutant_holds_one_fault_in_a_sound_envelope(transaction: str) -> None:
    base = bases()[transaction]
    found = mutants(transaction)
    counts = Counter(m.kind for m in found)
    assert set(counts) == set(KINDS), counts
    assert 100 <= len(found) <= 400, counts
    assert len({m.digest for m in found}) == len(found)
    for m in found:
        _, segments = split_x12(m.data.decode())
        assert segments[: len(base.head)] == base.head, m.name
        assert segments[-len(base.tail) :] == base.tail, m.name
        tx = segments[len(base.head) : -len(base.tail)]
        assert tx[0][:2] == base.tx[0][:2] and tx[-1][0] == "SE", m.name
        assert tx[-1][1:] == [str(len(tx)), base.tx[-1][2]], m.name  # SE01, SE02
        assert 1 <= m.position <= len(tx) + 1, m.name


def test_pyx12_answers_the_same_with_its_maps_parsed_once() -> None:
    """:func:`cached_pyx12_maps` keeps each map for the next document: a few mutants of each
    kind, validated with and without it, get the same errors."""
    for transaction in sorted(PYX12_MAPPED):
        picked: dict[str, Mutant] = {}
        for m in mutants(transaction):
            if len(m.data) < 20_000:
                picked.setdefault(m.kind, m)
        for m in picked.values():
            fresh = tuple(pyx12_errors(m.data.decode()))
            with cached_pyx12_maps():
                assert oracle_errors(m) == fresh, m.name


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("transaction", TRANSACTIONS)
def test_the_engine_rejects_and_names_each_fault(transaction: str, kind: str) -> None:
    """For every mutant where pyx12 reports an error (837P, 837I) or misses a fault of the
    guide (:data:`PYX12_MISSES`), and every mutant of the 837D and 276 (the table is the
    answer), the engine rejects the claim, the set or the interchange and its 999 names the
    segment (IK3 id and position; a missing one at its place or the one before) and the
    element (IK4; not for a broken qualifier, whose segment then fits no place)."""
    chosen = [o for o in outcomes(transaction) if o.mutant.kind == kind]
    faults = [o for o in chosen if _expected_fault(o)]
    wrong = [o for o in faults if not (o.answer.rejected and o.named_segment and o.named_element)]
    summary = Counter("missed" if not o.answer.rejected else "unnamed" for o in wrong)
    assert not wrong, (
        f"{len(wrong)} of {len(faults)} faults ({len(chosen)} mutants) not rejected and named: "
        f"{dict(summary)}\n" + "\n".join(o.explain() for o in wrong[:25])
    )


def test_pyx12_misses_only_the_listed_faults() -> None:
    """Every mutant of the 837P and 837I that pyx12 passes is in :data:`PYX12_MISSES`, and
    every entry still matches such a mutant."""
    passed = {_key(o) for t in sorted(PYX12_MAPPED) for o in outcomes(t) if o.oracle == ()}
    assert passed == set(PYX12_MISSES)
    assert all(why.strip() for why in PYX12_MISSES.values())


def test_each_listed_valid_mutant_is_accepted() -> None:
    for (transaction, kind, target), why in NOT_FAULTS.items():
        assert why.strip() and transaction not in PYX12_MAPPED
        hits = [
            o for o in outcomes(transaction) if o.mutant.kind == kind and o.mutant.target == target
        ]
        assert hits, f"no mutant {transaction} {kind} {target}: remove the entry"
        assert not any(o.answer.rejected for o in hits), f"{target} is rejected now"


def test_known_disagreements_are_still_disagreements() -> None:
    for (transaction, kind, target), why in KNOWN_DISAGREEMENTS.items():
        assert why.strip()
        hits = [
            o for o in outcomes(transaction) if o.mutant.kind == kind and o.mutant.target == target
        ]
        assert hits, f"no mutant {transaction} {kind} {target}: remove the entry"
        assert any(o.oracle for o in hits), f"pyx12 passes {target} now: remove the entry"


def test_an_answer_naming_the_fault_passes() -> None:
    """What the assertions accept, on hand-made answers: the segment at its position (a
    missing one also at the position before or after), the element's IK4 (any component of a
    composite), no IK4 where the qualifier is broken."""
    by_kind = {(m.kind, m.unplaced, "-" in (m.element or "")): m for m in mutants("837p")}
    for (kind, unplaced, component), m in by_kind.items():
        element, comp = element_position(m.element) if m.element else (0, None)
        ik4 = ((element, comp, "7"),) if m.element and not unplaced else ()
        right = EngineAnswer(True, "999 set", (Ik3(m.segment, m.position, "", "8", ik4),))
        assert right.names_segment(m) and right.names_element(m), m.name
        elsewhere = EngineAnswer(True, "999 set", (Ik3(m.segment, m.position + 2, "", "8", ik4),))
        assert not elsewhere.names_segment(m), m.name
        after = EngineAnswer(True, "999 set", (Ik3(m.segment, m.position + 1, "", "8", ik4),))
        assert after.names_segment(m) == (kind in MISSING_KINDS), m.name
        before = EngineAnswer(True, "999 set", (Ik3(m.segment, m.position - 1, "", "3", ()),))
        assert before.names_segment(m) == (kind in MISSING_KINDS), m.name
        if m.element and not unplaced:
            other = ((element + 1, comp, "7"),)
            wrong = EngineAnswer(True, "999 set", (Ik3(m.segment, m.position, "", "8", other),))
            assert not wrong.names_element(m), m.name
            bare = EngineAnswer(True, "999 set", (Ik3(m.segment, m.position, "", "8", ()),))
            assert not bare.names_element(m), m.name
        assert component or not comp


def test_the_acknowledgment_parser_reads_ik3_and_ik4() -> None:
    """The 999 reading the assertions rely on, on the engine's answer to a bad date."""
    data = bases()["837p"].data
    text = data.replace(b"DTP*472*D8*20261015~", b"DTP*472*D8*20261315~", 1)
    answer = engine_answer("837p", text)
    assert answer.rejected and answer.how == "277ca claim"
    (error,) = answer.errors
    # ST ... the second claim's CLM at 44, HI, NM1, PRV, LX, SV1: its first DTP is the 50th
    assert (error.segment, error.position, error.loop, error.code) == ("DTP", 50, "2400", "8")
    assert error.elements == ((3, None, "8"),)
    assert re.fullmatch(r"IK5 E AK9 E", answer.note)
