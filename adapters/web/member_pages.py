"""A member's pages: their claims and their household's, an explanation of benefits for each,
and the plan year's deductible and out-of-pocket progress."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.web.portal import Portal
from claims_engine.services import accounts, portal
from claims_engine.services.access import Principal, Role

NOT_FOUND = (
    "There is no such claim among yours. Claims appear here once your provider has sent them."
)


def add(app: FastAPI, site: Portal) -> None:
    engine = site.config.engine
    now = site.config.now
    reference = site.config.reference

    async def member(request: Request) -> tuple[accounts.WebSession, Principal] | Response:
        return await site.signed_in_as(request, frozenset({Role.MEMBER}), "members")

    @app.get("/my/claims", include_in_schema=False)
    async def claims(request: Request, page: int = 1) -> Response:
        signed = await member(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        page = min(max(page, 1), 10_000)
        at = now()
        known = reference()
        lines, more = await run_in_threadpool(
            lambda: portal.member_claims(engine, who, known, route="/my/claims", now=at, page=page)
        )
        progress = await run_in_threadpool(
            lambda: portal.benefit_progress(
                engine,
                who,
                known,
                today=at.date(),
                route="/my/claims",
                now=at,
            )
        )
        return site.page(
            request,
            "member_claims.html",
            session=session,
            lines=lines,
            page=page,
            more=more,
            progress=progress,
        )

    @app.get("/my/claims/{claim_id}", include_in_schema=False)
    async def explanation(request: Request, claim_id: str) -> Response:
        signed = await member(request)
        if not isinstance(signed, tuple):
            return signed
        session, who = signed
        found = None
        if claim_id.isascii() and claim_id.isdigit() and len(claim_id) <= 18:
            at = now()
            known = reference()
            found = await run_in_threadpool(
                lambda: portal.explanation_of_benefits(
                    engine,
                    who,
                    int(claim_id),
                    known,
                    route="/my/claims/{claim_id}",
                    now=at,
                )
            )
        if found is None:
            return site.error(request, 404, "Claim not found", NOT_FOUND, session=session)
        return site.page(request, "eob.html", session=session, eob=found)

    @app.get("/my", include_in_schema=False)
    async def my() -> Response:
        return RedirectResponse("/my/claims", status_code=303)
