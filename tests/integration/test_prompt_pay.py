"""The prompt-payment report on hand-made data, on SQLite and PostgreSQL.

All claims are received on 2026-11-02 (but one, received 2026-09-23, outside the range):

- Gold PPO, LIAM HILL (PG00000100): three claims that pend for pricing (an unlisted procedure,
  17999) and are priced by an examiner 10, 40 and 100 days after receipt: 1 of 3 (33.3%) was
  decided within 30 days, 2 of 3 (66.7%) within 90. A fourth waited for information from its
  provider: decided in 6 days, but not clean, so in neither share. A fifth has a date of
  service after its receipt and is rejected at intake: not a claim the plan had to decide.
- Silver HMO, ROBERT PATEL (HS00005100): an office visit decided the day it came (within 30 and
  90 days), and one not adjudicated yet (undecided): 50.0% and 50.0%.
- Every plan: 5 clean claims, 2 decided within 30 days (40.0%), 3 within 90 (60.0%).
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from claims_engine.cli.main import main
from claims_engine.domain.errors import ConfigurationError
from claims_engine.services import examination as ex
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.prompt_pay import prompt_pay
from claims_engine.services.reference import Runtime
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, RULES, prepared_store
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837, subscriber

pytestmark = pytest.mark.integration

ALICE = ex.Examiner("alice")
ROBERT_PATEL = subscriber("HS00005100", "PATEL", "ROBERT", "19690911", "M", "HMO-SILVER")
SINCE, UNTIL = date(2026, 11, 1), date(2026, 11, 30)
VISIT = "LX*1~\nSV1*HC:99213*140*UN*1***1~\nDTP*472*D8*{day}~\n"
UNLISTED = "LX*2~\nSV1*HC:17999*800*UN*1***1~\nDTP*472*D8*{day}~\n"


def _claim(
    engine: Engine,
    runtime: Runtime,
    who: str,
    claim_id: str,
    control: int,
    *,
    unlisted: bool = False,
    received: datetime = NOW,
    served: str = "20261020",
    adjudicate: bool = True,
) -> int:
    """Submit one claim received at ``received``, read it in and (unless told not to)
    adjudicate it then; its row id."""
    total = "940" if unlisted else "140"
    body = (
        who
        + f"CLM*{claim_id}*{total}***11:B:1*Y*A*Y*Y~\nHI*ABK:L989~\n"
        + VISIT.format(day=served)
        + (UNLISTED.format(day=served) if unlisted else "")
    )
    out = io.StringIO()
    write_837(
        [claim_from_837(body)],
        out,
        interchange_control=control,
        created=received,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    sub = submit(engine, out.getvalue().encode(), f"claim-{control}.837", received)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, received).batches:
        if adjudicate:
            adjudicate_claims(engine, batch, runtime, received)
    c = t.claims_table.c
    with engine.connect() as conn:
        return int(
            conn.execute(select(c.id).where(c.interchange_id == sub.interchange_id)).scalar_one()
        )


def _price(engine: Engine, runtime: Runtime, claim_id: int, days: int) -> None:
    result = ex.act(
        engine,
        runtime,
        claim_id,
        ALICE,
        ex.Price("priced from the op note", 2, Decimal("700.00")),
        NOW + timedelta(days=days),
    )
    assert result.claim_state == "adjudicated"


def _store(engine: Engine, runtime: Runtime) -> None:
    for n, days in enumerate((10, 40, 100), start=1):
        claim_id = _claim(
            engine, runtime, LIAM_HILL, f"PP-GOLD-{days}", n, unlisted=True, served=f"2026100{n}"
        )
        _price(engine, runtime, claim_id, days)
    asked = _claim(engine, runtime, LIAM_HILL, "PP-GOLD-ASKED", 4, unlisted=True, served="20261004")
    ex.act(
        engine,
        runtime,
        asked,
        ALICE,
        ex.RequestInfo("need the report", "Send the operative report"),
        NOW + timedelta(days=1),
    )
    ex.act(engine, runtime, asked, ALICE, ex.InfoReceived("came"), NOW + timedelta(days=5))
    _price(engine, runtime, asked, 6)
    _claim(engine, runtime, LIAM_HILL, "PP-GOLD-FUTURE", 5, served="20261201")  # rejected
    _claim(
        engine,
        runtime,
        LIAM_HILL,
        "PP-GOLD-OLD",
        6,
        received=NOW - timedelta(days=40),
        served="20260901",
    )
    _claim(engine, runtime, ROBERT_PATEL, "PP-SILVER-1", 7)
    _claim(engine, runtime, ROBERT_PATEL, "PP-SILVER-2", 8, adjudicate=False)


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return prepared_store(engine)


def test_clean_claims_decided_within_30_and_90_days_by_plan(
    engine: Engine, runtime: Runtime
) -> None:
    _store(engine, runtime)
    report = prompt_pay(engine, runtime.reference, SINCE, UNTIL).as_json()
    silver, gold = report["plans"]  # by plan id
    assert gold == {
        "plan_id": "PPO-GOLD",
        "plan_name": "Gold PPO",
        "received": 4,
        "clean": 3,
        "not_clean": 1,
        "decided": 3,
        "undecided": 0,
        "within_30_days": 1,
        "within_30_days_percent": 33.3,
        "within_90_days": 2,
        "within_90_days_percent": 66.7,
    }
    assert silver == {
        "plan_id": "HMO-SILVER",
        "plan_name": "Silver HMO",
        "received": 2,
        "clean": 2,
        "not_clean": 0,
        "decided": 1,
        "undecided": 1,
        "within_30_days": 1,
        "within_30_days_percent": 50.0,
        "within_90_days": 1,
        "within_90_days_percent": 50.0,
    }
    total = report["total"]
    assert (total["plan_id"], total["received"], total["clean"], total["decided"]) == (
        None,
        6,
        5,
        4,
    )
    assert (total["within_30_days_percent"], total["within_90_days_percent"]) == (40.0, 60.0)
    assert (report["since"], report["until"], report["bounds_days"]) == (
        "2026-11-01",
        "2026-11-30",
        [30, 90],
    )
    # the claim received in September is in its own range, decided the day it came
    (old,) = prompt_pay(engine, runtime.reference, date(2026, 9, 1), date(2026, 10, 31)).plans
    assert (old.plan_id, old.clean, old.within[30]) == ("PPO-GOLD", 1, 1)
    # a range with no claim: no plan, and no share to tell
    empty = prompt_pay(engine, runtime.reference, date(2027, 1, 1), date(2027, 1, 31))
    assert empty.plans == () and empty.total.percent(30) is None


def test_an_empty_range_is_refused(engine: Engine, runtime: Runtime) -> None:
    with pytest.raises(ConfigurationError, match="--since 2026-12-01 is after --until"):
        prompt_pay(engine, runtime.reference, date(2026, 12, 1), date(2026, 11, 1))


def test_the_command_prints_a_table_and_writes_json(
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    _store(engine, runtime)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    capsys.readouterr()
    args = ["report", "prompt-pay", "--since", "2026-11-01", "--until", "2026-11-30"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    gold = next(ln for ln in lines if ln.startswith("PPO-GOLD"))
    assert "33.3%" in gold and "66.7%" in gold
    every = next(ln for ln in lines if ln.startswith("all "))
    assert "40.0%" in every and "60.0%" in every
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["within_30_days_percent"] for p in report["plans"]] == [50.0, 33.3]
    # bad input: one line, exit 2
    assert main(["report", "prompt-pay", "--since", "2026-12-01", "--until", "2026-11-01"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "claims-engine: error: the range is empty: --since 2026-12-01 is after --until 2026-11-01\n"
    )
