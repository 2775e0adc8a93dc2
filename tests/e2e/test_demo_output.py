"""What ``claims-engine demo`` tells its reader: times in the order things happened, nothing
paid for a pended claim, why the guides' examples are rejected, rows that can be told apart,
and each acknowledgment once.

The demo runs once, on a clock that moves a minute each time it is read, so a step given an
earlier step's time shows up out of order.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claims_engine.cli.main import EXIT_OK, main
from claims_engine.runtime import clock
from claims_engine.services.queries import ClaimFilter, search_claims
from claims_engine.store.db import engine_for

START = datetime(2026, 11, 2, 9, 30)


@dataclass(frozen=True)
class Demo:
    out: Path
    stdout: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    out = tmp_path_factory.mktemp("demo")
    ticks = itertools.count()
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        patch.setattr(clock, "now", lambda: START + timedelta(minutes=next(ticks)))
        code = main(["demo", "--out", str(out)])
    assert code == EXIT_OK, stderr.getvalue()
    assert "Traceback" not in stderr.getvalue()
    return Demo(out, stdout.getvalue())


def _one(folder: Path, pattern: str) -> dict[str, object]:
    (path,) = folder.glob(pattern)
    found: dict[str, object] = json.loads(path.read_text())
    return found


def test_a_claims_history_is_in_the_order_it_happened(demo: Demo) -> None:
    claim = _one(demo.out / "api", "claim-*.json")
    history = claim["history"]
    assert isinstance(history, list)
    assert [e["to"] for e in history] == ["accepted", "adjudicated", "remitted"]
    times = [e["at"] for e in history]
    assert times == sorted(times), history
    # every step its own time: the payment cycle ran after the claim was decided
    assert len(set(times)) == len(times), history


def test_the_explanation_of_benefit_was_updated_after_it_was_created(demo: Demo) -> None:
    eob = _one(demo.out / "api", "eob-*.json")
    meta = eob["meta"]
    assert isinstance(meta, dict)
    updated = datetime.fromisoformat(str(meta["lastUpdated"]))
    created = datetime.fromisoformat(str(eob["created"]))
    assert updated > created, (updated, created)


def test_the_decisions_table_shows_nothing_paid_for_pended_claims(demo: Demo) -> None:
    row = re.search(r"^  pended +([\d,]+) +([\d,.]+) +([\d,.]+) +([\d,.]+) +", demo.stdout, re.M)
    assert row is not None, demo.stdout
    assert int(row[1].replace(",", "")) > 0
    assert row[4] == "0.00", row[0]


def _pended_claim(out: Path) -> str:
    with contextlib.closing(sqlite3.connect(out / "claims.db")) as db:
        found = db.execute(
            "SELECT c.payer_claim_number FROM claims c JOIN adjudications a ON a.claim_id = c.id "
            "WHERE c.state = 'pended' AND a.outcome = 'pended' AND a.paid > 0 ORDER BY c.id"
        ).fetchone()
    assert found is not None, "the demo has no pended claim with an amount it would pay"
    return str(found[0])


def test_status_of_a_pended_claim_shows_nothing_paid(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    number = _pended_claim(demo.out)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{demo.out / 'claims.db'}")
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    assert main(["status", number]) == EXIT_OK
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert re.search(r"^  state +pended \(pended\)$", out, re.M), out
    assert re.search(r"^  paid +0\.00$", out, re.M), out

    assert main(["status", number, "--json"]) == EXIT_OK
    (view,) = json.loads(capsys.readouterr().out)
    assert view["state"] == "pended" and view["paid"] == "0.00", view


def _file_rows(stdout: str) -> list[tuple[str, int, int]]:
    """The demo's table of files: name, claims, rejected."""
    table = stdout.split("\nfile ", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    rows = [re.match(r"(\S+) +(\d+) +(\d+)(?:  |$)", row) for row in table]
    return [(m[1], int(m[2]), int(m[3])) for m in rows if m]


def test_the_demo_says_why_the_guides_examples_are_rejected(demo: Demo) -> None:
    guides = [r for r in _file_rows(demo.stdout) if re.match(r"x12/837[dip]/", r[0])]
    claims, rejected = sum(r[1] for r in guides), sum(r[2] for r in guides)
    assert (claims, rejected) == (30, 29)
    paragraphs = [" ".join(p.split()) for p in demo.stdout.split("\n\n")]
    (said,) = [p for p in paragraphs if "The implementation guides' examples" in p]
    said = said.split("The implementation guides' examples", 1)[1]
    assert f"rejected as expected, {rejected} of their {claims} claims" in said
    assert "NPIs are made up" in said and "ZIP codes have five digits" in said


def test_every_file_row_names_its_file_apart(demo: Demo) -> None:
    names = [name for name, _, _ in _file_rows(demo.stdout)]
    samples = sorted((Path(__file__).parents[2] / "fixtures" / "x12").glob("*/*.edi"))
    assert len(names) == len(samples) + 1  # and the generated batch
    assert len(set(names)) == len(names), names
    for name, sample in zip(names, samples, strict=False):
        head, _, tail = name.partition("...")
        assert str(sample).endswith(tail) and head in str(sample), (name, sample)


def test_the_duplicate_is_answered_with_one_ta1_file(demo: Demo) -> None:
    ta1s = sorted(demo.out.glob("acks/*.ta1.x12"))
    answers = [p for p in ta1s if "*025~" in p.read_text()]
    assert [p.name for p in answers] == ["resubmission.ta1.x12"]
    written = [ln.strip() for ln in demo.stdout.splitlines() if ln.strip().endswith(".ta1.x12")]
    assert len(written) == len(set(written)) == len(ta1s)


def test_a_search_lists_pended_claims_with_nothing_paid(demo: Demo) -> None:
    number = _pended_claim(demo.out)
    engine = engine_for(f"sqlite:///{demo.out / 'claims.db'}")
    try:
        with engine.connect() as conn:
            found = search_claims(conn, None, ClaimFilter(state="pended"), limit=100)
    finally:
        engine.dispose()
    assert number in {s.payer_claim_number for s in found}
    assert {s.paid for s in found} == {Decimal("0.00")}, found


def test_the_demo_ends_with_a_pended_claim_worked_to_payment(demo: Demo) -> None:
    tour = demo.stdout.split("examiner's queues", 1)[1].split("\nwhole flow", 1)[0]
    worked = re.search(r"^claim (\d+) \((\d+)\), queue ([a-z-]+)", tour, re.M)
    assert worked, tour
    released = re.search(
        r"^examiner-demo released it: claim \d+ (paid|partly paid): paid ", tour, re.M
    )
    assert released, tour
    paid = re.search(r"^paid in (835-\S+\.x12) \(trace \d+\): (CLP\*[^\n]+)$", tour, re.M)
    assert paid, tour
    clp = paid[2].split("*")
    assert clp[7] == worked[2] and clp[2] in ("1", "2", "3")  # a payment, not a denial
    # the 835 is on disk as listed, and the store no longer holds the claim in a queue
    assert (demo.out / "835" / paid[1]).read_text().count(worked[2]) == 1
    with sqlite3.connect(demo.out / "claims.db") as db:
        (state,) = db.execute("SELECT state FROM claims WHERE id = ?", (int(worked[1]),)).fetchone()
        queued = db.execute(
            "SELECT count(*) FROM pended_claims WHERE claim_id = ?", (int(worked[1]),)
        ).fetchone()
    assert (state, queued) == ("remitted", (0,))


def test_the_pended_commands_on_the_demo_store_refuse_bad_input_in_one_line(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{demo.out / 'claims.db'}")
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    monkeypatch.delenv("CLAIMS_EXAMINER", raising=False)
    assert main(["pended", "queues", "--json"]) == EXIT_OK
    queues = {q["queue"]: q["claims"] for q in json.loads(capsys.readouterr().out)}
    assert queues.get("high-dollar", 0) >= 1
    assert main(["pended", "list", "high-dollar", "--json"]) == EXIT_OK
    first = json.loads(capsys.readouterr().out)["claims"][0]["claim_id"]
    cases = [
        (["pended", "list", "nosuch"], 2, "no queue 'nosuch'"),
        (["pended", "list", "high-dollar", "--after", "x"], 2, "is not a page cursor"),
        (["pended", "show", "99999999"], 1, "claim 99999999 not found"),
        (["pended", "release", str(first), "--why", "x"], 2, "say who acts"),
        (["pended", "deny", str(first), "--carc", "96", "--as", "bob", "--why", "x"], 2, "RARC"),
        (
            ["pended", "price", str(first), "--line", "1", "--as", "bob", "--why", "x"],
            2,
            "--allowed",
        ),
        (["pended", "approve", "99999", "--as", "bob"], 1, "action 99999 not found"),
        (["pended", "take", str(first), "--as", "bad name!"], 2, "examiner name"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        _out, err = capsys.readouterr()
        assert "Traceback" not in err and message in err and err.count("\n") == 1, (argv, err)
    assert main(["pended", "show", str(first)]) == EXIT_OK
    assert "pend reasons:" in capsys.readouterr().out
