"""Submitting through the HTTP API in the embedded mode (SQLite, in-process workers): accepted
interchanges flow to adjudication; unusable bodies are answered at once with the TA1 or 999
that says why, and nothing already accepted is lost. A provider key sends only under the sender
ids registered to it (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.services.access import Role, create_key
from claims_engine.services.reference import load_runtime
from claims_engine.store import tables as t
from tests.conftest import VALID_837P
from tests.integration.pipeline_support import NOW, generated_837, prepared_store
from tests.integration.sender_support import resent
from tests.integration.x212_support import Ask, blocks, build_276
from workers.settings import Environment, Settings, environment, use_environment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VALID = VALID_837P.read_text()
SAMPLE_NPI = "1234567893"  # the sample's billing provider
Api = tuple[TestClient, Engine, dict[str, str]]


@contextmanager
def _serving(engine: Engine) -> Iterator[Api]:
    """The app over ``engine``'s store, with its in-process workers, and tokens of: a
    clearinghouse sending as SUBMITTER01 for every billing provider of the reference data and
    the sample's (``provider``), a key of the same trading partner for the sample's provider
    only (``one``), another provider billing under the sample's NPI but sending under sender
    ids of its own (``other``), a provider key with no sender id (``unregistered``), an
    insurer and a member."""
    prepared_store(engine)
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(url, None, ROOT / "rules", frozenset({1, 2, 3, 4, 5}))
    env = Environment(settings, engine)
    previous = environment()
    use_environment(env)  # the in-process actors work on this store
    billing = sorted(load_runtime(engine, ROOT / "rules").reference.providers)
    provider = create_key(
        engine, Role.PROVIDER, now=NOW, npis=[SAMPLE_NPI, *billing], senders=["SUBMITTER01"]
    )
    keys = {
        "provider": provider,
        "one": create_key(
            engine,
            Role.PROVIDER,
            now=NOW,
            npis=[SAMPLE_NPI],
            senders=["SUBMITTER01"],
            same_partner_as=provider.key_id,
        ),
        "other": create_key(
            engine, Role.PROVIDER, now=NOW, npis=[SAMPLE_NPI], senders=["CLINICB01", "CLINICBAPP"]
        ),
        "unregistered": create_key(engine, Role.PROVIDER, now=NOW, npis=[SAMPLE_NPI]),
        "insurer": create_key(engine, Role.INSURER, now=NOW),
        "member": create_key(engine, Role.MEMBER, now=NOW, member_id="PG00000100"),
    }
    app = create_app(
        ApiConfig(env, now=lambda: NOW + timedelta(minutes=5), max_body_bytes=2_000_000)
    )
    try:
        with TestClient(app) as client:
            yield client, engine, {name: key.token for name, key in keys.items()}
    finally:
        use_environment(previous)


@pytest.fixture
def api(sqlite_engine: Engine) -> Iterator[Api]:
    with _serving(sqlite_engine) as served:
        yield served


@pytest.fixture
def api_on(engine: Engine) -> Iterator[Api]:
    """:func:`api` on SQLite and on PostgreSQL."""
    with _serving(engine) as served:
        yield served


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/edi-x12"}


def _wait_ingested(client: TestClient, token: str, interchange_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(
            f"/v1/interchanges/{interchange_id}", headers=_auth(token)
        ).json()
        waiting = body["claims"]["received"] + body["claims"]["accepted"]
        if body["state"] != "received" and waiting == 0:
            return body
        time.sleep(0.05)
    raise AssertionError(f"interchange {interchange_id} not done: {body}")


def test_a_submitted_interchange_is_acknowledged_and_adjudicated(api: Api, tmp_path: Path) -> None:
    client, engine, tokens = api
    raw = generated_837(tmp_path / "a.837", claims=60, seed=41, control=777001)
    r = client.post("/v1/interchanges", content=raw, headers=_auth(tokens["provider"]))
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["claims"] == 60
    assert r.headers["location"] == f"/v1/interchanges/{accepted['id']}"
    done = _wait_ingested(client, tokens["provider"], accepted["id"])
    assert done["state"] == "ingested"
    assert sum(done["claims"].values()) == 60
    assert (
        done["claims"]["adjudicated"] + done["claims"]["pended"] + done["claims"]["rejected"] == 60
    )
    kinds = {a["kind"]: a["href"] for a in done["acknowledgments"]}
    assert set(kinds) == {"999", "277ca"}
    nine = client.get(kinds["999"], headers=_auth(tokens["provider"]))
    assert nine.status_code == 200 and "ST*999*" in nine.text
    # a member key may not read the interchange of a provider
    assert (
        client.get(
            f"/v1/interchanges/{accepted['id']}", headers=_auth(tokens["member"])
        ).status_code
        == 404
    )

    # the same file again: 409 with the TA1 025, and nothing more stored
    again = client.post("/v1/interchanges", content=raw, headers=_auth(tokens["provider"]))
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "duplicate_interchange"
    assert "*R*025~" in error["acknowledgment"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.claims_table)).scalar_one() == 60


def test_unusable_bodies_are_refused_with_their_acknowledgment(
    api: Api,
) -> None:
    client, engine, tokens = api
    headers = _auth(tokens["provider"])

    def post(body: bytes) -> Any:
        return client.post("/v1/interchanges", content=body, headers=headers)

    r = post(b"hello, this is not X12")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "not_x12"
    assert r.json()["error"]["acknowledgment"] is None

    r = post(VALID.replace("IEA*1*000000101~", "IEA*3*000000101~", 1).encode())
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "interchange_refused"
    assert "TA1*000000101*" in r.json()["error"]["acknowledgment"]
    assert "*R*021~" in r.json()["error"]["acknowledgment"]

    r = post(VALID.replace("SE*54*0001~", "SE*50*0001~", 1).encode())
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "transaction_sets_rejected"
    assert "IK5*R*4~" in r.json()["error"]["acknowledgment"]

    r = post(b"")
    assert r.status_code == 400

    r = post(b"ISA" + b"*" * 3_000_000)
    assert r.status_code == 413

    # none of them left anything behind; a good file after them goes through
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(t.interchanges_table)).scalar_one() == 0
        )
    good = post(VALID.encode())
    assert good.status_code == 202, good.text
    _wait_ingested(client, tokens["provider"], good.json()["id"])


def test_a_provider_submits_only_claims_it_bills(api: Api, tmp_path: Path) -> None:
    client, engine, tokens = api
    raw = generated_837(tmp_path / "b.837", claims=30, seed=43, control=777002)
    r = client.post("/v1/interchanges", content=raw, headers=_auth(tokens["one"]))
    assert r.status_code == 403
    assert "claims billed under NPIs this key does not hold" in r.json()["error"]["message"]
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(t.interchanges_table)).scalar_one() == 0
        )
    # its own claims (the sample's billing provider) it may send
    ok = client.post("/v1/interchanges", content=VALID.encode(), headers=_auth(tokens["one"]))
    assert ok.status_code == 202, ok.text


def _stored(engine: Engine) -> tuple[int, int]:
    """Interchanges stored, and interchange numbers (sender, ISA13) taken."""
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(t.interchanges_table)).scalar_one(),
            conn.execute(
                select(func.count()).select_from(t.interchange_controls_table)
            ).scalar_one(),
        )


def test_a_key_cannot_take_another_senders_interchange_numbers(api_on: Api) -> None:
    """Security issue 15: a provider's key posted three interchanges under another submitter's
    ISA06 (ISA13 900000101 to 900000103), and the real submitter's next file with ISA13
    900000102 was refused as a duplicate."""
    client, engine, tokens = api_on
    claimed = "".join(resent(VALID, control=c) for c in (900000101, 900000102, 900000103))
    r = client.post("/v1/interchanges", content=claimed, headers=_auth(tokens["other"]))
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "forbidden" and error["acknowledgment"] is None
    assert error["message"] == (
        "sender ids (ISA06 / GS02) not registered to this key: 'SUBMITTER01'"
    )
    assert _stored(engine) == (0, 0)

    # the sender's own next file is no duplicate: taken in, not refused with a TA1 025
    own = resent(VALID, control=900000102)
    r = client.post("/v1/interchanges", content=own, headers=_auth(tokens["provider"]))
    assert r.status_code == 202, r.text
    done = _wait_ingested(client, tokens["provider"], r.json()["id"])
    assert done["state"] == "ingested" and done["reason"] is None
    kinds = {a["kind"]: a["href"] for a in done["acknowledgments"]}
    assert set(kinds) == {"ta1", "999", "277ca"}  # the sample asks for a TA1 (ISA14)
    ta1 = client.get(kinds["ta1"], headers=_auth(tokens["provider"])).text
    assert "TA1*900000102*" in ta1 and "*A*000~" in ta1


def test_a_sender_id_chosen_to_collide_takes_no_claim_numbers(api_on: Api) -> None:
    """Payer claim numbers were the day, a 4-digit checksum of the sender id and ISA13: a
    partner registered under a sender id whose checksum is another's (CLINIC14970 and
    SUBMITTER01 both give 1248) could send the other's next ISA13 first, so that the other's
    claims met numbers already given and its file failed. Each interchange's numbers are its
    own now, whoever sent what."""
    client, engine, tokens = api_on
    assert zlib.crc32(b"CLINIC14970") % 10000 == zlib.crc32(b"SUBMITTER01") % 10000
    collider = create_key(
        engine, Role.PROVIDER, now=NOW, npis=[SAMPLE_NPI], senders=["CLINIC14970"]
    ).token
    numbers = []
    for token, sender in ((collider, "CLINIC14970"), (tokens["provider"], "SUBMITTER01")):
        raw = resent(VALID, control=900000102, sender=sender)
        r = client.post("/v1/interchanges", content=raw, headers=_auth(token))
        assert r.status_code == 202, r.text
        done = _wait_ingested(client, token, r.json()["id"])
        assert done["state"] == "ingested" and done["reason"] is None, done
        assert done["claims"]["rejected"] == 0, done
        with engine.connect() as conn:
            numbers.append(
                set(
                    conn.execute(
                        select(t.claims_table.c.payer_claim_number).where(
                            t.claims_table.c.interchange_id == r.json()["id"]
                        )
                    ).scalars()
                )
            )
    assert len(numbers[0]) == len(numbers[1]) == 2 and not numbers[0] & numbers[1]


def test_another_senders_body_is_refused_before_it_is_read(api_on: Api) -> None:
    """Under sender ids not the key's, a body is refused before its preflight: an unusable one
    gets the 403 too, not a TA1 or 999 answering the other sender's interchange."""
    client, engine, tokens = api_on
    broken = resent(VALID, control=900000104).replace("IEA*1*", "IEA*3*")
    r = client.post("/v1/interchanges", content=broken, headers=_auth(tokens["other"]))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["acknowledgment"] is None
    # the same body from the sender's own key is answered with its TA1
    r = client.post("/v1/interchanges", content=broken, headers=_auth(tokens["provider"]))
    assert r.status_code == 400 and "TA1*900000104*" in r.json()["error"]["acknowledgment"]
    assert _stored(engine) == (0, 0)


def test_every_group_sender_must_be_registered_to_the_key(api_on: Api) -> None:
    client, engine, tokens = api_on

    def post(token: str, body: str) -> Any:
        return client.post("/v1/interchanges", content=body, headers=_auth(tokens[token]))

    # its own ISA06, but a group (GS02) under another partner's id; or the other way round
    for token, body, foreign in (
        (
            "other",
            resent(VALID, control=5, sender="CLINICB01", group_sender="SUBMITTER01"),
            "SUBMITTER01",
        ),
        ("provider", resent(VALID, control=6, group_sender="CLINICBAPP"), "CLINICBAPP"),
        (
            "other",
            resent(VALID, control=7, sender="SUBMITTER01", group_sender="CLINICB01"),
            "SUBMITTER01",
        ),
    ):
        r = post(token, body)
        assert r.status_code == 403, (token, r.text)
        assert r.json()["error"]["message"].endswith(f"not registered to this key: '{foreign}'")
    # a body of several interchanges: one under an id that is not the key's refuses it all
    mixed = resent(VALID, control=8, sender="CLINICB01") + resent(VALID, control=9)
    assert post("other", mixed).status_code == 403
    assert _stored(engine) == (0, 0)

    # under its own ids, in the ISA and the GS alike, it sends; an insurer key, the payer's
    # own, sends under any id
    for token, body in (
        ("other", resent(VALID, control=10, sender="CLINICB01", group_sender="CLINICBAPP")),
        ("insurer", resent(VALID, control=11, sender="ANYONE")),
    ):
        r = post(token, body)
        assert r.status_code == 202, (token, r.text)
        assert _wait_ingested(client, tokens[token], r.json()["id"])["state"] == "ingested"


def test_a_key_without_a_sender_id_submits_nothing(api_on: Api) -> None:
    """A provider key made before sender ids were registered (or without one) still reads,
    but sends no 837 until a key with the partner's sender ids is made."""
    client, engine, tokens = api_on
    r = client.post("/v1/interchanges", content=VALID, headers=_auth(tokens["unregistered"]))
    assert r.status_code == 403
    assert "no sender id registered" in r.json()["error"]["message"]
    assert "keys create --sender" in r.json()["error"]["message"]
    assert _stored(engine) == (0, 0)
    assert client.get("/v1/claims", headers=_auth(tokens["unregistered"])).status_code == 200


# -- what the API refuses before it reads or works through it (security issue 15) --------------
def _streamed(
    app: Any, path: str, token: str, pieces: list[bytes], declared: str | None
) -> tuple[int, dict[str, Any], int]:
    """POST ``pieces`` to ``app`` straight through ASGI, one ``receive()`` each, as a client
    streams a body (``declared`` its Content-Length, else chunked): the status, the JSON
    answer, and how many bytes of the body the app took in."""
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/edi-x12"),
    ]
    if declared is not None:
        headers.append((b"content-length", declared.encode("latin-1")))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    left = list(pieces)
    taken = 0
    status = 0
    answer = b""

    async def receive() -> dict[str, Any]:
        nonlocal taken
        if not left:
            return {"type": "http.disconnect"}
        piece = left.pop(0)
        taken += len(piece)
        return {"type": "http.request", "body": piece, "more_body": bool(left)}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, answer
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            answer += message.get("body", b"")

    anyio.run(app, scope, receive, send)
    return status, json.loads(answer), taken


def test_an_oversized_body_is_refused_before_it_is_read_whole(api: Api) -> None:
    """A 512 MiB 276 took the server from 402 MB to 1,383 MB before its 413. Both routes refuse
    a body over the limit (2,000,000 bytes here) by its Content-Length before reading any of
    it, or, sent chunked, once the bytes taken in pass the limit (a 276's is lower)."""
    client, _engine, tokens = api
    piece = b"~" * 65_536
    pieces = [piece] * 64  # 4 MiB
    # a 276 is bounded by what its 100 inquiries can fill: 64 KiB and 8 KiB an inquiry
    for path, limit in (("/v1/x12/276", 65_536 + 100 * 8_192), ("/v1/interchanges", 2_000_000)):
        for declared in (str(len(piece) * len(pieces)), None):
            status, body, taken = _streamed(client.app, path, tokens["provider"], pieces, declared)
            assert (status, body["error"]["code"]) == (413, "too_large"), (path, declared, body)
            if declared is None:
                assert limit < taken <= limit + len(piece), (path, taken)
            else:
                assert taken == 0, path


def test_a_content_length_of_other_digits_is_no_number(api: Api) -> None:
    client, _engine, tokens = api
    # "\u00b2" passes str.isdigit() and int() refuses it: the body is counted as it comes
    status, body, _ = _streamed(
        client.app, "/v1/interchanges", tokens["provider"], [b"hello"], "\u00b2"
    )
    assert (status, body["error"]["code"]) == (400, "not_x12")
    # more digits than int() reads (4,300): over any limit, refused unread
    status, body, taken = _streamed(
        client.app, "/v1/interchanges", tokens["provider"], [b"hello"], "9" * 5000
    )
    assert (status, body["error"]["code"], taken) == (413, "too_large", 0)


def test_ids_of_other_digits_are_not_found(api: Api) -> None:
    """GET /fhir/r4/ExplanationOfBenefit/%C2%B2 ("\u00b2", which str.isdigit() takes and int()
    refuses) answered a plain-text 500."""
    client, _engine, tokens = api
    headers = _auth(tokens["insurer"])
    r = client.get("/fhir/r4/ExplanationOfBenefit/%C2%B2", headers=headers)
    assert r.status_code == 404, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "not-found"
    for url in ("/v1/interchanges/%C2%B2", "/v1/interchanges/%C2%B2/acknowledgments/1"):
        r = client.get(url, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", url


def test_a_276_of_more_inquiries_than_the_cap_is_refused_with_413(api: Api) -> None:
    client, _engine, tokens = api
    headers = _auth(tokens["provider"])
    asks = [Ask(f"T-{i}", SAMPLE_NPI, "M1", submitter_claim_id=f"C{i}") for i in range(101)]
    capped = create_app(
        ApiConfig(environment(), now=lambda: NOW, inprocess_workers=False, max_inquiries=3)
    )
    with TestClient(capped) as small:
        r = small.post("/v1/x12/276", content=build_276(asks[:4]), headers=headers)
        assert r.status_code == 413, r.text
        error = r.json()["error"]
        assert (error["code"], error["acknowledgment"]) == ("too_many_inquiries", None)
        assert error["message"].startswith("more than 3 claim inquiries")
        r = small.post("/v1/x12/276", content=build_276(asks[:3]), headers=headers)
        assert r.status_code == 200 and sorted(blocks(r.text)) == ["T-0", "T-1", "T-2"]
        # its body is bounded by what 3 inquiries can fill, not by a submission's 2,000,000
        room = capped_body = 64 * 1024 + 3 * 8 * 1024
        assert room < 2_000_000
        padded = build_276(asks[:3]) + b"\n" * (capped_body + 1 - len(build_276(asks[:3])))
        r = small.post("/v1/x12/276", content=padded, headers=headers)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text
        r = small.post("/v1/x12/276", content=padded[:-1], headers=headers)
        assert r.status_code == 200, r.text
    # the default: 100
    r = client.post("/v1/x12/276", content=build_276(asks), headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_inquiries"
    r = client.post("/v1/x12/276", content=build_276(asks[:100]), headers=headers)
    assert r.status_code == 200 and len(blocks(r.text)) == 100


def _groups(*ge_counts: int) -> bytes:
    """The sample interchange with a functional group of its two claims for each count (GS06
    101, 102 ...; claim ids apart), each group's GE01 saying that count: 1 is right."""
    start, end = VALID.index("GS*"), VALID.index("IEA*")
    group = VALID[start:end]
    groups = []
    for n, count in enumerate(ge_counts, 1):
        one = group.replace("*101*X*", f"*{100 + n}*X*")
        one = one.replace("GE*1*101~", f"GE*{count}*{100 + n}~")
        groups.append(one.replace("CLM*2646377", f"CLM*{n}646377"))
    return (VALID[:start] + "".join(groups) + f"IEA*{len(ge_counts)}*000000101~\n").encode()


def test_a_body_whose_every_functional_group_is_rejected_is_refused_unstored(
    api_on: Api,
) -> None:
    """A body whose only functional group failed its GE count was answered 202 and stored,
    its claims all rejected; nothing in it is usable, so it is 422 with the 999."""
    client, engine, tokens = api_on
    headers = _auth(tokens["provider"])
    for body in (_groups(2), _groups(2, 3)):
        r = client.post("/v1/interchanges", content=body, headers=headers)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "transaction_sets_rejected"
        assert "GE01 says '2' transaction sets, the group has 1" in error["message"]
        # the transaction sets are sound (IK5 A); their groups are not (AK9 R, code 5)
        ack = error["acknowledgment"]
        assert "IK5*A~" in ack and "AK9*R*1*1*0*5~" in ack and "IK5*R" not in ack
    assert _stored(engine) == (0, 0)

    # a group accepted beside the rejected one: stored, and that group's claims go on
    r = client.post("/v1/interchanges", content=_groups(2, 1), headers=headers)
    assert r.status_code == 202, r.text
    assert r.json()["claims"] == 4
    done = _wait_ingested(client, tokens["provider"], r.json()["id"])
    assert done["state"] == "ingested"
    assert done["claims"]["rejected"] == 2, done


def test_a_duplicate_interchange_names_no_other_interchange(api_on: Api) -> None:
    """An interchange refused as sent before (TA1 025) says which sender id and ISA13, which
    the body holds, and not the interchange that took them: that one may not be this key's."""
    client, _engine, tokens = api_on
    r = client.post(
        "/v1/interchanges", content=resent(VALID, control=701), headers=_auth(tokens["insurer"])
    )
    assert r.status_code == 202, r.text
    taken = r.json()["id"]
    _wait_ingested(client, tokens["insurer"], taken)

    body = resent(VALID, control=700) + resent(VALID, control=701)
    r = client.post("/v1/interchanges", content=body, headers=_auth(tokens["provider"]))
    assert r.status_code == 202, r.text
    done = _wait_ingested(client, tokens["provider"], r.json()["id"])
    assert done["state"] == "ingested"
    assert "ISA13 000000701 from SUBMITTER01 was received before" in done["reason"]
    assert f"interchange {taken}" not in done["reason"]
