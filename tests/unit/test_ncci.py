"""CMS NCCI tables (:mod:`claims_engine.domain.ncci`): the files in CMS's layout, worked by hand.

The lines below are made up in CMS's layout (tab-separated PTP text with its six-line banner
and CR LF line ends; MUE CSV with its quoted banner and the line break inside the header's
first cell). Dates of service are checked on both sides of each boundary: an edit is in force
from its effective date, and no longer on its deletion date.
"""

from __future__ import annotations

from datetime import date

import pytest

from claims_engine.domain.ncci import (
    DME,
    HOSPITAL,
    MUE,
    PRACTITIONER,
    PTP,
    FileKind,
    LoadProblem,
    MueRows,
    MueTable,
    NcciTables,
    PayloadError,
    PtpEdit,
    PtpRows,
    PtpTable,
    Quarter,
    build_mue,
    build_ptp,
    classify,
    digest,
    pack_code,
    quarter_from_name,
    read_mue,
    read_ptp,
    table_from_bytes,
    table_to_bytes,
    unpack_code,
)

BANNER = (
    "CPT only copyright 2026 American Medical Association. All rights reserved.\t\t\t\t\t\t\r\n"
    "Column1/Column2 Edits\t\t\t\t\t\t\r\n"
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\r\n"
    "\t\t\t\t*=no data\t1=allowed\t\r\n"
    "\t\t\t\t\t9=not applicable\t\r\n"
)  # lines 1-6; the first edit is on line 7

EDITS = (
    "20610\t99213\t\t20150101\t*\t1\tEvaluation and management service\r\n"  # 7
    "80053\t82947\t*\t19960101\t*\t0\tLaboratory panel\r\n"  # 8
    "99213\t36415\t\t20150101\t20260901\t1\tStandards of medical / surgical practice\r\n"  # 9
    "99214\t36415\t\t20260701\t20260701\t9\tStandards of medical / surgical practice\r\n"  # 10
    "99214\t93000\t\t20261001\t*\t1\tStandards of medical / surgical practice\r\n"  # 11
)

MUE_CSV = (
    '"CPT codes, descriptions and other data only are copyright 2026 American Medical '
    'Association. All Rights Reserved."\n'  # 1
    '"HCPCS/\n'  # 2
    'CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator",'
    '"MUE Rationale"\n'  # 3
    '"36415","2","3 Date of Service Edit: Clinical","Clinical: Data"\n'  # 4
    '"99213","1","2 Date of Service Edit: Policy","CMS Policy"\n'  # 5
    '"J3301","8","1 Line Edit","Prescribing Information"\n'  # 6
)

Q4 = Quarter(2026, 4)


def read_ptp_text(
    text: str, name: str = "ccipra-v323r0-f1.txt", delimiter: str = "\t"
) -> tuple[PtpRows, list[LoadProblem]]:
    rows = PtpRows()
    problems = read_ptp(name, text.splitlines(keepends=True), delimiter, rows)
    return rows, problems


def ptp_table(text: str, quarter: Quarter = Q4, delimiter: str = "\t") -> PtpTable:
    rows, problems = read_ptp_text(text, delimiter=delimiter)
    assert problems == []
    table, problems = build_ptp(quarter, PRACTITIONER, rows)
    assert problems == []
    assert table is not None
    return table


def mue_table(text: str, quarter: Quarter = Q4) -> MueTable:
    rows = MueRows()
    problems = read_mue(
        "MCR_MUE_PractitionerServices_Eff_10-01-2026.csv", text.splitlines(True), ",", rows
    )
    assert problems == []
    return build_mue(quarter, PRACTITIONER, rows)


def problems_of(text: str, name: str = "ccipra-v323r0-f1.txt") -> list[str]:
    _rows, problems = read_ptp_text(text, name)
    return [str(p) for p in problems]


def mue_problems_of(text: str) -> list[str]:
    return [str(p) for p in read_mue("m.csv", text.splitlines(True), ",", MueRows())]


# -- codes and quarters -------------------------------------------------------------------------


def test_codes_pack_into_26_bits_and_back() -> None:
    for code in ("00100", "99213", "J3301", "0001U", "ZZZZZ"):
        packed = pack_code(code)
        assert packed is not None and packed < 2**26
        assert unpack_code(packed) == code
    # in the order CMS sorts its files: digits before letters, left to right
    assert pack_code("99213") < pack_code("A0425") < pack_code("J3301")  # type: ignore[operator]
    for bad in ("9921", "992130", "99 13", "j3301", "1_234", "+9921", ""):
        assert pack_code(bad) is None


def test_quarters_start_on_the_first_day_of_their_calendar_quarter() -> None:
    assert Quarter.parse("2026Q4").start == date(2026, 10, 1)
    assert Quarter.parse("2026q1").start == date(2026, 1, 1)
    assert Quarter.of(date(2026, 9, 30)) == Quarter(2026, 3)
    assert str(Quarter(2026, 3)) == "2026Q3"
    for bad in ("2026Q5", "2026-4", "Q4", "20264"):
        with pytest.raises(ValueError):
            Quarter.parse(bad)


def test_the_quarter_of_a_file_comes_from_its_cms_name() -> None:
    # NCCI version 32.3 is 2026Q4: year 1994 + 32, quarter 3 + 1; 32.2 is 2026Q3
    assert quarter_from_name("ccipra-v323r0-f1.txt") == Quarter(2026, 4)
    assert quarter_from_name("ccioph-v322r0-f1/ccioph-v322r0-f1.TXT") == Quarter(2026, 3)
    assert quarter_from_name("ccipra-v313r0-f4.txt") == Quarter(2025, 4)
    # an MUE file's effective date
    assert quarter_from_name("MCR_MUE_PractitionerServices_Eff_10-01-2026.csv") == Q4
    # CMS's zip names and a folder per quarter
    assert quarter_from_name("medicare-ncci-2026q4-practitioner-ptp-edits/x.txt") == Q4
    assert quarter_from_name("2026Q3/anything.csv") == Quarter(2026, 3)
    assert quarter_from_name("ptp.txt") is None
    assert quarter_from_name("2026Q3/ccipra-v323r0-f1.txt") == LoadProblem(
        "2026Q3/ccipra-v323r0-f1.txt", 0, "its name says more than one quarter (2026Q3, 2026Q4)"
    )


def test_files_are_recognised_by_their_header_and_name() -> None:
    head = BANNER.splitlines(keepends=True)
    assert classify("ccipra-v323r0-f1.txt", head) == FileKind(PTP, PRACTITIONER, Q4, "\t")
    assert classify("ccioph-v323r0-f1.txt", head) == FileKind(PTP, HOSPITAL, Q4, "\t")
    assert classify("my-export.txt", head) == FileKind(PTP, None, None, "\t")
    mue_head = MUE_CSV.splitlines(keepends=True)
    assert classify("2026Q4/mue.csv", mue_head) == FileKind(MUE, PRACTITIONER, Q4, ",")
    dme = MUE_CSV.replace("Practitioner Services", "DME Supplier Services")
    assert classify("x.csv", dme.splitlines(True)).setting == DME  # type: ignore[union-attr]
    hospital = MUE_CSV.replace("Practitioner Services", "Outpatient Hospital Services")
    assert classify("x.csv", hospital.splitlines(True)).setting == HOSPITAL  # type: ignore[union-attr]
    problem = classify("notes.txt", ["Minutes of the meeting\n", "nothing here\n"])
    assert isinstance(problem, LoadProblem) and problem.line == 0
    assert "not a CMS NCCI file" in problem.what


# -- PTP: reading -------------------------------------------------------------------------------


def test_the_banner_and_header_lines_are_skipped_and_every_edit_read() -> None:
    table = ptp_table(BANNER + EDITS)
    assert len(table) == 5
    assert next(table.edits()) == PtpEdit(
        column1="20610",
        column2="99213",
        effective=date(2015, 1, 1),
        deleted=None,
        modifier=1,
        rationale="Evaluation and management service",
        before_1996=False,
    )
    lab = table.ptp_edit("80053", "82947", date(2026, 10, 1))
    assert lab is not None and lab.before_1996 and lab.modifier == 0
    assert table.quarter == Q4 and table.setting == PRACTITIONER
    assert table.sources == ("ccipra-v323r0-f1.txt",)


def test_a_csv_export_reads_as_the_text_file() -> None:
    csv_text = (
        '"CPT only copyright 2026 American Medical Association.",,,,,,\n'
        "Column 1,Column 2,*=in existence prior to 1996,Effective Date,"
        "Deletion Date *=no data,Modifier 0=not allowed 1=allowed 9=not applicable,"
        "PTP Edit Rationale\n"
        '99213,36415,,20150101,20260901,1,"Standards of medical, surgical practice"\n'
    )
    table = ptp_table(csv_text, delimiter=",")
    edit = table.ptp_edit("99213", "36415", date(2026, 8, 31))
    assert edit is not None and edit.rationale == "Standards of medical, surgical practice"


def test_lines_need_not_end_with_cr_lf_and_blank_lines_are_skipped() -> None:
    text = (BANNER + EDITS).replace("\r\n", "\n") + "\n\n"
    assert len(ptp_table(text)) == 5


def test_every_bad_line_is_named_with_its_file_and_line() -> None:
    bad = (
        "99213\t36415\t\t20150101\t*\t1\n"  # 7: six columns
        "9921\t36415\t\t20150101\t*\t1\tx\n"  # 8: short code
        "99213\t36415x\t\t20150101\t*\t1\tx\n"  # 9: long code
        "99213\t36415\tY\t20150101\t*\t1\tx\n"  # 10: the 1996 flag
        "99213\t36415\t\t2015-01-01\t*\t1\tx\n"  # 11: effective date
        "99213\t36415\t\t20150101\t20150231\t1\tx\n"  # 12: deletion date (no 31 February)
        "99213\t36415\t\t20150101\t20141231\t1\tx\n"  # 13: deleted before effective
        "99213\t36415\t\t20150101\t*\t2\tx\n"  # 14: modifier indicator
        "99213\t36415\t\t20150101\t*\t1\tx\textra\n"  # 15: an eighth column with text
        "Page 2 of 40\n"  # 16: text among the edits
        "99214\t99213\t\t20100101\t*\t0\tgood\n"  # 17: good, read
    )
    name = "ccipra-v323r0-f1.txt"
    assert problems_of(BANNER + bad) == [
        f"{name}:7: 6 columns, expected 7 (column 1 code, column 2 code, *=in existence prior "
        "to 1996, effective date, deletion date, modifier, PTP edit rationale)",
        f"{name}:8: column 1 code '9921' is not 5 letters or digits",
        f"{name}:9: column 2 code '36415x' is not 5 letters or digits",
        f"{name}:10: 'in existence prior to 1996' is 'Y', not * or empty",
        f"{name}:11: effective date '2015-01-01' is not a date YYYYMMDD",
        f"{name}:12: deletion date '20150231' is not a date YYYYMMDD or *",
        f"{name}:13: deletion date 20141231 is before the effective date",
        f"{name}:14: modifier indicator '2' is not 0, 1 or 9",
        f"{name}:15: 8 columns, expected 7 (column 1 code, column 2 code, *=in existence prior "
        "to 1996, effective date, deletion date, modifier, PTP edit rationale)",
        f"{name}:16: 1 columns, expected 7 (column 1 code, column 2 code, *=in existence prior "
        "to 1996, effective date, deletion date, modifier, PTP edit rationale)",
    ]
    rows, _ = read_ptp_text(BANNER + bad)
    assert len(rows.keys) == 1  # line 17


def test_a_line_with_several_faults_names_each() -> None:
    assert problems_of(BANNER + "9921\t3641\t\tsoon\t*\tx\tr\n") == [
        "ccipra-v323r0-f1.txt:7: column 1 code '9921' is not 5 letters or digits",
        "ccipra-v323r0-f1.txt:7: column 2 code '3641' is not 5 letters or digits",
        "ccipra-v323r0-f1.txt:7: effective date 'soon' is not a date YYYYMMDD",
        "ccipra-v323r0-f1.txt:7: modifier indicator 'x' is not 0, 1 or 9",
    ]


def test_an_edit_before_the_column_header_is_a_problem() -> None:
    text = "99213\t36415\t\t20150101\t*\t1\tx\n" + BANNER
    assert problems_of(text)[0] == (
        "ccipra-v323r0-f1.txt:1: an edit before the column header (Column 1 ...)"
    )


def test_a_file_with_no_header_line_is_a_problem() -> None:
    assert problems_of("copyright line\n\n") == [
        "ccipra-v323r0-f1.txt: no column header line (Column 1, Column 2, ...)"
    ]


def test_two_different_edits_of_a_pair_with_one_effective_date_are_a_problem() -> None:
    rows = PtpRows()
    read_ptp("ccipra-v323r0-f1.txt", (BANNER + EDITS).splitlines(True), "\t", rows)
    again = BANNER + "99213\t36415\t\t20150101\t*\t0\tother\n"
    read_ptp("ccipra-v323r0-f2.txt", again.splitlines(True), "\t", rows)
    table, problems = build_ptp(Q4, PRACTITIONER, rows)
    assert table is None
    assert [str(p) for p in problems] == [
        "ccipra-v323r0-f2.txt:7: the pair 99213/36415 has another edit with the same "
        "effective date, on ccipra-v323r0-f1.txt:9"
    ]


def test_the_same_edit_twice_is_kept_once_and_files_in_any_order_are_sorted() -> None:
    rows = PtpRows()
    later = BANNER + "99214\t93000\t\t20261001\t*\t1\tr\n" + "20610\t99213\t\t20150101\t*\t1\tr\n"
    read_ptp("ccipra-v323r0-f2.txt", later.splitlines(True), "\t", rows)
    read_ptp(
        "ccipra-v323r0-f1.txt",
        (BANNER + "20610\t99213\t\t20150101\t*\t1\tr\n").splitlines(True),
        "\t",
        rows,
    )
    table, problems = build_ptp(Q4, PRACTITIONER, rows)
    assert problems == [] and table is not None
    assert [(e.column1, e.column2) for e in table.edits()] == [
        ("20610", "99213"),
        ("99214", "93000"),
    ]


# -- PTP: which edit is in force ------------------------------------------------------------------


def test_an_edit_is_in_force_from_its_effective_date() -> None:
    table = ptp_table(BANNER + EDITS)
    # 99214/93000 takes effect on 2026-10-01
    assert table.ptp_edit("99214", "93000", date(2026, 9, 30)) is None
    edit = table.ptp_edit("99214", "93000", date(2026, 10, 1))
    assert edit is not None and edit.modifier_may_bypass


def test_an_edit_no_longer_applies_on_its_deletion_date() -> None:
    table = ptp_table(BANNER + EDITS)
    # 99213/36415: effective 2015-01-01, deleted 2026-09-01
    assert table.ptp_edit("99213", "36415", date(2014, 12, 31)) is None
    assert table.ptp_edit("99213", "36415", date(2015, 1, 1)) is not None
    assert table.ptp_edit("99213", "36415", date(2026, 8, 31)) is not None
    assert table.ptp_edit("99213", "36415", date(2026, 9, 1)) is None


def test_an_edit_deleted_retroactively_is_never_in_force() -> None:
    table = ptp_table(BANNER + EDITS)
    # 99214/36415: modifier indicator 9, deleted on its effective date
    for day in (date(2026, 6, 30), date(2026, 7, 1), date(2026, 12, 31)):
        assert table.ptp_edit("99214", "36415", day) is None
    mi9 = BANNER + "99214\t36415\t\t20260101\t*\t9\tnot applicable\n"
    assert ptp_table(mi9).ptp_edit("99214", "36415", date(2026, 7, 1)) is None


def test_modifier_indicators_say_whether_a_modifier_may_bypass() -> None:
    table = ptp_table(BANNER + EDITS)
    never = table.ptp_edit("80053", "82947", date(2026, 10, 1))
    allowed = table.ptp_edit("20610", "99213", date(2026, 10, 1))
    assert never is not None and never.modifier == 0 and not never.modifier_may_bypass
    assert allowed is not None and allowed.modifier == 1 and allowed.modifier_may_bypass


def test_the_pair_has_an_order() -> None:
    table = ptp_table(BANNER + EDITS)
    assert table.ptp_edit("36415", "99213", date(2026, 8, 1)) is None
    assert table.ptp_edit("99213", "99213", date(2026, 8, 1)) is None
    assert table.ptp_edit("junk", "99213", date(2026, 8, 1)) is None


def test_a_pair_with_several_rows_uses_the_row_in_force() -> None:
    text = BANNER + (
        "20610\t76942\t\t20150101\t20200101\t0\tfirst\n20610\t76942\t\t20200101\t*\t1\tsecond\n"
    )
    table = ptp_table(text)
    first = table.ptp_edit("20610", "76942", date(2019, 12, 31))
    second = table.ptp_edit("20610", "76942", date(2020, 1, 1))
    assert first is not None and first.rationale == "first" and first.modifier == 0
    assert second is not None and second.rationale == "second" and second.modifier == 1


def test_pairs_among_a_claims_codes() -> None:
    table = ptp_table(BANNER + EDITS)
    codes = ["36415", "99214", "99213", "93000", "99213", "bad"]
    # on 2026-08-15: 99213/36415 (until 2026-09-01); 99214/36415 is MI 9; 99214/93000 not yet
    assert [(e.column1, e.column2) for e in table.pairs_among(codes, date(2026, 8, 15))] == [
        ("99213", "36415")
    ]
    # on 2026-10-15: 99213/36415 deleted; 99214/93000 in force
    assert [(e.column1, e.column2) for e in table.pairs_among(codes, date(2026, 10, 15))] == [
        ("99214", "93000")
    ]
    assert table.pairs_among([], date(2026, 10, 15)) == []


# -- MUE ----------------------------------------------------------------------------------------


def test_mue_rows_with_each_adjudication_indicator() -> None:
    table = mue_table(MUE_CSV)
    assert len(table) == 3
    venipuncture = table.mue("36415")
    assert venipuncture is not None
    assert (venipuncture.value, venipuncture.mai, venipuncture.rationale) == (
        2,
        3,
        "Clinical: Data",
    )
    assert not venipuncture.per_line
    office = table.mue("99213")
    assert office is not None and (office.value, office.mai) == (1, 2)
    drug = table.mue("J3301")
    assert drug is not None and drug.mai == 1 and drug.per_line
    assert table.mue("99214") is None and table.mue("nope") is None


def test_mue_problems_name_the_line_after_a_quoted_line_break() -> None:
    bad = (
        MUE_CSV
        + '"9921","1","2 Date of Service Edit: Policy","x"\n'  # 7
        + '"99214","one","2 Date of Service Edit: Policy","x"\n'  # 8
        + '"99215","1","4 Something","x"\n'  # 9
        + '"99215","1","Date of Service Edit","x"\n'  # 10
        + '"36415","3","3 Date of Service Edit: Clinical","again"\n'  # 11
        + '"99215","1","2"\n'  # 12
    )
    assert mue_problems_of(bad) == [
        "m.csv:7: HCPCS/CPT code '9921' is not 5 letters or digits",
        "m.csv:8: MUE value 'one' is not a whole number of units",
        "m.csv:9: MUE adjudication indicator '4 Something' is not 1, 2 or 3 "
        "(such as '2 Date of Service Edit: Policy')",
        "m.csv:10: MUE adjudication indicator 'Date of Service Edit' is not 1, 2 or 3 "
        "(such as '2 Date of Service Edit: Policy')",
        "m.csv:11: 36415 has an MUE already, on m.csv:4",
        "m.csv:12: 3 columns, expected 4 (HCPCS/CPT code, MUE value, MUE adjudication "
        "indicator, MUE rationale)",
    ]


def test_an_mai_given_as_its_digit_alone_is_read() -> None:
    text = MUE_CSV.replace("1 Line Edit", "1")
    drug = mue_table(text).mue("J3301")
    assert drug is not None and drug.mai == 1


def test_broken_csv_is_a_problem_with_its_line() -> None:
    text = MUE_CSV + '"99215","1","2 Date of Service Edit: Policy","x"oops\n'
    assert mue_problems_of(text)[0].startswith("m.csv:7: not CSV:")


# -- to bytes and back --------------------------------------------------------------------------


def test_a_table_survives_the_trip_to_bytes_and_back() -> None:
    table = ptp_table(BANNER + EDITS)
    again = table_from_bytes(table_to_bytes(table))
    assert isinstance(again, PtpTable)
    assert list(again.edits()) == list(table.edits())
    assert (again.quarter, again.setting, again.sources) == (Q4, PRACTITIONER, table.sources)
    assert digest(again) == digest(table)
    assert again.ptp_edit("99213", "36415", date(2026, 8, 31)) == table.ptp_edit(
        "99213", "36415", date(2026, 8, 31)
    )
    mues = mue_table(MUE_CSV)
    mues_again = table_from_bytes(table_to_bytes(mues))
    assert isinstance(mues_again, MueTable)
    assert list(mues_again.edits()) == list(mues.edits())


def test_the_digest_is_of_the_edits_not_the_file_names() -> None:
    rows, _ = read_ptp_text(BANNER + EDITS, name="renamed.txt")
    renamed, _ = build_ptp(Q4, PRACTITIONER, rows)
    assert renamed is not None
    table = ptp_table(BANNER + EDITS)
    assert digest(renamed) == digest(table)
    other = ptp_table(BANNER + EDITS.replace("\t0\tLaboratory", "\t1\tLaboratory"))
    assert digest(other) != digest(table)
    assert digest(ptp_table(BANNER + EDITS, quarter=Quarter(2026, 3))) != digest(table)


def test_bytes_that_are_not_a_table_are_refused() -> None:
    payload = table_to_bytes(ptp_table(BANNER + EDITS))
    with pytest.raises(PayloadError):
        table_from_bytes(b"something else")
    with pytest.raises(PayloadError):
        table_from_bytes(payload[:40] + b"x" + payload[41:])


# -- the table in force for a date of service -----------------------------------------------------


def test_the_table_of_the_newest_quarter_begun_by_the_date_of_service() -> None:
    q3 = ptp_table(BANNER + EDITS.replace("99214\t93000", "99215\t93000"), quarter=Quarter(2026, 3))
    q4 = ptp_table(BANNER + EDITS)
    tables = NcciTables.of([q4, q3])
    assert tables.ptp_table(PRACTITIONER, date(2026, 9, 30)) is q3
    assert tables.ptp_table(PRACTITIONER, date(2026, 10, 1)) is q4
    assert tables.ptp_table(PRACTITIONER, date(2027, 5, 1)) is q4
    # before every loaded quarter: the oldest, whose edits' own dates still decide
    assert tables.ptp_table(PRACTITIONER, date(2020, 1, 1)) is q3
    assert tables.ptp_table(HOSPITAL, date(2026, 10, 1)) is None
    assert tables.ptp_edit("99214", "93000", date(2026, 10, 1)) is not None
    assert tables.ptp_edit("99214", "93000", date(2026, 10, 1), setting=HOSPITAL) is None
    assert tables.pairs_among(["99214", "93000"], date(2026, 10, 2)) != []
    mues = NcciTables.of([mue_table(MUE_CSV)])
    assert mues.mue("36415", date(2026, 10, 1)) is not None
    assert mues.mue("36415", date(2026, 10, 1), setting=DME) is None
    assert not NcciTables.of([])


def test_a_banner_split_at_its_commas_is_still_skipped() -> None:
    text = (
        "CPT codes, descriptions and other data only are copyright 2026 AMA, all rights reserved\n"
        + MUE_CSV.split("\n", 1)[1]
    )
    assert len(mue_table(text)) == 3
    early = '"99213","1","2 Date of Service Edit: Policy","x"\n' + MUE_CSV
    assert mue_problems_of(early)[0] == (
        "m.csv:1: an edit before the column header (HCPCS/CPT Code)"
    )
