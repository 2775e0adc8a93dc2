"""Hypothesis fuzzing: mutated 837s never raise, and what they produce stays consistent.

CI runs 2,000 examples (``CI=true`` selects the ``ci`` profile of tests/conftest.py).
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import VALID_837P, run_intake
from tests.x12_oracle import pyx12_errors

VALID = VALID_837P.read_bytes()
SEGMENTS = [s for s in VALID.split(b"~\n") if s]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "segment", "truncate", "dup"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"*", b"~", b":", b"^", b"\n", b"XX", b"\x00"]))
        elif kind == "segment":
            segs = [s for s in bytes(data).split(b"~\n") if s]
            i = draw(st.integers(0, len(segs) - 1))
            segs[i] = draw(st.sampled_from(SEGMENTS))
            data = bytearray(b"".join(s + b"~\n" for s in segs))
        elif kind == "dup":
            segs = [s for s in bytes(data).split(b"~\n") if s]
            i = draw(st.integers(0, len(segs) - 1))
            segs.insert(i, segs[i])
            data = bytearray(b"".join(s + b"~\n" for s in segs))
        else:
            data = data[:at]
    return bytes(data)


@given(mutated())
def test_mutated_837_never_raises_and_stays_consistent(data: bytes) -> None:
    run = run_intake(data)
    s = run.summary
    assert s.claims_accepted >= 0 and s.claims_rejected >= 0
    assert s.claims <= data.count(b"CLM") + 1
    accepted_interchanges = [ix for ix in s.interchanges if ix.accepted]
    if s.claims_accepted:
        assert "277ca" in run.acks
        assert accepted_interchanges
    for ix in s.interchanges:
        if not ix.accepted:
            assert ix.claims_accepted == 0
            assert "ta1" in ix.acknowledgments


@settings(max_examples=int(os.environ.get("FUZZ_PYX12_EXAMPLES", "100")), deadline=None)
@given(mutated())
def test_acknowledgments_of_mutated_837s_validate(data: bytes) -> None:
    run = run_intake(data)
    for kind in ("999", "277ca"):
        if kind in run.acks:
            assert pyx12_errors(run.acks[kind]) == [], run.acks[kind]
