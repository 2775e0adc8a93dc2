"""What members and providers see of a pended claim, on SQLite and PostgreSQL: that it is
pended, and when an examiner asked the provider for information, what was asked and by when;
never the examiners' notes or reasons.

The claim is LIAM HILL's (PG00000100, Gold PPO) from BUCKEYE FAMILY MEDICINE (NPI 2781759230):
an office visit and an unlisted skin procedure (17999) that pends for pricing (see
``test_examination``). Seen through the claim's status (``claim_status``, the API's
``GET /v1/claims/{id}`` with a provider's and a member's key, ``claims-engine status``), the
277 answering a 276 (validated by pyx12) and the explanation of benefits.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.cli.main import main
from claims_engine.services import examination as ex
from claims_engine.services.access import Role, create_key
from claims_engine.services.claim_inquiry import answer_276
from claims_engine.services.explanation import load_explanation
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.queries import claim_status
from claims_engine.services.reference import Runtime
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, RULES, prepared_store
from tests.integration.x212_support import Ask, blocks, build_276
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837
from tests.x12_maps import x212_map_folder
from tests.x12_oracle import pyx12_errors
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

NPI, MEMBER = "2781759230", "PG00000100"
ASKED_AT = NOW + timedelta(days=3, hours=2)  # 2026-11-05 11:30
LATER = ASKED_AT + timedelta(days=1)
ALICE = ex.Examiner("alice")
ASKED = "Send the operative report for line 2 (unlisted procedure 17999)"
# what examiners write for each other: it must never leave the examination
SECRETS = ("SECRET-WHY-upcoding-suspected", "SECRET-NOTE-call-dr-hill-at-home")
LINES = """\
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
LX*2~
SV1*HC:17999*800*UN*1***1~
DTP*472*D8*20261015~
"""


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return prepared_store(engine)


@pytest.fixture(scope="module")
def x212_maps(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(x212_map_folder(tmp_path_factory.mktemp("pyx12-maps")))


def _submit(engine: Engine, runtime: Runtime, claim_id: str, control: int) -> tuple[int, str]:
    """Submit one claim and adjudicate it (it pends); its row id and payer claim number."""
    claim = claim_from_837(
        LIAM_HILL + f"CLM*{claim_id}*940***11:B:1*Y*A*Y*Y~\nHI*ABK:L989~\n" + LINES
    )
    out = io.StringIO()
    write_837(
        [claim],
        out,
        interchange_control=control,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    sub = submit(engine, out.getvalue().encode(), f"claim-{control}.837", NOW)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    c = t.claims_table.c
    with engine.connect() as conn:
        row = conn.execute(
            select(c.id, c.payer_claim_number, c.state).where(
                c.interchange_id == sub.interchange_id
            )
        ).one()
    assert row.state == "pended"
    return int(row.id), str(row.payer_claim_number)


def _ask_and_note(engine: Engine, runtime: Runtime, claim_id: int) -> None:
    ex.act(engine, runtime, claim_id, ALICE, ex.Note(SECRETS[1]), ASKED_AT - timedelta(hours=1))
    ex.act(engine, runtime, claim_id, ALICE, ex.RequestInfo(SECRETS[0], ASKED, "M127"), ASKED_AT)


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def _277(engine: Engine, pccn: str, maps: str, *, line: bool = False) -> list[list[str]]:
    """The STC segments of the 277 answering a 276 about the claim (by its provider)."""
    ask = Ask(
        "T-1",
        NPI,
        MEMBER,
        payer_claim_number=pccn,
        line=("17999", Decimal("800"), date(2026, 10, 15)) if line else None,
    )
    answer = answer_276(engine, build_276([ask]), allowed_npis=frozenset({NPI}), now=LATER)
    assert pyx12_errors(answer.x12, maps) == [], answer.x12
    _no_secret(answer.x12)
    assert ASKED not in answer.x12  # X212 has no free text: the statuses say it
    [block] = blocks(answer.x12)["T-1"]
    return [block.stc[0], *(ln[1] for ln in block.lines or [])]  # each line: SVC, STC ...


def test_a_pended_claim_shows_it_waits_for_review(
    engine: Engine, runtime: Runtime, x212_maps: str
) -> None:
    claim_id, pccn = _submit(engine, runtime, "ST-REVIEW", 1)
    ex.act(engine, runtime, claim_id, ALICE, ex.Note(SECRETS[1]), ASKED_AT)
    view = claim_status(engine, claim_id).to_json()
    assert view["state"] == "pended"
    assert view["pend"] == {"waiting_for": "review", "information_requested": None}
    _no_secret(json.dumps(view))
    [stc] = _277(engine, pccn, x212_maps)
    assert stc[1:3] == ["P2:46", "20261102"]  # in review since it pended
    explained = load_explanation(engine, claim_id)
    assert explained is not None and explained.info_request is None
    _no_secret(explained.error or "")


def test_a_request_for_information_shows_what_is_asked_and_by_when(
    engine: Engine, runtime: Runtime, x212_maps: str
) -> None:
    claim_id, pccn = _submit(engine, runtime, "ST-ASKED", 2)
    _ask_and_note(engine, runtime, claim_id)
    view = claim_status(engine, claim_id).to_json()
    # the plan gives the provider 45 days (Gold PPO's info_request_days)
    assert view["pend"] == {
        "waiting_for": "information",
        "information_requested": {
            "asked": ASKED,
            "requested_at": "2026-11-05T11:30:00Z",
            "answer_by": "2026-12-20T11:30:00Z",
        },
    }
    _no_secret(json.dumps(view))
    # the 277: P3 (pending, information requested from the provider) with 297 medical
    # notes/report for the request's remark M127, then 294 supporting documentation; in effect
    # from the day asked; the line asked about has the claim's first status
    claim_stc, line_stc = _277(engine, pccn, x212_maps, line=True)
    assert claim_stc[1:3] == ["P3:297", "20261105"]
    assert claim_stc[10] == "P3:294"
    assert line_stc[1:3] == ["P3:297", "20261105"]
    # the explanation of benefits says what is asked
    explained = load_explanation(engine, claim_id)
    assert explained is not None and explained.info_request is not None
    assert explained.error == (
        f"information requested from the provider: {ASKED} (to be answered by 2026-12-20)"
    )
    # answered: back to the plan's review, and the 277 says so
    ex.act(engine, runtime, claim_id, ALICE, ex.InfoReceived("records came"), LATER)
    view = claim_status(engine, claim_id).to_json()
    assert view["pend"] == {"waiting_for": "review", "information_requested": None}
    [stc] = _277(engine, pccn, x212_maps)
    assert stc[1] == "P2:46"


def test_a_request_whose_remark_names_a_document_asks_for_it_in_the_277(
    engine: Engine, runtime: Runtime, x212_maps: str
) -> None:
    claim_id, pccn = _submit(engine, runtime, "ST-NOC", 3)
    ex.act(
        engine,
        runtime,
        claim_id,
        ALICE,
        ex.RequestInfo("why", "Describe the procedure billed as 17999", "N350"),
        ASKED_AT,
    )
    [stc] = _277(engine, pccn, x212_maps)
    assert (stc[1], stc[10]) == ("P3:306", "P3:294")  # 306: detailed description of service


def test_a_decided_claim_shows_no_pend(engine: Engine, runtime: Runtime) -> None:
    claim_id, _ = _submit(engine, runtime, "ST-DECIDED", 4)
    _ask_and_note(engine, runtime, claim_id)
    ex.act(engine, runtime, claim_id, ALICE, ex.Price("priced", 2, Decimal("700.00")), LATER)
    view = claim_status(engine, claim_id).to_json()
    assert view["state"] == "adjudicated" and view["pend"] is None
    _no_secret(json.dumps(view))


@pytest.fixture
def api(engine: Engine, runtime: Runtime) -> Iterator[TestClient]:
    url = engine.url.render_as_string(hide_password=False)
    env = Environment(Settings(url, None, RULES, frozenset({1, 2, 3, 4, 5})), engine)
    app = create_app(ApiConfig(env, now=lambda: LATER, inprocess_workers=False))
    with TestClient(app) as client:
        yield client


def _get(client: TestClient, token: str, path: str) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_the_provider_and_the_member_see_the_request_through_the_api(
    engine: Engine, runtime: Runtime, api: TestClient
) -> None:
    claim_id, pccn = _submit(engine, runtime, "ST-API", 5)
    _ask_and_note(engine, runtime, claim_id)
    provider = create_key(engine, Role.PROVIDER, now=NOW, npis=[NPI])
    other = create_key(engine, Role.PROVIDER, now=NOW, npis=["1234567893"])
    member = create_key(engine, Role.MEMBER, now=NOW, member_id=MEMBER, reference=runtime.reference)
    for key in (provider, member):
        for path in (f"/v1/claims/{claim_id}", f"/v1/claims/{pccn}"):
            r = _get(api, key.token, path)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["pend"]["waiting_for"] == "information"
            assert body["pend"]["information_requested"]["asked"] == ASKED
            assert body["pend"]["information_requested"]["answer_by"] == "2026-12-20T11:30:00Z"
            _no_secret(r.text)
        eob = _get(api, key.token, f"/fhir/r4/ExplanationOfBenefit/{claim_id}")
        assert eob.status_code == 200, eob.text
        assert ASKED in eob.json()["disposition"]
        _no_secret(eob.text)
    assert _get(api, other.token, f"/v1/claims/{claim_id}").status_code == 404


def test_claims_engine_status_prints_the_request(
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = sqlite_engine
    runtime = prepared_store(engine)
    claim_id, pccn = _submit(engine, runtime, "ST-CLI", 6)
    _ask_and_note(engine, runtime, claim_id)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    capsys.readouterr()
    assert main(["status", pccn]) == 0
    text = capsys.readouterr().out
    assert f"information requested   {ASKED}" in text
    assert "answer by               2026-12-20T11:30:00Z" in text
    _no_secret(text)
    assert main(["status", pccn, "--json"]) == 0
    [view] = json.loads(capsys.readouterr().out)
    assert view["pend"]["information_requested"]["asked"] == ASKED
