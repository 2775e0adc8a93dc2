"""Rule packs in force by date (issue 6, versions in force): the pack is chosen by a claim's
date of service, or by its receipt date when its plan says so; each decision records the
version; workers take up a changed pack without a restart, whole; accumulators start again
with a new plan year.

The rules folder of these tests is the shipped pack, plus a version from 2026-10-16 that adds
one rule: office visits (99213) are not covered (CO-96)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from claims_engine.adjudication.adjudicate import adjudicate
from claims_engine.adjudication.batch import Ledger
from claims_engine.cli.main import main
from claims_engine.rules.book import load_rulebook
from claims_engine.rules.engine import RuleError
from claims_engine.runtime import clock
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.reference import Runtime, load_runtime, store_reference
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store.db import engine_for, upgrade
from tests.integration.pipeline_support import NOW, REFERENCE, RULES
from tests.unit.adjudication.support import BUCKEYE, LIAM_HILL, claim_from_837

pytestmark = pytest.mark.integration

CHANGE = date(2026, 10, 16)
NEW_RULE = """
  - id: TEST-NO-OFFICE-VISITS
    description: From the new version on, 99213 is not covered
    effective_from: 2024-01-01
    scope: {procedures: ["99213"]}
    then: {deny: {group: CO, carc: "96", rarc: "N130"}}
"""


def _versioned_rules(root: Path) -> Path:
    """The shipped pack, and a copy of it with one rule more in force from ``CHANGE``."""
    rules = root / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("tests", "*.md"))
    version = rules / CHANGE.isoformat()
    version.mkdir()
    for file in RULES.glob("*.yaml"):
        shutil.copy(file, version / file.name)
    shared = version / "shared.yaml"
    shared.write_text(shared.read_text() + NEW_RULE)
    return rules


def _office_visit(day: date) -> str:
    d8 = day.strftime("%Y%m%d")
    return (
        LIAM_HILL
        + f"CLM*VISIT-{d8}*140***11:B:1*Y*A*Y*Y~\n"
        + "HI*ABK:J069~\nLX*1~\nSV1*HC:99213*140*UN*1***1~\n"
        + f"DTP*472*D8*{d8}~\n"
    )


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = engine_for(f"sqlite:///{tmp_path / 'claims.db'}")
    upgrade(engine)
    store_reference(engine, REFERENCE, NOW)
    return engine


def _carcs(runtime: Runtime, day: date, received: date) -> tuple[str, list[str]]:
    claim = claim_from_837(_office_visit(day), billing=BUCKEYE)
    ctx = runtime.context(received, claim)
    result = adjudicate(claim, ctx, "PCN0001")
    carcs = [a.reason for ln in result.decision.lines for a in ln.adjustments]
    assert result.decision.rule_pack_version == ctx.rule_pack_version
    return ctx.rule_pack_version, carcs


def test_the_pack_in_force_on_the_date_of_service_decides(store: Engine, tmp_path: Path) -> None:
    rules = _versioned_rules(tmp_path)
    runtime = load_runtime(store, rules)
    book = runtime.book
    assert [start for start, _ in book.versions] == [None, CHANGE]
    old, new = book.versions[0][1].version, book.versions[1][1].version
    assert old != new
    received = date(2026, 11, 2)
    # the day before the change, the day of it and the day after
    assert _carcs(runtime, date(2026, 10, 15), received) == (old, ["45", "3"])
    assert _carcs(runtime, CHANGE, received) == (new, ["96"])
    assert _carcs(runtime, date(2026, 10, 17), received) == (new, ["96"])


def test_a_plan_can_pick_its_pack_by_receipt_date(store: Engine, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(REFERENCE, reference)
    plans = reference / "plans.yaml"
    plans.write_text(
        plans.read_text().replace(
            '    pend_above: "25000.00"            # claims charging more than this wait for an '
            "examiner\n",
            '    pend_above: "25000.00"            # claims charging more than this wait for an '
            "examiner\n    rules_by: receipt_date\n",
            1,
        )
    )
    assert "rules_by: receipt_date" in plans.read_text()
    store_reference(store, reference, NOW)
    runtime = load_runtime(store, _versioned_rules(tmp_path))
    old, new = (pack.version for _, pack in runtime.book.versions)
    service = date(2026, 10, 10)  # before the change: the receipt date decides instead
    assert _carcs(runtime, service, date(2026, 10, 15))[0] == old
    assert _carcs(runtime, service, CHANGE)[0] == new
    assert _carcs(runtime, service, date(2026, 10, 17))[0] == new


def test_a_bad_plan_setting_is_refused_naming_the_plan(tmp_path: Path) -> None:
    from claims_engine.domain.benefits import load_plans
    from claims_engine.domain.errors import ConfigurationError

    plans = tmp_path / "plans.yaml"
    text = (REFERENCE / "plans.yaml").read_text()
    plans.write_text(text.replace("kind: medical", "kind: medical\n    rules_by: whim", 1))
    with pytest.raises(ConfigurationError, match="plan PPO-GOLD: rules_by is 'whim'"):
        load_plans(plans)


def test_workers_take_up_a_changed_pack_whole_without_a_restart(
    store: Engine, tmp_path: Path
) -> None:
    rules = _versioned_rules(tmp_path)
    first = load_runtime(store, rules, look_seconds=0)
    assert load_runtime(store, rules, look_seconds=0) is first  # nothing changed
    shared = rules / CHANGE.isoformat() / "shared.yaml"
    shared.write_text(shared.read_text().replace('carc: "96"', 'carc: "204"'))
    second = load_runtime(store, rules, look_seconds=0)
    assert second is not first
    assert second.book.versions[1][1].version != first.book.versions[1][1].version
    # a batch that started with the first runtime still has all of the first pack
    received = date(2026, 11, 2)
    assert _carcs(first, CHANGE, received)[1] == ["96"]
    assert _carcs(second, CHANGE, received)[1] == ["204"]
    # a folder that no longer loads is refused, naming the file and the rule
    shared.write_text(shared.read_text().replace("scope: {procedures", "scope: {procedurez"))
    with pytest.raises(RuleError, match=r"2026-10-16/shared\.yaml: rule \S+: unknown scope keys"):
        load_runtime(store, rules, look_seconds=0)


def test_dated_folders_must_be_dates(tmp_path: Path) -> None:
    rules = _versioned_rules(tmp_path)
    (rules / "2026-13-01").mkdir()
    with pytest.raises(RuleError, match="2026-13-01"):
        load_rulebook(rules)


def test_accumulators_start_again_with_the_plan_year() -> None:
    """LIAM HILL's PPO-GOLD deductible (500.00 in network) is met in December; a claim of
    January 2 of the next plan year meets a new deductible."""
    from tests.unit.adjudication.support import REFERENCE as REFERENCE_DATA

    def lab(day: date) -> str:
        d8 = day.strftime("%Y%m%d")
        return (
            LIAM_HILL
            + f"CLM*LAB-{d8}*80***11:B:1*Y*A*Y*Y~\n"
            + "HI*ABK:R5383~\nLX*1~\nSV1*HC:80053*80*UN*1***1~\n"
            + f"DTP*472*D8*{d8}~\n"
        )

    from claims_engine.adjudication.adjudicate import AdjudicationContext

    ledger = Ledger()
    deductibles = []
    for day in (date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 2)):
        claim = claim_from_837(lab(day))
        ctx = ledger.context_for(
            claim, AdjudicationContext(reference=REFERENCE_DATA, received_on=date(2026, 1, 5))
        )
        result = adjudicate(claim, ctx, f"PCN{day:%m%d}")
        ledger.record(result)
        deductibles.append(
            sum(
                (
                    a.amount
                    for ln in result.decision.lines
                    for a in ln.adjustments
                    if (a.group, a.reason) == ("PR", "1")
                ),
                Decimal(0),
            )
        )
    # 80053 allowed 48.75: the deductible takes it all on each claim in both years
    assert deductibles == [Decimal("48.75"), Decimal("48.75"), Decimal("48.75")]
    years = {k.plan_year for k in ledger.accumulators}
    assert years == {date(2025, 1, 1), date(2026, 1, 1)}
    by_year = {k.plan_year: v for k, v in ledger.accumulators.items() if k.bucket == "deductible"}
    assert by_year[date(2025, 1, 1)] == Decimal("97.50")
    assert by_year[date(2026, 1, 1)] == Decimal("48.75")


@pytest.mark.parametrize(
    ("today", "expected"), [("2026-10-15", "old"), ("2026-10-16", "new"), ("2026-10-17", "new")]
)
def test_the_version_used_is_shown_in_status_and_history(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    today: str,
    expected: str,
) -> None:
    """On a frozen clock, a plan picking rules by receipt date: the claim's status (the command
    line) names the version in force on the day it was received, and its adjudication event
    says it too. (The in-process workers are not run under freezegun: their queues wait on
    the clock.)"""
    reference = tmp_path / "reference"
    shutil.copytree(REFERENCE, reference)
    plans = reference / "plans.yaml"
    plans.write_text(
        plans.read_text().replace("kind: medical", "kind: medical\n    rules_by: receipt_date", 1)
    )
    rules = _versioned_rules(tmp_path)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(rules))
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    book = load_rulebook(rules)
    version = {"old": book.versions[0][1].version, "new": book.versions[1][1].version}[expected]
    raw = _envelope(_office_visit(date(2026, 10, 1))).encode()
    with freeze_time(f"{today} 09:30:00"):
        assert main(["db", "upgrade"]) == 0
        assert main(["reference", "load", str(reference)]) == 0
        # what the workers do, in this thread: each step reads the frozen clock as they would
        engine = engine_for(f"sqlite:///{tmp_path / 'claims.db'}")
        runtime = load_runtime(engine, rules)
        sub = submit(engine, raw, "visit.837", clock.now())
        for batch in ingest_interchange(engine, sub.interchange_id, runtime, clock.now()).batches:
            adjudicate_claims(engine, batch, runtime, clock.now())
        engine.dispose()
        capsys.readouterr()
        assert main(["status", "VISIT-20261001", "--npi", "2781759230", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    [view] = status if isinstance(status, list) else [status]
    assert view["rule_pack_version"] == version
    assert any(version in e["reason"] for e in view["history"]), view["history"]


def _envelope(body: str) -> str:
    head = (
        "ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*ACMEHP01       "
        "*261102*0900*^*00501*000000778*0*P*:~\n"
        "GS*HC*SUBMITTER01*ACMEHP01*20261102*0900*778*X*005010X222A1~\n"
        "ST*837*0001*005010X222A1~\n"
        "BHT*0019*00*VERSIONS*20261102*0900*CH~\n"
        "NM1*41*2*BUCKEYE CLAIMS EXCHANGE*****46*SUBMITTER01~\n"
        "PER*IC*EDI DEPARTMENT*TE*8005550100~\n"
        "NM1*40*2*ACME HEALTH PLAN*****46*ACMEHP01~\n"
        "HL*1**20*1~\n"
    )
    text = head + BUCKEYE + body
    segments = text.count("~") - 2
    return text + f"SE*{segments + 1}*0001~\nGE*1*778~\nIEA*1*000000778~\n"
