"""A member's pages: their claims and their household's, an explanation of benefits for each,
and the plan year's deductible and out-of-pocket progress."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from adapters.web.portal import Portal, Reading, page_number
from claims_engine.services import portal
from claims_engine.services.access import Role

NOT_FOUND = (
    "There is no such claim among yours. Claims appear here once your provider has sent them."
)
MEMBERS = frozenset({Role.MEMBER})


def add(app: FastAPI, site: Portal) -> None:
    @app.get("/my/claims", include_in_schema=False)
    async def claims(request: Request) -> Response:
        page = page_number(request.query_params.get("page"))

        def read(r: Reading) -> portal.MemberHome:
            return portal.member_home(
                r.conn,
                r.principal,
                r.reference,
                today=r.now.date(),
                route="/my/claims",
                now=r.now,
                page=page,
            )

        signed = await site.reading_as(request, MEMBERS, "members", read)
        if not isinstance(signed, tuple):
            return signed
        session, home = signed
        return site.page(
            request,
            "member_claims.html",
            session=session,
            lines=home.lines,
            page=page,
            more=home.more,
            progress=home.progress,
        )

    @app.get("/my/claims/{claim_id}", include_in_schema=False)
    async def explanation(request: Request, claim_id: str) -> Response:
        wanted = (
            int(claim_id)
            if claim_id.isascii() and claim_id.isdigit() and len(claim_id) <= 18
            else None
        )

        def read(r: Reading) -> portal.ExplanationOfBenefits | None:
            if wanted is None:
                return None
            return portal.explanation_of_benefits(
                r.conn, r.principal, wanted, r.reference, route="/my/claims/{claim_id}", now=r.now
            )

        signed = await site.reading_as(request, MEMBERS, "members", read)
        if not isinstance(signed, tuple):
            return signed
        session, found = signed
        if found is None:
            return site.error(request, 404, "Claim not found", NOT_FOUND, session=session)
        return site.page(request, "eob.html", session=session, eob=found)

    @app.get("/my", include_in_schema=False)
    async def my() -> Response:
        return RedirectResponse("/my/claims", status_code=303)
