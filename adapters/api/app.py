"""The HTTP API: submission, claim status, remittances, X12 276/277, FHIR
ExplanationOfBenefit, prior authorization (X12 278, FHIR PAS ``Claim/$submit`` and
``$inquire``, their status) and the examination of pended claims, behind bearer keys with
per-role access.

Every route calls the same service functions as the command line. Reads of health data write
their audit rows (:func:`claims_engine.services.access.record_reads`) in the transaction of the
read. A record the caller may not see is answered exactly as a missing one (404).

Without ``CLAIMS_REDIS_URL`` the app runs the workers in-process (dramatiq's StubBroker and a
Worker thread), the embedded mode of the demo; with it, submissions go to the Redis queues
that ``claims-engine worker`` processes.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name
# dependencies local to create_app, and must see them evaluated.
import gc
import logging
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import urlencode

import anyio
import anyio.to_thread
import orjson
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters import fhir, fhir_pas
from adapters.api import models as m
from adapters.api.routing import PrefixCheckedRoute
from adapters.api.security import KeyRing
from adapters.web.portal import PortalConfig, add_portal, error_page, is_portal_path
from claims_engine.domain.errors import (
    ConfigurationError,
    DataKeyError,
    StoredDataError,
)
from claims_engine.domain.money import ascii_digits
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.observability import metrics
from claims_engine.observability.logs import bind, configure_logging, log_context
from claims_engine.rules.authorization_rules import AuthRules
from claims_engine.runtime import clock
from claims_engine.services import access, queries, submission
from claims_engine.services import authorization_status as auth_status
from claims_engine.services import authorizations as pa
from claims_engine.services import examination as ex
from claims_engine.services.access import Principal, Role
from claims_engine.services.claim_inquiry import MAX_INQUIRIES, UnusableInquiry, answer_276
from claims_engine.services.eligibility import answer_270
from claims_engine.services.explanation import load_explanations
from claims_engine.services.members import enrollment_file
from claims_engine.services.reference import Runtime
from claims_engine.services.review_requests import (
    Decide,
    answer_278,
    authorization_rules,
    authorizations_decide,
)
from claims_engine.services.stored_adjudication import NotPended
from claims_engine.store.db import KeptConnections, begin_write, engine_for
from claims_engine.store.tables import pend_items_table
from claims_engine.store.vault import current_vault
from claims_engine.x12.reader278 import ReviewRequest
from claims_engine.x12.writer278 import Decisions
from workers.settings import Environment

log = logging.getLogger("claims_engine.api")

X12_MEDIA = "application/edi-x12"
# the OpenAPI request body of a route that takes an X12 interchange as its body
X12_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            X12_MEDIA: {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}
FHIR_MEDIA = "application/fhir+json"
DEFAULT_MAX_BODY = 64 * 1024 * 1024
# how often POST /v1/x12/270 looks for a newer reference set in the store
REFERENCE_LOOK_SECONDS = 1.0
# 270s answered at once in one process. An answer is mostly Python under the GIL: more threads
# at once only take turns at it (each turn up to the interpreter's 5 ms switch interval), and a
# request waits for every other one's turns. bench_enroll --only inquiry, 16 clients, 2
# processes: p99 51-62 ms with the thread pool's 40, 35-50 ms with 2 (and 57 with 1, which
# leaves the process idle while a statement runs; 46 with 3).
ANSWERING_270 = 2
MAX_PAGE = 500
# A 276's body: its envelope and, per inquiry, its provider, subscriber, patient and service
# lines; more than this is no real-time inquiry (a 100-inquiry 276 of the tests is 19 KB)
INQUIRY_BYTES = 8 * 1024
ENVELOPE_BYTES = 64 * 1024
MAX_ID = 2**63 - 1
QUANTITY = Decimal("0.001")  # an authorization's units, visits or days
SWITCH_INTERVAL = 0.0005  # seconds: the GIL's switch interval in the server's processes
API_THREADS = 16  # request threads per process (sync routes), and database connections
_INTERCHANGE_PATH = re.compile(r"^/v1/interchanges/([0-9]{1,18})(?:/|$)")


@dataclass
class ApiConfig:
    env: Environment
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_inquiries: int = MAX_INQUIRIES  # claim inquiries (TRNs) of one 276
    now: Callable[[], datetime] = clock.now
    inprocess_workers: bool = True  # without Redis: run the actors in this process
    key_cache_seconds: float = 30.0
    threads: int = API_THREADS
    # Swagger UI at /docs: its page runs script from a CDN, on the portal's origin (where it
    # could read what a signed-in person's cookies may): off unless CLAIMS_API_DOCS=on. The
    # OpenAPI document (/openapi.json) is served either way.
    api_docs: bool = False
    # what decides the events of a 278 (POST /v1/x12/278); None: the prior-authorization
    # service (claims_engine.services.authorizations) on the reference data and rules in force
    decide_278: Decide | None = None

    @property
    def max_276_body_bytes(self) -> int:
        """A 276 is read up to what its inquiries can fill, not a whole submission's size."""
        return min(self.max_body_bytes, ENVELOPE_BYTES + INQUIRY_BYTES * self.max_inquiries)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, acknowledgment: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.acknowledgment = acknowledgment


def _not_found(what: str) -> NoReturn:
    raise ApiError(404, "not_found", f"no {what}")


def _error_body(status: int, code: str, message: str, ack: str | None = None) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, "acknowledgment": ack}}


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 once it is over ``limit`` bytes: by its Content-Length
    before anything is read, else as it streams in, so no more than ``limit`` (and the chunk
    that crossed it) is ever held."""
    declared = request.headers.get("content-length", "")
    # more digits than any limit has: over it, without int() working through thousands
    if ascii_digits(declared) and (len(declared.lstrip("0")) > 18 or int(declared) > limit):
        raise ApiError(413, "too_large", f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class FastJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class FhirJSON(JSONResponse):
    media_type = FHIR_MEDIA

    def render(self, content: Any) -> bytes:
        return fhir.dumps(content)  # Decimals exactly, as JSON numbers


def _errors(*codes: int, **said: str) -> dict[int | str, dict[str, Any]]:
    """The error responses ``codes`` of a route, as the OpenAPI document describes them;
    ``said`` (``e409="..."``) describes one as this route means it."""
    described = {
        400: "the request cannot be used (a TA1 or 999 says why for X12 bodies)",
        401: "no bearer token, or one that is unknown, expired or revoked",
        403: "the key's role may not use this route, or the body is not the key's to send",
        404: "no such record, or not one this key may see",
        409: "the interchange was received before (TA1 025)",
        413: "the body is larger than the server accepts (a 276: or asks about too many claims)",
        422: "the parameters or body do not pass validation",
        500: "a stored record cannot be read",
        503: "the database or the broker is unavailable",
    }
    return {
        c: {"model": m.ErrorBody, "description": said.get(f"e{c}", described[c])} for c in codes
    }


READ_ERRORS = _errors(401, 404, 422, 503)
# the examination routes: what their 4xx mean
_EXAMINING = {
    "e400": "the action cannot be taken as asked (a code not on its list, a line the claim "
    "does not have, no reason given), or the page cursor is not one",
    "e403": "the key's role may not use this route (examiner and supervisor keys act; "
    "insurer keys read), or the action is not this examiner's to take",
    "e404": "no such claim, queue or action, or a claim that never pended",
    "e409": "the claim changed since the version sent, another examiner holds it, it is no "
    "longer pended, or the action is no longer awaiting approval",
    "e503": "the database is unavailable, or the store holds no reference data yet",
}
EXAMINATION_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 409: "claim_changed"}


def create_app(config: ApiConfig) -> FastAPI:
    """The API over ``config.env``'s store and broker."""
    env = config.env
    engine = env.engine
    state: dict[str, Any] = {}

    def reference() -> ReferenceData | None:
        try:
            return env.runtime().reference
        except ConfigurationError:
            return None  # no reference data yet: members see their own claims and grants only

    keys = KeyRing(engine, reference, ttl=config.key_cache_seconds)

    # the runtime in force (reference data, rule packs) for the 270s, the 278s and the
    # portal's pages, looked for at most once a REFERENCE_LOOK_SECONDS (a set loaded meanwhile
    # answers from then on), not with three store round trips for every request (the key ring
    # asks the store itself); one thread looks at a time, the others answer meanwhile with
    # the runtime they have (no stall of every request in flight each second)
    runtime_held: list[tuple[float, Runtime]] = []
    runtime_looking = threading.Lock()

    def runtime_in_force() -> Runtime:
        held = runtime_held[0] if runtime_held else None
        if held is not None and time.monotonic() - held[0] < REFERENCE_LOOK_SECONDS:
            return held[1]
        if not runtime_looking.acquire(blocking=held is None):
            assert held is not None
            return held[1]
        try:
            now = time.monotonic()
            held = runtime_held[0] if runtime_held else None
            if held is not None and now - held[0] < REFERENCE_LOOK_SECONDS:
                return held[1]  # looked at while this thread waited
            try:
                runtime = env.runtime()
            except ConfigurationError as exc:
                raise ApiError(503, "not_configured", str(exc).splitlines()[0]) from None
            if held is None or held[1].reference is not runtime.reference:
                # a reference set newly loaded (some 10 objects a member, long-lived): out of
                # the cyclic garbage collector's full scans, which would otherwise walk them
                # all again and again while requests are answered (freed by reference counting
                # all the same)
                gc.collect()
                gc.freeze()
            runtime_held[:] = [(now, runtime)]
            return runtime
        finally:
            runtime_looking.release()

    def reference_in_force() -> ReferenceData:
        return runtime_in_force().reference

    def auth_rules_in_force(runtime: Runtime | None = None) -> AuthRules:
        """The prior-authorization decisions file of the rules folder (a ``stat`` a call, read
        again when it changed), over the plans of the reference data in force: the 278's, the
        FHIR PAS routes' and the clinical queue's. Raises :class:`ConfigurationError`."""
        plans = (runtime or env.runtime()).reference.plans
        return authorization_rules(env.settings.rules_dir, plans)

    def portal_reference() -> ReferenceData | None:
        try:
            return reference_in_force()
        except ApiError:
            return None  # no reference data yet

    # connections kept between uses, in autocommit (closed by the lifespan): the 270's, and
    # the portal's pages' (the session's check, what the page shows, its audit)
    connections_270 = KeptConnections(engine, ANSWERING_270)
    connections_278 = KeptConnections(engine, config.threads, generic_plans=True)
    connections_pages = KeptConnections(engine, config.threads, generic_plans=True)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = config.threads
        if env.settings.redis_url is None and config.inprocess_workers:
            await run_in_threadpool(_start_inprocess_workers, state)
        try:
            yield
        finally:
            connections_270.close()
            connections_278.close()
            connections_pages.close()
            worker = state.pop("worker", None)
            if worker is not None:
                from workers.inprocess import stop_worker

                await run_in_threadpool(stop_worker, worker)

    app = FastAPI(
        title="claims-engine",
        version="1",
        summary="Payer-side claims: submission, status, remittances, X12 276/277 and FHIR EOB",
        description=(
            "Every route but the health checks needs `Authorization: Bearer <token>`, a key "
            "made by `claims-engine keys create`. A provider key sees the claims billed under "
            "its NPIs, a member key its own claims and its minor dependents', an insurer key "
            "everything; examiner and supervisor keys work pended claims through the queue, "
            "examination and action routes (which insurer keys only read); a sponsor key sends "
            "its own sponsor's X12 834 enrollment and reads what became of it. A record that is "
            "not yours is answered exactly as a missing one: 404; a route your role may not "
            "use, 403."
        ),
        lifespan=lifespan,
        default_response_class=FastJSON,
        docs_url="/docs" if config.api_docs else None,
        redoc_url=None,  # a CDN's script too, and /docs says the same
    )
    app.router.route_class = PrefixCheckedRoute  # before any route is added
    bearer = HTTPBearer(auto_error=False, description="a key from `claims-engine keys create`")
    app.add_middleware(CorrelationMiddleware)

    # -- errors ------------------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _error_response(request, exc.status, exc.code, exc.message, exc.acknowledgment)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return _error_response(request, 422, "invalid_request", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> Response:
        # the route's template, not the path: a portal path may hold an invitation's token
        where = str(getattr(request.scope.get("route"), "path", "an unknown route"))
        log.warning("database error on %s: %s", where, type(exc).__name__)
        return _error_response(request, 503, "database_unavailable", "the store is unavailable")

    @app.exception_handler(ex.ExaminationError)
    async def _examination(request: Request, exc: ex.ExaminationError) -> Response:
        code = EXAMINATION_CODES.get(exc.status, "bad_request")
        return _error_response(request, exc.status, code, str(exc))

    @app.exception_handler(NotPended)
    async def _not_pended(request: Request, exc: NotPended) -> Response:
        message = str(exc) or "the claim is no longer pended"
        return _error_response(request, 409, "claim_changed", message)

    @app.exception_handler(fhir_pas.PasInputError)
    async def _pas_input(request: Request, exc: fhir_pas.PasInputError) -> Response:
        outcome = fhir_pas.operation_outcome(exc.message, exc.where, issue=exc.issue)
        return FhirJSON(outcome, status_code=exc.status)

    @app.exception_handler(StoredDataError)
    async def _stored(request: Request, exc: StoredDataError) -> Response:
        return _error_response(request, 500, "stored_data_unreadable", str(exc).splitlines()[0])

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # a bug: answered in the caller's terms (the portal's page with its headers, or the
        # API's JSON), never a bare text; the server logs the traceback as well
        where = str(getattr(request.scope.get("route"), "path", "an unknown route"))
        log.error("unexpected %s on %s", type(exc).__name__, where)
        return _error_response(
            request, 500, "internal_error", "the server failed on this request; it is logged"
        )

    @app.exception_handler(DataKeyError)
    async def _sealed(request: Request, exc: DataKeyError) -> Response:
        where = str(getattr(request.scope.get("route"), "path", "an unknown route"))
        log.error("sealed data unreadable on %s: %s", where, exc)
        return _error_response(request, 500, "stored_data_sealed", str(exc).splitlines()[0])

    # -- who is asking -----------------------------------------------------------------------

    async def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
        now = config.now()
        known, found = keys.cached(credentials.credentials, now)
        if not known:  # the store is asked off the event loop
            found = await run_in_threadpool(keys.principal, credentials.credentials, now)
        if found is None:
            raise ApiError(401, "unauthorized", "the token is unknown, expired or revoked")
        return found

    Who = Annotated[Principal, Depends(principal)]

    def route_of(request: Request) -> str:
        route = request.scope.get("route")
        return str(getattr(route, "path", request.url.path))

    @contextmanager
    def reading() -> Iterator[Connection]:
        """A transaction for a read and its audit rows (on SQLite, the write lock up front)."""
        with begin_write(engine) as conn:
            yield conn

    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def one_statement() -> Iterator[Connection]:
        """For a read that writes its own audit row in the same statement (PostgreSQL): no
        BEGIN and COMMIT round trips, the statement is its own transaction."""
        if engine.dialect.name != "postgresql":
            with begin_write(engine) as conn:
                yield conn
            return
        with autocommit.connect() as conn:
            yield conn

    # -- submission --------------------------------------------------------------------------

    @app.post(
        "/v1/interchanges",
        status_code=202,
        response_model=m.InterchangeAccepted,
        responses=_errors(400, 401, 403, 409, 413, 422, 503),
        summary="Submit an X12 837 interchange",
        description=(
            "The raw X12 is the body. A body that is not X12, whose every interchange is "
            "refused (TA1) or that has no transaction set accepted in an accepted functional "
            "group (999) is answered at once with 400 / 422 carrying that acknowledgment, "
            "nothing stored; a usable one is stored and queued, "
            "and its 999 and 277CA appear under the interchange as the intake writes them. "
            "A provider key sends only under the sender ids registered to it (every ISA06 and "
            "GS02) and only claims billed under its NPIs: 403 otherwise, nothing stored."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    X12_MEDIA: {
                        "schema": {"type": "string"},
                        "example": "ISA*00*          *00*          *ZZ*SUBMITTER01 ...~",
                    },
                    "text/plain": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_interchange(request: Request, who: Who) -> Response:
        if who.role not in (Role.PROVIDER, Role.INSURER):
            raise ApiError(403, "forbidden", "only provider and insurer keys submit claims")
        raw = await _read_body(request, config.max_body_bytes)
        return await run_in_threadpool(_accept, raw, who)

    def _submit_837(
        raw: bytes, who: Principal, file_name: str = "api-submission"
    ) -> submission.Submitted | submission.Refused:
        """The one way an 837 is taken (this route and the provider portal's upload): the
        checks and storage of :func:`submission.accept_837`, then the queue."""
        result = submission.accept_837(
            engine, raw, who, config.now(), env.settings.levels, file_name=file_name
        )
        if isinstance(result, submission.Submitted):
            bind(interchange_id=result.interchange_id)
            log.info("interchange submitted: %d claims", result.claims, extra={"bytes": len(raw)})
            _enqueue(result.interchange_id)
        return result

    # the portal's pages (adapters/web): its providers' uploads come through the same door
    add_portal(
        app,
        PortalConfig(
            engine,
            config.now,
            portal_reference,
            env.runtime,
            submit_837=_submit_837,
            max_upload_bytes=config.max_body_bytes,
            connections=connections_pages,
            auth_rules=auth_rules_in_force,
        ),
    )

    def _accept(raw: bytes, who: Principal) -> Response:
        result = _submit_837(raw, who)
        if isinstance(result, submission.Refused):
            raise ApiError(result.status, result.code, result.reason, result.acknowledgment)
        href = f"/v1/interchanges/{result.interchange_id}"
        body = {
            "id": result.interchange_id,
            "state": "received",
            "claims": result.claims,
            "links": [{"rel": "self", "href": href}],
        }
        return FastJSON(body, status_code=202, headers={"Location": href})

    def _enqueue(interchange_id: int) -> None:
        from workers import actors

        try:
            actors.ingest_interchange.send(interchange_id)
        except Exception as exc:  # stored: the workers' sweep picks it up
            log.warning("interchange %s stored but not queued: %s", interchange_id, exc)

    @app.get(
        "/v1/interchanges/{interchange_id}",
        response_model=m.InterchangeOut,
        responses=READ_ERRORS,
        summary="An interchange's state and its acknowledgments",
    )
    def get_interchange(
        interchange_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], who: Who
    ) -> Response:
        with engine.connect() as conn:
            view = queries.interchange_view(
                conn, interchange_id, access.interchange_visibility(who)
            )
        if view is None:
            _not_found(f"interchange {interchange_id}")
        base = f"/v1/interchanges/{view.id}/acknowledgments"
        return FastJSON(
            {
                "id": view.id,
                "state": view.state,
                "reason": view.reason,
                "sender_id": view.sender_id,
                "control_number": view.control_number,
                "received_at": queries.utc_text(view.received_at),
                "claims": view.claims,
                "acknowledgments": [
                    {
                        "id": a.id,
                        "kind": a.kind,
                        "control_number": a.control_number,
                        "created_at": queries.utc_text(a.created_at),
                        "href": f"{base}/{a.id}",
                    }
                    for a in view.acknowledgments
                ],
            }
        )

    @app.get(
        "/v1/interchanges/{interchange_id}/acknowledgments/{ack_id}",
        response_class=Response,
        responses={
            200: {"content": {X12_MEDIA: {"schema": {"type": "string"}}}},
            **READ_ERRORS,
        },
        summary="A TA1, 999 or 277CA of an interchange, as X12",
    )
    def get_acknowledgment(
        interchange_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
        ack_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
        who: Who,
        request: Request,
    ) -> Response:
        with reading() as conn:
            found = queries.acknowledgment(
                conn, interchange_id, ack_id, access.interchange_visibility(who)
            )
            if found is None:
                _not_found(f"acknowledgment {ack_id} of interchange {interchange_id}")
            access.record_reads(
                conn, who, route_of(request), "acknowledgment", [ack_id], config.now()
            )
        return Response(found[1], media_type=X12_MEDIA)

    # -- X12 834 enrollment ------------------------------------------------------------------

    @app.post(
        "/v1/x12/834",
        status_code=202,
        response_model=m.EnrollmentAccepted,
        responses=_errors(
            400,
            401,
            403,
            409,
            413,
            422,
            503,
            e400="the body is not X12, or its interchange is refused (the TA1 says why)",
            e403="only insurer and sponsor keys send 834s; a sponsor key only its own "
            "sponsor's (N1*P5): nothing stored",
            e409="the interchange was received before (the same bytes, or its ISA13 reused)",
            e422="a transaction set is refused (the 999 says why), or the file's sponsor "
            "(N1*P5) is not one of sponsors.yaml or not the one `sponsor` names",
        ),
        summary="Send an X12 834 enrollment file (005010X220A1)",
        description=(
            "The raw X12 is the body: one 834 interchange of a sponsor the reference data's "
            "`sponsors.yaml` lists. A usable file is stored and queued (202): a worker applies "
            "it to the enrollment, writes its 999 (and TA1 when ISA14 asks) and the report, "
            "and adjudicates again the claims a change of coverage in the past makes wrong; "
            "`GET /v1/x12/834/{interchange_id}` answers what it did. A body that is not X12 "
            "is refused with 400, nothing stored; an interchange or transaction set the "
            "guide refuses is answered at once with 400 / 422 carrying its TA1 or 999, and "
            "kept as a refused interchange. An insurer key sends any sponsor's file (`sponsor` "
            "asserts which: another is refused with 422); a sponsor key only its own "
            "sponsor's: a file naming another is refused with 403, nothing stored or applied."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    X12_MEDIA: {
                        "schema": {"type": "string"},
                        "example": "ISA*00*          *00*          *ZZ*SPONSOR ...~",
                    },
                    "text/plain": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_834(
        request: Request,
        who: Who,
        sponsor: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=80,
                description="the sponsor the file must be (N1*P5 N104); an insurer key's check",
            ),
        ] = None,
    ) -> Response:
        refusal = access.enrollment_refusal(who, [])
        if refusal is not None:
            raise ApiError(403, "forbidden", refusal)
        if who.role is Role.SPONSOR and sponsor not in (None, who.sponsor_id):
            raise ApiError(
                403, "forbidden", f"this key sends the enrollment of sponsor {who.sponsor_id} only"
            )
        raw = await _read_body(request, config.max_body_bytes)
        return await run_in_threadpool(_receive_834, raw, who, sponsor)

    def _receive_834(raw: bytes, who: Principal, asked: str | None) -> Response:
        from claims_engine.domain.issues import Scope
        from claims_engine.services.members import apply_stored_834
        from claims_engine.x12.envelope_walk import Unreadable
        from claims_engine.x12.reader834 import read_834

        now = config.now()
        read = read_834(raw)
        if isinstance(read, Unreadable) and (read.scope is None or read.interchange is None):
            raise ApiError(400, "not_x12", read.reason)
        if isinstance(read, Unreadable):  # kept as refused, with the TA1 or 999 that says why
            received = _stored_834(raw, who, now)
            runtime = _enrollment_runtime()
            report = apply_stored_834(
                engine,
                received,
                now=now,
                plans=tuple(runtime.reference.plans),
                sponsors=runtime.sponsors,
                sponsor_id=who.sponsor_id,
            )
            metrics.record_enrollment(report)
            ta1 = read.scope is Scope.INTERCHANGE
            ack = report.acknowledgments[0][1] if report.acknowledgments else None
            raise ApiError(
                400 if ta1 else 422,
                "interchange_refused" if ta1 else "transaction_sets_rejected",
                f"834 interchange {received} refused: {report.error or read.reason}",
                ack,
            )
        named = sorted({t.sponsor.id for t in read.transactions})
        refusal = access.enrollment_refusal(who, named)
        if refusal is not None:  # another sponsor's file: nothing of it stored
            raise ApiError(403, "forbidden", refusal)
        if asked is not None and named != [asked]:
            raise ApiError(
                422,
                "sponsor_mismatch",
                f"the file's sponsor (N1*P5 N104) is {', '.join(named) or '(none)'}, not {asked}",
            )
        sponsors = _enrollment_runtime().sponsors
        if len(named) != 1 or named[0] not in sponsors:
            listed = ", ".join(sorted(sponsors)) or "none"
            raise ApiError(
                422,
                "unknown_sponsor",
                f"the file's sponsor (N1*P5 N104) {', '.join(named) or '(none)'} is not one "
                f"sponsor of the reference data's sponsors.yaml (listed: {listed})",
            )
        interchange_id = _stored_834(raw, who, now)
        bind(interchange_id=interchange_id)
        log.info("834 received: %d members", len(read.members), extra={"bytes": len(raw)})
        _enqueue_834(interchange_id, asked)
        href = f"/v1/x12/834/{interchange_id}"
        body = {
            "id": interchange_id,
            "state": "received",
            "sponsor": named[0],
            "members": len(read.members),
            "links": [
                {"rel": "self", "href": href},
                {"rel": "interchange", "href": f"/v1/interchanges/{interchange_id}"},
            ],
        }
        return FastJSON(body, status_code=202, headers={"Location": href})

    def _stored_834(raw: bytes, who: Principal, now: datetime) -> int:
        from claims_engine.domain.errors import InputFileError
        from claims_engine.services.members import receive_834

        try:
            received = receive_834(
                engine, raw, file_name="api-submission", now=now, submitted_by=who.key_id
            )
        except InputFileError as exc:  # its ISA13 reused with other content, or no X12
            reused = "received before" in str(exc)
            status, code = (409, "duplicate_interchange") if reused else (400, "not_x12")
            raise ApiError(status, code, str(exc)) from None
        if received.duplicate:
            raise ApiError(
                409,
                "duplicate_interchange",
                f"this 834 was received before, as interchange {received.interchange_id}: "
                "nothing changed",
            )
        return received.interchange_id

    def _enrollment_runtime() -> Runtime:
        try:
            return env.runtime()
        except ConfigurationError as exc:
            raise ApiError(503, "not_configured", str(exc).splitlines()[0]) from None

    def _enqueue_834(interchange_id: int, sponsor: str | None) -> None:
        from workers import actors

        try:
            actors.apply_enrollment.send(interchange_id, sponsor)
        except Exception as exc:  # stored: the workers' sweep picks it up
            log.warning("834 %s stored but not queued: %s", interchange_id, exc)

    @app.get(
        "/v1/x12/834/{interchange_id}",
        response_model=m.EnrollmentOut,
        responses=_errors(401, 403, 404, 422, 503),
        summary="What an 834 did: its state, report and acknowledgments",
        description=(
            "For the insurer, and for the sponsor key that sent it. The report lists every "
            "member with its outcome (refused ones with the reason and the INS segment's "
            "place) and the claims the file sent back to adjudication; `report` is null "
            "while the file waits to be applied, and for a file refused whole (`reason`)."
        ),
    )
    def get_834(
        interchange_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], who: Who, request: Request
    ) -> Response:
        if who.role not in (Role.INSURER, Role.SPONSOR):
            raise ApiError(403, "forbidden", "only insurer and sponsor keys read 834 results")
        with reading() as conn:
            found = enrollment_file(conn, interchange_id, access.interchange_visibility(who))
            if found is None:
                _not_found(f"834 interchange {interchange_id}")
            access.record_reads(
                conn, who, route_of(request), "enrollment_file", [interchange_id], config.now()
            )
        if who.role is Role.SPONSOR and found["report"] is not None:
            # a sponsor reads its members' enrollment, never their claims: not which claims
            # the file sent back to adjudication, nor how many
            found["report"]["readjusted"] = []
            found["report"]["counts"].pop("readjusted", None)
        return FastJSON(found)

    # -- claims ------------------------------------------------------------------------------

    @app.get(
        "/v1/claims/{claim_id}",
        response_model=m.ClaimOut,
        responses=READ_ERRORS,
        summary="Where a claim stands: amounts, adjustments in plain language, history",
    )
    def get_claim(
        claim_id: Annotated[
            str,
            PathParam(
                min_length=1,
                max_length=50,
                description="the claim's id, or its payer claim control number (the 277CA's)",
            ),
        ],
        who: Who,
        request: Request,
    ) -> Response:
        audit = access.audit_entry(who, route_of(request), config.now())
        with one_statement() as conn:
            row_id = _claim_row(conn, claim_id)
            view = (
                None
                if row_id is None
                else queries.claim_status_read(conn, row_id, access.claim_scope(who), audit)
            )
        if view is None:
            _not_found(f"claim {claim_id}")
        return FastJSON(view.to_json())

    def _claim_row(conn: Connection, given: str) -> int | None:
        """A row id (at most 19 ASCII digits), else a payer claim control number (26
        digits), as the provider holds it from the 277CA."""
        if ascii_digits(given) and len(given) <= 19 and 1 <= int(given) <= MAX_ID:
            return int(given)
        return queries.claim_row_of_number(conn, given)

    @app.get(
        "/v1/claims",
        response_model=m.ClaimPage,
        responses=READ_ERRORS,
        summary="The claims this key may see, filtered, a page at a time",
    )
    def list_claims(
        who: Who,
        request: Request,
        member: Annotated[str | None, Query(max_length=80, description="member id")] = None,
        provider: Annotated[
            str | None, Query(max_length=10, description="billing provider NPI")
        ] = None,
        state: Annotated[m.ClaimStateName | None, Query()] = None,
        received_from: Annotated[
            date | None, Query(alias="from", description="received on or after")
        ] = None,
        received_to: Annotated[
            date | None, Query(alias="to", description="received on or before")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[int, Query(ge=0, le=MAX_ID, description="the last id seen")] = 0,
        payer_claim_number: Annotated[
            str | None,
            Query(max_length=50, description="the payer claim control number (the 277CA's)"),
        ] = None,
        claim_id: Annotated[
            str | None,
            Query(
                max_length=38,
                description="the submitter's claim id (CLM01); with `provider` (its billing "
                "NPI), the claim as its provider knows it",
            ),
        ] = None,
    ) -> Response:
        where = queries.ClaimFilter(
            member,
            provider,
            state,
            received_from,
            received_to,
            payer_claim_number=payer_claim_number,
            submitter_claim_id=claim_id,
        )
        with reading() as conn:
            page = queries.search_claims(
                conn, access.claim_visibility(who), where, after=after, limit=limit
            )
            access.record_reads(
                conn, who, route_of(request), "claim", [c.id for c in page], config.now()
            )
        next_url = None
        if len(page) == limit:
            params = {k: v for k, v in request.query_params.items() if k != "after"}
            params["after"] = str(page[-1].id)
            next_url = f"/v1/claims?{urlencode(params)}"
        items = [
            {
                "id": c.id,
                "payer_claim_number": c.payer_claim_number,
                "submitter_claim_id": c.submitter_claim_id,
                "member_id": c.member_id,
                "billing_npi": c.billing_npi,
                "claim_type": c.claim_type,
                "state": c.state,
                "received_on": c.received_on.isoformat(),
                "charge": queries.money_text(c.charge),
                "paid": queries.money_text(c.paid),
                "href": f"/v1/claims/{c.id}",
            }
            for c in page
        ]
        return FastJSON({"items": items, "next": next_url})

    # -- remittances -------------------------------------------------------------------------

    @app.get(
        "/v1/remittances/{remittance_id}",
        response_model=m.RemittanceOut,
        responses={
            200: {
                "description": "the 835 as X12 (the default), or as JSON when asked",
                "content": {X12_MEDIA: {"schema": {"type": "string"}}},
            },
            **READ_ERRORS,
        },
        summary="An 835 remittance: X12 by default, JSON with Accept or ?format=json",
    )
    def get_remittance(
        remittance_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
        who: Who,
        request: Request,
        as_format: Annotated[
            str | None, Query(alias="format", pattern="^(x12|json)$", description="x12 or json")
        ] = None,
    ) -> Response:
        with reading() as conn:
            view = queries.remittance_view(conn, remittance_id, access.remittance_visibility(who))
            if view is None:
                _not_found(f"remittance {remittance_id}")
            access.record_reads(
                conn, who, route_of(request), "remittance", [remittance_id], config.now()
            )
        wants_json = as_format == "json" or (
            as_format is None and "application/json" in request.headers.get("accept", "")
        )
        if not wants_json:
            return Response(view.x12, media_type=X12_MEDIA)
        return FastJSON(
            {
                "id": view.id,
                "payee_npi": view.payee_npi,
                "trace_number": view.trace_number,
                "created_at": queries.utc_text(view.created_at),
                "total_paid": queries.money_text(view.total_paid),
                "claims": [
                    {
                        "claim_id": i.claim_id,
                        "payer_claim_number": i.payer_claim_number,
                        "submitter_claim_id": i.submitter_claim_id,
                        "kind": i.kind,
                        "status": i.status,
                        "outcome": i.outcome,
                        "charge": queries.money_text(i.charge),
                        "allowed": queries.money_text(i.allowed),
                        "paid": queries.money_text(i.paid),
                        "patient_responsibility": queries.money_text(i.patient_responsibility),
                        "adjustments": [a.to_json() for a in i.adjustments],
                    }
                    for i in view.items
                ],
                "x12_href": f"/v1/remittances/{view.id}?format=x12",
            }
        )

    # -- X12 276/277 -------------------------------------------------------------------------

    @app.post(
        "/v1/x12/276",
        response_class=Response,
        responses={
            200: {
                "description": "the 277 answering every inquiry of the 276",
                "content": {X12_MEDIA: {"schema": {"type": "string"}}},
            },
            **_errors(400, 401, 403, 413, 422, 503),
        },
        summary="Claim status inquiry: an X12 276 (005010X212) in, the 277 out",
        description=(
            "At most `CLAIMS_API_MAX_INQUIRIES` claim inquiries (TRNs, default 100) a request: "
            "more is refused with 413 `too_many_inquiries` before any claim is looked up."
        ),
        openapi_extra=X12_BODY,
    )
    async def post_276(request: Request, who: Who) -> Response:
        if who.role not in (Role.PROVIDER, Role.INSURER):
            raise ApiError(403, "forbidden", "only provider and insurer keys ask with a 276")
        body = await _read_body(request, config.max_276_body_bytes)
        return await run_in_threadpool(_answer_276, body, who, route_of(request))

    def _answer_276(body: bytes, who: Principal, route: str) -> Response:
        allowed = None if who.sees_everything else who.npis
        try:
            answer = answer_276(
                engine,
                body,
                allowed_npis=allowed,
                now=config.now(),
                max_inquiries=config.max_inquiries,
            )
        except UnusableInquiry as exc:
            code = {422: "transaction_sets_rejected", 413: "too_many_inquiries"}.get(
                exc.status, "not_usable"
            )
            raise ApiError(exc.status, code, exc.reason, exc.acknowledgment) from None
        with reading() as conn:
            access.record_reads(conn, who, route, "claim", answer.claim_ids, config.now())
        return Response(answer.x12, media_type=X12_MEDIA)

    # -- X12 270/271 -------------------------------------------------------------------------

    @app.post(
        "/v1/x12/270",
        response_class=Response,
        responses={
            200: {
                "description": "the 271 answering every inquiry of the 270",
                "content": {X12_MEDIA: {"schema": {"type": "string"}}},
            },
            **_errors(400, 401, 403, 413, 422, 503),
        },
        summary="Eligibility and benefit inquiry: an X12 270 (005010X279A1) in, the 271 out",
        description=(
            "At most `CLAIMS_API_MAX_INQUIRIES` patients (subscriber and dependent HLs, "
            "default 100) a request: more is refused with 413 `too_many_inquiries`. A "
            "provider key is answered only for an information receiver (2100B) identified by "
            "one of its NPIs (NM108 `XX`); for another, the 271 says AAA 43 and nothing "
            "about the patient. When the store cannot be read, each patient is answered AAA "
            "42 (unable to respond now: ask again later) in a 271 with status 200."
        ),
        openapi_extra=X12_BODY,
    )
    async def post_270(request: Request, who: Who) -> Response:
        if who.role not in (Role.PROVIDER, Role.INSURER):
            raise ApiError(403, "forbidden", "only provider and insurer keys ask with a 270")
        body = await _read_body(request, config.max_276_body_bytes)
        return await anyio.to_thread.run_sync(
            _answer_270, body, who, route_of(request), limiter=answering_270
        )

    answering_270 = anyio.CapacityLimiter(ANSWERING_270)
    # one open connection for each 270 answered at once (its statement is most of its store
    # time: not a pool checkout and reset each time)

    def _answer_270(body: bytes, who: Principal, route: str) -> Response:
        allowed = None if who.sees_everything else who.npis
        now = config.now()
        try:
            # the phi_reads row of each member told about is committed by the statement that
            # reads their accumulators, before the 271 exists (answered AAA 42 when it cannot
            # be): no second round trip, and no 271 out without its audit
            answer = answer_270(
                engine,
                body,
                reference=reference_in_force(),
                allowed_npis=allowed,
                now=now,
                max_inquiries=config.max_inquiries,
                audit=access.audit_entry(who, route, now),
                connections=connections_270,
            )
        except UnusableInquiry as exc:
            metrics.record_rejected_inquiry("270")
            code = {422: "transaction_sets_rejected", 413: "too_many_inquiries"}.get(
                exc.status, "not_usable"
            )
            raise ApiError(exc.status, code, exc.reason, exc.acknowledgment) from None
        metrics.record_inquiries("270", answer.asked, answer.answered, answer.unavailable)
        return Response(answer.x12, media_type=X12_MEDIA)

    # -- X12 278 -----------------------------------------------------------------------------

    @app.post(
        "/v1/x12/278",
        response_class=Response,
        responses={
            200: {
                "description": "the 278 response answering every patient event of the request",
                "content": {X12_MEDIA: {"schema": {"type": "string"}}},
            },
            **_errors(
                400,
                401,
                403,
                413,
                422,
                503,
                e503="the database is unavailable, or the store holds no reference data yet",
            ),
        },
        summary=(
            "Health care services review: an X12 278 request (005010X217) or inquiry "
            "(005010X215) in, its response out"
        ),
        description=(
            "At most `CLAIMS_API_MAX_INQUIRIES` patient events (HL EV, default 100) a request: "
            "more is refused with 413 `too_many_inquiries`. A provider key sends only under "
            "the sender ids registered to it (every ISA06 and GS02; another is 403 and nothing "
            "of the body is answered) and is answered only for a requester (2010B) identified "
            "by one of its NPIs (NM108 `XX`); for another, the response says AAA 43 and "
            "nothing else. Each event is answered with its HCR (A1 certified, A2 in part, A3 "
            "not certified, A4 pended, A6 modified, C cancelled, CT contact the payer, NA no "
            "action required), its certification number and the period and quantity "
            "certified, or with an AAA. An inquiry (GS08 `005010X215`) names an earlier "
            "request by its certification number (REF*BB), administrative reference (REF*NT) "
            "or trace, and is answered with that request's current state; it changes nothing."
        ),
        openapi_extra=X12_BODY,
    )
    async def post_278(request: Request, who: Who) -> Response:
        if who.role not in (Role.PROVIDER, Role.INSURER):
            raise ApiError(403, "forbidden", "only provider and insurer keys ask for reviews")
        body = await _read_body(request, config.max_276_body_bytes)
        return await run_in_threadpool(_answer_278, body, who, route_of(request))

    def _answer_278(body: bytes, who: Principal, route: str) -> Response:
        now = config.now()
        decide = config.decide_278 or _authorizations(now)
        try:
            answer = answer_278(
                engine,
                body,
                principal=who,
                decide=decide,
                now=now,
                max_events=config.max_inquiries,
            )
        except UnusableInquiry as exc:
            metrics.record_rejected_inquiry("278")
            code = {
                403: "forbidden",
                422: "transaction_sets_rejected",
                413: "too_many_inquiries",
            }.get(exc.status, "not_usable")
            raise ApiError(exc.status, code, exc.reason, exc.acknowledgment) from None
        metrics.record_inquiries("278", answer.events, answer.reviewed)
        lookup = current_vault().lookup
        with connections_278.connect() as conn:  # one statement: autocommit
            access.record_reads(
                conn, who, route, "member", [lookup(m) for m in answer.member_ids], now
            )
        return Response(answer.x12, media_type=X12_MEDIA)

    def _authorizations(now: datetime) -> Decide:
        """The prior-authorization service as the 278's decider, on the reference data, rule
        pack and decisions file in force (held a second, as the 270's), looked up only once a
        request is read; a new request is stored in one statement on a kept connection."""

        def decide(request: ReviewRequest, who: Principal) -> Decisions:
            runtime = runtime_in_force()
            try:
                rules = auth_rules_in_force(runtime)
            except ConfigurationError as exc:
                raise ApiError(503, "not_configured", str(exc).splitlines()[0]) from None
            service = authorizations_decide(
                engine,
                reference=runtime.reference,
                book=runtime.book,
                rules=rules,
                now=now,
                connections=connections_278,
            )
            return service(request, who)

        return decide

    # -- FHIR ExplanationOfBenefit -----------------------------------------------------------

    fhir_errors: dict[int | str, dict[str, Any]] = {
        c: {
            "description": d,
            "content": {FHIR_MEDIA: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
        }
        for c, d in (
            (401, "no valid bearer token"),
            (404, "no such resource, or not one this key may see"),
            (422, "bad search parameters"),
        )
    }

    @app.get(
        "/fhir/r4/ExplanationOfBenefit",
        response_class=FhirJSON,
        responses={
            200: {
                "description": "a searchset Bundle of ExplanationOfBenefit (CARIN Blue Button)",
                "content": {FHIR_MEDIA: {"schema": {"type": "object"}}},
            },
            **fhir_errors,
        },
        summary="Search a patient's ExplanationOfBenefit resources",
    )
    def search_eob(
        who: Who,
        request: Request,
        patient: Annotated[
            str, Query(min_length=1, max_length=96, description="member id or Patient/<id>")
        ],
        count: Annotated[int, Query(alias="_count", ge=1, le=100)] = 20,
        cursor: Annotated[int, Query(alias="_cursor", ge=0, le=MAX_ID)] = 0,
    ) -> Response:
        member = patient.removeprefix("Patient/")
        where = queries.ClaimFilter(member_id=member)
        visible = access.claim_visibility(who)
        with engine.connect() as conn:
            total = queries.count_claims(conn, visible, where)
            page = queries.search_claims(conn, visible, where, after=cursor, limit=count)
        explanations = load_explanations(engine, [c.id for c in page])
        with reading() as conn:
            access.record_reads(
                conn, who, route_of(request), "claim", [c.id for c in page], config.now()
            )
        base = "/fhir/r4/ExplanationOfBenefit"
        query = {"patient": patient, "_count": str(count)}
        self_url = f"{base}?{urlencode({**query, '_cursor': str(cursor)})}"
        next_url = None
        if len(page) == count:
            next_url = f"{base}?{urlencode({**query, '_cursor': str(page[-1].id)})}"
        insurer = _insurer()
        bundle = fhir.searchset_bundle(
            [fhir.explanation_of_benefit(e, insurer=insurer) for e in explanations],
            total=total,
            self_url=self_url,
            next_url=next_url,
        )
        return FhirJSON(bundle)

    @app.get(
        "/fhir/r4/ExplanationOfBenefit/{eob_id}",
        response_class=FhirJSON,
        responses={
            200: {
                "description": "an ExplanationOfBenefit (CARIN Blue Button)",
                "content": {FHIR_MEDIA: {"schema": {"type": "object"}}},
            },
            **fhir_errors,
        },
        summary="One ExplanationOfBenefit",
    )
    def read_eob(
        eob_id: Annotated[str, PathParam(max_length=64)], who: Who, request: Request
    ) -> Response:
        if not ascii_digits(eob_id) or not 0 < int(eob_id) <= MAX_ID:
            _not_found(f"ExplanationOfBenefit {eob_id}")
        claim_id = int(eob_id)
        with reading() as conn:
            if not queries.claim_is_visible(conn, claim_id, access.claim_visibility(who)):
                _not_found(f"ExplanationOfBenefit {eob_id}")
            access.record_reads(conn, who, route_of(request), "claim", [claim_id], config.now())
        found = load_explanations(engine, [claim_id])
        if not found:
            _not_found(f"ExplanationOfBenefit {eob_id}")
        return FhirJSON(fhir.explanation_of_benefit(found[0], insurer=_insurer()))

    def _insurer() -> Any:
        try:
            return env.runtime().payer
        except ConfigurationError:
            return None

    # -- prior authorizations: FHIR PAS ($submit, $inquire) and the status routes ------------

    pas_errors: dict[int | str, dict[str, Any]] = {
        c: {
            "description": d,
            "content": {FHIR_MEDIA: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
        }
        for c, d in (
            (400, "the body is not JSON"),
            (401, "no valid bearer token"),
            (
                403,
                "the key's role may not ask for reviews (provider and insurer keys do), or the "
                "Claim's requesting provider is not one of the provider key's NPIs",
            ),
            (
                404,
                "the authorization the Claim names (its number, or its identifier) does not "
                "exist or is not one this key may see",
            ),
            (413, "the body is larger than the server accepts, or the Claim has too many items"),
            (
                422,
                "the Bundle cannot be taken as it is (the OperationOutcome's expression says "
                "where), or the service refuses the request (a member the payer does not know)",
            ),
            (500, "a stored record cannot be read"),
            (503, "the database is unavailable, or the store holds no reference data yet"),
        )
    }
    pas_body: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {
                FHIR_MEDIA: {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    }

    @app.post(
        "/fhir/r4/Claim/$submit",
        response_class=FhirJSON,
        responses={
            200: {
                "description": "a PAS response Bundle (collection) with the ClaimResponse",
                "content": {FHIR_MEDIA: {"schema": {"type": "object"}}},
            },
            **pas_errors,
        },
        summary="Prior authorization (Da Vinci PAS): a request Bundle in, a ClaimResponse out",
        description=(
            "The body is a PAS request Bundle (type collection) holding one Claim (use "
            "preauthorization) and the resources it references: the Patient (a member "
            "identifier, type MB), the requesting provider (its NPI), the items asked for "
            "(CPT/HCPCS or revenue code, quantity, servicedDate or servicedPeriod). It is "
            "decided by the prior-authorization service as a 278 would be, and answered with a "
            "Bundle holding the ClaimResponse: outcome queued (pended for a reviewer) or "
            "complete, preAuthRef the certification number, and per item the PAS reviewAction "
            "(X12 306: A1, A2, A3, A4, A6, C, CT, NA). The same Claim identifier sent again by "
            "the same requester is answered as it stands. A provider key asks only for a "
            "requesting provider with one of its NPIs (403 otherwise); errors are "
            "OperationOutcomes naming where in the Bundle."
        ),
        openapi_extra=pas_body,
    )
    async def pas_submit(request: Request, who: Who) -> Response:
        if who.role not in (Role.PROVIDER, Role.INSURER):
            raise ApiError(403, "forbidden", "only provider and insurer keys ask for reviews")
        body = await _read_body(request, config.max_body_bytes)
        return await run_in_threadpool(_pas_answer, body, who, route_of(request), False)

    @app.post(
        "/fhir/r4/Claim/$inquire",
        response_class=FhirJSON,
        responses={
            200: {
                "description": "a PAS inquiry response Bundle with the ClaimResponse as it "
                "stands now (a pended request decided since shows its decision)",
                "content": {FHIR_MEDIA: {"schema": {"type": "object"}}},
            },
            **pas_errors,
        },
        summary="Where a prior authorization stands (Da Vinci PAS): an inquiry Bundle in",
        description=(
            "The body is a PAS inquiry Bundle: a Claim naming the Patient (member identifier) "
            "and the authorization, by its certification number (an item's "
            "authorizationNumber extension) or by the identifier its $submit Claim had (with "
            "the requesting provider). One the key may not see, or of another patient, is "
            "answered exactly as one that does not exist: 404."
        ),
        openapi_extra=pas_body,
    )
    async def pas_inquire(request: Request, who: Who) -> Response:
        if who.role not in (Role.PROVIDER, Role.INSURER):
            raise ApiError(403, "forbidden", "only provider and insurer keys ask for reviews")
        body = await _read_body(request, config.max_body_bytes)
        return await run_in_threadpool(_pas_answer, body, who, route_of(request), True)

    def _pas_answer(body: bytes, who: Principal, route: str, inquiry: bool) -> Response:
        now = config.now()
        claim = fhir_pas.read_request(fhir_pas.read_json(body), inquiry=inquiry)
        if (
            claim.requesting_npi
            and not who.sees_everything
            and claim.requesting_npi not in who.npis
        ):
            raise fhir_pas.PasInputError(
                claim.provider_at,
                f"the requesting provider's NPI {claim.requesting_npi} is not one of this key's",
                status=403,
                issue="forbidden",
            )
        view = _pas_inquired(claim, who) if inquiry else _pas_submitted(claim, who, now)
        lookup = current_vault().lookup
        with reading() as conn:
            access.record_reads_of(conn, who, route, _told([view], lookup), now)
        identifier = None if inquiry else (claim.identifier_system, claim.identifier_value)
        bundle = fhir_pas.response_bundle(
            view, now=now, payer=_insurer(), identifier=identifier, inquiry=inquiry
        )
        return FhirJSON(bundle)

    def _pas_earlier(claim: fhir_pas.PasClaim, who: Principal) -> pa.AuthorizationView:
        """The earlier authorization the Claim names, as the key may see it and of the
        Claim's patient: anything else reads as missing (404)."""
        try:
            if claim.earlier:
                view = pa.inquire(engine, who, number=claim.earlier)
            else:
                view = pa.inquire(
                    engine,
                    who,
                    trace=claim.identifier_value,
                    requesting_npi=claim.requesting_npi,
                )
        except pa.AuthorizationNotFound:
            view = None
        if view is None or view.member_id != claim.member_id:
            named = claim.earlier or claim.identifier_value
            raise fhir_pas.PasInputError(
                claim.earlier_at or f"{claim.claim_at}.identifier[0].value",
                f"no authorization {named!r} of this patient that this key may see",
                status=404,
                issue="not-found",
            )
        return view

    def _pas_inquired(claim: fhir_pas.PasClaim, who: Principal) -> pa.AuthorizationView:
        if not claim.earlier and not (claim.identifier_value and claim.requesting_npi):
            raise fhir_pas.PasInputError(
                claim.claim_at,
                "name the authorization asked about: its number in an item's "
                "authorizationNumber extension, or the identifier of the Claim that asked for "
                "it with the requesting provider",
                issue="required",
            )
        return _pas_earlier(claim, who)

    def _pas_submitted(
        claim: fhir_pas.PasClaim, who: Principal, now: datetime
    ) -> pa.AuthorizationView:
        """The Claim handed to the prior-authorization service, as the 278's events are: a
        new request or an appeal submitted, a cancel cancelling the authorization it names,
        an extension, renewal or revision answered with that authorization's state."""
        if claim.kind in ("cancel", "extension", "renewal", "revision"):
            earlier = _pas_earlier(claim, who)
            if claim.kind != "cancel":
                return earlier
            try:
                return pa.cancel(engine, earlier.number, f"fhir {who.key_id}", now, who)
            except pa.AuthorizationConflict:  # nothing left to cancel: as it stands
                return pa.inquire(engine, who, number=earlier.number)
            except pa.AuthorizationNotFound:  # gone meanwhile: as missing
                return _pas_earlier(claim, who)
        runtime = runtime_in_force()
        try:
            rules = auth_rules_in_force(runtime)
        except ConfigurationError as exc:
            raise ApiError(503, "not_configured", str(exc).splitlines()[0]) from None
        try:
            return pa.submit(
                engine, claim.auth_request(), runtime.reference, runtime.book, rules, now
            )
        except pa.AuthorizationRefused as exc:
            message = str(exc)
            if message == "member not found":
                raise fhir_pas.PasInputError(
                    claim.member_at,
                    f"no member {claim.member_id!r} of this payer",
                    issue="not-found",
                ) from None
            raise fhir_pas.PasInputError(
                claim.where_of(message), message, issue="business-rule"
            ) from None

    def _told(
        views: list[pa.AuthorizationView], lookup: Callable[[str], str]
    ) -> list[tuple[str, int | str]]:
        """The audit's records of what ``views`` tell: each member (its lookup) and each
        authorization."""
        told: list[tuple[str, int | str]] = []
        for v in views:
            told.append(("authorization", v.number))
            if v.member_id:
                told.append(("member", lookup(v.member_id)))
        return told

    def status_reader(who: Who) -> Principal:
        """A key that may ask where authorizations stand (every role but a sponsor's)."""
        if who.role is Role.SPONSOR:
            raise ApiError(403, "forbidden", "a sponsor key asks about no authorization")
        return who

    StatusReader = Annotated[Principal, Depends(status_reader)]

    @app.get(
        "/v1/authorizations/{number}",
        response_model=m.AuthorizationOut,
        responses=_errors(401, 403, 404, 422, 503),
        summary="Where a prior authorization stands, by its certification number",
        description=(
            "Its state and action (the 278's HCR01), each service's quantities asked, "
            "approved, used by claims and left, the dates certified and the reason in words. "
            "A provider key sees its NPIs' requests (requesting or servicing), a member key "
            "its own and its dependants', insurer and examiner keys all; one the key may not "
            "see is answered exactly as a missing one: 404."
        ),
    )
    def get_authorization(
        number: Annotated[
            str, PathParam(min_length=1, max_length=30, description="the certification number")
        ],
        who: StatusReader,
        request: Request,
    ) -> Response:
        try:
            view = pa.inquire(engine, who, number=number)
        except pa.AuthorizationNotFound:
            _not_found(f"authorization {number}")
        now = config.now()
        with reading() as conn:
            access.record_reads_of(
                conn, who, route_of(request), _told([view], current_vault().lookup), now
            )
        return FastJSON(_authorization_json(view))

    @app.get(
        "/v1/authorizations",
        response_model=m.AuthorizationPage,
        responses=_errors(
            400,
            401,
            403,
            422,
            503,
            e400="`after` is not a page cursor, or the time is out of range",
        ),
        summary="The prior authorizations decided since a moment (what a provider polls for)",
        description=(
            "The requests that were pended and have been decided since `answered_since` (ISO "
            "8601; without a zone, UTC), oldest decision first, those the key may see (a "
            "provider key: its NPIs'); `next` links the next page (its `after` is an opaque "
            "cursor)."
        ),
    )
    def list_authorizations(
        who: StatusReader,
        request: Request,
        answered_since: Annotated[
            datetime, Query(description="decided at or after this time (ISO 8601)")
        ],
        after: Annotated[
            str | None, Query(max_length=80, description="the `next` link's cursor")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> Response:
        try:
            since = answered_since
            if since.tzinfo is not None:
                since = since.astimezone(UTC).replace(tzinfo=None)
            cursor = auth_status.parse_cursor(after) if after is not None else None
        except (ValueError, OverflowError) as exc:
            raise ApiError(400, "bad_request", str(exc).splitlines()[0]) from None
        page = auth_status.answered_page(engine, who, since, after=cursor, limit=limit)
        now = config.now()
        with reading() as conn:
            access.record_reads_of(
                conn, who, route_of(request), _told(list(page.items), current_vault().lookup), now
            )
        next_url = None
        if page.next_cursor is not None:
            params = {k: v for k, v in request.query_params.items() if k != "after"}
            params["after"] = page.next_cursor
            next_url = f"/v1/authorizations?{urlencode(params)}"
        return FastJSON({"items": [_authorization_json(v) for v in page.items], "next": next_url})

    # -- examination of pended claims --------------------------------------------------------

    def reader(who: Who) -> Principal:
        """A key that may read the queues: examiner, supervisor or insurer (403 otherwise,
        before its parameters or body are looked at)."""
        refusal = access.examination_refusal(who, acting=False)
        if refusal is not None:
            raise ApiError(403, "forbidden", refusal)
        return who

    def examiner(who: Who) -> ex.Examiner:
        """The examiner a key acts as: its key id (a supervisor's may reassign claims)."""
        refusal = access.examination_refusal(who, acting=True)
        if refusal is not None:
            raise ApiError(403, "forbidden", refusal)
        return ex.Examiner(who.key_id, supervisor=who.role is Role.SUPERVISOR)

    Reader = Annotated[Principal, Depends(reader)]
    Acting = Annotated[ex.Examiner, Depends(examiner)]

    def examination_runtime() -> Runtime:
        try:
            return env.runtime()
        except ConfigurationError as exc:
            raise ApiError(503, "not_configured", str(exc).splitlines()[0]) from None

    def pended_claim_id(given: str) -> int:
        """The row id of the claim ``given`` names (its id or its payer claim number), when
        it ever pended; 404 otherwise, exactly as for a claim that does not exist."""
        p = pend_items_table.c
        with engine.connect() as conn:
            claim_id = _claim_row(conn, given)
            found = claim_id is not None and (
                conn.execute(select(p.id).where(p.claim_id == claim_id).limit(1)).first()
                is not None
            )
        if claim_id is None or not found:
            _not_found(f"pended claim {given}")
        return claim_id

    def known_queue(queue: str) -> bool:
        try:
            catalogue = env.runtime().reference.pend_reasons
        except ConfigurationError:
            return False
        return queue in catalogue.queues or queue == catalogue.get("").queue

    ClaimParam = Annotated[
        str,
        PathParam(
            min_length=1,
            max_length=50,
            description="the claim's id, or its payer claim control number (the 277CA's)",
        ),
    ]

    @app.get(
        "/v1/queues",
        response_model=m.QueueList,
        responses=_errors(401, 403, 503, **_EXAMINING),
        summary="The queues of pended claims: how many, their age, how many are past due",
    )
    def get_queues(who: Reader) -> Response:
        found = ex.queues(engine, config.now())
        return FastJSON(
            {"queues": [{**q.as_json(), "href": f"/v1/queues/{q.queue}/claims"} for q in found]}
        )

    @app.get(
        "/v1/queues/{queue}/claims",
        response_model=m.QueuePageOut,
        responses=_errors(400, 401, 403, 404, 422, 503, **_EXAMINING),
        summary="A queue's pended claims, most urgent first, a page at a time",
        description=(
            "Each claim with its age, priority, charge, prompt-payment due day, who holds it "
            "and its version (send it with an action). Follow `next` for the next page; a "
            "cursor (`after`) that is not one from `next` is refused with 400."
        ),
    )
    def get_queue(
        queue: Annotated[str, PathParam(pattern=m.QUEUE_PATTERN, description="a queue's name")],
        who: Reader,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=ex.MAX_PAGE)] = ex.PAGE,
        after: Annotated[
            str | None,
            Query(min_length=1, max_length=60, description="the cursor `next` carries"),
        ] = None,
    ) -> Response:
        now = config.now()
        page = ex.queue_page(engine, queue, now, limit=limit, after=after)
        if not page.entries and not known_queue(queue):
            _not_found(f"queue {queue}")
        if page.entries:
            with reading() as conn:
                access.record_reads(
                    conn, who, route_of(request), "claim", [e.claim_id for e in page.entries], now
                )
        next_url = None
        if page.next_after is not None:
            query = urlencode({"limit": str(limit), "after": page.next_after})
            next_url = f"/v1/queues/{queue}/claims?{query}"
        items = [
            {**e.as_json(), "href": f"/v1/claims/{e.claim_id}/examination"} for e in page.entries
        ]
        return FastJSON({"queue": queue, "items": items, "next": next_url})

    @app.get(
        "/v1/claims/{claim_id}/examination",
        response_model=m.ExaminationOut,
        responses=_errors(401, 403, 404, 422, 503, **_EXAMINING),
        summary="A pended claim as its examiners see it: reasons, decision, actions, history",
        description=(
            "The claim's open and resolved pend reasons, its decision so far, every action "
            "taken on it (notes included) and its member's other claims of the last two "
            "years. Each claim shown is a read of health data and is audited."
        ),
    )
    def get_examination(claim_id: ClaimParam, who: Reader, request: Request) -> Response:
        runtime = examination_runtime()
        now = config.now()
        row_id = pended_claim_id(claim_id)
        view = ex.show(engine, runtime, row_id, now)
        read = [view.claim_id, *(int(h["claim_id"]) for h in view.history)]
        with reading() as conn:
            access.record_reads(conn, who, route_of(request), "claim", read, now)
        return FastJSON(view.as_json())

    @app.post(
        "/v1/claims/{claim_id}/actions",
        response_model=m.ActionResultOut,
        responses=_errors(400, 401, 403, 404, 409, 422, 503, **_EXAMINING),
        summary="Act on a pended claim: take, give back, release, deny, price, override, ...",
        description=(
            "One action, in one transaction with its effects; `kind` says which. `version` is "
            "the claim's version as you saw it: an action on a claim that changed since is "
            "refused with 409 (of two examiners acting on one version, one wins). Acting on "
            "a claim nobody holds takes it; one another examiner holds is refused with 409. "
            "A price or override allowing a line more than the plan's `second_approval_above` "
            "waits for a second examiner (state `awaiting approval`). `reassign` is a "
            "supervisor's. Examiner and supervisor keys only: the key id is the examiner."
        ),
    )
    def post_action(
        claim_id: ClaimParam,
        action: Annotated[
            m.ActionIn,
            Body(
                openapi_examples={
                    "take": {"value": {"kind": "take", "version": 1}},
                    "release": {
                        "value": {"kind": "release", "version": 2, "why": "checked the charge"}
                    },
                    "deny": {
                        "value": {
                            "kind": "deny",
                            "version": 2,
                            "why": "cosmetic",
                            "line": 2,
                            "carc": "96",
                            "rarcs": ["N130"],
                        }
                    },
                    "price": {
                        "value": {
                            "kind": "price",
                            "version": 2,
                            "why": "priced from the operative note",
                            "line": 2,
                            "allowed": "700.00",
                        }
                    },
                    "override": {
                        "value": {"kind": "override", "why": "authorization on file", "line": 3}
                    },
                    "request-info": {
                        "value": {
                            "kind": "request-info",
                            "why": "need the records",
                            "asked": "Send the operative report for line 2",
                        }
                    },
                    "note": {"value": {"kind": "note", "why": "records on the way"}},
                    "reassign": {
                        "value": {"kind": "reassign", "to": "9b1e0f2a7c33", "why": "coder"}
                    },
                }
            ),
        ],
        who: Acting,
    ) -> Response:
        now = config.now()
        row_id = pended_claim_id(claim_id)
        result = _act(row_id, action, who, now)
        return FastJSON(result.as_json())

    def _act(claim_id: int, action: m.ActionIn, who: ex.Examiner, now: datetime) -> ex.ActionResult:
        if isinstance(action, m.TakeIn):
            return ex.take(
                engine,
                claim_id,
                who,
                now,
                hold=timedelta(hours=action.hours),
                expected_version=action.version,
            )
        if isinstance(action, m.GiveBackIn):
            return ex.give_back(
                engine, claim_id, who, now, action.why, expected_version=action.version
            )
        if isinstance(action, m.ReassignIn):
            if not who.supervisor:
                raise ApiError(403, "forbidden", "only a supervisor key reassigns claims")
            with engine.connect() as conn:
                if not access.active_examiner(conn, action.to, now):
                    raise ApiError(400, "bad_request", f"to: {action.to} is no active examiner key")
            return ex.reassign(
                engine,
                claim_id,
                who,
                ex.Examiner(action.to),
                now,
                action.why,
                expected_version=action.version,
            )
        request: ex.Request
        if isinstance(action, m.ReleaseIn):
            request = ex.Release(action.why, tuple(action.codes))
        elif isinstance(action, m.DenyIn):
            request = ex.Deny(action.why, action.line, action.carc, action.group, (*action.rarcs,))
        elif isinstance(action, m.PriceIn):
            allowed = None if action.allowed is None else Decimal(action.allowed)
            request = ex.Price(action.why, action.line, allowed)
        elif isinstance(action, m.OverrideIn):
            request = ex.Override(action.why, action.line)
        elif isinstance(action, m.RequestInfoIn):
            request = ex.RequestInfo(action.why, action.asked, action.remark)
        elif isinstance(action, m.InfoReceivedIn):
            request = ex.InfoReceived(action.why)
        else:
            request = ex.Note(action.why)
        return ex.act(
            engine,
            examination_runtime(),
            claim_id,
            who,
            request,
            now,
            expected_version=action.version,
        )

    @app.get(
        "/v1/actions",
        response_model=m.AwaitingList,
        responses=_errors(401, 403, 422, 503, **_EXAMINING),
        summary="Actions waiting for a second examiner's approval (four eyes)",
    )
    def get_actions(
        who: Reader,
        state: Annotated[
            Literal["awaiting approval"],
            Query(description="which actions: those awaiting approval"),
        ] = "awaiting approval",
    ) -> Response:
        items = [
            {
                **a,
                "claim_href": f"/v1/claims/{a['claim_id']}/examination",
                "approve_href": f"/v1/actions/{a['action_id']}/approve",
            }
            for a in ex.awaiting_approval(engine)
        ]
        return FastJSON({"items": items})

    ActionParam = Annotated[int, PathParam(ge=1, le=MAX_ID, description="the action's id")]

    @app.post(
        "/v1/actions/{action_id}/approve",
        response_model=m.ActionResultOut,
        responses=_errors(401, 403, 404, 409, 422, 503, **_EXAMINING),
        summary="Approve an action awaiting approval: it takes effect now",
        description="A second examiner's: the examiner who asked may not approve it (403).",
    )
    def approve_action(action_id: ActionParam, who: Acting) -> Response:
        result = ex.approve(engine, examination_runtime(), action_id, who, config.now())
        return FastJSON(result.as_json())

    @app.post(
        "/v1/actions/{action_id}/refuse",
        response_model=m.ActionResultOut,
        responses=_errors(400, 401, 403, 404, 409, 422, 503, **_EXAMINING),
        summary="Refuse an action awaiting approval, saying why",
        description="A second examiner's: the examiner who asked may not refuse it (403).",
    )
    def refuse_action(action_id: ActionParam, refusal: m.RefusalIn, who: Acting) -> Response:
        result = ex.approve(
            engine,
            examination_runtime(),
            action_id,
            who,
            config.now(),
            refuse=True,
            why=refusal.why,
        )
        return FastJSON(result.as_json())

    # -- health ------------------------------------------------------------------------------

    @app.get("/healthz", response_model=m.Health, summary="The process is up")
    def healthz() -> Response:
        return FastJSON({"status": "ok", "checks": {"process": "ok"}})

    @app.get(
        "/readyz",
        response_model=m.Health,
        responses={503: {"model": m.Health, "description": "a dependency is unavailable"}},
        summary="The database and the broker are reachable",
    )
    def readyz() -> Response:
        checks: dict[str, str] = {}
        try:
            with engine.connect() as conn:
                conn.execute(select(text("1")))
            checks["database"] = "ok"
        except Exception as exc:  # anything: the answer is JSON saying why, never a bare 500
            checks["database"] = _down(exc)
        redis_url = env.settings.redis_url
        if redis_url:
            checks["broker"] = _ping_redis(redis_url)
        elif config.inprocess_workers:
            checks["broker"] = "ok" if "worker" in state else "in-process workers not running"
        else:
            checks["broker"] = "none: submissions are stored for a worker's sweep"
        ok = checks["database"] == "ok" and checks["broker"].startswith(("ok", "none"))
        return FastJSON(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    # made once: the collector keeps its Redis client (and its pool) from scrape to scrape
    queue_collectors: list[Any] = []
    if env.settings.redis_url:
        queue_collectors.append(metrics.QueueCollector(redis_url=env.settings.redis_url))
    elif config.inprocess_workers:
        from workers import actors

        queue_collectors.append(metrics.QueueCollector(broker=actors.broker))
    queue_collectors.append(metrics.PendedCollector(engine, config.now))  # from the store

    @app.get(
        "/metrics",
        include_in_schema=False,
        summary="Prometheus metrics (text exposition); no key: counts and codes only, no PHI",
    )
    def metrics_route() -> Response:
        body = metrics.exposition(queue_collectors)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    _add_fhir_schemas(app)
    return app


class CorrelationMiddleware:
    """Binds the interchange id of ``/v1/interchanges/{id}...`` requests for their log lines
    (a submission binds its new interchange's id itself), in a context of the request's own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        found = _INTERCHANGE_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        with log_context(interchange_id=int(found.group(1)) if found else None):
            await self.app(scope, receive, send)


# the OperationOutcome issue type of an error status on a /fhir/ route
FHIR_ISSUES = {
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    413: "too-costly",
    422: "invalid",
    503: "transient",
}


def _authorization_json(view: pa.AuthorizationView) -> dict[str, Any]:
    """An authorization as ``GET /v1/authorizations/{number}`` answers it
    (:class:`adapters.api.models.AuthorizationOut`): quantities as strings with three places."""

    def quantity(value: Decimal) -> str:
        return str(Decimal(value).quantize(QUANTITY))

    return {
        "number": view.number,
        "trace": view.trace,
        "source": view.source,
        "state": view.state,
        "action": view.action,
        "urgency": view.urgency,
        "member_id": view.member_id,
        "requesting_npi": view.requesting_npi,
        "servicing_npi": view.servicing_npi,
        "plan_id": view.plan_id,
        "received_at": view.received_at.isoformat(),
        "due_at": view.due_at.isoformat(),
        "decided_at": view.decided_at.isoformat() if view.decided_at is not None else None,
        "reason": view.reason,
        "queue": view.queue or None,
        "appeal_of": view.appeal_of or None,
        "extended": view.extended_at is not None,
        "effective_from": view.effective_from.isoformat(),
        "effective_through": view.effective_through.isoformat(),
        "services": [
            {
                "line": s.line,
                "codes": list(s.codes),
                "code_kind": s.code_kind,
                "modifiers": list(s.modifiers),
                "unit": s.unit,
                "requested": quantity(s.requested),
                "approved": quantity(s.approved),
                "used": quantity(s.used),
                "left": quantity(s.left),
                "action": s.action,
                "reason_code": s.reason_code or None,
                "from_date": s.from_date.isoformat(),
                "to_date": s.to_date.isoformat(),
            }
            for s in view.services
        ],
        "links": [{"rel": "self", "href": f"/v1/authorizations/{view.number}"}],
    }


def _error_response(
    request: Request, status: int, code: str, message: str, ack: str | None = None
) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if is_portal_path(request.url.path) or (
        "text/html" in request.headers.get("accept", "")
        and not request.url.path.startswith(("/v1/", "/fhir/"))
    ):
        return error_page(status, message)  # a browser's: the portal's page
    if request.url.path.startswith("/fhir/"):
        severity, issue = "error", FHIR_ISSUES.get(status, "processing")
        return FhirJSON(
            fhir.operation_outcome(severity, issue, message), status_code=status, headers=headers
        )
    return FastJSON(_error_body(status, code, message, ack), status_code=status, headers=headers)


def _ping_redis(url: str) -> str:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # unreachable, or a URL that is none (ValueError)
        return _down(exc)
    return "ok"


def _down(exc: Exception) -> str:
    """A dependency's check that failed, for ``/readyz``: ``down:`` and why. A database's or
    Redis's error gives its kind only (its text may name hosts and users); another error,
    such as a URL that does not parse, says what it is."""
    import redis

    if isinstance(exc, SQLAlchemyError | redis.RedisError):
        return f"down: unreachable ({type(exc).__name__})"
    lines = str(exc).strip().splitlines()
    return f"down: {type(exc).__name__}: {lines[0][:200] if lines else 'no detail'}"


def _start_inprocess_workers(state: dict[str, Any]) -> None:
    from dramatiq import Worker

    from workers import actors

    actors.sweep(None)  # work an earlier run left undone
    worker = Worker(actors.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    state["worker"] = worker


def _add_fhir_schemas(app: FastAPI) -> None:
    """Name the FHIR error body in the OpenAPI document (its routes return FHIR JSON, which
    the FHIR specification defines; the document only points at its shape)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["OperationOutcome"] = {
            "type": "object",
            "required": ["resourceType", "issue"],
            "properties": {
                "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                "issue": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["severity", "code"],
                        "properties": {
                            "severity": {"type": "string"},
                            "code": {"type": "string"},
                            "diagnostics": {"type": "string"},
                        },
                    },
                },
            },
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


@dataclass(frozen=True)
class ApiSettings:
    """The API's own settings from the environment (:func:`api_settings_from_env`)."""

    max_body_bytes: int
    max_inquiries: int
    api_docs: bool


def api_settings_from_env() -> ApiSettings:
    """``CLAIMS_API_MAX_BODY`` bytes per body, ``CLAIMS_API_MAX_INQUIRIES`` claim inquiries per
    276, ``CLAIMS_API_DOCS`` on for Swagger UI at ``/docs``; a value out of range is a
    :class:`ConfigurationError` naming its variable (``serve`` checks them before it starts)."""
    return ApiSettings(
        _count_setting("CLAIMS_API_MAX_BODY", DEFAULT_MAX_BODY, "bytes"),
        _count_setting("CLAIMS_API_MAX_INQUIRIES", MAX_INQUIRIES, "inquiries"),
        _switch_setting("CLAIMS_API_DOCS"),
    )


def app_from_env() -> FastAPI:
    """The app over the environment's store, its keys and its broker (``CLAIMS_DATABASE_URL``,
    the data keys, ``CLAIMS_REDIS_URL``) and :func:`api_settings_from_env`: uvicorn's factory,
    in each process of ``serve``."""
    from claims_engine.store.vault import use_vault
    from workers.settings import environment, use_environment

    api = api_settings_from_env()
    configure_logging()  # uvicorn's processes: CLAIMS_LOG_LEVEL, CLAIMS_LOG_FORMAT
    # Request threads wait on the database several times a request; each time one comes back
    # it waits for the GIL, by default up to 5 ms while another thread computes (a convoy that
    # left the portal's CPUs half idle at 16 clients). A shorter interval hands it over sooner.
    sys.setswitchinterval(SWITCH_INTERVAL)
    process = environment()
    # the store's keys in this process (a worker of `serve --workers N` is a new interpreter:
    # an embedded store's keys are read from the file beside its database, as `serve` read them)
    use_vault(process.vault)
    settings = process.settings
    # a connection for each request thread, none opened and closed per request
    engine = engine_for(settings.database_url, pool_size=API_THREADS, pre_ping=False)
    env = Environment(settings, engine)
    use_environment(env)  # the in-process actors, without Redis, work on the same store
    return create_app(
        ApiConfig(
            env,
            max_body_bytes=api.max_body_bytes,
            max_inquiries=api.max_inquiries,
            api_docs=api.api_docs,
        )
    )


def _switch_setting(name: str) -> bool:
    """The environment variable ``name`` as on or off (unset or empty: off)."""
    import os

    text = os.environ.get(name, "").strip().lower()
    if text not in ("", "on", "off"):
        raise ConfigurationError(f"{name} must be on or off, not {text!r}")
    return text == "on"


def _count_setting(name: str, default: int, unit: str) -> int:
    """The environment variable ``name`` as a whole number of ``unit``, at least 1 (ASCII
    digits), or ``default`` when it is unset or empty."""
    import os

    text = os.environ.get(name, "")
    if not text:
        return default
    if not ascii_digits(text) or len(text.lstrip("0")) > 18 or int(text) < 1:
        raise ConfigurationError(f"{name} must be a number of {unit} (1 or more), not {text!r}")
    return int(text)
