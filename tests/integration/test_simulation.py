"""What-if simulation (issue 6, section 4): stored claims adjudicated again under a candidate
pack, the impact worked out by hand, and the store left exactly as it was.

The store holds four claims, each in its own interchange, adjudicated by the pipeline's
services under the shipped rules:

- three office visits (99213, charge 140.00) of PPO-GOLD members, received 2026-11-02: the fee
  schedule allows 88.20 (CO-45 51.80), the office-visit copay is 25.00 (PR-3), the plan pays
  63.20;
- a comprehensive metabolic panel (80053) of an HMO-SILVER member, received 2026-11-03.

The candidate is the shipped pack plus one rule denying 99213 (CO-96). By hand: the three visits
change, each from paid 63.20 to denied 0.00; paid delta 3 x -63.20 = -189.60; the copay no
longer applies and the denial is the provider's (CO), so the patient's share falls by
3 x 25.00 = 75.00; CO-96 comes on three claims (+420.00 adjusted), CO-45 (-155.40) and PR-3
(-75.00) go. The lab claim does not change.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select

from claims_engine.cli.simulate_commands import cmd_simulate
from claims_engine.domain.errors import ConfigurationError
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store.db import engine_for
from tests.integration.pipeline_support import RULES, prepared_store
from tests.unit.adjudication.support import BUCKEYE, subscriber

pytestmark = pytest.mark.integration

DENY_OFFICE_VISITS = """
  - id: SIM-NO-OFFICE-VISITS
    description: The candidate no longer covers 99213
    effective_from: 2024-01-01
    scope: {procedures: ["99213"]}
    then: {deny: {group: CO, carc: "96", rarc: "N130"}}
"""
VISITORS = [
    subscriber("PG00000100", "HILL", "LIAM", "19871227", "M", "PPO-GOLD"),
    subscriber("PG00000200", "JOHNSON", "SOPHIA", "19751120", "F", "PPO-GOLD"),
    subscriber("PG00000500", "GARCIA", "LISA", "19820407", "F", "PPO-GOLD"),
]
PATEL = subscriber("HS00005100", "PATEL", "ROBERT", "19690911", "M", "HMO-SILVER")
FIRST_DAY = datetime(2026, 11, 2, 9, 30)
SECOND_DAY = datetime(2026, 11, 3, 9, 30)


def _visit(member: str, n: int) -> str:
    return (
        member
        + f"CLM*VISIT-{n}*140***11:B:1*Y*A*Y*Y~\n"
        + "HI*ABK:J069~\nLX*1~\nSV1*HC:99213*140*UN*1***1~\nDTP*472*D8*20261015~\n"
    )


def _lab(member: str) -> str:
    return (
        member
        + "CLM*LAB-1*80***11:B:1*Y*A*Y*Y~\n"
        + "HI*ABK:R5383~\nLX*1~\nSV1*HC:80053*80*UN*1***1~\nDTP*472*D8*20261016~\n"
    )


def _envelope(body: str, control: int) -> bytes:
    head = (
        "ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*ACMEHP01       "
        f"*261102*0900*^*00501*{control:09d}*0*P*:~\n"
        f"GS*HC*SUBMITTER01*ACMEHP01*20261102*0900*{control}*X*005010X222A1~\n"
        "ST*837*0001*005010X222A1~\n"
        "BHT*0019*00*SIMULATE*20261102*0900*CH~\n"
        "NM1*41*2*BUCKEYE CLAIMS EXCHANGE*****46*SUBMITTER01~\n"
        "PER*IC*EDI DEPARTMENT*TE*8005550100~\n"
        "NM1*40*2*ACME HEALTH PLAN*****46*ACMEHP01~\n"
        "HL*1**20*1~\n"
    )
    text = head + BUCKEYE + body
    segments = text.count("~") - 2
    text += f"SE*{segments + 1}*0001~\nGE*1*{control}~\nIEA*1*{control:09d}~\n"
    return text.encode()


def _fill(engine: Engine) -> None:
    runtime = prepared_store(engine)
    bodies = [(_visit(m, n), FIRST_DAY) for n, m in enumerate(VISITORS, 1)]
    bodies.append((_lab(PATEL), SECOND_DAY))
    for control, (body, now) in enumerate(bodies, 901):
        sub = submit(engine, _envelope(body, control), f"claim-{control}", now)
        ingested = ingest_interchange(engine, sub.interchange_id, runtime, now)
        assert ingested.claims_accepted == 1, ingested
        for batch in ingested.batches:
            adjudicate_claims(engine, batch, runtime, now)


def _candidate(root: Path) -> Path:
    rules = root / "candidate"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("tests", "*.md"))
    shared = rules / "shared.yaml"
    shared.write_text(shared.read_text() + DENY_OFFICE_VISITS)
    return rules


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    monkeypatch.setenv("CLAIMS_DATABASE_URL", url)
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    return url


def _args(candidate: Path, out: Path, **kw: Any) -> argparse.Namespace:
    options: dict[str, Any] = {
        "since": None,
        "until": None,
        "plan": None,
        "processes": 1,
        "json": False,
    }
    options.update(kw)
    return argparse.Namespace(candidate=candidate, out=out, **options)


def _run(candidate: Path, out: Path, **kw: Any) -> str:
    from workers.settings import environment

    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        assert cmd_simulate(_args(candidate, out, **kw), stdout, stderr) == 0
    finally:
        environment().dispose()  # no connection left open on the database file
    return stdout.getvalue()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("processes", [1, 2])
def test_the_impact_of_a_rule_denying_office_visits(
    env: str, tmp_path: Path, processes: int
) -> None:
    store = engine_for(env)
    _fill(store)
    store.dispose()
    database = tmp_path / "claims.db"
    before = _sha256(database)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "report"

    table = _run(_candidate(tmp_path), out, processes=processes)

    # the store is byte for byte as it was, and no journal or WAL file was left beside it
    assert _sha256(database) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("report", "candidate")) == [
        n for n in files_before if n != "candidate"
    ]
    assert "simulated 4 claims" in table
    assert "claims changed  3" in table
    assert "(-189.60)" in table  # paid
    assert "(-75.00)" in table  # patient responsibility

    changed = _csv(out / "changed_claims.csv")
    assert [r["claim_id"] for r in changed] == ["VISIT-1", "VISIT-2", "VISIT-3"]
    for r in changed:
        assert (r["outcome_before"], r["outcome_after"]) == ("paid", "denied")
        assert (r["paid_before"], r["paid_after"], r["paid_delta"]) == ("63.20", "0.00", "-63.20")
        assert r["patient_responsibility_before"] == "25.00"
        assert r["patient_responsibility_after"] == "0.00"
        assert r["patient_responsibility_delta"] == "-25.00"
        assert r["codes_added"] == "CO-96"
        assert r["codes_removed"] == "CO-45 PR-3"
        assert r["rules_added"] == "SIM-NO-OFFICE-VISITS"
        assert r["procedures"] == "99213"
        assert "SIM-NO-OFFICE-VISITS" in r["why"] and "CO-96" in r["why"]
        assert r["plan_id"] == "PPO-GOLD"
        assert r["billing_npi"] == "2781759230"

    by_plan = _csv(out / "by_plan.csv")
    assert by_plan == [
        {
            "plan": "PPO-GOLD",
            "claims_changed": "3",
            "paid_delta": "-189.60",
            "patient_responsibility_delta": "-75.00",
        }
    ]
    by_procedure = _csv(out / "by_procedure.csv")
    assert [(r["procedure"], r["claims_changed"], r["paid_delta"]) for r in by_procedure] == [
        ("99213", "3", "-189.60")
    ]
    by_provider = _csv(out / "by_provider.csv")
    assert [(r["provider"], r["paid_delta"]) for r in by_provider] == [("2781759230", "-189.60")]
    by_reason = {r["reason"]: r for r in _csv(out / "by_reason.csv")}
    assert set(by_reason) == {"CO-96", "CO-45", "PR-3"}
    assert (by_reason["CO-96"]["claims_added"], by_reason["CO-96"]["amount_delta"]) == (
        "3",
        "420.00",
    )
    assert (by_reason["CO-45"]["claims_removed"], by_reason["CO-45"]["amount_delta"]) == (
        "3",
        "-155.40",
    )
    assert (by_reason["PR-3"]["claims_removed"], by_reason["PR-3"]["amount_delta"]) == (
        "3",
        "-75.00",
    )

    page = (out / "report.html").read_text()
    assert page.count("<svg") == 4
    assert 'class="neg"' in page
    assert "VISIT-1" in page and "VISIT-3" in page and "LAB-1" not in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_plan_and_dates_choose_the_claims(env: str, tmp_path: Path) -> None:
    store = engine_for(env)
    _fill(store)
    store.dispose()
    candidate = _candidate(tmp_path)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"plan": "PPO-GOLD"}, "simulated 3 claims", "claims changed  3"),
        ({"plan": "HMO-SILVER"}, "simulated 1 claims", "claims changed  0"),
        ({"since": date(2026, 11, 3)}, "simulated 1 claims", "claims changed  0"),
        ({"until": date(2026, 11, 2)}, "simulated 3 claims", "claims changed  3"),
    ]
    for k, (options, simulated, changed) in enumerate(cases):
        table = _run(candidate, tmp_path / f"out-{k}", **options)
        assert simulated in table and changed in table, (options, table)


def test_bad_input_is_one_line(env: str, tmp_path: Path) -> None:
    store = engine_for(env)
    _fill(store)
    store.dispose()
    candidate = _candidate(tmp_path)
    shared = candidate / "shared.yaml"
    shared.write_text(
        shared.read_text().replace(
            DENY_OFFICE_VISITS, DENY_OFFICE_VISITS.replace("procedures", "procedurez")
        )
    )
    with pytest.raises(ConfigurationError, match=r"shared\.yaml: rule SIM-NO-OFFICE-VISITS"):
        _run(candidate, tmp_path / "out")
    good = _candidate(tmp_path / "good")
    with pytest.raises(ConfigurationError, match="unknown plan 'NOPE'"):
        _run(good, tmp_path / "out", plan="NOPE")
    with pytest.raises(ConfigurationError, match="is after --until"):
        _run(good, tmp_path / "out", since=date(2026, 11, 3), until=date(2026, 11, 2))
    with pytest.raises(ConfigurationError, match="missing: no such rules folder"):
        _run(tmp_path / "missing", tmp_path / "out")
    # through the command line: exit 2 and the one line
    from claims_engine.cli.main import main

    code = main(["rules", "simulate", "--candidate", str(candidate), "--out", str(tmp_path / "o")])
    assert code == 2


def _dump(engine: Engine) -> dict[str, list[Any]]:
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]
            for name, table in sorted(meta.tables.items())
        }


def test_postgresql_rows_are_unchanged(postgres_engine: Engine, tmp_path: Path) -> None:
    from claims_engine.services.reference import load_runtime
    from claims_engine.services.simulation import SimulationRequest, simulate

    _fill(postgres_engine)
    before = _dump(postgres_engine)
    runtime = load_runtime(postgres_engine, RULES)
    request = SimulationRequest(
        database_url=postgres_engine.url.render_as_string(hide_password=False),
        rules_dir=RULES,
        candidate=_candidate(tmp_path),
        processes=2,
    )
    result = simulate(postgres_engine, runtime, request)
    assert _dump(postgres_engine) == before
    assert len(result.changed) == 3
    assert result.totals.claims == 4
    assert result.totals.paid_after - result.totals.paid_before == Decimal("-189.60")
    assert result.totals.patient_after - result.totals.patient_before == Decimal("-75.00")
