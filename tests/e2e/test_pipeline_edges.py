"""The pipeline's commands at their edges (issue 16.2): ids the store does not know, an output
that is not a directory, a first submit on the embedded defaults, a reader that leaves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from claims_engine.runtime import clock
from tests.e2e.cli_support import FROZEN_AT, REFERENCE, ROOT, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run


@pytest.fixture
def store(sqlite_store: str, tmp_path: Path) -> Path:
    return tmp_path


def _ready(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0


def _lines(err: str) -> list[str]:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert all(line.startswith("claims-engine: ") for line in lines), err
    return lines


def test_acks_writes_the_known_interchanges_and_names_each_unknown_one(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ready(capsys)
    assert _run(["submit", str(TWO_CLAIMS)], capsys)[0] == 0
    out_dir = store / "acks"
    huge = "99999999999999999999999"  # no row id: past SQLite's INTEGER and PostgreSQL's BIGINT
    code, out, err = _run(["acks", "1", "999", huge, "--out", str(out_dir)], capsys)
    assert code == 1
    written = out.split()
    assert written and all(Path(p).is_file() for p in written)
    assert any(p.endswith(".999.x12") for p in written)
    assert _lines(err) == [
        "claims-engine: interchange 999: no such interchange",
        f"claims-engine: interchange {huge}: no such interchange",
    ]
    code, out, err = _run(["acks", "1", "--out", str(store / "again")], capsys)
    assert code == 0 and err == "" and len(out.split()) == len(written)


def test_remittances_writes_the_known_traces_and_names_each_unknown_one(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ready(capsys)
    assert _run(["submit", str(TWO_CLAIMS)], capsys)[0] == 0
    code, out, _ = _run(["remit", "--out", str(store / "835"), "--json"], capsys)
    assert code == 0
    trace = json.loads(out)["remittances"][0]["trace_number"]
    code, out, err = _run(["remittances", trace, "NOSUCH", "--out", str(store / "again")], capsys)
    assert code == 1
    [path] = out.split()
    assert Path(path).is_file() and trace in path
    assert _lines(err) == ["claims-engine: trace number NOSUCH: no 835 with this trace number"]


def test_remit_into_a_file_is_refused_before_any_work(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ready(capsys)
    assert _run(["submit", str(TWO_CLAIMS)], capsys)[0] == 0
    a_file = store / "a-file"
    a_file.write_text("")
    for command in (["remit"], ["acks", "1"], ["remittances"]):
        code, _, err = _run([*command, "--out", str(a_file)], capsys)
        assert code == 2
        assert _lines(err) == [
            f"claims-engine: error: --out {a_file} is not a directory: --out must be a directory"
        ]
    code, out, _ = _run(["remit", "--out", str(store / "835"), "--json"], capsys)
    assert code == 0 and json.loads(out)["remittances"]  # the refused run paid nothing


def _sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every message the in-process actors are sent, as (actor, first argument)."""
    from workers import actors

    sent: list[tuple[str, Any]] = []
    enqueue = actors.broker.enqueue

    def spy(message: Any, *, delay: int | None = None) -> Any:
        if delay is None:  # a delayed one is a retry or a deferral, not a send
            sent.append((message.actor_name, message.args[0] if message.args else None))
        return enqueue(message, delay=delay)

    monkeypatch.setattr(actors.broker, "enqueue", spy)
    return sent


def test_a_first_submit_works_each_interchange_and_batch_once(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ready(capsys)
    sent = _sent(monkeypatch)
    code, _, err = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 0, err
    assert "sweep" not in err
    assert [name for name, _ in sent].count("ingest_interchange") == 1
    batches = [arg for name, arg in sent if name == "adjudicate_batch"]
    assert len(batches) == 1  # the two claims, decided once
    code, out, _ = _run(["stats", "--json"], capsys)
    stats = json.loads(out)
    assert stats["interchanges"]["ingested"] == 1
    assert stats["claims"]["adjudicated"] + stats["claims"]["pended"] == 2


def test_submit_still_works_what_an_interrupted_run_left(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from claims_engine.cli.pipeline_commands import store_engine
    from claims_engine.services.intake import submit

    _ready(capsys)
    # stored, never queued: what a run killed between its store and its queue leaves
    with freeze_time(FROZEN_AT):
        left = submit(store_engine(), TWO_CLAIMS.read_bytes(), "left.edi", clock.now())
    other = store / "other.edi"
    assert (
        _run(["fixtures", "generate", "--claims", "2", "--seed", "3", "--out", str(other)], capsys)[
            0
        ]
        == 0
    )
    sent = _sent(monkeypatch)
    code, _, err = _run(["submit", str(other)], capsys)
    assert code == 0, err
    ingested = [arg for name, arg in sent if name == "ingest_interchange"]
    assert sorted(ingested) == [left.interchange_id, left.interchange_id + 1]
    code, out, _ = _run(["stats", "--json"], capsys)
    assert json.loads(out)["interchanges"]["ingested"] == 2


def test_a_reader_that_leaves_ends_the_command_quietly(tmp_path: Path) -> None:
    out = str(tmp_path / "acks")
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` gone before the first line
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "claims_engine.cli.main",
                "ingest",
                str(TWO_CLAIMS),
                "--out",
                out,
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "CLAIMS_LOG_LEVEL": "error"},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
    assert done.returncode in (0, 141)
