"""Examiners' and supervisors' pages: the queues of pended claims, a claim as its examiners see
it (pend reasons, rule hits, decision so far, member history, events) with a form for every
action of the examiner issue, and the actions waiting for a second examiner (four eyes).

Nothing here decides anything: every page calls :mod:`claims_engine.services.examination` as the
API's examination routes do, with the account's key id as the examiner, the same access rule
(:func:`claims_engine.services.access.examination_refusal`: examiners and supervisors read and
act, an insurer's analyst reads) and the same ``phi_reads`` audit. A form's fields are only read
into the service's request here; the service checks codes, amounts and versions, and its
refusals (:class:`~claims_engine.services.examination.ExaminationError` and its statuses) are
shown on the page. A claim that never pended is the same 404 page as a missing one.

The clinical queue (``/examiner/authorizations``, examiner and supervisor accounts only): prior
authorization requests waiting for a clinical reviewer, the soonest due first, marked overdue or
due soon by the decisions file's clocks (:mod:`claims_engine.services.portal_examiner`); a
request's page with forms to approve it in full or for fewer units, deny it with a reason, extend
a standard request's clock and cancel it, each through
:mod:`claims_engine.services.authorizations` (``decide``, ``extend``, ``cancel``) with the
account's key id as the reviewer. The service's refusals are the page's message, never a 500.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.web.portal import Portal, day, money
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.pend_reasons import INFO_REQUESTED
from claims_engine.domain.prior_auth import Action
from claims_engine.rules.authorization_rules import AuthRules, default_rules
from claims_engine.services import access, accounts, portal_examiner
from claims_engine.services import authorizations as pa
from claims_engine.services import examination as ex
from claims_engine.services import portal_provider as pp
from claims_engine.services.access import Principal, Role
from claims_engine.services.reference import Runtime
from claims_engine.services.stored_adjudication import NotPended
from claims_engine.store.db import begin_write

QUEUES = "/examiner/queues"
APPROVALS = "/examiner/approvals"
CLINICAL = "/examiner/authorizations"  # the clinical queue of prior authorization requests
NOTE_COOKIE = "ce_note"  # what the last post did, shown once by the page it redirects to
PAGE = 25  # claims of a queue a page
MAX_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1
MAX_LINE = 999
MAX_RARCS = 10
QUEUE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")
PEND_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}\Z")
CODE = re.compile(r"[A-Z0-9]{1,5}\Z")
AMOUNT = re.compile(r"\d{1,10}(\.\d{1,2})?\Z")
GROUPS = ("CO", "PR", "OA", "PI")
NOT_FOUND = "There is no such claim among the pended claims."
NO_REQUEST = "There is no such prior authorization request."
AUTH_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,29}\Z")  # a certification number
UNITS = re.compile(r"\d{1,7}(\.\d{1,3})?\Z")
REVIEW_KINDS = ("approve", "modify", "deny")
ACTIONS = (
    "take",
    "give-back",
    "reassign",
    "release",
    "deny",
    "price",
    "override",
    "request-info",
    "info-received",
    "note",
)
# who reads the pages and who acts on them: access.examination_refusal's rule
READING = frozenset({Role.EXAMINER, Role.SUPERVISOR, Role.INSURER})
ACTING = access.EXAMINING
_T = TypeVar("_T")


class BadForm(ex.ExaminationError):
    """A form field that cannot be read (the page says which); status 400 as the service's."""


# -- reading a form ---------------------------------------------------------------------------


def _digits(text: str, maximum: int) -> int | None:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= maximum else None


def _line(fields: Mapping[str, str], *, whole: bool) -> int:
    value = _digits(fields.get("line", ""), MAX_LINE)
    if value is None or (value == 0 and not whole):
        what = "0 (the whole claim) or a line number" if whole else "a line number (1, 2, ...)"
        raise BadForm(f"choose the line: {what}")
    return value


def _amount(text: str) -> Decimal:
    """Dollars and cents as a person types them ("700", "1,200.50", "$95.5")."""
    cleaned = text.strip().removeprefix("$").replace(",", "").strip()
    if not AMOUNT.match(cleaned):
        raise BadForm(f"allowed amount {text.strip()!r} is not an amount of money, such as 700.00")
    try:
        return Decimal(cleaned).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise BadForm(f"allowed amount {text.strip()!r} is not an amount of money") from None


def _code(text: str, what: str) -> str:
    code = text.strip().upper()
    if not CODE.match(code):
        raise BadForm(f"{what} {text.strip()!r} is not a code (1 to 5 letters and digits)")
    return code


def decision_request(kind: str, fields: Mapping[str, str]) -> ex.Request:
    """The service's request for a form of ``kind`` (release ... note)."""
    why = fields.get("why", "")
    if kind == "release":
        codes = tuple(sorted(k[5:] for k in fields if k.startswith("code-")))
        if any(not PEND_CODE.match(c) for c in codes):
            raise BadForm("a pend reason of the form is not a pend reason's code")
        return ex.Release(why, codes)
    if kind == "deny":
        group = fields.get("group", "CO")
        if group not in GROUPS:
            raise BadForm(f"group code {group!r} is not CO, PR, OA or PI")
        rarcs = tuple(
            _code(r, "remark code") for r in re.split(r"[\s,]+", fields.get("rarcs", "")) if r
        )
        if len(rarcs) > MAX_RARCS:
            raise BadForm(f"at most {MAX_RARCS} remark codes")
        return ex.Deny(
            why,
            _line(fields, whole=True),
            _code(fields.get("carc", ""), "CARC"),
            group,
            rarcs,
        )
    if kind == "price":
        accept = fields.get("accept_charge") == "yes"
        typed = fields.get("allowed", "").strip()
        if accept == bool(typed):
            raise BadForm("give the allowed amount, or accept the line's charge (one of them)")
        return ex.Price(why, _line(fields, whole=False), None if accept else _amount(typed))
    if kind == "override":
        return ex.Override(why, _line(fields, whole=False))
    if kind == "request-info":
        remark = fields.get("remark", "").strip() or ex.DEFAULT_INFO_REMARK
        return ex.RequestInfo(why, fields.get("asked", ""), _code(remark, "remark code"))
    if kind == "info-received":
        return ex.InfoReceived(why)
    return ex.Note(why)


def review_decision(kind: str, fields: Mapping[str, str]) -> tuple[Action, dict[int, Decimal]]:
    """The reviewer's decision a form of ``kind`` asks for: approve in full (A1), approve the
    units typed for each service (A6: fewer than asked is a modification, 0 denies the
    service), or deny (A3). :func:`claims_engine.services.authorizations.decide` checks the
    rest (a reason, the quantities against those asked for)."""
    if kind == "approve":
        return Action.CERTIFIED, {}
    if kind == "deny":
        return Action.NOT_CERTIFIED, {}
    if kind != "modify":
        raise pa.AuthorizationRefused("choose one of the actions of the page")
    approved: dict[int, Decimal] = {}
    for name, typed in sorted(fields.items()):
        if not name.startswith("units-"):
            continue
        line = _digits(name[6:], MAX_LINE)
        text = typed.strip()
        if not line:
            raise pa.AuthorizationRefused("a service of the form is not one of the request's")
        if not UNITS.match(text):
            raise pa.AuthorizationRefused(
                f"service {line}: {text[:20]!r} is not a number of units, such as 4 "
                "(0 denies the service)"
            )
        approved[line] = Decimal(text)
    if not approved:
        raise pa.AuthorizationRefused("say how many units of each service are approved")
    return Action.MODIFIED, approved


def auth_state_words(view: pa.AuthorizationView) -> str:
    return pp.authorization_state_words(view.state, view.action).lower()


# -- presenting -------------------------------------------------------------------------------


def moment(value: datetime | str | None) -> str:
    """A moment of the store (naive UTC) as "Nov 2, 2026 09:30 UTC"."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.removesuffix("Z"))
    return f"{value:%b} {value.day}, {value.year} {value:%H:%M} UTC"


def amount(value: str | None) -> str:
    """An amount as the examination's records keep it ("700.00") in the reader's terms."""
    return money(None if value is None else Decimal(value))


def iso_day(value: str | None) -> str:
    return day(None if value is None else date.fromisoformat(value))


def asked(request: Mapping[str, Any]) -> str:
    """What an action asked, in a few words (its reason is shown beside it)."""
    kind = request.get("kind")
    if kind == "release":
        codes = request.get("codes") or []
        return "resolve " + (", ".join(codes) if codes else "every open reason")
    if kind == "deny":
        line = request.get("line", 0)
        rarcs = " ".join(request.get("rarcs") or [])
        where = "the whole claim" if not line else f"line {line}"
        return f"deny {where}: {request.get('group')}-{request.get('carc')} {rarcs}".strip()
    if kind == "price":
        allowed = request.get("allowed")
        price = "its charge" if allowed is None else amount(str(allowed))
        return f"allow line {request.get('line')} {price}"
    if kind == "override":
        return f"set aside the denial of line {request.get('line')}"
    if kind == "request-info":
        return f"asked the provider: {request.get('asked')} (remark {request.get('remark')})"
    if kind == "reassign":
        return f"to {request.get('to')}"
    if kind == "take":
        return f"held until {moment(request.get('until'))}"
    return ""


def _note(request: Request, response: Response, ok: bool, text: str) -> Response:
    data = json.dumps({"ok": ok, "text": text[:1500]}).encode()
    response.set_cookie(
        NOTE_COOKIE,
        base64.urlsafe_b64encode(data).decode(),
        httponly=True,
        secure=Portal._secure(request),
        samesite="strict",
        path="/examiner",
        max_age=60,
    )
    return response


def _read_note(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(NOTE_COOKIE)
    if not raw or len(raw) > 4000:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("text"), str):
        return None
    return {"ok": bool(found.get("ok")), "text": found["text"]}


def _shown(response: Response, note: dict[str, Any] | None) -> Response:
    if note is not None:
        response.delete_cookie(NOTE_COOKIE, path="/examiner")
    return response


def refusal_text(exc: ex.ExaminationError | NotPended) -> str:
    status = 409 if isinstance(exc, NotPended) else exc.status
    said = str(exc) or "the claim is no longer pended"
    if status == 409:
        return (
            f"Not done: the claim changed since you opened it, another examiner holds it, or "
            f"it is no longer waiting ({said}). This page shows it as it is now: look again."
        )
    if status == 403:
        return f"Not allowed: {said}."
    return f"Not done: {said}."


# -- the pages --------------------------------------------------------------------------------


def add(app: FastAPI, site: Portal) -> None:
    engine = site.config.engine
    now = site.config.now
    site.env.filters.update(
        moment=moment,
        asked=asked,
        amount=amount,
        iso_day=iso_day,
        units=pp.quantity_text,
        quantity=pp.quantity_words,
        hours=portal_examiner.hours_words,
    )

    def runtime() -> Runtime:
        if site.config.runtime is None:
            raise ConfigurationError("the portal was started without the engine's runtime")
        return site.config.runtime()

    async def signed_in(
        request: Request, *, acting: bool
    ) -> tuple[accounts.WebSession, Principal] | Response:
        """The session and principal of an account that may use these pages (``acting``:
        take actions), or where to go instead (:meth:`Portal.signed_in_as`): the roles of the
        API's examination routes, whose rule the service then applies again."""
        signed = await site.signed_in_as(request, ACTING if acting else READING, "examiners")
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        refusal = access.examination_refusal(who, acting=acting)
        if refusal:  # the roles above are the rule's: never reached while they agree
            return site.error(
                request,
                403,
                "This page is for examiners",
                f"Your account may not do this: {refusal.rstrip('.')}.",
                session=session,
            )
        return session, who

    async def call(request: Request, fn: Callable[[], _T]) -> _T | Response:
        """``fn`` on a worker thread; a store without reference data is a 503 page."""
        try:
            return await run_in_threadpool(fn)
        except ConfigurationError:
            return site.error(
                request,
                503,
                "Temporarily unavailable",
                "The plan's reference data is not loaded yet: claims cannot be examined.",
            )

    def claim_id_of(text: str) -> int | None:
        found = _digits(text, MAX_ID)
        return found if found else None

    # -- queues ------------------------------------------------------------------------------

    @app.get(QUEUES, include_in_schema=False)
    async def queues(request: Request) -> Response:
        checked = await signed_in(request, acting=False)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        at = now()
        found = await run_in_threadpool(ex.queues, engine, at)
        reviews = access.examination_refusal(who, acting=True) is None

        def clinical() -> portal_examiner.ClinicalSummary | None:
            try:
                entries = portal_examiner.clinical_queue(engine, auth_rules(), at)
            except ConfigurationError:  # no reference data yet: the link alone
                return None
            return portal_examiner.clinical_summary(entries)

        summary = await run_in_threadpool(clinical) if reviews else None
        return site.page(
            request,
            "examiner_queues.html",
            session=session,
            queues=found,
            today=at.date(),
            soon=ex.DUE_SOON_DAYS,
            reviews=reviews,
            clinical=summary,
        )

    @app.get(QUEUES + "/{queue}", include_in_schema=False)
    async def queue(request: Request, queue: str, after: str | None = None) -> Response:
        checked = await signed_in(request, acting=False)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        if not QUEUE_NAME.match(queue):
            return site.error(
                request, 404, "Queue not found", "There is no such queue.", session=session
            )
        at = now()
        known = site.config.reference()

        def read() -> tuple[ex.QueuePage, dict[str, str]]:
            page = ex.queue_page(engine, queue, at, limit=PAGE, after=after)
            if page.entries:
                with begin_write(engine) as conn:
                    access.record_reads(
                        conn,
                        who,
                        QUEUES + "/{queue}",
                        "claim",
                        [e.claim_id for e in page.entries],
                        at,
                    )
            return page, portal_examiner.names(portal_examiner.colleagues(engine, at))

        try:
            if after is not None and len(after) > 60:
                raise ex.ExaminationError("the page link is not one of this queue's")
            page, names = await run_in_threadpool(read)
        except ex.ExaminationError:
            return site.error(
                request,
                400,
                "The request cannot be used",
                "That page link is not one of this queue's: start again from its first page.",
                session=session,
            )
        catalogue = known.pend_reasons if known is not None else None
        listed = catalogue is not None and (
            queue in catalogue.queues or queue == catalogue.get("").queue
        )
        if not page.entries and not listed:
            return site.error(
                request, 404, "Queue not found", "There is no such queue.", session=session
            )
        return site.page(
            request,
            "examiner_queue.html",
            session=session,
            queue=page,
            first=after is None,
            me=who.key_id,
            names=names,
        )

    # -- one claim ---------------------------------------------------------------------------

    async def claim_page(
        request: Request,
        session: accounts.WebSession,
        who: Principal,
        claim_id: int,
        *,
        status: int = 200,
        problem: str | None = None,
        fields: Mapping[str, str] | None = None,
        kind: str = "",
    ) -> Response:
        at = now()

        def read() -> tuple[ex.ClaimView, list[portal_examiner.Colleague]]:
            view = ex.show(engine, runtime(), claim_id, at)
            read_ids = [view.claim_id, *(int(h["claim_id"]) for h in view.history)]
            with begin_write(engine) as conn:
                access.record_reads(conn, who, "/examiner/claims/{claim_id}", "claim", read_ids, at)
            return view, portal_examiner.colleagues(engine, at)

        try:
            found = await call(request, read)
        except ex.ClaimNotFound:
            return site.error(request, 404, "Claim not found", NOT_FOUND, session=session)
        if isinstance(found, Response):
            return found
        view, colleagues = found
        note = _read_note(request) if problem is None else None
        acts = access.examination_refusal(who, acting=True) is None
        lines = [
            (int(ln["line"]), str(ln["code"] or ""))
            for ln in (view.decision or {}).get("lines", [])
        ]
        response = site.page(
            request,
            "examiner_claim.html",
            session=session,
            status=status,
            claim=view,
            open_items=[i for i in view.items if i.state == "open"],
            lines=lines,
            waiting=any(i.code == INFO_REQUESTED and i.state == "open" for i in view.items),
            in_queue=view.version > 0 and view.state == "pended",
            acts=acts,
            supervisor=who.role is Role.SUPERVISOR,
            me=who.key_id,
            colleagues=[c for c in colleagues if c.active and c.key_id != view.assigned_to],
            names=portal_examiner.names(colleagues),
            groups=GROUPS,
            problem=problem,
            note=note,
            fields=fields or {},
            kind=kind,
        )
        return _shown(response, note)

    @app.get("/examiner/claims/{claim_id}", include_in_schema=False)
    async def claim(request: Request, claim_id: str) -> Response:
        checked = await signed_in(request, acting=False)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        row_id = claim_id_of(claim_id)
        if row_id is None:
            return site.error(request, 404, "Claim not found", NOT_FOUND, session=session)
        return await claim_page(request, session, who, row_id)

    @app.post("/examiner/claims/{claim_id}/actions", include_in_schema=False)
    async def act(request: Request, claim_id: str) -> Response:
        checked = await signed_in(request, acting=True)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        fields = await site.form(request, session)
        if not isinstance(fields, dict):
            return fields
        row_id = claim_id_of(claim_id)
        if row_id is None:
            return site.error(request, 404, "Claim not found", NOT_FOUND, session=session)
        examiner = ex.Examiner(who.key_id, supervisor=who.role is Role.SUPERVISOR)
        kind = fields.get("kind", "")
        at = now()

        def do() -> ex.ActionResult:
            ex.show(engine, runtime(), row_id, at)  # never pended: ClaimNotFound, as missing
            if kind not in ACTIONS:
                raise BadForm("choose one of the actions of the page")
            version = _digits(fields.get("version", ""), MAX_VERSION)
            if not version:
                raise BadForm("the form has no version of the claim: reload the page")
            if kind == "take":
                return ex.take(engine, row_id, examiner, at, expected_version=version)
            if kind == "give-back":
                return ex.give_back(
                    engine, row_id, examiner, at, fields.get("why", ""), expected_version=version
                )
            if kind == "reassign":
                if not examiner.supervisor:
                    raise ex.NotAllowed("only a supervisor reassigns claims")
                to = fields.get("to", "").strip()
                with engine.connect() as conn:
                    if not to or not access.active_examiner(conn, to, at):
                        raise BadForm("choose the examiner to hand the claim to")
                return ex.reassign(
                    engine,
                    row_id,
                    examiner,
                    ex.Examiner(to),
                    at,
                    fields.get("why", ""),
                    expected_version=version,
                )
            return ex.act(
                engine,
                runtime(),
                row_id,
                examiner,
                decision_request(kind, fields),
                at,
                expected_version=version,
            )

        try:
            result = await call(request, do)
        except ex.ClaimNotFound:
            return site.error(request, 404, "Claim not found", NOT_FOUND, session=session)
        except (ex.ExaminationError, NotPended) as exc:
            status = 409 if isinstance(exc, NotPended) else exc.status
            return await claim_page(
                request,
                session,
                who,
                row_id,
                status=status,
                problem=refusal_text(exc),
                fields=fields if status == 400 else None,
                kind=kind,
            )
        if isinstance(result, Response):
            return result
        done = _done(result)
        return _note(
            request, RedirectResponse(f"/examiner/claims/{row_id}", status_code=303), True, done
        )

    # -- four eyes ---------------------------------------------------------------------------

    async def approvals_page(
        request: Request,
        session: accounts.WebSession,
        who: Principal,
        *,
        status: int = 200,
        problem: str | None = None,
    ) -> Response:
        at = now()
        waiting, colleagues = await run_in_threadpool(
            lambda: (ex.awaiting_approval(engine), portal_examiner.colleagues(engine, at))
        )
        note = _read_note(request) if problem is None else None
        response = site.page(
            request,
            "examiner_approvals.html",
            session=session,
            status=status,
            waiting=waiting,
            me=who.key_id,
            names=portal_examiner.names(colleagues),
            acts=access.examination_refusal(who, acting=True) is None,
            problem=problem,
            note=note,
        )
        return _shown(response, note)

    @app.get(APPROVALS, include_in_schema=False)
    async def approvals(request: Request) -> Response:
        checked = await signed_in(request, acting=False)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        return await approvals_page(request, session, who)

    async def decide(request: Request, action_id: str, *, refuse: bool) -> Response:
        checked = await signed_in(request, acting=True)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        fields = await site.form(request, session)
        if not isinstance(fields, dict):
            return fields
        examiner = ex.Examiner(who.key_id, supervisor=who.role is Role.SUPERVISOR)
        number = _digits(action_id, MAX_ID)
        at = now()

        def do() -> ex.ActionResult:
            if not number:
                raise ex.ClaimNotFound(f"action {action_id[:20]} not found")
            return ex.approve(
                engine, runtime(), number, examiner, at, refuse=refuse, why=fields.get("why", "")
            )

        try:
            result = await call(request, do)
        except (ex.ExaminationError, NotPended) as exc:
            status = 409 if isinstance(exc, NotPended) else exc.status
            said = str(exc) if status != 409 else f"{exc}: it was decided meanwhile"
            text = f"Not allowed: {said}." if status == 403 else f"Not done: {said}."
            return await approvals_page(request, session, who, status=status, problem=text)
        if isinstance(result, Response):
            return result
        return _note(request, RedirectResponse(APPROVALS, status_code=303), True, _done(result))

    @app.post(APPROVALS + "/{action_id}/approve", include_in_schema=False)
    async def approve(request: Request, action_id: str) -> Response:
        return await decide(request, action_id, refuse=False)

    @app.post(APPROVALS + "/{action_id}/refuse", include_in_schema=False)
    async def refuse(request: Request, action_id: str) -> Response:
        return await decide(request, action_id, refuse=True)

    # -- the clinical queue: prior authorization requests ------------------------------------

    def auth_rules() -> AuthRules:
        """The decisions file in force (its clocks), over the runtime's plans."""
        found = site.config.auth_rules
        return default_rules() if found is None else found()

    async def reviewer(request: Request) -> tuple[accounts.WebSession, Principal] | Response:
        """A signed-in examiner or supervisor (the roles that act on pended work); an
        insurer's, a member's or a provider's account gets the 403 page."""
        return await signed_in(request, acting=True)

    @app.get(CLINICAL, include_in_schema=False)
    async def clinical_queue(request: Request) -> Response:
        checked = await reviewer(request)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        at = now()

        def read() -> list[portal_examiner.ClinicalEntry]:
            entries = portal_examiner.clinical_queue(
                engine, auth_rules(), at, site.config.reference()
            )
            portal_examiner.record_queue_reads(engine, who, entries, CLINICAL, at)
            return entries

        found = await call(request, read)
        if isinstance(found, Response):
            return found
        return site.page(
            request,
            "examiner_clinical_queue.html",
            session=session,
            entries=found,
            summary=portal_examiner.clinical_summary(found),
            limit=portal_examiner.CLINICAL_LIMIT,
            now=at,
        )

    async def request_page(
        request: Request,
        session: accounts.WebSession,
        who: Principal,
        number: str,
        *,
        status: int = 200,
        problem: str | None = None,
        fields: Mapping[str, str] | None = None,
        kind: str = "",
    ) -> Response:
        at = now()
        known = site.config.reference()

        def read() -> portal_examiner.ReviewedRequest:
            return portal_examiner.reviewed_request(
                engine, who, number, auth_rules(), known, at, route=CLINICAL + "/{number}"
            )

        try:
            found = await call(request, read)
        except pa.AuthorizationNotFound:
            return site.error(request, 404, "Request not found", NO_REQUEST, session=session)
        if isinstance(found, Response):
            return found
        colleagues = await run_in_threadpool(portal_examiner.colleagues, engine, at)
        note = _read_note(request) if problem is None else None
        response = site.page(
            request,
            "examiner_authorization.html",
            session=session,
            status=status,
            item=found,
            auth=found.view,
            pended=found.view.state == "pended",
            me=who.key_id,
            names=portal_examiner.names(colleagues),
            action_words=pp.service_action_words,
            problem=problem,
            note=note,
            fields=fields or {},
            kind=kind,
        )
        return _shown(response, note)

    @app.get(CLINICAL + "/{number}", include_in_schema=False)
    async def authorization(request: Request, number: str) -> Response:
        checked = await reviewer(request)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        if not AUTH_NUMBER.match(number):
            return site.error(request, 404, "Request not found", NO_REQUEST, session=session)
        return await request_page(request, session, who, number)

    @app.post(CLINICAL + "/{number}/actions", include_in_schema=False)
    async def review(request: Request, number: str) -> Response:
        checked = await reviewer(request)
        if not isinstance(checked, tuple):
            return checked
        session, who = checked
        fields = await site.form(request, session)
        if not isinstance(fields, dict):
            return fields
        if not AUTH_NUMBER.match(number):
            return site.error(request, 404, "Request not found", NO_REQUEST, session=session)
        kind = fields.get("kind", "")
        at = now()

        def do() -> tuple[pa.AuthorizationView, str]:
            pa.inquire(engine, who, number=number)  # missing: AuthorizationNotFound, as a page
            if kind == "extend":
                view = pa.extend(engine, number, auth_rules(), who.key_id, at)
                return view, f"the clock is extended: due {moment(view.due_at)}"
            if kind == "cancel":
                return pa.cancel(engine, number, who.key_id, at, who), "the request is cancelled"
            action, approved = review_decision(kind, fields)
            view = pa.decide(
                engine,
                number,
                action,
                who.key_id,
                at,
                reason=fields.get("why", ""),
                approved=approved,
            )
            return view, f"decided: {auth_state_words(view)}"

        try:
            done = await call(request, do)
        except pa.AuthorizationNotFound:
            return site.error(request, 404, "Request not found", NO_REQUEST, session=session)
        except (pa.AuthorizationRefused, pa.AuthorizationConflict) as exc:
            conflict = isinstance(exc, pa.AuthorizationConflict)
            said = str(exc).rstrip(".")
            text = (
                f"Not done: {said}. This page shows the request as it is now."
                if conflict
                else f"Not done: {said}."
            )
            return await request_page(
                request,
                session,
                who,
                number,
                status=409 if conflict else 400,
                problem=text,
                fields=None if conflict else fields,
                kind=kind,
            )
        if isinstance(done, Response):
            return done
        view, said = done
        text = f"{view.number}: {said[:1].upper()}{said[1:]}."
        return _note(
            request,
            RedirectResponse(f"{CLINICAL}/{view.number}", status_code=303),
            True,
            text,
        )

    @app.get("/examiner", include_in_schema=False)
    async def examiner_home() -> Response:
        return RedirectResponse(QUEUES, status_code=303)


def _done(result: ex.ActionResult) -> str:
    """What an action did, in a sentence."""
    what = {
        "applied": "Done",
        "awaiting approval": "Waiting for a second examiner",
        "approved": "Approved",
        "refused": "Refused",
    }.get(result.state, "Done")
    said = result.message[:1].upper() + result.message[1:]
    return f"{what} ({result.kind}, action {result.action_id}): {said}."
