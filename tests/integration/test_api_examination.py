"""Pended claims worked through the HTTP API, on SQLite and PostgreSQL: the queues, a claim as
its examiners see it, every kind of action, a stale version (409), four eyes, the ids and
cursors a caller sends, and who may use these routes.

The claims are those of ``test_examination.py`` (worked there by hand, amounts included): LIAM
HILL (PG00000100, Gold PPO) billed by BUCKEYE FAMILY MEDICINE (NPI 2781759230). An office
visit (99213, 140.00) pays 63.20; an unlisted procedure (17999) pends twice (NO-PRICE and
UNLISTED-PROCEDURE, in the pricing queue); 99214 charged 25,100.00 pends HIGH-DOLLAR; 72148
without an authorization is denied CO-197 N54 by a rule. The plan asks a second examiner to
approve a price or override allowing a line more than 5,000.00.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from adapters.api import models as m
from adapters.api.app import ApiConfig, create_app
from claims_engine.services.access import CreatedKey, Role, create_key
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.reference import Runtime
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, prepared_store
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LATER = NOW + timedelta(hours=2)
BUCKEYE_NPI = "2781759230"

OFFICE_VISIT = "LX*1~\nSV1*HC:99213*140*UN*1***1~\nDTP*472*D8*20261015~\n"
UNLISTED = "LX*2~\nSV1*HC:17999*{charge}*UN*1***1~\nDTP*472*D8*20261015~\n"
HIGH_DOLLAR = "LX*1~\nSV1*HC:99214*25100*UN*1***1~\nDTP*472*D8*20261015~\n"
MRI = "LX*1~\nSV1*HC:72148*1200*UN*1***1~\nDTP*472*D8*20261015~\n"


def _body(claim_id: str, total: str, lines: str) -> str:
    return LIAM_HILL + f"CLM*{claim_id}*{total}***11:B:1*Y*A*Y*Y~\n" + "HI*ABK:L989~\n" + lines


@dataclass
class Desk:
    """A store, its app, and a key of each kind: examiners alice and bob, supervisor sam, the
    payer's analyst (insurer), the billing provider and the member."""

    engine: Engine
    runtime: Runtime
    client: TestClient
    keys: dict[str, CreatedKey]
    controls: list[int]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who].token}"}

    def get(self, who: str, url: str) -> Any:
        return self.client.get(url, headers=self.headers(who))

    def post(self, who: str, url: str, body: Any = None) -> Any:
        return self.client.post(url, headers=self.headers(who), json=body)

    def act(self, who: str, claim: int | str, **body: Any) -> Any:
        return self.post(who, f"/v1/claims/{claim}/actions", body)

    def show(self, claim: int | str, who: str = "alice") -> dict[str, Any]:
        r = self.get(who, f"/v1/claims/{claim}/examination")
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        m.ExaminationOut.model_validate(view)  # the answer is what the document says
        return view

    def claim(self, name: str, total: str, lines: str) -> int:
        """Submit one claim and adjudicate it; its claim id."""
        self.controls.append(len(self.controls) + 1)
        out = io.StringIO()
        write_837(
            [claim_from_837(_body(name, total, lines))],
            out,
            interchange_control=self.controls[-1],
            created=NOW,
            sender_id="SUBMITTER01",
            receiver_id="CLAIMSENGINE",
        )
        sub = submit(self.engine, out.getvalue().encode(), f"{name}.837", NOW)
        for batch in ingest_interchange(self.engine, sub.interchange_id, self.runtime, NOW).batches:
            adjudicate_claims(self.engine, batch, self.runtime, NOW)
        c = t.claims_table.c
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(c.id).where(c.interchange_id == sub.interchange_id)
                ).scalar_one()
            )

    def pccn(self, claim_id: int) -> str:
        c = t.claims_table.c
        with self.engine.connect() as conn:
            return str(
                conn.execute(select(c.payer_claim_number).where(c.id == claim_id)).scalar_one()
            )


@pytest.fixture
def desk(engine: Engine) -> Iterator[Desk]:
    runtime = prepared_store(engine)
    keys = {
        "alice": create_key(engine, Role.EXAMINER, now=NOW, label="alice"),
        "bob": create_key(engine, Role.EXAMINER, now=NOW, label="bob"),
        "sam": create_key(engine, Role.SUPERVISOR, now=NOW, label="sam"),
        "insurer": create_key(engine, Role.INSURER, now=NOW),
        "provider": create_key(
            engine, Role.PROVIDER, now=NOW, npis=[BUCKEYE_NPI], senders=["SUBMITTER01"]
        ),
        "member": create_key(
            engine, Role.MEMBER, now=NOW, member_id="PG00000100", reference=runtime.reference
        ),
    }
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        redis_url=None,
        rules_dir=ROOT / "rules",
        levels=frozenset({1, 2, 3, 4, 5}),
    )
    app = create_app(
        ApiConfig(
            Environment(settings, engine),
            now=lambda: LATER,
            inprocess_workers=False,
            key_cache_seconds=0,
        )
    )
    with TestClient(app) as client:
        yield Desk(engine, runtime, client, keys, [])


def _unlisted(desk: Desk, name: str, charge: str = "800") -> int:
    total = str(140 + int(charge))
    return desk.claim(name, total, OFFICE_VISIT + UNLISTED.format(charge=charge))


def _error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    m.ErrorBody.model_validate(r.json())
    assert r.json()["error"]["status"] == status
    assert r.json()["error"]["code"] == code, r.text
    return str(r.json()["error"]["message"])


def _reads(desk: Desk, route: str) -> list[tuple[str, str]]:
    r = t.phi_reads_table.c
    with desk.engine.connect() as conn:
        return [
            (str(row.key_id), str(row.record_id))
            for row in conn.execute(
                select(r.key_id, r.record_id).where(r.route == route).order_by(r.id)
            )
        ]


# -- a claim from its queue to its payment --------------------------------------------------------


def test_an_examiner_works_a_claim_from_its_queue_to_its_payment(desk: Desk) -> None:
    first = _unlisted(desk, "API-FIRST")
    second = _unlisted(desk, "API-SECOND")
    high = desk.claim("API-HIGH", "25100", HIGH_DOLLAR)
    alice = desk.keys["alice"].key_id

    r = desk.get("alice", "/v1/queues")
    assert r.status_code == 200, r.text
    m.QueueList.model_validate(r.json())
    summary = {q["queue"]: q for q in r.json()["queues"]}
    assert {q: s["claims"] for q, s in summary.items()} == {"high-dollar": 1, "pricing": 2}
    assert summary["pricing"]["charge"] == "1880.00"
    assert summary["pricing"]["href"] == "/v1/queues/pricing/claims"

    # a page at a time, most urgent first (the same priority and due day: by claim id)
    r = desk.get("alice", "/v1/queues/pricing/claims?limit=1")
    assert r.status_code == 200, r.text
    page = r.json()
    m.QueuePageOut.model_validate(page)
    [entry] = page["items"]
    assert (entry["claim_id"], entry["priority"], entry["due_on"], entry["days_left"]) == (
        first,
        3,
        "2026-12-02",
        30,
    )
    assert sorted(entry["codes"]) == ["NO-PRICE", "UNLISTED-PROCEDURE"]
    assert entry["assigned_to"] is None
    assert entry["href"] == f"/v1/claims/{first}/examination"
    assert page["next"] is not None
    last = desk.get("alice", page["next"]).json()
    assert [i["claim_id"] for i in last["items"]] == [second] and last["next"] is None
    # each claim listed is a read of health data
    assert _reads(desk, "/v1/queues/{queue}/claims") == [(alice, str(first)), (alice, str(second))]

    view = desk.show(first)
    assert (view["state"], view["queue"], view["version"]) == ("pended", "pricing", 1)
    assert sorted((i["code"], i["line"], i["state"]) for i in view["pend_items"]) == [
        ("NO-PRICE", 2, "open"),
        ("UNLISTED-PROCEDURE", 2, "open"),
    ]
    assert view["decision"]["outcome"] == "pended" and view["actions"] == []
    assert [h["claim_id"] for h in view["member_history"]] == [high, second]  # newest first
    # the claim and every claim of the member's history it shows are reads, audited
    assert _reads(desk, "/v1/claims/{claim_id}/examination") == [
        (alice, str(first)),
        (alice, str(high)),
        (alice, str(second)),
    ]
    assert desk.show(desk.pccn(first)) == view  # by its payer claim number too

    took = desk.act("alice", first, kind="take", version=1)
    assert took.status_code == 200, took.text
    m.ActionResultOut.model_validate(took.json())
    assert (took.json()["state"], took.json()["version"]) == ("applied", 2)
    assert desk.show(first)["assigned_to"] == alice
    held = desk.act("bob", first, kind="note", why="looking")
    assert f"held by {alice}" in _error(held, 409, "claim_changed")

    priced = desk.act(
        "alice", first, kind="price", version=2, why="priced from the op note", line=2,
        allowed="700.00",
    )  # fmt: skip
    assert priced.status_code == 200, priced.text
    # line 1: 99213 paid 63.20; line 2: allowed 700.00, deductible 500.00, 20% of 200.00: 160.00
    assert priced.json() == {
        "action_id": priced.json()["action_id"],
        "kind": "price",
        "state": "applied",
        "claim_state": "adjudicated",
        "outcome": "paid",
        "paid": "223.20",
        "version": 0,
        "message": f"claim {first} paid: paid 223.20",
    }
    after = desk.show(first)
    assert (after["state"], after["queue"], after["version"]) == ("adjudicated", None, 0)
    assert [(a["kind"], a["actor"], a["state"]) for a in after["actions"]] == [
        ("take", alice, "applied"),
        ("price", alice, "applied"),
    ]
    assert after["actions"][1]["after"]["paid"] == "223.20"
    queues = desk.get("alice", "/v1/queues").json()["queues"]
    assert {q["queue"]: q["claims"] for q in queues} == {"high-dollar": 1, "pricing": 1}


# -- every kind of action -------------------------------------------------------------------------


def test_release_deny_override_and_accept_charge(desk: Desk) -> None:
    high = desk.claim("API-REL", "25100", HIGH_DOLLAR)
    released = desk.act("alice", high, kind="release", why="charge checked", codes=["HIGH-DOLLAR"])
    assert released.status_code == 200, released.text
    # 99214 allowed 131.20, copay 25.00: paid 106.20
    assert (released.json()["claim_state"], released.json()["paid"]) == ("adjudicated", "106.20")

    denied = _unlisted(desk, "API-DENY")
    r = desk.act("bob", denied, kind="deny", why="not covered", carc="96", rarcs=["N130"])
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["paid"]) == ("denied", "0.00")
    assert desk.show(denied, "bob")["decision"]["claim_adjustments"] == []

    mri = desk.claim("API-MRI", "1500", MRI + UNLISTED.format(charge="300"))
    assert desk.show(mri)["decision"]["lines"][0]["adjustments"] == ["CO-197 1200.00"]
    r = desk.act("alice", mri, kind="override", why="authorized by phone, ref 5512", line=1)
    assert (r.status_code, r.json()["claim_state"]) == (200, "pended")  # line 2 still waits
    r = desk.act("alice", mri, kind="deny", why="cosmetic", line=2, carc="96", rarcs=["N130"])
    assert (r.json()["claim_state"], r.json()["outcome"], r.json()["paid"]) == (
        "adjudicated",
        "partly paid",
        "172.00",
    )

    accepted = _unlisted(desk, "API-ACCEPT", charge="300")
    r = desk.act("bob", accepted, kind="price", why="billed as agreed", line=2, accept_charge=True)
    assert r.status_code == 200, r.text
    assert desk.show(accepted, "bob")["decision"]["lines"][1]["allowed"] == "300.00"


def test_a_request_for_information_a_note_give_back_and_reassign(desk: Desk) -> None:
    claim = _unlisted(desk, "API-INFO")
    alice, bob = desk.keys["alice"].key_id, desk.keys["bob"].key_id
    r = desk.act(
        "alice", claim, kind="request-info", why="need the report",
        asked="Send the operative report for line 2", remark="M127",
    )  # fmt: skip
    assert (r.status_code, r.json()["claim_state"]) == (200, "pended"), r.text
    [entry] = desk.get("alice", "/v1/queues/waiting-for-provider/claims").json()["items"]
    assert entry["claim_id"] == claim and entry["waiting_for_provider"]
    [asked] = [i for i in desk.show(claim)["pend_items"] if i["code"] == "INFO-REQUESTED"]
    assert (asked["asked"], asked["remark"], asked["state"]) == (
        "Send the operative report for line 2",
        "M127",
        "open",
    )
    again = desk.act("alice", claim, kind="request-info", why="again", asked="the report")
    assert "already waits" in _error(again, 409, "claim_changed")
    r = desk.act("alice", claim, kind="info-received", why="report arrived")
    assert r.status_code == 200, r.text
    [asked] = [i for i in desk.show(claim)["pend_items"] if i["code"] == "INFO-REQUESTED"]
    assert asked["state"] == "resolved" and asked["resolved_by"] == alice

    r = desk.act("alice", claim, kind="note", why="called the office: price on the way")
    assert (r.status_code, r.json()["kind"], r.json()["state"]) == (200, "note", "applied")
    notes = [a for a in desk.show(claim)["actions"] if a["kind"] == "note"]
    assert [n["why"] for n in notes] == ["called the office: price on the way"]

    # alice takes it; bob may not give it back, alice may
    assert desk.show(claim)["assigned_to"] is None  # notes and requests take no claim
    desk.act("alice", claim, kind="take")
    _error(desk.act("bob", claim, kind="give-back"), 403, "forbidden")
    r = desk.act("alice", claim, kind="give-back", why="out of office")
    assert r.status_code == 200, r.text
    assert desk.show(claim)["assigned_to"] is None
    _error(desk.act("alice", claim, kind="give-back"), 409, "claim_changed")

    # a supervisor reassigns; an examiner may not, and only to an active examiner's key
    r = desk.act("alice", claim, kind="reassign", to=bob, why="bob prices these")
    assert "supervisor" in _error(r, 403, "forbidden")
    for to in ("nosuchkey", desk.keys["insurer"].key_id, desk.keys["provider"].key_id):
        r = desk.act("sam", claim, kind="reassign", to=to, why="x")
        assert _error(r, 400, "bad_request") == f"to: {to} is no active examiner key"
    r = desk.act("sam", claim, kind="reassign", to=bob, why="bob prices these")
    assert r.status_code == 200, r.text
    assert desk.show(claim)["assigned_to"] == bob
    assert desk.show(claim)["actions"][-1]["request"] == {
        "kind": "reassign",
        "from": None,
        "to": bob,
    }


def test_an_action_on_a_version_that_changed_is_refused_with_409(desk: Desk) -> None:
    claim = _unlisted(desk, "API-STALE")
    seen = desk.show(claim)["version"]
    assert desk.act("alice", claim, kind="take", version=seen).json()["version"] == seen + 1
    for body in (
        {"kind": "release", "why": "ok"},
        {"kind": "deny", "why": "no", "carc": "96", "rarcs": ["N130"]},
        {"kind": "price", "why": "ok", "line": 2, "allowed": "10.00"},
        {"kind": "note", "why": "hm"},
        {"kind": "take"},
        {"kind": "give-back"},
    ):
        r = desk.act("alice", claim, version=seen, **body)
        message = _error(r, 409, "claim_changed")
        assert message == (
            f"claim {claim} changed since version {seen} (it is at version {seen + 1}): "
            "look at it again"
        ), body
    r = desk.act("sam", claim, kind="reassign", to=desk.keys["bob"].key_id, why="x", version=seen)
    _error(r, 409, "claim_changed")
    assert desk.show(claim)["state"] == "pended"
    assert [a["kind"] for a in desk.show(claim)["actions"]] == ["take"]


# -- four eyes ------------------------------------------------------------------------------------


def test_a_price_above_the_plans_amount_waits_for_a_second_examiner(desk: Desk) -> None:
    claim = _unlisted(desk, "API-4EYES", charge="8000")
    asked = desk.act(
        "alice", claim, kind="price", why="from the records", line=2, allowed="6000.00"
    )
    assert asked.status_code == 200, asked.text
    assert (asked.json()["state"], asked.json()["claim_state"]) == ("awaiting approval", "pended")
    action = asked.json()["action_id"]

    r = desk.get("bob", "/v1/actions?state=awaiting%20approval")
    assert r.status_code == 200, r.text
    m.AwaitingList.model_validate(r.json())
    assert r.json()["items"] == [
        {
            "action_id": action,
            "claim_id": claim,
            "kind": "price",
            "actor": desk.keys["alice"].key_id,
            "at": LATER.isoformat() + "Z",
            "claim_href": f"/v1/claims/{claim}/examination",
            "approve_href": f"/v1/actions/{action}/approve",
        }
    ]
    assert desk.get("bob", "/v1/actions").json() == r.json()  # the default state
    _error(desk.get("bob", "/v1/actions?state=applied"), 422, "invalid_request")

    # no one approves, or refuses, their own
    mine = desk.post("alice", f"/v1/actions/{action}/approve")
    assert "a second examiner" in _error(mine, 403, "forbidden")
    _error(desk.post("alice", f"/v1/actions/{action}/refuse", {"why": "no"}), 403, "forbidden")
    approved = desk.post("bob", f"/v1/actions/{action}/approve")
    assert approved.status_code == 200, approved.text
    # line 2: allowed 6,000.00, deductible 500.00, 20% of 5,500.00; with line 1, 4,463.20
    assert (approved.json()["state"], approved.json()["claim_state"], approved.json()["paid"]) == (
        "approved",
        "adjudicated",
        "4463.20",
    )
    assert desk.show(claim)["actions"][-1]["approved_by"] == desk.keys["bob"].key_id
    _error(desk.post("sam", f"/v1/actions/{action}/approve"), 409, "claim_changed")
    assert desk.get("bob", "/v1/actions").json() == {"items": []}

    other = _unlisted(desk, "API-REFUSE", charge="9000")  # not a duplicate of the one paid
    asked = desk.act("bob", other, kind="price", why="as billed", line=2, accept_charge=True)
    assert asked.json()["state"] == "awaiting approval", asked.text
    action = asked.json()["action_id"]
    _error(desk.post("alice", f"/v1/actions/{action}/refuse", {}), 422, "invalid_request")
    refused = desk.post("alice", f"/v1/actions/{action}/refuse", {"why": "not supported"})
    assert refused.status_code == 200, refused.text
    assert (refused.json()["state"], refused.json()["claim_state"]) == ("refused", "pended")
    assert desk.show(other)["state"] == "pended"


# -- what a caller sends --------------------------------------------------------------------------


def test_ids_cursors_and_bodies_from_outside_are_checked(desk: Desk) -> None:
    pended = _unlisted(desk, "API-CHECKS")
    paid = desk.claim("API-PAID", "140", OFFICE_VISIT)  # never pended
    released = desk.claim("API-DONE", "25100", HIGH_DOLLAR)
    desk.act("alice", released, kind="release", why="checked")

    missing = _error(desk.get("alice", "/v1/claims/999999/examination"), 404, "not_found")
    assert missing == "no pended claim 999999"
    for url in (f"/v1/claims/{paid}/examination", f"/v1/claims/{desk.pccn(paid)}/examination"):
        _error(desk.get("alice", url), 404, "not_found")
    assert _error(desk.act("alice", paid, kind="note", why="x"), 404, "not_found") == (
        f"no pended claim {paid}"
    )
    _error(desk.act("alice", "26110299999999999999999999", kind="take"), 404, "not_found")
    _error(desk.act("alice", 0, kind="take"), 404, "not_found")
    # once pended, now decided: shown, and no longer acted on
    assert desk.show(released)["state"] == "adjudicated"
    message = _error(desk.act("alice", released, kind="note", why="x"), 409, "claim_changed")
    assert message == f"claim {released} is not pended (it is adjudicated)"

    assert _error(desk.get("alice", "/v1/queues/nosuch/claims"), 404, "not_found") == (
        "no queue nosuch"
    )
    assert desk.get("alice", "/v1/queues/general/claims").json()["items"] == []  # known, empty
    _error(desk.get("alice", "/v1/queues/Not_A_Queue/claims"), 422, "invalid_request")
    _error(desk.get("alice", "/v1/queues/pricing/claims?limit=0"), 422, "invalid_request")
    for cursor in (
        "garbage",
        "3.2026-02-30.1",
        "x.2026-12-02.1",
        "1.2026-01-01." + "9" * 40,  # more than a store's integer holds
        "-1.2026-01-01.1",
        "\u0661.2026-01-01.1",  # a digit, but not an ASCII one
    ):
        message = _error(
            desk.get("alice", f"/v1/queues/pricing/claims?after={cursor}"), 400, "bad_request"
        )
        assert message.startswith(f"after {cursor!r} is not a page cursor")

    _error(desk.post("bob", "/v1/actions/999999/approve"), 404, "not_found")
    _error(desk.post("bob", "/v1/actions/abc/approve"), 422, "invalid_request")
    _error(desk.post("bob", "/v1/actions/0/refuse", {"why": "x"}), 422, "invalid_request")

    def refused(body: Any, status: int = 422) -> str:
        r = desk.post("alice", f"/v1/claims/{pended}/actions", body)
        return _error(r, status, "invalid_request" if status == 422 else "bad_request")

    assert "kind" in refused({"why": "x"})
    assert "kind" in refused({"kind": "approve", "why": "x"})
    assert refused(None).startswith("body")
    assert refused({"kind": "note"}) == "body.note.why: Field required"
    assert refused({"kind": "note", "why": "x", "line": 2}).startswith("body.note.line")
    assert "one of them" in refused({"kind": "price", "why": "x", "line": 2})
    assert "one of them" in refused(
        {"kind": "price", "why": "x", "line": 2, "allowed": "1.00", "accept_charge": True}
    )
    assert refused({"kind": "price", "why": "x", "line": 2, "allowed": "-1.00"}).startswith(
        "body.price.allowed"
    )
    assert refused({"kind": "take", "version": 0}).startswith("body.take.version")
    assert refused({"kind": "deny", "why": "x", "carc": "96", "group": "CR"}).startswith(
        "body.deny.group"
    )
    # codes and lines the service checks: 400, saying which
    assert refused({"kind": "deny", "why": "x", "carc": "ZZ9"}, 400) == (
        "CARC 'ZZ9' is not a code of the CARC list"
    )
    assert refused({"kind": "deny", "why": "x", "carc": "96"}, 400) == (
        "CARC 96 needs at least one remark code (RARC) with it"
    )
    assert refused(
        {"kind": "deny", "why": "x", "carc": "96", "rarcs": ["N130"], "line": 9}, 400
    ) == ("the claim has no line 9")
    assert refused({"kind": "release", "why": "x", "codes": ["NO-SUCH"]}, 400).startswith(
        "the claim has no open pend reason NO-SUCH"
    )
    assert refused({"kind": "note", "why": "   "}, 400) == (
        "say why (a reason is required for every action)"
    )
    assert desk.show(pended)["actions"] == []  # nothing refused left a trace


# -- who may --------------------------------------------------------------------------------------


def test_who_may_read_the_queues_and_who_may_act(desk: Desk) -> None:
    """Examiners and supervisors read and act; the payer's analyst (an insurer key) reads
    and acts on nothing; providers and members use none of these routes (403, before their
    ids or bodies are looked at). Examiners see no claim through the claim routes."""
    claim = _unlisted(desk, "API-WHO", charge="8000")
    asked = desk.act("alice", claim, kind="price", why="records", line=2, allowed="6000.00")
    action = asked.json()["action_id"]
    reads = [
        "/v1/queues",
        "/v1/queues/pricing/claims",
        f"/v1/claims/{claim}/examination",
        "/v1/actions?state=awaiting%20approval",
    ]
    writes: list[tuple[str, Any]] = [
        (f"/v1/claims/{claim}/actions", {"kind": "note", "why": "x"}),
        (f"/v1/claims/{claim}/actions", {"kind": "nonsense"}),  # 403 before the body
        (f"/v1/actions/{action}/refuse", {"why": "x"}),
        (f"/v1/actions/{action}/approve", None),
    ]
    for who in ("provider", "member", "insurer"):
        for url in reads:
            r = desk.get(who, url)
            if who == "insurer":
                assert r.status_code == 200, (who, url, r.text)
            else:
                assert "only examiner, supervisor and insurer keys" in _error(r, 403, "forbidden")
        for url, body in writes:
            _error(desk.post(who, url, body), 403, "forbidden")
        _error(desk.get(who, "/v1/claims/999999/examination"), 403 if who != "insurer" else 404,
               "forbidden" if who != "insurer" else "not_found")  # fmt: skip
    assert desk.show(claim)["actions"][-1]["state"] == "awaiting approval"  # untouched
    for who in ("alice", "sam"):
        for url in reads:
            assert desk.get(who, url).status_code == 200, (who, url)
        # the claim routes show an examiner nothing; they submit no claims
        _error(desk.get(who, f"/v1/claims/{claim}"), 404, "not_found")
        assert desk.get(who, "/v1/claims").json()["items"] == []
        r = desk.client.post(
            "/v1/interchanges", content=b"ISA*", headers=desk.headers(who)
        )  # fmt: skip
        _error(r, 403, "forbidden")
    assert desk.post("sam", f"/v1/actions/{action}/approve").json()["state"] == "approved"
    _error(desk.client.get("/v1/queues"), 401, "unauthorized")


def test_keys_create_makes_examiner_and_supervisor_keys(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from freezegun import freeze_time

    from claims_engine.cli.main import main as run

    def main(args: list[str]) -> int:
        with freeze_time(NOW):
            return run(args)

    monkeypatch.setenv("CLAIMS_DATABASE_URL", desk.engine.url.render_as_string(False))
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    made = {}
    for role in ("examiner", "supervisor"):
        assert main(["keys", "create", "--role", role, "--label", role, "--json"]) == 0
        made[role] = json.loads(capsys.readouterr().out)
        assert made[role]["role"] == role
    assert main(["keys", "create", "--role", "examiner", "--npi", "1234567893"]) == 2
    assert "an examiner key works the payer's pended claims" in capsys.readouterr().err
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{made['examiner']['key_id']}  examiner  pended claims" in listed

    claim = desk.claim("API-CLI", "25100", HIGH_DOLLAR)
    headers = {"Authorization": f"Bearer {made['examiner']['token']}"}
    r = desk.client.post(f"/v1/claims/{claim}/actions", headers=headers, json={"kind": "take"})
    assert r.status_code == 200, r.text
    assert desk.show(claim)["assigned_to"] == made["examiner"]["key_id"]
