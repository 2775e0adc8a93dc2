"""``claims-engine audit export`` and ``audit verify`` on a small pipeline in SQLite: exports in
both formats verify; an edited file is caught at its line; a row changed or removed in the store
is named by table and id; a range that is not settled yet is refused; bad input is one line and
exit 2, and stores no anchor."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from claims_engine.cli.main import main
from claims_engine.services.access import Principal, Role, record_reads
from claims_engine.services.audit import chain, header_of, range_of
from claims_engine.store.db import begin_write, engine_for
from tests.e2e.cli_support import FROZEN_AT, REFERENCE, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run

SINCE, UNTIL = "2026-11-01", "2026-11-03"
# when the exports of SINCE to UNTIL run: after UNTIL, with the settle window (an hour) passed
AUDIT_AT = "2026-11-03 06:00:00"
# what the two claims' 837 says of their patients: none of it may reach an export
PHI = ["JS00111223333", "JD00999887777", "SMITH", "JANE", "DOE", "19630501", "19700115"]


@pytest.fixture
def store(sqlite_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store with the two claims submitted and paid (their events at 2026-11-02 09:30:00)
    and four reads of them through the API, two of them earlier; returns the database file."""
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    code, _, err = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 0, err
    code, _, err = _run(["remit", "--out", str(tmp_path / "835")], capsys)
    assert code == 0, err
    engine = engine_for(sqlite_store)
    provider = Principal("k1", Role.PROVIDER, npis=frozenset({"1234567893"}))
    insurer = Principal("k2", Role.INSURER)
    with begin_write(engine) as conn:
        record_reads(
            conn, provider, "/v1/claims/{claim_id}", "claim", [1], datetime(2026, 11, 1, 12)
        )
        record_reads(conn, insurer, "/v1/claims", "claim", [2, 1], datetime(2026, 11, 2, 9, 30))
        record_reads(
            conn,
            provider,
            "/v1/remittances/{remittance_id}",
            "remittance",
            [1],
            datetime(2026, 11, 2, 8),
        )
    engine.dispose()
    return tmp_path / "claims.db"


def _audit(
    args: list[str], capsys: pytest.CaptureFixture[str], at: str = AUDIT_AT
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``claims-engine audit ARGS`` at ``at``."""
    with freeze_time(at):
        code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _export(capsys: pytest.CaptureFixture[str], out: Path, fmt: str = "jsonl", *extra: str) -> str:
    args = ["export", "--since", SINCE, "--until", UNTIL, "--format", fmt]
    code, text, err = _audit([*args, "--out", str(out), *extra], capsys)
    assert code == 0, err
    return text


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code, out, err = _audit(["verify", *args], capsys)
    assert err == "" and "Traceback" not in out
    return code, out.splitlines()


def _anchors(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_anchors").fetchone()[0])


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "", (code, out, err)
    assert err.count("\n") == 1 and err.startswith("claims-engine: error: "), err
    return err


def _sql(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement)


def test_exports_in_both_formats_verify_and_hold_no_phi(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl, csv = tmp_path / "audit.jsonl", tmp_path / "audit.csv"
    said = _export(capsys, jsonl, "jsonl", "--json")
    summary = json.loads(said)
    _export(capsys, csv, "csv")
    lines = [json.loads(t) for t in jsonl.read_text().splitlines()]
    header, records, end = lines[0], lines[1:-1], lines[-1]
    assert summary["phi_reads"] == 4 and summary["count"] == len(records) == end["count"]
    assert summary["claim_events"] == sum(r["kind"] == "claim_event" for r in records) >= 4
    assert summary["head"] == end["head"] == records[-1]["hash"]
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    # time, then kind, then id: the reads of 2026-11-01 and of 08:00 first, and at 09:30 the
    # claim events (intake's, adjudication's, the payment cycle's) before the reads
    keys = [(r["at"], r["kind"], r["id"]) for r in records]
    assert keys == sorted(keys)
    assert keys[:2] == [
        ("2026-11-01T12:00:00Z", "phi_read", 1),
        ("2026-11-02T08:00:00Z", "phi_read", 4),
    ]
    assert keys[-2:] == [
        ("2026-11-02T09:30:00Z", "phi_read", 2),
        ("2026-11-02T09:30:00Z", "phi_read", 3),
    ]
    assert {r["payer_claim_number"] for r in records if r["kind"] == "claim_event"} - {None}
    # the chain as the service would make it from these rows (format-free)
    body = [{k: v for k, v in r.items() if k not in ("seq", "prev", "hash")} for r in records]
    assert list(chain(body, header_of(range_of(header, "x")))) == records

    for text in (jsonl.read_text(), csv.read_text()):
        for phi in PHI:
            assert phi not in text
    assert csv.read_text().count("\n") == len(lines) + 1  # column names, then one row each

    for path in (jsonl, csv):
        code, out = _verify(capsys, str(path))
        assert code == 0 and out == [f"{path}: intact ({len(records)} records, 2 anchors checked)"]
    code, out = _verify(capsys)
    assert code == 0 and out[-1].startswith("the store: intact")


def test_the_same_store_and_range_give_the_same_bytes(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("jsonl", "csv"):
        _export(capsys, tmp_path / f"a.{fmt}", fmt)
        _export(capsys, tmp_path / f"b.{fmt}", fmt)
        assert (tmp_path / f"a.{fmt}").read_bytes() == (tmp_path / f"b.{fmt}").read_bytes()


def test_standard_output_and_the_default_until(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # run at 09:30:00 (cli_support): until defaults to now less the settle window (an hour),
    # which leaves out what happened at 09:30:00
    code, out, err = _run(["audit", "export", "--since", "2026-11-01"], capsys)
    assert code == 0
    lines = [json.loads(t) for t in out.splitlines()]
    assert lines[0]["until"] == "2026-11-02T08:30:00Z"
    assert [(r["kind"], r["at"]) for r in lines[1:-1]] == [
        ("phi_read", "2026-11-01T12:00:00Z"),
        ("phi_read", "2026-11-02T08:00:00Z"),
    ]
    assert "2 records" in err and "anchor 1" in err


def _edited(path: Path, edit: str) -> Path:
    lines = path.read_text().splitlines(keepends=True)
    if edit == "alter":
        lines[3] = lines[3].replace('"intake"', '"someone"')
    elif edit == "delete":
        del lines[3]
    elif edit == "swap":
        lines[3], lines[4] = lines[4], lines[3]
    elif edit == "truncate":
        lines = lines[:5]
    elif edit == "cut":
        lines = [*lines[:5], lines[5][:20]]
    out = path.with_name(f"{edit}.jsonl")
    out.write_text("".join(lines))
    return out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("alter", "line 4: altered: its content does not match its hash"),
        ("delete", "line 4: removed: record 3 missing before this line"),
        ("swap", "line 4: out of order: record 4 comes before record 3 (line 5)"),
        ("truncate", "line 6: truncated: the file ends after line 5 without its end record"),
        ("cut", "line 6: truncated: the last line is incomplete and the end record is missing"),
    ],
)
def test_an_edited_file_is_caught_at_its_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: str, expected: str
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(capsys, export)
    edited = _edited(export, edit)
    code, out = _verify(capsys, str(edited))
    assert code == 1
    assert out == [f"{edited}: {expected}", f"{edited}: 1 problem(s) found"]


def test_an_altered_csv_row_is_caught_at_its_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.csv"
    _export(capsys, export, "csv")
    lines = export.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",provider,", ",insurer,")  # line 3: the first record
    export.write_text("".join(lines))
    code, out = _verify(capsys, str(export), "--json")
    report = json.loads("\n".join(out))
    assert code == 1 and report["ok"] is False
    assert [(p["what"], p["line"]) for p in report["problems"]] == [("altered", 3)]


def test_a_file_made_again_with_a_whole_chain_is_not_anchored(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(capsys, export)
    lines = [json.loads(t) for t in export.read_text().splitlines()]
    body = [{k: v for k, v in r.items() if k not in ("seq", "prev", "hash")} for r in lines[1:-1]]
    first = next(i for i, r in enumerate(body) if r["kind"] == "claim_event")
    body[first]["reason"] = "nothing to see"
    records = list(chain(body, lines[0]))
    end = {"kind": "end", "count": len(records), "head": records[-1]["hash"]}
    forged = tmp_path / "forged.jsonl"
    forged.write_text("".join(json.dumps(x) + "\n" for x in [lines[0], *records, end]))
    code, out = _verify(capsys, str(forged))
    assert code == 1
    assert "matches no anchor" in out[0]
    row, line = body[first]["id"], first + 2
    assert out[1:] == [
        f"{forged}: line {line}: altered: reason differs from claim_events row {row} in the store",
        f"{forged}: 2 problem(s) found",
    ]


def test_rows_changed_in_the_store_are_named(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(capsys, export)
    records = [json.loads(t) for t in export.read_text().splitlines()][1:-1]
    line_of = {(r["kind"], r["id"]): n for n, r in enumerate(records, start=2)}
    _sql(store, "UPDATE claim_events SET reason = 'rewritten' WHERE id = 2")
    _sql(store, "DELETE FROM phi_reads WHERE id = 3")
    _sql(store, "UPDATE phi_reads SET at = '2026-10-01 00:00:00.000000' WHERE id = 1")
    code, out = _verify(capsys, str(export))
    assert code == 1
    assert out[:-1] == [
        f"{export}: phi_reads row 1: altered in the store since the export (its time moved "
        f"out of the range; line {line_of['phi_read', 1]})",
        f"{export}: claim_events row 2: altered in the store since the export (reason "
        f"differs from line {line_of['claim_event', 2]})",
        f"{export}: phi_reads row 3: removed from the store since the export "
        f"(line {line_of['phi_read', 3]})",
    ]
    code, out = _verify(capsys)
    assert code == 1 and out[0].startswith("anchor 1 (2026-11-01T00:00:00Z to 2026-11-03T00:00:00Z")
    assert "no longer give its chain" in out[0]


def test_a_row_inserted_into_an_exported_range_is_named(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(capsys, export)
    _sql(
        store,
        "INSERT INTO phi_reads (at, key_id, role, route, record_type, record_id) "
        "VALUES ('2026-11-01 13:00:00.000000', 'k9', 'insurer', '/v1/claims', 'claim', '1')",
    )
    code, out = _verify(capsys, str(export))
    assert code == 1
    assert out[0] == (
        f"{export}: phi_reads row 5: in the store at 2026-11-01T13:00:00Z but not in the export "
        "(inserted since, or its time moved into the range)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--since", "2026-13-01"], "--since '2026-13-01' is not a date YYYY-MM-DD"),
        (["export", "--since", "2026-11-02", "--until", "2026-11-01"], "the range is empty"),
        (["verify", "missing.jsonl"], "cannot read missing.jsonl"),
        (["verify", "not-an-export.txt"], "is not an audit export"),
        (["export", "--since", "2026-11-01", "--out", "no/such/dir/a.jsonl"], "cannot write"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-an-export.txt").write_text("ISA*00*...\n")
    code, out, err = _run(["audit", *args], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("claims-engine: error: ")
    assert message in err


def test_an_old_schema_is_refused_with_one_line(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["audit", "verify"], capsys)
    assert code == 2 and "run `claims-engine db upgrade`" in err and err.count("\n") == 1


def test_a_later_export_of_the_same_range_does_not_hide_a_change(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    _export(capsys, first)
    _sql(store, "UPDATE claim_events SET actor = 'someone' WHERE id = 1")
    _export(capsys, second)  # anchors the changed store too
    code, out = _verify(capsys, str(second))
    assert code == 0
    code, out = _verify(capsys, str(first))
    assert code == 1
    assert out[0].startswith(f"{first}: claim_events row 1: altered in the store since the export")
    code, out = _verify(capsys)
    assert code == 1 and out[0].startswith("anchor 1 ") and len(out) == 2


# -- the settle window: a job stamps its events with its start and commits them at its end -------


def test_events_committed_after_an_export_by_a_job_started_before_it_are_not_tampering(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    code, _, err = _audit(["export", "--since", SINCE, "--out", str(export)], capsys, at=FROZEN_AT)
    assert code == 0, err
    # a payment cycle started at 09:00, half an hour before the export, commits after it
    _sql(
        store,
        "INSERT INTO claim_events (claim_id, at, actor, from_state, to_state, reason) VALUES "
        "(1, '2026-11-02 09:00:00.000000', 'payment cycle', 'adjudicated', 'remitted', '835')",
    )
    code, out = _verify(capsys, str(export))
    assert code == 0, out
    code, out = _verify(capsys)
    assert code == 0, out


@pytest.mark.parametrize(
    ("at", "until", "latest", "settled"),
    [
        (FROZEN_AT, "2026-11-03", "2026-11-02", "2026-11-02T08:30:00Z"),
        (FROZEN_AT, "2099-01-01", "2026-11-02", "2026-11-02T08:30:00Z"),
        ("2026-11-02 00:30:00", "2026-11-02", "2026-11-01", "2026-11-01T23:30:00Z"),
    ],
)
def test_an_until_within_the_settle_window_is_refused(
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    at: str,
    until: str,
    latest: str,
    settled: str,
) -> None:
    out = tmp_path / "audit.jsonl"
    args = ["export", "--since", "2026-10-01", "--until", until, "--out", str(out)]
    err = _one_line_error(*_audit(args, capsys, at=at))
    assert f"--until {until} is too late" in err
    assert "1 hour" in err and settled in err
    assert f"the latest allowed --until is {latest}" in err
    assert _anchors(store) == 0 and not out.exists()
    # the latest allowed day itself is taken
    code, _, err = _audit([*args[:4], latest, *args[5:]], capsys, at=at)
    assert code == 0, err
    assert _anchors(store) == 1 and out.exists()


def test_a_since_within_the_settle_window_says_the_default_until(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _one_line_error(
        *_audit(["export", "--since", "2026-11-02"], capsys, at="2026-11-02 00:30")
    )
    assert "the range is empty" in err and "2026-11-01T23:30:00Z" in err and "1 hour" in err
    assert _anchors(store) == 0


def test_the_help_says_why_until_ends_an_hour_ago(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "now less 1 hour" in text and "refused" in text


# -- --out: checked before any work; the anchor is kept only with the file in place --------------


@pytest.mark.parametrize("target", [".", "..", "{tmp}", "{tmp}/", "sub", "sub/", "new/"])
def test_an_out_that_names_a_directory_is_refused_before_any_work(
    store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: str,
) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)
    target = target.format(tmp=tmp_path)
    before = sorted(tmp_path.rglob("*"))
    err = _one_line_error(*_audit(["export", "--since", SINCE, "--out", target], capsys))
    assert "directory" in err and "--out" in err
    assert _anchors(store) == 0
    assert sorted(tmp_path.rglob("*")) == before  # no file, no .part left


def test_an_out_that_is_not_a_regular_file_is_refused(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a FIFO stands for a device (never /dev/null itself: as root, a rename replaces it)
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    err = _one_line_error(*_audit(["export", "--since", SINCE, "--out", str(fifo)], capsys))
    assert "not a regular file" in err
    assert _anchors(store) == 0 and fifo.is_fifo()
    assert not (tmp_path / "a-fifo.part").exists()


def test_an_out_that_is_the_store_itself_is_refused(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = store.read_bytes()
    err = _one_line_error(*_audit(["export", "--since", SINCE, "--out", str(store)], capsys))
    assert "is the store's database file" in err
    assert store.read_bytes() == before and _anchors(store) == 0


def test_an_out_in_a_place_that_cannot_be_written_is_refused(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    for out in (tmp_path / "a-file" / "audit.jsonl", tmp_path / "missing" / "audit.jsonl"):
        err = _one_line_error(*_audit(["export", "--since", SINCE, "--out", str(out)], capsys))
        assert f"cannot write {out}" in err
    assert _anchors(store) == 0


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_an_out_in_a_read_only_directory_is_refused(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        out = locked / "audit.jsonl"
        err = _one_line_error(*_audit(["export", "--since", SINCE, "--out", str(out)], capsys))
        assert f"cannot write {out}" in err
    finally:
        locked.chmod(0o700)
    assert _anchors(store) == 0 and list(locked.iterdir()) == []


def test_a_file_that_cannot_be_put_in_place_stores_no_anchor(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit.jsonl"

    def refuse(src: Any, dst: Any) -> None:
        raise IsADirectoryError(21, "Is a directory")

    monkeypatch.setattr(os, "replace", refuse)
    err = _one_line_error(*_audit(["export", "--since", SINCE, "--out", str(out)], capsys))
    assert f"cannot write {out}: Is a directory" in err
    assert _anchors(store) == 0
    assert not out.exists() and not list(tmp_path.glob("*.part"))


@pytest.fixture
def failing_commit(tmp_path: Path) -> Iterator[Path]:
    """Every commit fails once ``tmp_path / 'audit.jsonl'`` exists: the anchor's, after the
    file was put in place."""
    out = tmp_path / "audit.jsonl"

    def fail(conn: Any) -> None:
        if out.exists():
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(Engine, "commit", fail)
    try:
        yield out
    finally:
        event.remove(Engine, "commit", fail)


def test_an_anchor_that_cannot_be_committed_leaves_no_file(
    store: Path, failing_commit: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = failing_commit
    err = _one_line_error(*_audit(["export", "--since", SINCE, "--out", str(out)], capsys))
    assert "disk I/O error" in err and f"{out} was not written" in err
    assert _anchors(store) == 0
    assert not out.exists() and not list(out.parent.glob("*.part"))


# -- verify: whatever the file, one line --------------------------------------------------------


def test_a_line_with_a_lone_surrogate_is_altered_at_its_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(capsys, export)
    lines = export.read_text().splitlines(keepends=True)
    assert '"reason":"' in lines[3]
    lines[3] = lines[3].replace('"reason":"', '"reason":"\\ud800', 1)
    export.write_text("".join(lines))
    code, out = _verify(capsys, str(export))
    assert code == 1
    assert out == [
        f"{export}: line 4: altered: not a record of this export",
        f"{export}: 1 problem(s) found",
    ]


def test_a_csv_export_named_jsonl_is_read_as_csv(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(capsys, export, "csv")
    code, out = _verify(capsys, str(export))
    assert code == 0 and out[0].startswith(f"{export}: intact")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jsonl", b"", "is not an audit export"),
        ("binary.jsonl", bytes(range(256)) * 4, "is not an audit export"),
        ("utf16.jsonl", '{"kind": "header"}\n'.encode("utf-16"), "is not an audit export"),
        ("summary.json", b'{\n  "since": "2026-11-01T00:00:00Z",\n  "count": 8\n}\n', "is not"),
        ("a.835", b"ISA*00*          *00*          *ZZ*PAYER~GS*HP~\n", "is not an audit export"),
        ("columns.csv", b"kind,seq,id\nheader,,\n", "is not an audit export"),
        ("a-directory", None, "is a directory"),
    ],
)
def test_a_file_that_is_not_an_export_is_one_line_and_exit_2(
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    err = _one_line_error(*_audit(["verify", str(path)], capsys))
    assert message in err


@pytest.mark.parametrize("row_id", [2**63, -(2**63) - 1, 10**40])
def test_a_line_naming_a_row_id_no_store_can_hold_is_named(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], row_id: int
) -> None:
    export = tmp_path / "audit.jsonl"
    _export(capsys, export)
    lines = export.read_text().splitlines(keepends=True)
    record = json.loads(lines[3])
    lines[3] = json.dumps({**record, "id": row_id}) + "\n"
    export.write_text("".join(lines))
    code, out = _verify(capsys, str(export))
    assert code == 1
    assert out[0] == f"{export}: line 4: altered: its content does not match its hash"
