"""Issue codes come from a fixed set, never from the input's bytes: they key the reasons of a
summary and label metrics, so garbage after a valid ISA must not mint new ones."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import VALID_837P, run_intake

VALID = VALID_837P.read_bytes()
ISA = VALID[: VALID.index(b"~") + 1]  # the valid file's ISA, its terminator included

ENVELOPE_CODE = re.compile(r"ENVELOPE-(?:ISA|IEA|GS|GE|ST|SE|SEGMENT)-[0-9A-Z]{1,3}")
ANY_CODE = re.compile(r"[A-Z0-9]+(?:[-_][A-Z0-9]+)*")


def _codes(data: bytes) -> list[str]:
    summary = run_intake(data).summary
    found = list(summary.reasons)
    found += [ix.reason.split(":", 1)[0] for ix in summary.interchanges if ix.reason]
    return found


def _check(data: bytes) -> None:
    for code in _codes(data):
        assert ANY_CODE.fullmatch(code), code
        if code.startswith("ENVELOPE-"):
            assert ENVELOPE_CODE.fullmatch(code), code


@pytest.mark.parametrize(
    "garbage",
    [
        "%\u00e9zz*1~FOO*2~".encode(),
        b"ZQX*1~",
        b"NM1*85*2*X~IEA*1*000000001~",
        b"\x00\x01\x02*~",
        b"A-B_C*1~",
        b"st*1~",
        b"GE1*1~",
    ],
)
def test_a_segment_outside_a_group_has_a_fixed_code(garbage: bytes) -> None:
    codes = _codes(ISA + garbage)
    assert codes and all(ENVELOPE_CODE.fullmatch(c) for c in codes if c.startswith("ENV"))
    assert "ENVELOPE-SEGMENT-024" in codes


@given(st.binary(max_size=80) | st.text(max_size=40).map(lambda t: (t + "*1~").encode()))
def test_garbage_after_a_valid_isa_gets_codes_of_the_fixed_set(garbage: bytes) -> None:
    _check(ISA + garbage)


@pytest.mark.parametrize("separator", [b"\x00", b"\x1f", b"\x07", b"\x7f", b" "])
def test_a_component_separator_that_no_acknowledgment_could_carry_refuses_the_file(
    separator: bytes,
) -> None:
    # ISA16 is an element value of the ISA, and every acknowledgment answers with the sender's
    # delimiters: a control character there would make them invalid (pyx12: "ISA16 contains
    # an invalid control character"). The file is refused at its ISA, naming the character.
    data = VALID.replace(b":", separator)
    summary = run_intake(data).summary
    assert summary.claims == 0
    assert summary.file_error is not None
    assert "component separator" in summary.file_error and "not a printable" in summary.file_error
    # the terminator and the element separator may be control characters, as "\n" often is
    assert run_intake(VALID.replace(b"~", b"\n")).summary.claims_accepted == 2
