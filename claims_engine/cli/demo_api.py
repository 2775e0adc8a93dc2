"""The demo's last part: the HTTP API on the demo's store, asked what a provider, a patient and
another provider would ask, over a real socket on loopback.

Keys are made as ``claims-engine keys create`` makes them; the server is the app of
``claims-engine serve`` under uvicorn in a thread of this process. What the answers say goes to
the terminal, and the documents into ``OUT/api/`` (a claim's status, its ExplanationOfBenefit,
a 277 answering a 276), so the run stays deterministic: no token or port is printed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from claims_engine.domain.npi import npi_is_valid
from claims_engine.services.access import Role, create_key
from claims_engine.services.queries import identity_of
from claims_engine.store.tables import adjudications_table, claims_table
from workers.settings import Environment

START_TIMEOUT = 20.0
_adjudications = adjudications_table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, path: str, token: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(base + path, data=body)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/edi-x12")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


def _inquiry(npi: str, subscriber: str, payer_claim_number: str, created: datetime) -> bytes:
    """A one-claim X12 276 as a provider's system would send it."""
    day, at = created.strftime("%Y%m%d"), created.strftime("%H%M")
    body = [
        "ST*276*0001*005010X212",
        f"BHT*0010*13*DEMO276*{day}*{at}",
        "HL*1**20*1",
        "NM1*PR*2*DEMO HEALTH PLAN*****PI*CLAIMSENGINE",
        "HL*2*1*21*1",
        "NM1*41*2*DEMO CLINIC*****46*DEMO276",
        "HL*3*2*19*1",
        f"NM1*1P*2*DEMO CLINIC*****XX*{npi}",
        "HL*4*3*22*0",
        f"NM1*IL*1*PATIENT*DEMO****MI*{subscriber}",
        "TRN*1*DEMO-TRACE-1",
        f"REF*1K*{payer_claim_number}",
    ]
    body.append(f"SE*{len(body) + 1}*0001")
    segments = [
        f"ISA*00*          *00*          *ZZ*DEMO276        *ZZ*CLAIMSENGINE   *{day[2:]}*{at}*^"
        "*00501*000000276*0*P*:",
        f"GS*HR*DEMO276*CLAIMSENGINE*{day}*{at}*276*X*005010X212",
        *body,
        "GE*1*276",
        "IEA*1*000000276",
    ]
    return ("~\n".join(segments) + "~\n").encode("ascii")


def api_tour(env: Environment, out_dir: Path, now: datetime, stdout: TextIO) -> list[Path]:
    """Serve the store, ask it as a provider, a patient and another provider, at ``now``
    (after the payment cycle); the files written."""
    import uvicorn

    from adapters.api.app import ApiConfig, create_app

    engine = env.engine
    runtime = env.runtime()
    c = claims_table.c
    with engine.connect() as conn:
        # the first paid claim of a member and a provider of the reference data (the public
        # samples' are made up)
        row = next(
            r
            for r in conn.execute(
                select(c.id, c.billing_npi, c.identity, c.payer_claim_number)
                .join(_adjudications, _adjudications.c.claim_id == c.id)
                .where(c.state == "remitted", _adjudications.c.paid > Decimal(0))
                .order_by(c.id)
            )
            if identity_of(r).member_id in runtime.reference.members and npi_is_valid(r.billing_npi)
        )
        member_id = identity_of(row).member_id
        others = conn.execute(
            select(c.billing_npi).distinct().where(c.billing_npi != row.billing_npi)
        ).scalars()
        other_npi = min(n for n in others if npi_is_valid(n))  # the samples' NPIs are made up
    subscriber = runtime.reference.members[member_id].subscriber_id
    provider = create_key(engine, Role.PROVIDER, now=now, npis=[row.billing_npi])
    other = create_key(engine, Role.PROVIDER, now=now, npis=[other_npi])
    patient = create_key(
        engine, Role.MEMBER, now=now, member_id=member_id, reference=runtime.reference
    )

    app = create_app(ApiConfig(env, now=lambda: now, inprocess_workers=False))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, name="demo-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the demo's API server did not start")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    folder = out_dir / "api"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        status, _, body = _call(base, f"/v1/claims/{row.id}", provider.token)
        claim: dict[str, Any] = json.loads(body)
        _, _, refused = _call(base, f"/v1/claims/{row.id}", other.token)
        eob_status, _, eob_body = _call(
            base, f"/fhir/r4/ExplanationOfBenefit/{row.id}", patient.token
        )
        eob: dict[str, Any] = json.loads(eob_body)
        inquiry = _inquiry(row.billing_npi, subscriber, row.payer_claim_number, now)
        answer_status, _, answer = _call(base, "/v1/x12/276", provider.token, inquiry)
        _, _, exposition = _call(base, "/metrics", "")
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
    for name, content in (
        (f"claim-{row.id}.json", json.dumps(claim, indent=2) + "\n"),
        (f"eob-{row.id}.json", json.dumps(eob, indent=2) + "\n"),
        ("inquiry.276.x12", inquiry.decode("ascii")),
        ("answer.277.x12", answer.decode("ascii")),
        ("metrics.txt", exposition.decode("utf-8")),
    ):
        path = folder / name
        path.write_text(content, encoding="utf-8", newline="")
        written.append(path)
    paid = next(
        (t["amount"]["value"] for t in eob.get("total", []) if _category(t) == "paidtoprovider"),
        None,
    )
    stc = next((s for s in answer.decode("ascii").split("~") if s.strip().startswith("STC")), "")
    refused_code = json.loads(refused)["error"]["code"]
    lines = [
        (
            "its provider",
            "GET /v1/claims/{id}",
            status,
            f"state {claim['state']}, paid {claim['paid']}",
        ),
        ("another provider", "GET /v1/claims/{id}", 404, refused_code),
        (
            "the patient",
            "GET /fhir/r4/ExplanationOfBenefit/{id}",
            eob_status,
            f"outcome {eob.get('outcome')}, paid to provider {paid}",
        ),
        ("its provider", "POST /v1/x12/276", answer_status, stc.strip()),
    ]
    stdout.write(f"\nHTTP API (claims-engine serve), asked about claim {row.payer_claim_number}:\n")
    for who, route, code, what in lines:
        stdout.write(f"  {who:<17} {route:<39} {code}  {what}\n")
    return written


def _category(total: dict[str, Any]) -> str:
    codings = total.get("category", {}).get("coding", [])
    return str(codings[0].get("code", "")) if codings else ""
