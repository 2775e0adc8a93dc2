"""A provider office's pages: find a claim (by CLM01, payer claim number, or patient and date of
service) and read its state and decision; the 835s paying its NPIs and the acknowledgments of
the files it sent, each downloadable as X12; and the upload of an 837, taken by the same door
as ``POST /v1/interchanges`` (:func:`claims_engine.services.submission.accept_837` and the
queue, given to the portal as ``PortalConfig.submit_837``).

What the pages read comes from :mod:`claims_engine.services.portal_provider`, with the signed-in
account's principal (a provider's NPIs and sender ids; an insurer account sees everything), the
API's scopes and its ``phi_reads`` audit. An id in a path that is not the account's is the same
404 page as a missing one.

The prior authorization requests of the account's NPIs (requesting or servicing) are listed
newest first with their state in words, certification number, decision, reason, approved units
and period (``/provider/authorizations``), and each has its page; one of another provider is
:func:`claims_engine.services.authorizations.inquire`'s "not found", the same 404 page.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from adapters.web.portal import Portal, page_number
from claims_engine.domain.money import ascii_digits
from claims_engine.services import accounts
from claims_engine.services import portal_provider as pp
from claims_engine.services.access import Principal, Role
from claims_engine.services.submission import Refused, Submitted

log = logging.getLogger(__name__)

X12_MEDIA = "application/edi-x12"
ROLES = (Role.PROVIDER, Role.INSURER)
MULTIPART_SLACK = 64 * 1024  # a form's boundaries, headers and token around the file
NOT_FOUND = {
    "claim": (
        "Claim not found",
        "There is no such claim among those billed under your NPIs. Search by the claim "
        "number on your ledger (CLM01), the payer claim number, or the patient and the date.",
    ),
    "remittance": ("Remittance not found", "There is no such 835 among those paying your NPIs."),
    "file": ("File not found", "There is no such file among those you sent."),
    "authorization": (
        "Request not found",
        "There is no such prior authorization request among those of your NPIs.",
    ),
}
AUTHORIZATIONS = "/provider/authorizations"
AUTH_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,29}\Z")  # a certification number


def _row_id(given: str) -> int | None:
    """A path's id: 1 to 18 ASCII digits, else None (answered as a missing record)."""
    if ascii_digits(given) and len(given) <= 18 and int(given) >= 1:
        return int(given)
    return None


def add(app: FastAPI, site: Portal) -> None:
    engine = site.config.engine
    now = site.config.now
    reference = site.config.reference
    site.env.filters.setdefault("units", pp.quantity_text)
    site.env.filters.setdefault("quantity", pp.quantity_words)

    async def provider(request: Request) -> tuple[accounts.WebSession, Principal] | Response:
        return await site.signed_in_as(request, ROLES, "providers")

    def missing(request: Request, what: str, session: accounts.WebSession) -> Response:
        title, message = NOT_FOUND[what]
        return site.error(request, 404, title, message, session=session)

    def download(found: pp.Download) -> Response:
        return Response(
            found.text,
            media_type=X12_MEDIA,
            headers={"Content-Disposition": f'attachment; filename="{found.file_name}"'},
        )

    @app.get("/provider", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/provider/claims", status_code=303)

    @app.get("/provider/claims", include_in_schema=False)
    async def claims(request: Request) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        q = request.query_params
        fields = {
            name: q.get(name, "")[:200]
            for name in ("claim_id", "npi", "payer_claim_number", "member_id", "service_date")
        }
        problem = None
        found: list[pp.FoundClaim] | None = None
        try:
            search = pp.parse_search(who, **fields)
        except pp.SearchError as exc:
            search, problem = None, str(exc)
        if search is not None:
            at = now()
            found = await run_in_threadpool(
                lambda: pp.find_claims(engine, who, search, route="/provider/claims", now=at)
            )
        return site.page(
            request,
            "provider_claims.html",
            session=session,
            status=400 if problem else 200,
            fields=fields,
            npis=sorted(who.npis),
            problem=problem,
            found=found,
            searched=search,
            limit=pp.MAX_FOUND,
        )

    @app.get("/provider/claims/{claim_id}", include_in_schema=False)
    async def claim(request: Request, claim_id: str) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        row = _row_id(claim_id)
        found = None
        if row is not None:
            at = now()
            known = reference()
            found = await run_in_threadpool(
                lambda: pp.claim_view(
                    engine, who, row, known, route="/provider/claims/{claim_id}", now=at
                )
            )
        if found is None:
            return missing(request, "claim", session)
        return site.page(request, "provider_claim.html", session=session, claim=found)

    @app.get("/provider/remittances", include_in_schema=False)
    async def remittances(request: Request) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        page = page_number(request.query_params.get("page"))
        lines, more = await run_in_threadpool(lambda: pp.remittances(engine, who, page=page))
        return site.page(
            request,
            "provider_remittances.html",
            session=session,
            lines=lines,
            page=page,
            more=more,
        )

    @app.get("/provider/remittances/{remittance_id}/835", include_in_schema=False)
    async def remittance_835(request: Request, remittance_id: str) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        row = _row_id(remittance_id)
        found = None
        if row is not None:
            at = now()
            found = await run_in_threadpool(
                lambda: pp.remittance_file(
                    engine, who, row, route="/provider/remittances/{remittance_id}/835", now=at
                )
            )
        if found is None:
            return missing(request, "remittance", session)
        return download(found)

    async def files_page(
        request: Request,
        session: accounts.WebSession,
        *,
        status: int = 200,
        answer: dict[str, Any] | None = None,
    ) -> Response:
        who = session.principal
        assert who is not None
        page = page_number(request.query_params.get("page"))
        views, more = await run_in_threadpool(lambda: pp.files(engine, who, page=page))
        return site.page(
            request,
            "provider_files.html",
            session=session,
            status=status,
            files=views,
            page=page,
            more=more,
            answer=answer,
            counts=pp.counts_in_words,
            can_upload=who.role is Role.INSURER or bool(who.senders),
        )

    @app.get("/provider/files", include_in_schema=False)
    async def files(request: Request) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session = signed[0]
        return await files_page(request, session)

    @app.get("/provider/files/{interchange_id}", include_in_schema=False)
    async def file(request: Request, interchange_id: str) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        row = _row_id(interchange_id)
        view = None
        if row is not None:
            view = await run_in_threadpool(lambda: pp.file_view(engine, who, row))
        if view is None:
            return missing(request, "file", session)
        return site.page(
            request, "provider_file.html", session=session, file=view, counts=pp.counts_in_words
        )

    @app.get("/provider/files/{interchange_id}/acknowledgments/{ack_id}", include_in_schema=False)
    async def acknowledgment(request: Request, interchange_id: str, ack_id: str) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        row, ack = _row_id(interchange_id), _row_id(ack_id)
        found = None
        if row is not None and ack is not None:
            at = now()
            found = await run_in_threadpool(
                lambda: pp.acknowledgment_file(
                    engine,
                    who,
                    row,
                    ack,
                    route="/provider/files/{interchange_id}/acknowledgments/{ack_id}",
                    now=at,
                )
            )
        if found is None:
            return missing(request, "file", session)
        return download(found)

    @app.get(AUTHORIZATIONS, include_in_schema=False)
    async def authorization_requests(request: Request) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        page = page_number(request.query_params.get("page"))
        at = now()
        known = reference()
        lines, more = await run_in_threadpool(
            lambda: pp.authorization_requests(
                engine, who, known, route=AUTHORIZATIONS, now=at, page=page
            )
        )
        return site.page(
            request,
            "provider_authorizations.html",
            session=session,
            requests=lines,
            page=page,
            more=more,
            action_words=pp.service_action_words,
        )

    @app.get(AUTHORIZATIONS + "/{number}", include_in_schema=False)
    async def authorization(request: Request, number: str) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        found = None
        if AUTH_NUMBER.match(number):
            at = now()
            known = reference()
            found = await run_in_threadpool(
                lambda: pp.authorization_view(
                    engine, who, number, known, route=AUTHORIZATIONS + "/{number}", now=at
                )
            )
        if found is None:
            return missing(request, "authorization", session)
        return site.page(
            request,
            "provider_authorization.html",
            session=session,
            item=found,
            auth=found.view,
            action_words=pp.service_action_words,
        )

    @app.post("/provider/files", include_in_schema=False)
    async def upload(request: Request) -> Response:
        signed = await provider(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        submit = site.config.submit_837
        limit = site.config.max_upload_bytes
        if submit is None or limit <= 0:
            return site.error(
                request,
                503,
                "Uploads are not available",
                "This server does not take files from the portal; send them through the API.",
                session=session,
            )
        declared = request.headers.get("content-length", "")
        if not ascii_digits(declared) or len(declared) > 18:
            return site.error(
                request,
                411,
                "The file cannot be used",
                "The upload did not say its size. Send it again from the form.",
                session=session,
            )
        if int(declared) > limit + MULTIPART_SLACK:
            return await files_page(request, session, status=413, answer=_too_large(limit))
        fields = await site.form(request, session, upload=True)  # CSRF, before the file is used
        form = await request.form()  # parsed once: the same as the check's
        try:
            if not isinstance(fields, dict):
                return fields
            answer, status = await take(form.get("file"), who, submit, limit)
        finally:
            await form.close()  # the upload's temporary file, whatever the answer
        return await files_page(request, session, status=status, answer=answer)

    async def take(
        sent: object, who: Principal, submit: Any, limit: int
    ) -> tuple[dict[str, Any], int]:
        """The answer to an uploaded file and its status: the API's door's (``submit``)."""
        if not isinstance(sent, UploadFile) or not sent.filename:
            return {"outcome": "refused", "reason": "Choose an 837 file to send."}, 400
        raw = await sent.read(limit + 1)
        if len(raw) > limit:
            return _too_large(limit), 413
        if not raw:
            return {"outcome": "refused", "reason": "The file is empty.", "name": ""}, 400
        result = await run_in_threadpool(submit, raw, who, "portal-upload")
        if isinstance(result, Submitted):
            accepted = {
                "outcome": "accepted",
                "interchange_id": result.interchange_id,
                "claims": result.claims,
                "name": sent.filename,
            }
            return accepted, 200
        assert isinstance(result, Refused)
        refused = {
            "outcome": "duplicate" if result.code == "duplicate_interchange" else "refused",
            "reason": result.reason,
            "acknowledgment": result.acknowledgment,
            "name": sent.filename,
        }
        return refused, result.status


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "outcome": "refused",
        "reason": f"The file is larger than this server takes ({limit:,} bytes). Split it.",
    }
