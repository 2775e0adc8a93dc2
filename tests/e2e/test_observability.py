"""Logs and metrics of a whole run hold no PHI: ``claims-engine demo`` at debug level, every
log line a JSON object, scanned with every metric line of its API's ``/metrics`` for every
member, patient and subscriber value of the fixtures (names, birth dates as YYYYMMDD and
YYYY-MM-DD, member ids, addresses, phone numbers)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from claims_engine.observability.logs import configure_logging, log_context

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
PERSON_ENTITIES = {"IL", "QC"}  # subscriber, patient
MIN_LINES = 40


def phi_of_members(path: Path) -> set[str]:
    found: set[str] = set()
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for key in ("member_id", "subscriber_id", "last_name", "first_name", "address_line"):
                found.add(row[key])
            found.update(_dates(row["birth_date"].replace("-", "")))
            found.update((row["city"], row["zip"]))
    return found


def phi_of_837(text: str) -> set[str]:
    """Names, ids, birth dates, addresses and phone numbers of the subscribers and patients of
    an 837 (the NM1*IL / NM1*QC loops and their N3, N4, DMG and PER segments)."""
    found: set[str] = set()
    term = text[105] if len(text) > 105 and text.startswith("ISA") else "~"
    sep = text[3] if text.startswith("ISA") else "*"
    entity = ""
    for raw in text.split(term):
        e = raw.strip().split(sep)
        tag = e[0]
        if tag == "NM1":
            entity = e[1] if len(e) > 1 else ""
            if entity in PERSON_ENTITIES:
                found.update(e[3:5])  # last and first name
                if len(e) > 9:
                    found.add(e[9])  # member id
        elif entity not in PERSON_ENTITIES:
            continue
        elif tag == "DMG" and len(e) > 2:
            found.update(_dates(e[2]))
        elif tag == "N3":
            found.update(e[1:3])
        elif tag == "N4":
            found.update(e[1:2] + e[3:4])  # city, postal code
        elif tag == "PER":
            found.update(e[i] for i in (4, 6, 8) if len(e) > i)  # numbers
    return found


def _dates(yyyymmdd: str) -> set[str]:
    if not re.fullmatch(r"\d{8}", yyyymmdd):
        return set()
    return {yyyymmdd, f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"}


def phi_values(inputs: list[Path]) -> set[str]:
    values = phi_of_members(FIXTURES / "reference" / "members.csv")
    for path in inputs:
        values |= phi_of_837(path.read_text(errors="replace"))
    # too short to mean anything on their own (initials, state codes)
    return {v.strip() for v in values if len(v.strip()) >= 3}


def hits(line: str, values: set[str]) -> set[str]:
    """PHI values standing as whole words in ``line`` (an amount such as 43141.65 is one
    word: the ZIP code 43141 is not in it)."""
    words = set(re.findall(r"\d+\.\d+|[A-Za-z0-9]+(?:[-][A-Za-z0-9]+)*", line))
    found = {v for v in values if v in words}
    return found | {v for v in values if " " in v and v in line}


def test_an_amount_is_not_a_postal_code_but_a_postal_code_is_found() -> None:
    values = {"43141", "SMITH"}
    assert hits("remittance written: paid 43141.65", values) == set()
    assert hits("member at 43141, paid 10.00", values) == {"43141"}
    assert hits("name SMITH-JONES", values) == set() and hits("SMITH, paid", values) == {"SMITH"}


def test_the_837_parser_finds_people() -> None:
    sample = (FIXTURES / "x12" / "837p").glob("*.edi")
    values = set().union(*(phi_of_837(p.read_text()) for p in sample))
    assert {"SMITH", "JANE", "111223333", "19430501", "1943-05-01", "236 N MAIN ST"} <= values


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "CLAIMS_LOG_LEVEL": "debug", "CLAIMS_LOG_FORMAT": "json"}
    env.pop("CLAIMS_DATABASE_URL", None)
    env.pop("CLAIMS_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "claims_engine.cli.main", "demo", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stderr.splitlines()


def test_demo_logs_are_json_lines_with_the_events(demo_run: tuple[Path, list[str]]) -> None:
    _out, lines = demo_run
    assert len(lines) >= MIN_LINES, lines
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    messages = " | ".join(e["message"] for e in entries)
    assert "interchange received for intake" in messages
    assert "claims accepted" in messages and "batch adjudicated" in messages
    assert "claim decided" in messages and "remittance written" in messages
    assert any(e["level"] == "debug" for e in entries)
    assert any("interchange_id" in e for e in entries)
    assert any("payer_claim_number" in e for e in entries)


def test_demo_logs_and_metrics_hold_no_phi(demo_run: tuple[Path, list[str]]) -> None:
    out, lines = demo_run
    inputs = [*sorted((FIXTURES / "x12").glob("837*/*.edi")), *(out / "inputs").glob("*.837")]
    values = phi_values(inputs)
    assert len(values) > 100  # the fixtures' people, to look for
    exposition = (out / "api" / "metrics.txt").read_text()
    families = list(text_string_to_metric_families(exposition))
    names = {f.name for f in families}
    assert {"claims_received", "claims_adjudicated", "claims_paid_amount"} <= names
    metric_lines = [line for line in exposition.splitlines() if line and line[0] != "#"]
    assert len(metric_lines) >= 20
    scanned = 0
    for line in [*lines, *metric_lines]:
        found = hits(line, values)
        assert not found, f"PHI {found} in: {line}"
        scanned += 1
    assert scanned >= MIN_LINES + 20


def test_correlation_ids_and_text_format(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    stream = io.StringIO()
    monkeypatch.setenv("CLAIMS_LOG_FORMAT", "json")
    configure_logging("debug", stream=stream)
    log = logging.getLogger("claims_engine.test")
    try:
        with log_context(interchange_id=7):
            with log_context(payer_claim_number="2611020001"):
                log.debug("inner", extra={"claims": 3})
            log.info("outer")
        log.info("none")
        logging.getLogger("sqlalchemy.engine").info("SELECT secrets")  # held at warning
        monkeypatch.setenv("CLAIMS_LOG_FORMAT", "text")
        configure_logging("info", stream=stream)
        with log_context(interchange_id=8):
            log.info("plain")
    finally:
        configure_logging()
    json_lines = [json.loads(x) for x in stream.getvalue().splitlines()[:3]]
    assert json_lines[0]["interchange_id"] == 7 and json_lines[0]["claims"] == 3
    assert json_lines[0]["payer_claim_number"] == "2611020001"
    assert "payer_claim_number" not in json_lines[1] and json_lines[1]["interchange_id"] == 7
    assert "interchange_id" not in json_lines[2]
    rest = stream.getvalue().splitlines()[3:]
    assert len(rest) == 1 and rest[0].endswith("plain interchange_id=8")
