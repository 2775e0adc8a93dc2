"""The 834 reader (claims_engine.x12.reader834) on the implementation guide's examples and on
single faults: what a member's maintenance says, and a 999 that pyx12 accepts for a set the
guide's structure rejects."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest

from claims_engine.domain.issues import Scope
from claims_engine.x12.acks import Envelope, write_999
from claims_engine.x12.envelope_walk import Unreadable
from claims_engine.x12.reader834 import (
    ACTION_CHANGE,
    MAINTENANCE,
    Enrollment,
    read_834,
)
from tests.x12_oracle import pyx12_errors

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "x12" / "834").glob("*.x12"))
ENROLL = next(p for p in EXAMPLES if p.name == "enroll-employee-in-managed-care-product.x12")


def _read(path: Path) -> Enrollment:
    read = read_834(path.read_bytes())
    assert isinstance(read, Enrollment), read
    return read


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_guide_example_reads(path: Path) -> None:
    enrollment = _read(path)
    assert enrollment.members
    for member in enrollment.members:
        assert member.maintenance in MAINTENANCE
        assert member.subscriber_id  # REF*0F is required
        for coverage in member.coverages:
            assert coverage.maintenance in MAINTENANCE
            assert coverage.insurance_line


def test_an_enrollment_reads_as_the_file_says() -> None:
    (transaction,) = _read(ENROLL).transactions
    assert (transaction.purpose, transaction.reference, transaction.action) == (
        "00",
        "12456",
        ACTION_CHANGE,
    )
    assert transaction.created == date(1998, 5, 20)
    assert (transaction.sponsor.qualifier, transaction.sponsor.id) == ("FI", "999888777")
    assert transaction.payer.id == "654456654"
    (member,) = transaction.members
    assert (member.subscriber, member.relationship, member.maintenance) == (True, "18", "021")
    assert (member.subscriber_id, member.group) == ("202443307", "123456001")
    assert (member.last_name, member.first_name, member.id_qualifier, member.member_id) == (
        "SMITH",
        "WILLIAM",
        "34",
        "202443307",
    )
    assert (member.birth_date, member.sex) == (date(1970, 6, 14), "M")
    assert member.address == ("1715 SOUTHWIND AVENUE", "", "ANYTOWN", "PA", "171110000")
    assert member.eligibility_begin == date(1996, 1, 12)
    (coverage,) = member.coverages
    assert (coverage.maintenance, coverage.insurance_line, coverage.begin) == (
        "021",
        "HMO",
        date(1996, 6, 1),
    )


def test_a_coverage_line_keeps_its_own_dates_and_references() -> None:
    text = ENROLL.read_bytes().replace(
        b"HD*021**HMO~DTP*348*D8*19960601~",
        b"HD*021**HMO*GOLD*FAM~DTP*348*D8*19960601~DTP*349*D8*19961231~REF*17*ABC123~",
    )
    read = read_834(text.replace(b"SE*18*", b"SE*20*"))
    assert isinstance(read, Enrollment), read
    (member,) = read.members
    (coverage,) = member.coverages
    assert (coverage.plan, coverage.coverage_level) == ("GOLD", "FAM")
    assert (coverage.begin, coverage.end) == (date(1996, 6, 1), date(1996, 12, 31))
    assert coverage.references == {"17": "ABC123"}
    assert "17" not in member.references and "349" not in member.dates


def test_a_termination_and_a_reinstatement_carry_their_dates() -> None:
    ended = _read(next(p for p in EXAMPLES if p.name.startswith("terminate-eligibility")))
    (member,) = ended.members
    assert member.maintenance == "024"
    assert member.eligibility_end is not None or any(c.end for c in member.coverages)
    again = _read(next(p for p in EXAMPLES if p.name.startswith("reinstate-employee-at-coverage")))
    assert any(c.maintenance == "025" for m in again.members for c in m.coverages)


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("REF*0F*202443307~", "", "X12-SEGMENT-3"),  # the subscriber identifier is required
        ("INS*Y*18*021*", "INS*Y*18*999*", "X12-ELEMENT-7"),  # INS03 lists its codes
        ("DMG*D8*19700614*M~", "DMG*D8*19701314*M~", "X12-ELEMENT-8"),  # not a date
    ],
)
def test_a_set_the_guide_rejects_is_not_read_and_its_999_validates(
    old: str, new: str, code: str
) -> None:
    text = ENROLL.read_text(encoding="ascii").replace("\n", "")
    assert old in text
    changed = text.replace(old, new)
    count = changed.split("~SE*", 1)[0].split("~ST*", 1)[1].count("~") + 2
    changed = changed.replace("~SE*18*", f"~SE*{count}*")
    read = read_834(changed.encode("ascii"))
    assert isinstance(read, Unreadable), read
    assert read.scope is Scope.TRANSACTION and code in read.reason
    assert read.interchange is not None
    out = io.StringIO()
    write_999(out, Envelope(read.interchange, 7, datetime(2026, 12, 6, 9, 0)), read.groups)
    ack = out.getvalue()
    assert "AK2*834*12345*005010X220A1~" in ack and "IK5*R*" in ack
    assert pyx12_errors(ack) == []


def test_not_an_834_is_refused_by_its_group_and_garbage_is_not_x12() -> None:
    text = ENROLL.read_text(encoding="ascii").replace("\n", "").replace("GS*BE*", "GS*HC*")
    read = read_834(text.encode("ascii"))
    assert isinstance(read, Unreadable) and read.scope is Scope.GROUP
    assert "only BE (834 benefit enrollment and maintenance)" in read.reason
    garbage = read_834(b"hello")
    assert isinstance(garbage, Unreadable) and garbage.scope is None
