"""The HTTP API over a real PostgreSQL: the authorization matrix (each role x each route x
own and others' records, submissions under whose sender ids, and the examination of pended
claims), the audit of reads, and keys that expire or are revoked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.services.access import (
    CreatedKey,
    Role,
    age_on,
    authenticate,
    create_key,
    revoke_key,
)
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.queries import identity_of
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.store.vault import current_vault
from tests.conftest import VALID_837P
from tests.integration.conftest import fresh_postgres_schema
from tests.integration.pipeline_support import NOW, generated_837, prepared_store
from tests.integration.sender_support import resent
from tests.integration.x212_support import Ask, blocks, build_276
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    engine: Engine
    client: TestClient
    keys: dict[str, CreatedKey]
    claims: list[dict[str, Any]]  # every stored claim: id, billing_npi, member_id
    npi_a: str
    npi_b: str
    member: str  # a subscriber with a minor dependent who has claims
    minor: str
    adult_dependent: str | None
    interchange_id: int
    remittance_a: int
    remittance_b: int
    subscriber_of: dict[str, str]
    sent_by_a: bytes  # an interchange provider A's key sent under its sender id, stored

    def get(self, key: str | None, url: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[key].token}"} if key else {}
        return self.client.get(url, headers=headers, **kw)


def _pick_family(engine: Engine, reference: Any) -> tuple[str, str, str | None]:
    """A subscriber whose minor dependent and adult dependent both have claims in the store."""
    c = t.claims_table.c
    with engine.connect() as conn:
        lookups = set(conn.execute(select(c.member_id).distinct()).scalars())
    lookup = current_vault().lookup
    patients = {m for m in reference.members if lookup(m) in lookups}
    today = NOW.date()
    for m in sorted(reference.members.values(), key=lambda m: m.member_id):
        if m.is_subscriber or m.member_id not in patients:
            continue
        if age_on(m.birth_date, today) >= 18:
            continue
        adults = [
            o.member_id
            for o in reference.members.values()
            if o.subscriber_id == m.subscriber_id
            and not o.is_subscriber
            and age_on(o.birth_date, today) >= 18
            and o.member_id in patients
        ]
        if adults:
            return m.subscriber_id, m.member_id, adults[0]
    raise AssertionError("no family with claims of a minor and an adult dependent: pick a seed")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("api")
    with fresh_postgres_schema() as engine:
        runtime = prepared_store(engine)
        raw = generated_837(tmp / "batch.837", claims=400, seed=23)
        c = t.claims_table.c
        keys: dict[str, CreatedKey] = {"insurer": create_key(engine, Role.INSURER, now=NOW)}
        sub = submit(engine, raw, "batch.837", NOW)
        result = ingest_interchange(engine, sub.interchange_id, runtime, NOW)
        for batch in result.batches:
            adjudicate_claims(engine, batch, runtime, NOW)
        run_payment_cycle(engine, runtime, NOW, tmp / "835")
        with engine.connect() as conn:
            by_npi = conn.execute(
                select(c.billing_npi, func.count())
                .group_by(c.billing_npi)
                .order_by(func.count().desc(), c.billing_npi)
            ).all()
            remittances = dict(
                conn.execute(
                    select(t.remittances_table.c.payee_npi, t.remittances_table.c.id)
                ).all()
            )
        npi_a, npi_b = by_npi[0][0], by_npi[1][0]
        member, minor, adult = _pick_family(engine, runtime.reference)
        keys["provider_a"] = create_key(
            engine, Role.PROVIDER, now=NOW, npis=[npi_a], senders=["SENDERA"]
        )
        keys["provider_b"] = create_key(
            engine, Role.PROVIDER, now=NOW, npis=[npi_b], senders=["SENDERB"]
        )
        keys["member"] = create_key(
            engine, Role.MEMBER, now=NOW, member_id=member, reference=runtime.reference
        )
        assert adult, "the family needs an adult dependent too: pick another seed"
        # the subscriber granted sight of an adult dependent's claims
        keys["member_granted"] = create_key(
            engine,
            Role.MEMBER,
            now=NOW,
            member_id=member,
            dependents=[adult],
            reference=runtime.reference,
        )
        keys["minor"] = create_key(
            engine, Role.MEMBER, now=NOW, member_id=minor, reference=runtime.reference
        )
        keys["examiner"] = create_key(engine, Role.EXAMINER, now=NOW)
        keys["supervisor"] = create_key(engine, Role.SUPERVISOR, now=NOW)
        # the file was sent by provider A's key: it sees the interchange, B does not
        second = generated_837(tmp / "second.837", claims=20, seed=29)
        sub2 = submit(engine, second, "second.837", NOW, submitted_by=keys["provider_a"].key_id)
        ingest_interchange(engine, sub2.interchange_id, runtime, NOW)
        # stored, not taken in: the matrix of submissions sends it again (a duplicate, 409)
        sent_by_a = resent(
            VALID_837P.read_text(), control=900000101, sender="SENDERA", billing_npi=npi_a
        ).encode()
        submit(engine, sent_by_a, "sent-by-a.837", NOW, submitted_by=keys["provider_a"].key_id)
        with engine.connect() as conn:
            rows = conn.execute(select(c.id, c.billing_npi, c.identity, c.payer_claim_number))
            claims = [
                {
                    "id": r.id,
                    "billing_npi": r.billing_npi,
                    "payer_claim_number": r.payer_claim_number,
                    "member_id": identity_of(r).member_id,
                    "submitter_claim_id": identity_of(r).claim_id,
                }
                for r in rows
            ]
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            redis_url=None,
            rules_dir=ROOT / "rules",
            levels=frozenset({1, 2, 3, 4, 5}),
        )
        env = Environment(settings, engine)  # the engine whose search_path is the test schema
        app = create_app(
            ApiConfig(
                env,
                now=lambda: NOW + timedelta(hours=1),
                inprocess_workers=False,
                key_cache_seconds=0,
            )
        )
        with TestClient(app) as client:
            yield World(
                engine,
                client,
                keys,
                claims,
                npi_a,
                npi_b,
                member,
                minor,
                adult,
                sub2.interchange_id,
                remittances[npi_a],
                remittances[npi_b],
                {m.member_id: m.subscriber_id for m in runtime.reference.members.values()},
                sent_by_a,
            )


def _sees(world: World, role: str, claim: dict[str, Any]) -> bool:
    """The access rule, worked out independently of the engine's code."""
    npi, member = str(claim["billing_npi"]), str(claim["member_id"])
    if role == "insurer":
        return True
    if role == "provider_a":
        return npi == world.npi_a
    if role == "provider_b":
        return npi == world.npi_b
    if role == "member":
        return member in {world.member, world.minor}
    if role == "member_granted":
        return member in {world.member, world.minor, world.adult_dependent}
    if role == "minor":
        return member == world.minor
    if role in ("examiner", "supervisor"):
        return False  # a pended claim is theirs through the examination routes only
    raise AssertionError(role)


ROLES = (
    "insurer",
    "provider_a",
    "provider_b",
    "member",
    "member_granted",
    "minor",
    "examiner",
    "supervisor",
)


def _sample(world: World) -> list[dict[str, Any]]:
    """Claims of every kind of owner: A's, B's, the member's family's, an adult dependent's,
    and someone else's."""
    wanted: list[dict[str, Any]] = []

    def first(pred: Any) -> None:
        for c in world.claims:
            if pred(c) and c not in wanted:
                wanted.append(c)
                return

    first(lambda c: c["billing_npi"] == world.npi_a)
    first(lambda c: c["billing_npi"] == world.npi_b)
    first(lambda c: c["member_id"] == world.minor)
    first(lambda c: c["member_id"] == world.member)
    if world.adult_dependent:
        first(lambda c: c["member_id"] == world.adult_dependent)
    first(
        lambda c: (
            c["billing_npi"] not in (world.npi_a, world.npi_b)
            and c["member_id"] not in (world.member, world.minor)
        )
    )
    owners = {c["member_id"] for c in wanted}
    assert {world.minor, world.adult_dependent} <= owners, "pick a seed with these claims"
    return wanted


@pytest.mark.parametrize("role", ROLES)
def test_claim_routes_show_a_claim_to_exactly_whom_it_belongs(world: World, role: str) -> None:
    for claim in _sample(world):
        cid = claim["id"]
        expected = 200 if _sees(world, role, claim) else 404
        r = world.get(role, f"/v1/claims/{cid}")
        assert r.status_code == expected, (role, claim, r.text)
        eob = world.get(role, f"/fhir/r4/ExplanationOfBenefit/{cid}")
        assert eob.status_code == expected, (role, claim, eob.text)
        if expected == 200:
            assert r.json()["id"] == cid
            assert r.json()["member_id"] == claim["member_id"]
            assert eob.json()["id"] == str(cid)
        else:
            # indistinguishable from a claim that does not exist
            missing = world.get(role, "/v1/claims/999999999")
            assert r.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
            assert eob.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("role", ROLES)
def test_a_claim_is_found_by_the_numbers_its_users_hold(world: World, role: str) -> None:
    """A provider holds CLM01 and, from the 277CA, the payer claim control number: both find
    a claim, by the same access rule as its row id, and the answer is the same."""
    for claim in _sample(world):
        number = claim["payer_claim_number"]
        if number is None:
            continue  # rejected at intake: no payer claim number given
        expected = 200 if _sees(world, role, claim) else 404
        r = world.get(role, f"/v1/claims/{number}")
        assert r.status_code == expected, (role, claim, r.text)
        if expected == 200:
            assert r.json() == world.get(role, f"/v1/claims/{claim['id']}").json()
        page = world.get(role, f"/v1/claims?payer_claim_number={number}").json()["items"]
        assert [i["id"] for i in page] == ([claim["id"]] if expected == 200 else [])
        by_clm01 = world.get(
            role,
            f"/v1/claims?claim_id={quote(claim['submitter_claim_id'])}"
            f"&provider={claim['billing_npi']}",
        ).json()["items"]
        assert (claim["id"] in [i["id"] for i in by_clm01]) == (expected == 200)
        assert all(i["submitter_claim_id"] == claim["submitter_claim_id"] for i in by_clm01)
    missing = world.get(role, "/v1/claims/26110299999999999999999999")
    assert missing.status_code == 404
    assert world.get(role, "/v1/claims?claim_id=NO-SUCH-CLM01").json()["items"] == []


@pytest.mark.parametrize("role", ROLES)
def test_claim_lists_hold_only_the_claims_a_key_may_see(world: World, role: str) -> None:
    expected = sorted(c["id"] for c in world.claims if _sees(world, role, c))
    seen: list[int] = []
    url: str | None = "/v1/claims?limit=97"
    while url:
        r = world.get(role, url)
        assert r.status_code == 200, r.text
        seen += [item["id"] for item in r.json()["items"]]
        url = r.json()["next"]
    assert seen == expected
    # filters narrow, never widen
    r = world.get(role, f"/v1/claims?provider={world.npi_b}&limit=500")
    assert sorted(i["id"] for i in r.json()["items"]) == sorted(
        c["id"] for c in world.claims if _sees(world, role, c) and c["billing_npi"] == world.npi_b
    )
    # a FHIR search by patient: the minor's claims, for those who may see them
    r = world.get(role, f"/fhir/r4/ExplanationOfBenefit?patient=Patient/{world.minor}&_count=100")
    assert r.status_code == 200
    bundle = r.json()
    got = sorted(int(e["resource"]["id"]) for e in bundle.get("entry", []))
    assert got == sorted(
        c["id"] for c in world.claims if c["member_id"] == world.minor and _sees(world, role, c)
    )
    assert bundle["total"] == len(got)


@pytest.mark.parametrize("role", ROLES)
def test_interchanges_and_remittances_by_role(world: World, role: str) -> None:
    ix = world.get(role, f"/v1/interchanges/{world.interchange_id}")
    assert ix.status_code == (200 if role in ("insurer", "provider_a") else 404), ix.text
    if ix.status_code == 200:
        acks = ix.json()["acknowledgments"]
        assert {a["kind"] for a in acks} == {"999", "277ca"}
        for a in acks:
            body = world.get(role, a["href"])
            assert body.status_code == 200
            assert body.text.startswith("ISA")
    for npi, rid in ((world.npi_a, world.remittance_a), (world.npi_b, world.remittance_b)):
        mine = (
            role == "insurer"
            or (role == "provider_a" and npi == world.npi_a)
            or (role == "provider_b" and npi == world.npi_b)
        )
        x12 = world.get(role, f"/v1/remittances/{rid}")
        assert x12.status_code == (200 if mine else 404), (role, npi)
        if mine:
            assert x12.headers["content-type"].startswith("application/edi-x12")
            assert "ST*835*" in x12.text
            js = world.get(role, f"/v1/remittances/{rid}?format=json").json()
            assert js["payee_npi"] == npi
            assert js["total_paid"] == f"{sum(_d(c['paid']) for c in js['claims'] if True):.2f}"


def _d(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)


def test_members_and_other_roles_cannot_submit(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.keys['member'].token}"}
    r = world.client.post("/v1/interchanges", content=b"ISA*", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


# Who may send under provider A's sender id, which interchange ISA13 900000101 took already:
# whoever may is answered 409 (a duplicate: nothing more is stored), whoever may not 403.
SUBMISSIONS = {
    "A's claims": {"insurer": 409, "provider_a": 409},
    "B's claims": {"insurer": 409},  # A's key may not send B's claims, B's not under A's id
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("claims", sorted(SUBMISSIONS))
def test_a_key_submits_only_under_its_sender_ids(world: World, role: str, claims: str) -> None:
    body = world.sent_by_a
    if claims == "B's claims":
        body = body.replace(f"XX*{world.npi_a}~".encode(), f"XX*{world.npi_b}~".encode())
    headers = {
        "Authorization": f"Bearer {world.keys[role].token}",
        "Content-Type": "application/edi-x12",
    }
    with world.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(t.interchanges_table)).scalar()
    r = world.client.post("/v1/interchanges", content=body, headers=headers)
    assert r.status_code == SUBMISSIONS[claims].get(role, 403), (role, r.text)
    message = r.json()["error"]["message"]
    if role == "provider_b":
        assert message == "sender ids (ISA06 / GS02) not registered to this key: 'SENDERA'"
    elif r.status_code == 409:
        assert message == "sender SENDERA ISA13 900000101 was received before"
        assert "*R*025~" in r.json()["error"]["acknowledgment"]
    with world.engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(t.interchanges_table)).scalar()
    assert after == before


def test_without_a_valid_key_nothing_is_answered(world: World) -> None:
    url = f"/v1/claims/{world.claims[0]['id']}"
    assert world.client.get(url).status_code == 401
    r = world.client.get(url, headers={"Authorization": "Bearer ce_nosuch_secret"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    good = world.keys["insurer"].token
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert world.client.get(url, headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    # an expired key, and a revoked one
    old = create_key(
        world.engine, Role.INSURER, now=NOW - timedelta(days=2), lifetime=timedelta(days=1)
    )
    assert (
        world.client.get(url, headers={"Authorization": f"Bearer {old.token}"}).status_code == 401
    )
    gone = create_key(world.engine, Role.INSURER, now=NOW)
    headers = {"Authorization": f"Bearer {gone.token}"}
    assert world.client.get(url, headers=headers).status_code == 200
    assert revoke_key(world.engine, gone.key_id, NOW)
    assert world.client.get(url, headers=headers).status_code == 401


def test_every_read_of_a_claim_is_audited_and_refusals_are_not(world: World) -> None:
    mine = next(c for c in world.claims if c["billing_npi"] == world.npi_a)
    other = next(c for c in world.claims if c["billing_npi"] != world.npi_a)
    r = t.phi_reads_table.c

    def reads(claim_id: int) -> list[Any]:
        with world.engine.connect() as conn:
            return list(
                conn.execute(
                    select(r.key_id, r.role, r.route, r.record_type)
                    .where(r.record_type == "claim", r.record_id == str(claim_id))
                    .order_by(r.id)
                )
            )

    before_mine, before_other = len(reads(mine["id"])), len(reads(other["id"]))
    assert world.get("provider_a", f"/v1/claims/{mine['id']}").status_code == 200
    assert world.get("provider_a", f"/v1/claims/{other['id']}").status_code == 404
    after = reads(mine["id"])
    assert len(after) == before_mine + 1
    assert tuple(after[-1]) == (
        world.keys["provider_a"].key_id,
        "provider",
        "/v1/claims/{claim_id}",
        "claim",
    )
    assert len(reads(other["id"])) == before_other


def test_key_rules_are_enforced_when_keys_are_made(world: World) -> None:
    from claims_engine.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="NPI"):
        create_key(world.engine, Role.PROVIDER, now=NOW, npis=["1234567890"])
    with pytest.raises(ConfigurationError, match="member-id"):
        create_key(world.engine, Role.MEMBER, now=NOW)
    with pytest.raises(ConfigurationError, match="insurer"):
        create_key(world.engine, Role.INSURER, now=NOW, member_id="X")
    with pytest.raises(ConfigurationError, match="only a provider key takes --sender"):
        create_key(world.engine, Role.INSURER, now=NOW, senders=["SENDERC"])
    with pytest.raises(ConfigurationError, match="not a sender id"):
        create_key(world.engine, Role.PROVIDER, now=NOW, npis=[world.npi_b], senders=[" B"])


def test_a_sender_id_belongs_to_one_trading_partner(world: World) -> None:
    """Another provider is not given a sender id that an active key holds; a key of the same
    partner is, when made as that partner's; an id revoked or expired keys held is free."""
    from claims_engine.domain.errors import ConfigurationError

    a = world.keys["provider_a"]
    with pytest.raises(ConfigurationError, match=f"registered to the active key {a.key_id}"):
        create_key(world.engine, Role.PROVIDER, now=NOW, npis=[world.npi_b], senders=["SENDERA"])
    with pytest.raises(ConfigurationError, match="registered to the active key"):
        create_key(  # a partner's key does not open another partner's ids
            world.engine,
            Role.PROVIDER,
            now=NOW,
            npis=[world.npi_b],
            senders=["SENDERA", "SENDERB"],
            same_partner_as=world.keys["provider_b"].key_id,
        )
    with pytest.raises(ConfigurationError, match="no active provider key"):
        create_key(
            world.engine,
            Role.PROVIDER,
            now=NOW,
            npis=[world.npi_a],
            senders=["SENDERA"],
            same_partner_as=world.keys["insurer"].key_id,
        )
    again = create_key(
        world.engine,
        Role.PROVIDER,
        now=NOW,
        npis=[world.npi_a],
        senders=["SENDERA", "SENDERA2"],
        same_partner_as=a.key_id,
    )
    assert again.senders == ("SENDERA", "SENDERA2")
    principal = authenticate(world.engine, again.token, NOW, None)
    assert principal is not None and principal.senders == {"SENDERA", "SENDERA2"}

    # held only by keys revoked or expired, an id is free again
    old = create_key(
        world.engine,
        Role.PROVIDER,
        now=NOW - timedelta(days=2),
        npis=[world.npi_b],
        senders=["SENDERD"],
        lifetime=timedelta(days=1),
    )
    gone = create_key(world.engine, Role.PROVIDER, now=NOW, npis=[world.npi_b], senders=["SENDERE"])
    assert revoke_key(world.engine, gone.key_id, NOW)
    free = create_key(
        world.engine, Role.PROVIDER, now=NOW, npis=[world.npi_a], senders=["SENDERD", "SENDERE"]
    )
    assert free.senders == ("SENDERD", "SENDERE") and old.senders == ("SENDERD",)


def test_health_routes(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok", "checks": {"process": "ok"}}
    ready = world.client.get("/readyz")
    assert ready.json()["checks"]["database"] == "ok"


def test_age_boundary_of_a_minor() -> None:
    assert age_on(date(2008, 11, 3), date(2026, 11, 2)) == 17
    assert age_on(date(2008, 11, 2), date(2026, 11, 2)) == 18


def test_the_one_statement_status_equals_the_general_one(world: World) -> None:
    """The API's PostgreSQL read (one prepared statement with its audit row) says exactly what
    the general query says, for claims in every state and for every scope."""
    from claims_engine.services import queries
    from claims_engine.services.queries import ClaimScope

    scopes = [ClaimScope(), ClaimScope("billing_npi", (world.npi_a,))]
    with world.engine.connect() as conn:
        for claim in world.claims:
            for scope in scopes:
                fast = queries.claim_status_read(conn, claim["id"], scope)
                general = queries.visible_claim_status(conn, claim["id"], scope.condition())
                assert (fast and fast.to_json()) == (general and general.to_json())


@pytest.mark.parametrize("role", ROLES)
def test_a_276_answers_each_role_about_its_own_claims_only(world: World, role: str) -> None:
    """Providers hear about the claims they bill, insurers about all; another provider's claim
    is answered as a claim that does not exist (A4:35); members do not send 276s."""
    sample = _sample(world)
    asks = [
        Ask(
            trace=f"T{claim['id']}",
            npi=claim["billing_npi"],
            member_id=world.subscriber_of.get(claim["member_id"], claim["member_id"]),
            payer_claim_number=claim["payer_claim_number"] or "",
            submitter_claim_id="" if claim["payer_claim_number"] else claim["submitter_claim_id"],
        )
        for claim in sample
    ]
    headers = {
        "Authorization": f"Bearer {world.keys[role].token}",
        "Content-Type": "application/edi-x12",
    }
    r = world.client.post("/v1/x12/276", content=build_276(asks), headers=headers)
    if role.startswith("member") or role in ("minor", "examiner", "supervisor"):
        assert r.status_code == 403
        return
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/edi-x12")
    answered = blocks(r.text)
    for claim, ask in zip(sample, asks, strict=True):
        [block] = answered[ask.trace]
        codes = {seg[1].split(":")[0] + ":" + seg[1].split(":")[1] for seg in block.stc}
        if _sees(world, role, claim):
            assert "A4:35" not in codes, (role, claim, block)
        else:
            assert codes == {"A4:35"}, (role, claim, block)


# The examination of pended claims, by role: examiner and supervisor keys read and act, the
# insurer's (the payer's analyst) reads, providers and members use none of these routes, even
# for a claim they bill or are the patient of: 403 before any id is looked up.
EXAMINERS = ("examiner", "supervisor")
READERS = ("insurer", *EXAMINERS)


@pytest.mark.parametrize("role", ROLES)
def test_the_examination_routes_by_role(world: World, role: str) -> None:
    p = t.pended_claims_table.c
    i = t.pend_items_table.c
    with world.engine.connect() as conn:
        pended = conn.execute(select(p.claim_id).order_by(p.claim_id)).scalars().first()
        ever = set(conn.execute(select(i.claim_id)).scalars())
    assert pended is not None, "the world has a pended claim (high-dollar): pick a seed"
    never = next(
        c["id"] for c in world.claims if c["id"] not in ever and c["payer_claim_number"] is not None
    )
    headers = {"Authorization": f"Bearer {world.keys[role].token}"}
    read = 200 if role in READERS else 403
    missing = 404 if role in READERS else 403
    act = 200 if role in EXAMINERS else 403
    absent = 404 if role in EXAMINERS else 403
    calls: list[tuple[str, str, Any, int]] = [
        ("GET", "/v1/queues", None, read),
        ("GET", "/v1/queues/high-dollar/claims?limit=1", None, read),
        ("GET", "/v1/queues/nosuch/claims", None, missing),
        ("GET", f"/v1/claims/{pended}/examination", None, read),
        ("GET", f"/v1/claims/{never}/examination", None, missing),
        ("GET", "/v1/actions?state=awaiting%20approval", None, read),
        ("POST", f"/v1/claims/{pended}/actions", {"kind": "note", "why": role}, act),
        ("POST", f"/v1/claims/{never}/actions", {"kind": "note", "why": role}, absent),
        ("POST", "/v1/actions/999999999/approve", None, absent),
        ("POST", "/v1/actions/999999999/refuse", {"why": "no"}, absent),
    ]
    for method, url, body, expected in calls:
        r = world.client.request(method, url, headers=headers, json=body)
        assert r.status_code == expected, (role, method, url, r.text)
        if expected >= 400:
            assert r.json()["error"]["code"] == {403: "forbidden", 404: "not_found"}[expected]
    if role in READERS:
        view = world.get(role, f"/v1/claims/{pended}/examination").json()
        notes = [a["actor"] for a in view["actions"] if a["kind"] == "note"]
        assert (world.keys[role].key_id in notes) == (role in EXAMINERS)
