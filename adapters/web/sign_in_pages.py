"""Sign-in, the second factor, invitations (password and authenticator), and sign-out."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.web.portal import HOME, SESSION_COOKIE, Portal, safe_next
from claims_engine.services import accounts
from claims_engine.services.access import Role
from claims_engine.services.accounts import Stage


def client_address(request: Request) -> str:
    """The address a sign-in came from, for its per-client limit: the connection's peer, as
    the ASGI server gives it. Behind a reverse proxy that is the proxy, unless the server was
    told to trust it: ``claims-engine serve`` (uvicorn) puts the ``X-Forwarded-For`` client in
    its place only when the peer is one of ``FORWARDED_ALLOW_IPS`` (127.0.0.1 and ::1 unless
    set), so a header sent by anyone else is never believed here."""
    return request.client.host if request.client is not None else "unknown"


def add(app: FastAPI, site: Portal) -> None:
    engine = site.config.engine
    now = site.config.now
    reference = site.config.reference

    def _after_stage(session: accounts.WebSession) -> str:
        if session.stage is Stage.ENROLL:
            return "/enroll"
        if session.stage is Stage.SECOND:
            return "/sign-in/code"
        return HOME.get(session.role, "/")

    async def at_stage(request: Request, stage: Stage) -> accounts.WebSession | Response:
        """The request's session when it is at ``stage``; else where to go instead."""
        session = await site.session(request)
        if session is None:
            return RedirectResponse("/sign-in", status_code=303)
        if session.stage is not stage:
            return RedirectResponse(_after_stage(session), status_code=303)
        return session

    async def posted_at(
        request: Request, stage: Stage
    ) -> tuple[accounts.WebSession, dict[str, str]] | Response:
        """A form posted at ``stage``: its session and fields, checked for its CSRF token."""
        session = await site.session(request)
        if session is None:
            return RedirectResponse("/sign-in", status_code=303)
        fields = await site.form(request, session)
        if not isinstance(fields, dict):
            return fields
        if session.stage is not stage:
            return RedirectResponse(_after_stage(session), status_code=303)
        return session, fields

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        session = await site.session(request)
        if session is None:
            return RedirectResponse("/sign-in", status_code=303)
        return RedirectResponse(_after_stage(session), status_code=303)

    @app.get("/sign-in", include_in_schema=False)
    async def sign_in_form(request: Request, next: str | None = None) -> Response:
        session = await site.session(request)
        if session is not None and session.stage is Stage.FULL:
            return RedirectResponse(safe_next(next, _after_stage(session)), status_code=303)
        return site.page(
            request,
            "sign_in.html",
            form_token=site.form_token(request),
            next=safe_next(next, ""),
            problem=None,
            email="",
        )

    @app.post("/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        fields = await site.form(request, None)
        if not isinstance(fields, dict):
            return fields
        email = fields.get("email", "").strip()
        try:
            session = await run_in_threadpool(
                accounts.sign_in,
                engine,
                email,
                fields.get("password", ""),
                now(),
                client_address(request),
            )
        except accounts.Throttled as exc:
            minutes = -(-exc.retry_after // 60)
            response = site.error(
                request,
                429,
                "Too many failed sign-ins",
                f"Too many sign-ins failed from your network in the last "
                f"{accounts.CLIENT_WINDOW.seconds // 60} minutes. Nothing was checked: try "
                f"again in {minutes} minute{'s' if minutes != 1 else ''}.",
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except accounts.AccountError as exc:
            return site.page(
                request,
                "sign_in.html",
                status=401,
                form_token=site.form_token(request),
                next=safe_next(fields.get("next"), ""),
                problem=str(exc),
                email=email,
            )
        target = _after_stage(session)
        nxt = safe_next(fields.get("next"), "")
        if nxt and session.stage is Stage.SECOND:
            target += f"?next={quote(nxt, safe='')}"
        return site.signed_in(request, session, target)

    @app.get("/sign-in/code", include_in_schema=False)
    async def code_form(request: Request, next: str | None = None) -> Response:
        session = await at_stage(request, Stage.SECOND)
        if not isinstance(session, accounts.WebSession):
            return session
        return site.page(
            request, "code.html", session=session, next=safe_next(next, ""), problem=None
        )

    @app.post("/sign-in/code", include_in_schema=False)
    async def code(request: Request) -> Response:
        posted = await posted_at(request, Stage.SECOND)
        if not isinstance(posted, tuple):
            return posted
        session, fields = posted
        try:
            full = await run_in_threadpool(
                accounts.second_factor,
                engine,
                session,
                fields.get("code", "").strip(),
                now(),
                reference(),
            )
        except accounts.AccountError as exc:
            again = await site.session(request)  # a lockout ends the session
            if again is None:
                return site.page(
                    request,
                    "sign_in.html",
                    status=401,
                    form_token=site.form_token(request),
                    next="",
                    problem=str(exc),
                    email="",
                )
            return site.page(
                request,
                "code.html",
                session=again,
                status=401,
                next=safe_next(fields.get("next"), ""),
                problem=str(exc),
            )
        return site.signed_in(request, full, safe_next(fields.get("next"), _after_stage(full)))

    @app.get("/invitation/{token}", include_in_schema=False)
    async def invitation_form(request: Request, token: str) -> Response:
        found = await run_in_threadpool(accounts.invitation_of, engine, token[:200], now())
        if found is None:
            return site.error(
                request,
                404,
                "This invitation cannot be used",
                "The link is not valid: it was used already, it expired, or it was replaced "
                "by a newer one. Ask the plan's administrator for a new invitation.",
            )
        return invitation_page(request, token, found)

    def invitation_page(
        request: Request,
        token: str,
        found: tuple[str, Role],
        problem: str | None = None,
    ) -> Response:
        email, role = found
        return site.page(
            request,
            "invitation.html",
            status=200 if problem is None else 400,
            form_token=site.form_token(request),
            token=token,
            email=email,
            role=role.value,
            problem=problem,
            minimum=accounts.MIN_PASSWORD_LENGTH,
        )

    @app.post("/invitation/{token}", include_in_schema=False)
    async def accept(request: Request, token: str) -> Response:
        fields = await site.form(request, None)
        if not isinstance(fields, dict):
            return fields
        found = await run_in_threadpool(accounts.invitation_of, engine, token[:200], now())
        password = fields.get("password", "")
        problem = ""
        if found is None:
            return await invitation_form(request, token)
        if password != fields.get("confirm", ""):
            problem = "The two passwords are not the same."
        else:
            try:
                session = await run_in_threadpool(
                    accounts.accept_invitation, engine, token[:200], password, now(), reference()
                )
            except accounts.AccountError as exc:
                problem = str(exc)
            else:
                return site.signed_in(request, session, "/enroll")
        return invitation_page(request, token, found, problem)

    @app.get("/enroll", include_in_schema=False)
    async def enroll_form(request: Request) -> Response:
        session = await at_stage(request, Stage.ENROLL)
        if not isinstance(session, accounts.WebSession):
            return session
        enrollment = await run_in_threadpool(accounts.totp_enrollment, engine, session, now())
        return site.page(
            request, "enroll.html", session=session, enrollment=enrollment, problem=None
        )

    @app.post("/enroll", include_in_schema=False)
    async def enroll(request: Request) -> Response:
        posted = await posted_at(request, Stage.ENROLL)
        if not isinstance(posted, tuple):
            return posted
        session, fields = posted
        try:
            full, codes = await run_in_threadpool(
                accounts.confirm_totp,
                engine,
                session,
                fields.get("code", "").strip(),
                now(),
                reference(),
            )
        except accounts.AccountError as exc:
            enrollment = await run_in_threadpool(accounts.totp_enrollment, engine, session, now())
            return site.page(
                request,
                "enroll.html",
                session=session,
                status=400,
                enrollment=enrollment,
                problem=str(exc),
            )
        # the recovery codes are shown this once, on the page that answers the post
        response = site.page(
            request, "recovery_codes.html", session=full, codes=codes, next=_after_stage(full)
        )
        site._cookie(request, response, SESSION_COOKIE, full.token)
        return response

    @app.post("/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        session = await site.session(request)
        if session is not None:
            fields = await site.form(request, session)
            if not isinstance(fields, dict):
                return fields
            await run_in_threadpool(accounts.end_session, engine, session.token, now())
        response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
