"""Broken inputs: each mutation of a valid 837P gets the right acknowledgment, never a traceback.

The valid file (fixtures/x12/valid/837p-two-claims.edi) holds two claims from one billing
provider: 26463774 (four lines, 100.00) and 26463775 (two lines, 125.50).
"""

from __future__ import annotations

import random
import re
from decimal import Decimal

from tests.conftest import VALID_837P, IntakeRun, run_intake
from tests.x12_oracle import pyx12_errors

VALID = VALID_837P.read_text()


def _segments(text: str) -> list[str]:
    return [s for s in text.split("~\n") if s]


def _join(segments: list[str]) -> str:
    return "".join(s + "~\n" for s in segments)


def _replace(old: str, new: str, text: str = VALID) -> bytes:
    assert old in text, old
    return text.replace(old, new, 1).encode()


def _assert_valid_acks(run: IntakeRun) -> None:
    for kind in ("999", "277ca"):
        if kind in run.acks:
            assert pyx12_errors(run.acks[kind]) == [], run.acks[kind]


def _stc_lines(run: IntakeRun) -> list[str]:
    """The claim-level statuses (the A1 receipt statuses of the batch and provider excluded)."""
    return [s for s in run.ack("277ca").splitlines() if s.startswith("STC*A") and "A1:19" not in s]


def test_valid_file_is_accepted_whole() -> None:
    run = run_intake(VALID.encode())
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (2, 0)
    assert "IK5*A~" in run.ack("999")
    assert "AK9*A*1*1*1~" in run.ack("999")
    assert _stc_lines(run) == ["STC*A2:20*20261102*WQ*100~", "STC*A2:20*20261102*WQ*125.5~"]
    # ISA14 = 1 asks for a TA1
    assert "TA1*000000101*261101*0930*A*000~" in run.ack("ta1")
    _assert_valid_acks(run)


def test_wrong_se_count_rejects_the_transaction_set() -> None:
    run = run_intake(_replace("SE*54*0001~", "SE*50*0001~"))
    assert "IK5*R*4~" in run.ack("999")
    assert "AK9*R*1*1*0~" in run.ack("999")
    assert "277ca" not in run.acks
    assert run.summary.claims_rejected == 2
    _assert_valid_acks(run)


def test_mismatched_se_control_number() -> None:
    run = run_intake(_replace("SE*54*0001~", "SE*54*0002~"))
    assert "IK5*R*3~" in run.ack("999")
    _assert_valid_acks(run)


def test_wrong_ge_count_rejects_the_group() -> None:
    run = run_intake(_replace("GE*1*101~", "GE*2*101~"))
    assert "AK9*R*1*1*0*5~" in run.ack("999")
    assert "277ca" not in run.acks
    assert run.summary.claims_accepted == 0
    _assert_valid_acks(run)


def test_mismatched_ge_control_number() -> None:
    run = run_intake(_replace("GE*1*101~", "GE*1*102~"))
    assert "AK9*R*1*1*0*4~" in run.ack("999")
    _assert_valid_acks(run)


def test_wrong_iea_count_gets_a_ta1_rejection() -> None:
    run = run_intake(_replace("IEA*1*000000101~", "IEA*3*000000101~"))
    assert "TA1*000000101*261101*0930*R*021~" in run.ack("ta1")
    assert set(run.acks) == {"ta1"}
    assert run.summary.claims_accepted == 0
    assert run.summary.claims_rejected == 2


def test_mismatched_iea_control_number_gets_a_ta1_rejection() -> None:
    run = run_intake(_replace("IEA*1*000000101~", "IEA*1*000000999~"))
    assert "*R*001~" in run.ack("ta1")
    assert set(run.acks) == {"ta1"}


def test_bad_isa_control_number_gets_a_ta1_rejection() -> None:
    run = run_intake(_replace("*000000101*1*P*", "*00000010X*1*P*"))
    assert "*R*018~" in run.ack("ta1")


def test_a_bad_isa_date_or_time_gets_a_ta1_rejection() -> None:
    """ISA09 is six digits of a real day (YYMMDD), ISA10 four of a time of day (HHMM): the
    widths stay those of the fixed ISA, the value is what is wrong."""
    for date_, time_, code in (
        ("261131", "0930", "014"),  # 31 November
        ("270229", "0930", "014"),  # 2027 is no leap year
        ("26111 ", "0930", "014"),
        ("261101", "2460", "015"),
        ("261101", "093 ", "015"),
    ):
        run = run_intake(_replace("*261101*0930*", f"*{date_}*{time_}*"))
        assert f"*R*{code}~" in run.ack("ta1"), (date_, time_, run.ack("ta1"))
    run = run_intake(_replace("*261101*0930*", "*280229*2359*"))  # 2028 is a leap year
    assert "*A*000~" in run.ack("ta1")


def test_missing_clm_rejects_the_transaction_on_the_999() -> None:
    segs = _segments(VALID)
    index = next(i for i, s in enumerate(segs) if s.startswith("CLM*26463775"))
    del segs[index]
    segs = [f"SE*{len(segs) - 4}*0001" if s.startswith("SE*") else s for s in segs]
    run = run_intake(_join(segs).encode())
    nine = run.ack("999")
    assert re.search(r"IK3\*HI\*\d+\*\d*\*2~", nine), nine
    assert "IK5*R*5~" in nine
    assert run.summary.claims_accepted == 0
    _assert_valid_acks(run)


def test_bad_npi_rejects_only_its_claim() -> None:
    run = run_intake(
        _replace("NM1*82*1*KILDARE*BEN****XX*9876543213~", "NM1*82*1*KILDARE*BEN****XX*9876543210~")
    )
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (1, 1)
    assert _stc_lines(run) == [
        "STC*A2:20*20261102*WQ*100~",
        "STC*A7:562:82*20261102*U*125.5~",
    ]
    # level 5 is a 277CA matter: the 999 accepts the transaction set
    assert "IK5*A~" in run.ack("999")
    _assert_valid_acks(run)


def test_charges_that_do_not_add_up() -> None:
    run = run_intake(_replace("CLM*26463775*125.5*", "CLM*26463775*130*"))
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (1, 1)
    assert "STC*A7:400*20261102*U*130******A7:178~" in _stc_lines(run)
    assert run.summary.reasons["CLAIM-CHARGE-MISMATCH"] == 1
    _assert_valid_acks(run)


def test_element_syntax_error_in_a_claim_is_reported_on_both_acks() -> None:
    run = run_intake(_replace("DTP*472*D8*20261015~", "DTP*472*D8*20261315~"))
    nine = run.ack("999")
    assert re.search(r"IK3\*DTP\*\d+\*2400\*8~\nIK4\*3\*\*8\*20261315~", nine), nine
    assert "IK5*E*5~" in nine
    assert "STC*A7:187*20261102*U*125.5~" in _stc_lines(run)
    assert run.summary.claims_accepted == 1
    _assert_valid_acks(run)


def test_snip_levels_are_configurable() -> None:
    data = _replace(
        "NM1*82*1*KILDARE*BEN****XX*9876543213~", "NM1*82*1*KILDARE*BEN****XX*9876543210~"
    )
    assert run_intake(data, levels=frozenset({1, 2, 3, 4})).summary.claims_accepted == 2
    assert run_intake(data, levels=frozenset({1, 2, 3, 4, 5})).summary.claims_accepted == 1


def test_other_delimiters_and_newline_terminator_are_accepted() -> None:
    text = VALID.replace("*", "|").replace(":", ">").replace("~\n", "\n")
    # ISA11 stays '^'; the component separator in ISA16 is now '>'
    assert text.startswith("ISA|00|")
    run = run_intake(text.encode())
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (2, 0)
    assert "STC|A2>20|20261102|WQ|100\n" in run.ack("277ca")
    _assert_valid_acks(run)


def test_pipe_elements_caret_components_and_newline_terminator() -> None:
    text = VALID.replace("*^*00501*", "*{*00501*")  # ISA11 repetition '{' frees '^'
    text = text.replace("*", "|").replace(":", "^").replace("~\n", "\n")
    run = run_intake(text.encode())
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (2, 0)
    assert "STC|A2^20|20261102|WQ|125.5\n" in run.ack("277ca")
    _assert_valid_acks(run)


def test_crlf_after_terminators_is_tolerated() -> None:
    run = run_intake(VALID.replace("~\n", "~\r\n").encode())
    assert run.summary.claims_accepted == 2


def test_utf8_bom_is_accepted() -> None:
    run = run_intake(b"\xef\xbb\xbf" + VALID.encode())
    assert run.summary.claims_accepted == 2


def test_truncated_file_gets_ta1_premature_end() -> None:
    data = VALID.encode()
    run = run_intake(data[: len(data) // 2])
    assert "*R*023~" in run.ack("ta1")
    assert run.summary.claims_accepted == 0


def test_empty_file() -> None:
    run = run_intake(b"")
    assert run.summary.file_error == "the file holds no interchange (it is empty)"
    assert run.summary.interchanges == []
    assert run.acks == {}


def test_random_bytes_are_not_x12() -> None:
    data = random.Random(7).randbytes(5000)
    run = run_intake(data)
    assert "expected an ISA segment" in run.summary.file_error
    assert run.acks == {}


def test_garbage_after_a_good_interchange_keeps_the_good_one() -> None:
    run = run_intake(VALID.encode() + b"\nthis is not X12 at all")
    assert run.summary.claims_accepted == 2
    assert "expected an ISA segment" in run.summary.file_error
    assert "277ca" in run.acks


def test_duplicate_claim_id_in_one_file() -> None:
    # both claims come from billing NPI 1234567893; the second now repeats the first's CLM01
    run = run_intake(_replace("CLM*26463775*", "CLM*26463774*"))
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (1, 1)
    assert "STC*A3:54*20261102*U*125.5******A3:478~" in _stc_lines(run)
    _assert_valid_acks(run)


def test_hash_set_keeps_every_value_through_growth() -> None:
    from claims_engine.front_end.edits import HashSet64

    rng = random.Random(3)
    values = list({rng.getrandbits(64) - 2**63 for _ in range(20_000)})
    seen = HashSet64(capacity=16)
    assert all(seen.add(v) for v in values)
    assert not any(seen.add(v) for v in values)
    assert len(seen) == len(values)


def test_amounts_finer_than_cents_or_too_large_reject_only_their_claim() -> None:
    # 110.505 + 15 = 125.505: balanced, but not whole cents; the engine pays to the cent
    fine = run_intake(
        _replace("CLM*26463775*125.5*", "CLM*26463775*125.505*").replace(
            b"SV1*HC:99214:25*110.5*", b"SV1*HC:99214:25*110.505*"
        )
    )
    assert (fine.summary.claims_accepted, fine.summary.claims_rejected) == (1, 1)
    assert fine.summary.reasons["AMOUNT-NOT-CENTS"] == 2  # the claim and its line
    assert any(s.startswith("STC*A7:178") for s in _stc_lines(fine))
    _assert_valid_acks(fine)

    huge = run_intake(
        _replace("CLM*26463774*100*", "CLM*26463774*10000000060*").replace(
            b"SV1*HC:99213*40*", b"SV1*HC:99213*10000000000*"
        )
    )
    assert (huge.summary.claims_accepted, huge.summary.claims_rejected) == (1, 1)
    assert huge.summary.reasons["AMOUNT-TOO-LARGE"] == 2
    _assert_valid_acks(huge)

    units = run_intake(_replace("SV1*HC:83036*15*UN*1***1~", "SV1*HC:83036*15*UN*1.0005***1~"))
    assert (units.summary.claims_accepted, units.summary.claims_rejected) == (1, 1)
    assert units.summary.reasons["UNITS-TOO-FINE"] == 1
    assert any(":476" in s for s in _stc_lines(units))
    _assert_valid_acks(units)


def test_a_duplicate_interchange_in_a_file_gets_ta1_025_and_its_neighbour_stands() -> None:
    import io

    from claims_engine.front_end.ingest import IntakeOptions, MemoryAckOutput, ingest
    from tests.conftest import CREATED, RECEIVED

    second = (
        VALID.replace("*000000101*", "*000000102*")
        .replace("IEA*1*000000101", "IEA*1*000000102")
        .replace("CLM*264637", "CLM*364637")  # other claims: CLM01 may not repeat in a file
    )
    seen: list[str] = []

    def duplicate_of(header: object) -> str:
        control = getattr(header, "control", "")
        seen.append(control)
        return "received before as interchange 7" if control == "000000101" else ""

    out = MemoryAckOutput()
    options = IntakeOptions(received_on=RECEIVED, created=CREATED, duplicate_of=duplicate_of)
    summary = ingest(io.BytesIO((VALID + second).encode()), options, out)
    assert seen == ["000000101", "000000102"]
    first, other = summary.interchanges
    assert not first.accepted and "duplicate interchange" in first.reason
    assert other.accepted and other.claims_accepted == 2
    ta1 = next(text for (kind, key), text in out.files.items() if kind == "ta1")
    assert "TA1*000000101*" in ta1 and "*R*025~" in ta1
    assert summary.claims_accepted == 2 and summary.claims_rejected == 2


def test_values_with_spaces_around_them_are_echoed_without() -> None:
    # GS02 with trailing spaces: the 999's GS03 names the sender without them
    gs = "GS*HC*SUBMITTER01*CLAIMSENGINE*20261101*0930*101*X*005010X222A1~"
    run = run_intake(_replace(gs, gs.replace("*SUBMITTER01*", "*SUBMITTER01  *")))
    assert "*CLAIMSENGINE*SUBMITTER01*" in run.ack("999")
    _assert_valid_acks(run)
    # a bad element value with a trailing space is copied into IK404 without it
    run = run_intake(_replace("DTP*472*D8*20261015~", "DTP*472*D8*20261315 ~"))
    assert re.search(r"IK4\*3\*\*8\*20261315~", run.ack("999")), run.ack("999")
    _assert_valid_acks(run)


def test_every_claim_of_a_set_rejected_after_a_broken_hl_is_counted_rejected() -> None:
    """An HL whose parent is not there stops the reading of the set; the claims after it are
    still counted, each rejected with the set, charges and all (issue 17: a set of 820 claims
    once reported one)."""
    run = run_intake(_replace("HL*4*1*22*0~", "HL*4*9*22*0~"))
    assert "IK5*R" in run.ack("999")
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (0, 2)
    assert run.summary.charges_rejected == Decimal("225.50")
    assert run.summary.interchanges[0].claims_rejected == 2


def test_claims_after_a_clm_with_no_hierarchy_are_counted_too() -> None:
    many = VALID.replace("CLM*26463775*125.5*", "CLM*26463775*125.5*", 1)
    # the first claim's CLM loses its hierarchy: HL 1 becomes an HL of an unknown level
    run = run_intake(many.replace("HL*1**20*1~", "HL*1**99*1~", 1).encode())
    assert "IK5*R" in run.ack("999")
    assert run.summary.claims_rejected == 2
    assert run.summary.charges_rejected == Decimal("225.50")


def test_the_same_sender_and_isa13_twice_in_one_file_gets_ta1_025() -> None:
    """With no store to ask (``ingest FILE``), the stream itself remembers its interchanges: a
    second one from the same sender with the same ISA13 is a duplicate (TA1 note 025)."""
    second = VALID.replace("CLM*264637", "CLM*364637")  # same envelope, other claims
    import io

    from claims_engine.front_end.ingest import IntakeOptions, MemoryAckOutput, ingest
    from tests.conftest import CREATED, RECEIVED

    out = MemoryAckOutput()
    options = IntakeOptions(received_on=RECEIVED, created=CREATED)
    summary = ingest(io.BytesIO((VALID + second).encode()), options, out)
    first, other = summary.interchanges
    assert first.accepted and first.claims_accepted == 2
    assert not other.accepted and "duplicate interchange" in other.reason
    assert "interchange 1 of this file" in other.reason
    assert summary.claims_accepted == 2 and summary.claims_rejected == 2
    ta1s = [text for (kind, _key), text in out.files.items() if kind == "ta1"]
    assert any("TA1*000000101*" in t and "*R*025~" in t for t in ta1s)


def test_another_sender_may_use_the_same_isa13_in_one_file() -> None:
    other_sender = VALID.replace("SUBMITTER01    ", "SUBMITTER02    ").replace(
        "CLM*264637", "CLM*364637"
    )
    assert other_sender != VALID.replace("CLM*264637", "CLM*364637")
    run = run_intake((VALID + other_sender).encode())
    assert [ix.accepted for ix in run.summary.interchanges] == [True, True]


def test_two_bad_elements_of_one_segment_are_one_ik3_with_two_ik4() -> None:
    """The 999 guide's shape: an IK3 for each segment in error, an IK4 for each of its bad
    elements under it (not an IK3 repeated for each element)."""
    run = run_intake(_replace("DMG*D8*19700115*M~", "DMG*D8*19701315*X~"))
    ack = run.ack("999")
    lines = ack.splitlines()
    ik3 = [i for i, line in enumerate(lines) if line.startswith("IK3*DMG*")]
    assert len(ik3) == 1, ack
    ik4 = [line for line in lines[ik3[0] + 1 :] if line.startswith("IK4")]
    assert [line.split("*")[1] for line in ik4[:2]] == ["2", "3"], ack
    _assert_valid_acks(run)


def test_a_bad_code_in_a_claim_segment_rejects_that_claim_alone() -> None:
    """A claim-level fault the guide walker finds (CLM08 'Q', no benefits assignment code)
    rejects its claim on the 277CA; the set and the other claim stand (issue 17)."""
    run = run_intake(
        _replace("CLM*26463774*100***11:B:1*Y*A*Y*I~", "CLM*26463774*100***11:B:1*Y*A*Q*I~")
    )
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (1, 1)
    ack = run.ack("999")
    assert "IK3*CLM*23*2300*8~" in ack and "IK4*8*1073*7" in ack and "IK5*E" in ack
    assert _stc_lines(run)[1] == "STC*A2:20*20261102*WQ*125.5~"
    _assert_valid_acks(run)


def test_a_patient_loop_without_its_claim_rejects_the_set() -> None:
    """A 2000C whose required 2300 is missing has no claim to reject: the set is rejected."""
    segments = _segments(VALID)
    first = segments.index("CLM*26463774*100***11:B:1*Y*A*Y*I")
    end = segments.index("HL*4*1*22*0")
    kept = segments[:first] + segments[end:]
    kept[-3] = f"SE*{len(kept) - 4}*0001"
    run = run_intake(_join(kept).encode())
    assert "IK3*CLM*" in run.ack("999") and "IK5*R" in run.ack("999")
    assert run.summary.claims_accepted == 0
