"""The audit export's hash chain: a hand-worked example, and every single-line alteration,
removal, swap, insertion and truncation of an export found at its line, in both formats."""

from __future__ import annotations

import ast
import csv as csvlib
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from claims_engine.domain.errors import ConfigurationError, InputFileError
from claims_engine.services.audit import (
    CLAIM_EVENT,
    CSV_COLUMNS,
    PHI_READ,
    SETTLE_WINDOW,
    AuditRange,
    ChainReport,
    canonical,
    chain,
    check_chain,
    check_settled,
    compare,
    end_of,
    genesis,
    header_of,
    lines_of,
    order_key,
    record_hash,
    seal,
    settled_until,
    write_lines,
)

RANGE = AuditRange(datetime(2026, 11, 1), datetime(2026, 11, 2))
HEADER = header_of(RANGE)

# Worked with coreutils, not with the program:
#   printf '%s' '{"export":"claims-engine audit","kind":"header","since":"2026-11-01T00:00:00Z",
#                 "until":"2026-11-02T00:00:00Z","version":1}' | sha256sum      (one line)
GENESIS = "7d3b6f498df3b904b435b9cf64577d6054a55fd3e279b0e08e5772d4581172c3"
#   printf '%s%s' "$GENESIS" '{"actor":"intake","at":"2026-11-01T09:30:00Z","claim_id":3,
#     "from_state":"received","id":7,"kind":"claim_event","payer_claim_number":"P1",
#     "prev":"'"$GENESIS"'","reason":"accepted (277CA), payer claim number P1","seq":1,
#     "to_state":"accepted"}' | sha256sum
FIRST_HASH = "70cedfd4bb889b591c7cdea36dec676d393d1d8dad18a981c4f026dfe15409d6"


def _event(row_id: int, at: str, reason: str = "accepted") -> dict[str, Any]:
    return {
        "kind": CLAIM_EVENT,
        "id": row_id,
        "at": at,
        "claim_id": 3,
        "payer_claim_number": "P1",
        "actor": "intake",
        "from_state": "received",
        "to_state": "accepted",
        "reason": reason,
    }


def _read(row_id: int, at: str) -> dict[str, Any]:
    return {
        "kind": PHI_READ,
        "id": row_id,
        "at": at,
        "key_id": "k1",
        "role": "provider",
        "route": "/v1/claims/{claim_id}",
        "record_type": "claim",
        "record_id": "3",
    }


def test_the_header_and_first_record_hash_as_worked_by_hand() -> None:
    header_bytes = (
        b'{"export":"claims-engine audit","kind":"header","since":"2026-11-01T00:00:00Z",'
        b'"until":"2026-11-02T00:00:00Z","version":1}'
    )
    assert canonical(HEADER) == header_bytes
    assert genesis(HEADER) == GENESIS
    fields = _event(7, "2026-11-01T09:30:00Z", "accepted (277CA), payer claim number P1")
    [record] = chain([fields], HEADER)
    assert record["seq"] == 1 and record["prev"] == GENESIS
    assert record["hash"] == FIRST_HASH
    assert record_hash(record) == FIRST_HASH


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical({"b": None, "a": "é", "c": [1]}) == '{"a":"é","b":null,"c":[1]}'.encode()


def test_every_record_depends_on_all_before_it() -> None:
    entries = [_event(1, "2026-11-01T01:00:00Z"), _read(1, "2026-11-01T02:00:00Z")]
    base = list(chain(entries, HEADER))
    changed = list(chain([_event(1, "2026-11-01T01:00:00Z", "other"), entries[1]], HEADER))
    assert base[1]["hash"] != changed[1]["hash"]
    other_range = header_of(AuditRange(datetime(2026, 11, 1), datetime(2026, 11, 3)))
    assert list(chain(entries, other_range))[1]["hash"] != base[1]["hash"]


# -- an export of eight records, written and damaged one line at a time ------------------------


ENTRIES = [
    _event(1, "2026-11-01T01:00:00Z"),
    _event(2, "2026-11-01T01:00:00Z"),
    _read(1, "2026-11-01T01:00:00Z"),  # the same time: claim events first, then by id
    _read(5, "2026-11-01T02:00:00Z"),
    _read(6, "2026-11-01T02:00:00Z"),
    _event(9, "2026-11-01T03:00:00Z", "pended: charge 1000.00 is above 500.00"),
    _event(4, "2026-11-01T04:00:00Z", 'quote " comma , newline\nin a reason'),
    _read(7, "2026-11-01T23:59:59Z"),
]
RECORDS = list(chain(ENTRIES, HEADER))
N = len(RECORDS)


def _export_text(fmt: str, lines: list[dict[str, Any]]) -> str:
    out = io.StringIO(newline="")
    write_lines(out, fmt, lines)
    return out.getvalue()


def _physical_lines(fmt: str) -> list[str]:
    """The export as a list of its records' texts (a CSV record may span lines)."""
    lines = [HEADER, *RECORDS, end_of(N, RECORDS[-1]["hash"])]
    texts = [_export_text(fmt, [line]) for line in lines]
    if fmt == "csv":  # each text begins with the column names
        columns = texts[0].split("\n", 1)[0] + "\n"
        texts = [columns] + [t[len(columns) :] for t in texts]
    return texts


def _check(text: str) -> ChainReport:
    _fmt, lines = lines_of(io.StringIO(text, newline=""), "export")
    return check_chain(lines)


def _line_of(fmt: str, texts: list[str], index: int) -> int:
    """The editor's line number of ``texts[index]``."""
    return sum(t.count("\n") for t in texts[:index]) + 1


FORMATS = ["jsonl", "csv"]
FIRST = {"jsonl": 1, "csv": 2}  # index of the first record's text


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_whole_export_is_intact(fmt: str) -> None:
    report = _check("".join(_physical_lines(fmt)))
    assert report.intact, report.problems
    assert report.count == N and report.head == RECORDS[-1]["hash"]
    assert report.range == RANGE


def test_the_order_is_time_then_kind_then_id() -> None:
    shuffled = [ENTRIES[i] for i in (7, 2, 5, 0, 6, 1, 4, 3)]
    assert sorted(shuffled, key=order_key) == ENTRIES


def _problem(report: ChainReport) -> tuple[str, int | None]:
    assert len(report.problems) == 1, report.problems
    p = report.problems[0]
    assert p.message.startswith(f"line {p.line}: {p.what}: ")
    return p.what, p.line


Edit = Callable[[dict[str, Any]], None]


def _set_reason(r: dict[str, Any]) -> None:
    r["reason" if r["kind"] == CLAIM_EVENT else "route"] = "changed"


def _set_id(r: dict[str, Any]) -> None:
    r["id"] += 100


def _set_at(r: dict[str, Any]) -> None:
    r["at"] = "2026-11-01T12:00:00Z"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("edit", [_set_reason, _set_id, _set_at], ids=["field", "id", "time"])
@pytest.mark.parametrize("i", range(N))
def test_an_altered_record_is_found_at_its_line(fmt: str, edit: Edit, i: int) -> None:
    texts = _physical_lines(fmt)
    record = dict(RECORDS[i])
    edit(record)
    texts[FIRST[fmt] + i] = (
        _export_text(fmt, [record]).split("\n", 1)[1]
        if fmt == "csv"
        else (_export_text(fmt, [record]))
    )
    assert _problem(_check("".join(texts))) == ("altered", _line_of(fmt, texts, FIRST[fmt] + i))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("i", range(N))
def test_an_altered_and_rehashed_record_is_found_at_its_line(fmt: str, i: int) -> None:
    texts = _physical_lines(fmt)
    record = {k: v for k, v in RECORDS[i].items() if k != "hash"}
    _set_reason(record)
    record = seal(
        {k: v for k, v in record.items() if k not in ("seq", "prev")}, i + 1, record["prev"]
    )
    text = _export_text(fmt, [record])
    texts[FIRST[fmt] + i] = text.split("\n", 1)[1] if fmt == "csv" else text
    # the next line's prev (or the end record's head) no longer names it
    # the next line's prev no longer names it; after the last record, the end record's head
    at = FIRST[fmt] + i + (1 if i == N - 1 else 0)
    assert _problem(_check("".join(texts))) == ("altered", _line_of(fmt, texts, at))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("i", range(N))
def test_a_removed_record_is_found(fmt: str, i: int) -> None:
    texts = _physical_lines(fmt)
    del texts[FIRST[fmt] + i]
    # the line that now stands where it was: the next record, or the end record
    assert _problem(_check("".join(texts))) == ("removed", _line_of(fmt, texts, FIRST[fmt] + i))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("i", range(N - 1))
def test_two_swapped_records_are_out_of_order(fmt: str, i: int) -> None:
    texts = _physical_lines(fmt)
    a, b = FIRST[fmt] + i, FIRST[fmt] + i + 1
    texts[a], texts[b] = texts[b], texts[a]
    assert _problem(_check("".join(texts))) == ("out of order", _line_of(fmt, texts, a))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("i", range(N))
def test_a_copied_record_is_an_insertion(fmt: str, i: int) -> None:
    texts = _physical_lines(fmt)
    texts.insert(FIRST[fmt] + i + 1, texts[FIRST[fmt] + i])
    assert _problem(_check("".join(texts))) == (
        "inserted",
        _line_of(fmt, texts, FIRST[fmt] + i + 1),
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("i", range(N + 1))
def test_a_forged_record_is_found(fmt: str, i: int) -> None:
    texts = _physical_lines(fmt)
    forged = seal(
        _read(99, "2026-11-01T05:00:00Z"), i + 1, RECORDS[i - 1]["hash"] if i else GENESIS
    )
    text = _export_text(fmt, [forged])
    texts.insert(FIRST[fmt] + i, text.split("\n", 1)[1] if fmt == "csv" else text)
    # a forged line that links to the one before it passes itself; the next line says so: a
    # record again, or the end record counting one record fewer
    what = "inserted" if i < N else "altered"
    assert _problem(_check("".join(texts))) == (what, _line_of(fmt, texts, FIRST[fmt] + i + 1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_line_after_the_end_is_an_insertion(fmt: str) -> None:
    texts = _physical_lines(fmt)
    texts.append(texts[FIRST[fmt]])
    assert _problem(_check("".join(texts))) == ("inserted", _line_of(fmt, texts, len(texts) - 1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_truncation_is_found(fmt: str) -> None:
    whole = "".join(_physical_lines(fmt))
    header_end = whole.index("\n", whole.index("header")) + 1
    for cut in range(header_end, len(whole) - 1):
        report = _check(whole[:cut])
        assert not report.intact, f"cut at {cut}"
        assert report.problems[0].what in ("truncated", "altered"), (cut, report.problems)
        # a record cut mid-line may still read as JSON only when it is not the last line
        if whole[cut - 1] == "\n":
            assert report.problems[0].what == "truncated"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_altered_end_record_is_found(fmt: str) -> None:
    texts = _physical_lines(fmt)
    for end in (end_of(N + 1, RECORDS[-1]["hash"]), end_of(N, "0" * 64), end_of(N - 1, "x")):
        text = _export_text(fmt, [end])
        texts[-1] = text.split("\n", 1)[1] if fmt == "csv" else text
        what, line = _problem(_check("".join(texts)))
        assert what in ("removed", "altered") and line == _line_of(fmt, texts, len(texts) - 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_altered_header_is_found(fmt: str) -> None:
    texts = _physical_lines(fmt)
    other = header_of(AuditRange(datetime(2026, 10, 1), datetime(2026, 11, 2)))
    text = _export_text(fmt, [other])
    texts[FIRST[fmt] - 1] = text.split("\n", 1)[1] if fmt == "csv" else text
    assert _problem(_check("".join(texts))) == ("altered", FIRST[fmt])


@pytest.mark.parametrize("text", ["", "hello\n", '{"kind": "end"}\n', "kind,seq\n"])
def test_what_is_not_an_export_is_refused(text: str) -> None:
    with pytest.raises(InputFileError, match="not an audit export"):
        _check(text)


def test_compare_names_rows_altered_removed_inserted_and_moved() -> None:
    file_side = [(i + 2, dict(e)) for i, e in enumerate(ENTRIES)]  # line 1 is the header
    store = [dict(e) for e in ENTRIES]
    store[0]["reason"] = "edited"  # claim event 1, line 2
    moved = store.pop(2)  # PHI read 1, line 4, now later than claim event 9
    assert store.pop(2)["id"] == 5  # PHI read 5, line 5, removed
    store.insert(4, {**moved, "at": "2026-11-01T03:30:00Z"})
    store.append(_read(50, "2026-11-01T23:59:59Z"))  # inserted, last in order
    assert [order_key(e) for e in store] == sorted(order_key(e) for e in store)
    found = {(d.kind, d.id): (d.side, d.fields, d.line) for d in compare(file_side, store)}
    assert found == {
        (CLAIM_EVENT, 1): ("both", ("reason",), 2),
        (PHI_READ, 1): ("both", ("at",), 4),
        (PHI_READ, 5): ("file", (), 5),
        (PHI_READ, 50): ("store", (), None),
    }


# -- lines that are JSON or CSV, but not text an export can hold ---------------------------------


def _with_line(fmt: str, index: int, text: str) -> tuple[str, int]:
    """The export with the record at ``index`` replaced by ``text``; and that line's number."""
    texts = _physical_lines(fmt)
    texts[FIRST[fmt] + index] = text
    return "".join(texts), _line_of(fmt, texts, FIRST[fmt] + index)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\ud800\\u0041"])
@pytest.mark.parametrize("i", [0, N - 1])
def test_a_lone_surrogate_escape_is_an_altered_line_not_a_crash(escape: str, i: int) -> None:
    record = _export_text("jsonl", [RECORDS[i]])
    field_name = "reason" if RECORDS[i]["kind"] == CLAIM_EVENT else "route"
    value = json.dumps(RECORDS[i][field_name])
    damaged = record.replace(value, value[:-1] + escape + '"', 1)
    assert damaged != record
    text, line = _with_line("jsonl", i, damaged)
    assert _problem(_check(text)) == ("altered", line)


def test_a_lone_surrogate_in_the_header_is_not_an_export() -> None:
    texts = _physical_lines("jsonl")
    texts[0] = texts[0].replace("claims-engine audit", "claims-engine audit\\ud800")
    with pytest.raises(InputFileError, match="not an audit export"):
        _check("".join(texts))


@pytest.mark.parametrize("cell", ["²", "--5", "-", "1" * 5000, "١"])
def test_a_csv_number_that_is_no_number_is_an_altered_line_not_a_crash(cell: str) -> None:
    row = _export_text("csv", [RECORDS[2]]).split("\n", 1)[1]
    cells = next(csvlib.reader([row]))
    cells[CSV_COLUMNS.index("seq")] = cell
    out = io.StringIO(newline="")
    csvlib.writer(out, lineterminator="\n").writerow(cells)
    text, line = _with_line("csv", 2, out.getvalue())
    assert _problem(_check(text)) == ("altered", line)


@pytest.mark.parametrize("text", ["[" * 100_000 + "\n", '{"a":' * 100_000 + "\n"])
def test_a_json_line_nested_too_deep_is_an_altered_line_not_a_crash(text: str) -> None:
    whole, line = _with_line("jsonl", 3, text)
    assert _problem(_check(whole)) == ("altered", line)


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02\xff binary\n",
        "\ufffd\ufffd\x00PK\x03\x04",
        "ISA*00*          *00*          *ZZ*SENDER~\n",
        '{"kind": "header", "export": "claims-engine audit", "version": 2}\n',
        '{"kind":"summary","since":"2026-11-01T00:00:00Z","count":3}\n',
        "[1, 2, 3]\n",
        "\n\n",
        "\r\n",
    ],
)
def test_other_files_are_refused_as_not_an_export(text: str) -> None:
    with pytest.raises(InputFileError, match="not an audit export"):
        _check(text)


# -- the settle window --------------------------------------------------------------------------


def _longest_actor_time_limit() -> timedelta:
    """The largest ``time_limit`` of an actor in workers/actors.py, read from its source (the
    service layer does not import the workers, and neither does this test)."""
    source = (Path(__file__).resolve().parents[2] / "workers" / "actors.py").read_text()
    limits: list[int] = []
    for node in ast.walk(ast.parse(source)):
        for keyword in node.keywords if isinstance(node, ast.Call) else []:
            if keyword.arg == "time_limit":
                value = ast.literal_eval(keyword.value)  # fails for a name: read it here then
                assert isinstance(value, int), ast.unparse(keyword)
                limits.append(value)
    assert limits, "no actor time_limit found in workers/actors.py"
    return timedelta(milliseconds=max(limits))


def test_the_settle_window_is_the_longest_job_time_limit() -> None:
    assert _longest_actor_time_limit() == SETTLE_WINDOW


def test_an_export_ends_where_events_are_settled() -> None:
    now = datetime(2026, 11, 2, 9, 30)
    assert settled_until(now) == now - SETTLE_WINDOW
    check_settled(AuditRange(datetime(2026, 11, 1), now - SETTLE_WINDOW), now)
    with pytest.raises(ConfigurationError, match="2026-11-02T08:30:00Z"):
        check_settled(
            AuditRange(datetime(2026, 11, 1), now - SETTLE_WINDOW + timedelta(seconds=1)), now
        )
