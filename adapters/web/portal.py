"""The portal: server-rendered pages for members, providers and examiners, beside the API.

:func:`add_portal` adds the pages to the API's FastAPI app (``claims-engine serve``). They are
plain HTML from Jinja2 templates (``templates/``) with one stylesheet (``static/``) and no
script: every page works as a form post and a link. What a page shows is read by
:mod:`claims_engine.services.portal` (and the other services) with the signed-in account's
principal, the same scopes and the same ``phi_reads`` audit as the API's keys.

Sign-in (:mod:`claims_engine.services.accounts`): email and password, then a TOTP code (or a
recovery code); an invitation link sets the password and enrolls the authenticator (QR code)
first. The session is a cookie holding a random token (HttpOnly, SameSite=Lax, Secure except on
a loopback address), ended on the server by sign-out, 15 minutes idle or 12 hours.

Every form carries a CSRF token: the session's, or before sign-in one of a cookie of its own
(double submit); a post without it, or with another, is refused (403) before anything is done.
Every portal response has the security headers of :data:`SECURITY_HEADERS` (a
Content-Security-Policy without inline script, no framing, ``no-store``). A claim the account may
not see is the same 404 page as a missing one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from claims_engine.domain.money import ascii_digits
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.rules.authorization_rules import AuthRules
from claims_engine.services import accounts
from claims_engine.services.access import Principal, Role
from claims_engine.services.reference import Runtime
from claims_engine.services.submission import Refused, Submitted
from claims_engine.store.db import KeptConnections, begin_write
from claims_engine.store.vault import current_vault

log = logging.getLogger(__name__)
T = TypeVar("T")

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "ce_session"
FORM_COOKIE = "ce_form"  # the CSRF token of the forms shown before sign-in (plain HTTP)
# ... and its name when Secure: a __Host- cookie is set by this host only (Secure, Path=/, no
# Domain), never planted by a sibling subdomain
SECURE_FORM_COOKIE = "__Host-ce_form"
FORM_KEY_NAME = "claims-engine portal form token key"
_PROCESS_FORM_KEY = secrets.token_bytes(32)  # with encryption off: this process's own
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
FORWARDING_HEADERS = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded")
FORM_BYTES = 64 * 1024  # a portal form but the upload: a few fields
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# the first segment of every portal path (the API's are v1, fhir, docs, healthz, ...)
PORTAL_ROOTS = frozenset(
    {"", "sign-in", "sign-out", "invitation", "enroll", "my", "provider", "examiner", "portal"}
)
HOME = {
    Role.MEMBER: "/my/claims",
    Role.PROVIDER: "/provider/claims",
    Role.INSURER: "/provider/claims",
    Role.EXAMINER: "/examiner/queues",
    Role.SUPERVISOR: "/examiner/queues",
}


def is_portal_path(path: str) -> bool:
    return path.split("/", 2)[1] in PORTAL_ROOTS if path.startswith("/") else False


@dataclass(frozen=True)
class PortalConfig:
    engine: Engine
    now: Callable[[], datetime]
    reference: Callable[[], ReferenceData | None]
    runtime: Callable[[], Runtime] | None = None  # what examiners' actions adjudicate with
    # the API's door for an 837 (its checks, storage and queue), for the providers' upload
    submit_837: Callable[[bytes, Principal, str], Submitted | Refused] | None = None
    max_upload_bytes: int = 0
    # where the pages' transactions run (kept connections); None: the engine's pool
    connections: KeptConnections | None = None
    # the prior-authorization decisions in force (the clinical queue's clocks); None: the
    # defaults (CMS-0057-F's clocks)
    auth_rules: Callable[[], AuthRules] | None = None


# -- presentation: money and dates in the reader's terms --------------------------------------
def money(value: Decimal | None) -> str:
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


@functools.lru_cache(maxsize=4096)  # a page shows dozens of days, strftime costs 2 us each
def day(value: date | datetime | None) -> str:
    if value is None:
        return "–"
    return f"{value:%b} {value.day}, {value.year}"


def days(first: date | None, last: date | None) -> str:
    if first is None:
        return "–"
    if last is None or last == first:
        return day(first)
    return f"{day(first)} to {day(last)}"


def page_number(given: str | None) -> int:
    """A list's page from its query (``?page=N``, from 1): anything but a number, or a number
    out of range, is the first or the last there may be (a hand-edited URL is not an error)."""
    if given is None or not ascii_digits(given) or len(given) > 5:
        return 1
    return min(max(int(given), 1), 10_000)


# -- the pre-sign-in forms' CSRF token ----------------------------------------------------------
def _form_key() -> bytes:
    """The server's key of the form tokens: derived from the lookup key (the same in every
    process of a deployment, never written anywhere), or this process's own random key when
    encryption is off (a throwaway store)."""
    vault = current_vault()
    if not vault.enabled:
        return _PROCESS_FORM_KEY
    return bytes.fromhex(vault.lookup(FORM_KEY_NAME))


def _form_mac(nonce: str) -> str:
    digest = hmac.digest(_form_key(), b"ce-form:" + nonce.encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")


def new_form_token() -> str:
    """A random value and its HMAC under the server's key: ``nonce.mac``."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_form_mac(nonce)}"


def form_token_valid(token: str | None) -> bool:
    """Whether ``token`` was made by this server (:func:`new_form_token`): a value set in the
    cookie by anyone else (another subdomain, a script of another site) is not."""
    if not token or len(token) > 100 or not token.isascii():
        return False
    nonce, _, mac = token.partition(".")
    if not nonce or not mac:
        return False
    return hmac.compare_digest(mac.encode("ascii"), _form_mac(nonce).encode("ascii"))


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the templates are the package's: no stat of each file per page
    )
    env.filters.update(money=money, day=day)
    env.globals.update(days=days)
    return env


_ERRORS = {
    400: "The request cannot be used",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    422: "The request cannot be used",
    503: "Temporarily unavailable",
}


def error_page(status: int, message: str) -> HTMLResponse:
    """An error of a portal path answered outside the pages (an unknown path, a database that
    is down): the same page, without the signed-in parts."""
    title = _ERRORS.get(status, "Something went wrong")
    if status == 404:
        message = "There is no such page."
    html = (
        templates()
        .get_template("error.html")
        .render(session=None, csrf="", home="/", title=title, message=message)
    )
    # its own headers: a 500 is answered outside the middleware that adds them
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


class SecurityHeaders:
    """The portal's headers on every response of a portal path, and on every other HTML page
    but the API's own documentation (whose pages run script): not on the API's JSON."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        portal_path = is_portal_path(path)
        documentation = path.startswith(("/docs", "/redoc"))

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                html = any(
                    k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers
                )
                if portal_path or (html and not documentation):
                    extra = [
                        (k.lower().encode(), v.encode())
                        for k, v in SECURITY_HEADERS.items()
                        if k.lower().encode() not in present
                    ]
                    message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a page's read is given (:meth:`Portal.reading_as`): the transaction it reads in,
    who is asking, the time and the reference data in force."""

    conn: Connection
    principal: Principal
    now: datetime
    reference: ReferenceData | None


class Portal:
    """The pages, over ``config``'s store, clock and reference data."""

    def __init__(self, config: PortalConfig) -> None:
        self.config = config
        self.env = templates()
        self._templates: dict[str, Template] = {}

    # -- rendering -------------------------------------------------------------------------
    def page(
        self,
        request: Request,
        template: str,
        *,
        session: accounts.WebSession | None = None,
        status: int = 200,
        form_token: str | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """``template`` with ``values``; the CSRF token of its forms is the session's or, before
        sign-in, ``form_token`` (also set as the form cookie)."""
        csrf = session.csrf if session is not None else form_token or ""
        found = self._templates.get(template)
        if found is None:  # Jinja's own lookup (its cache key, its loader) costs 4% of a page
            found = self._templates.setdefault(template, self.env.get_template(template))
        html = found.render(
            session=session,
            csrf=csrf,
            home=HOME.get(session.role, "/") if session is not None else "/",
            **values,
        )
        response = HTMLResponse(html, status_code=status)
        if session is None and form_token is not None:
            name = self.form_cookie(request)
            self._cookie(request, response, name, form_token, strict=True)
        return response

    def error(
        self, request: Request, status: int, title: str, message: str, **values: Any
    ) -> HTMLResponse:
        return self.page(
            request,
            "error.html",
            status=status,
            title=title,
            message=message,
            session=values.pop("session", None),
            **values,
        )

    @staticmethod
    def _secure(request: Request) -> bool:
        """Cookies are Secure but for development on a loopback address over plain HTTP: a
        request that came through a proxy (any forwarding header), or names another host, gets
        Secure cookies even when the proxy reached the app on 127.0.0.1."""
        if request.url.scheme == "https" or (request.url.hostname or "") not in LOOPBACK:
            return True
        headers = request.headers
        return any(h in headers for h in FORWARDING_HEADERS)

    def _cookie(
        self, request: Request, response: Response, name: str, value: str, *, strict: bool = False
    ) -> None:
        response.set_cookie(
            name,
            value,
            httponly=True,
            secure=self._secure(request),
            samesite="strict" if strict else "lax",
            path="/",
        )

    def signed_in(self, request: Request, session: accounts.WebSession, to: str) -> Response:
        response = RedirectResponse(to, status_code=303)
        self._cookie(request, response, SESSION_COOKIE, session.token)
        secure = self._secure(request)  # a __Host- cookie is deleted as it was set: Secure
        response.delete_cookie(
            self.form_cookie(request), path="/", secure=secure, httponly=True, samesite="strict"
        )
        return response

    # -- who is asking ---------------------------------------------------------------------
    async def session(self, request: Request) -> accounts.WebSession | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        return await run_in_threadpool(
            accounts.session_of,
            self.config.engine,
            token,
            self.config.now(),
            self.config.reference(),
        )

    @classmethod
    def form_cookie(cls, request: Request) -> str:
        """The name of the pre-sign-in forms' cookie: ``__Host-`` prefixed when Secure."""
        return SECURE_FORM_COOKIE if cls._secure(request) else FORM_COOKIE

    @classmethod
    def form_token(cls, request: Request) -> str:
        """The pre-sign-in forms' CSRF token: the cookie's when this server made it, else a
        new one (:func:`new_form_token`)."""
        given = request.cookies.get(cls.form_cookie(request))
        return given if given is not None and form_token_valid(given) else new_form_token()

    async def form(
        self, request: Request, session: accounts.WebSession | None, *, upload: bool = False
    ) -> dict[str, str] | HTMLResponse:
        """The posted form's fields, or the 403 page when its CSRF token is missing or not the
        session's (before sign-in: the form cookie's). A form is a few fields: a body over
        :data:`FORM_BYTES`, or without its length, or with a file (but the ``upload``, whose
        route bounds it first), is refused before it is read."""
        declared = request.headers.get("content-length", "")
        if not upload and (
            not declared.isascii()
            or not declared.isdigit()
            or int(declared) > FORM_BYTES
            or "multipart/" in request.headers.get("content-type", "")
        ):
            return self.error(
                request,
                413,
                "The form cannot be used",
                "The form sent was too large, or not a form of this site's. Go back and send "
                "it again from the page.",
                session=session,
            )
        data = await request.form(max_files=1 if upload else 0)
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        if session is not None:
            expected = session.csrf
        else:  # double submit, of a cookie this server made (not one planted beside it)
            expected = request.cookies.get(self.form_cookie(request), "")
            if not form_token_valid(expected):
                expected = ""
        given = fields.get("csrf", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            log.warning("portal: a form posted to %s without its CSRF token", route_of(request))
            return self.error(
                request,
                403,
                "This form has expired",
                "The form was not sent from this site's current page. Go back, reload the "
                "page and send it again.",
                session=session,
            )
        return fields

    async def signed_in_as(
        self, request: Request, roles: Collection[Role], whose: str
    ) -> tuple[accounts.WebSession, Principal] | Response:
        """The request's session, signed in whole by an account of one of ``roles``, and its
        principal; else where to go instead: the sign-in page, or the 403 page saying the page
        is for ``whose`` (e.g. "members")."""
        return await self.reading_as(request, roles, whose, lambda r: r.principal)

    async def reading_as(
        self,
        request: Request,
        roles: Collection[Role],
        whose: str,
        read: Callable[[Reading], T],
    ) -> tuple[accounts.WebSession, T] | Response:
        """:meth:`signed_in_as` and the page's ``read`` on one connection of the store (the
        session's check and touch, what the page shows, its ``phi_reads`` rows): what ``read``
        answered with the session, or where to go instead. ``read`` runs only for a session
        of one of ``roles``, in a worker thread. On the kept connections
        (``config.connections``) each statement commits by itself: a page's writes are one
        statement each (the touch, the audit rows), and a read whose audit fails fails the
        page with it; fewer round trips than a transaction's BEGIN and COMMIT around them."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return self.to_sign_in(request)
        config = self.config
        at = config.now()
        known = config.reference()

        kept = config.connections

        def attempt(
            conn: Connection, end: bool
        ) -> tuple[accounts.WebSession | None, tuple[T] | None]:
            session = accounts.live_session(conn, token, at, known, end=end)
            if (
                session is None
                or session.stage is not accounts.Stage.FULL
                or session.role not in roles
                or session.principal is None
            ):
                return session, None
            return session, (read(Reading(conn, session.principal, at, known)),)

        def run() -> tuple[accounts.WebSession | None, tuple[T] | None]:
            try:
                if kept is not None:  # autocommit: each statement (a touch, an audit) its own
                    with kept.connect() as conn:
                        return attempt(conn, end=False)
                with begin_write(config.engine) as conn:
                    return attempt(conn, end=True)
            except accounts.SessionEnds:  # ended in a transaction of its own, its reason kept
                accounts.session_of(config.engine, token, at, known)
                return None, None

        session, found = await run_in_threadpool(run)
        if session is None or session.stage is not accounts.Stage.FULL:
            return self.to_sign_in(request)
        if found is None:
            return self.error(
                request,
                403,
                f"This page is for {whose}",
                "Your account's role has pages of its own: use those.",
                session=session,
            )
        return session, found[0]

    def to_sign_in(self, request: Request) -> RedirectResponse:
        """The sign-in page, and back to the page asked for after it; a form posted without a
        session (an action, an upload) is no page to come back to."""
        if request.method not in ("GET", "HEAD"):
            return RedirectResponse("/sign-in", status_code=303)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)


def route_of(request: Request) -> str:
    """The route's template (``/invitation/{token}``), never the path: a path may hold a
    secret (an invitation's token), and logs are no place for one."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "an unknown route"))


def safe_next(target: str | None, fallback: str) -> str:
    """Where to go after sign-in: a path of this site only (never another origin)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target if is_portal_path(target.split("?", 1)[0]) else fallback


def add_portal(app: FastAPI, config: PortalConfig) -> Portal:
    """Add the portal's pages, its stylesheet and its headers to ``app``."""
    from adapters.web import examiner_pages, member_pages, provider_pages, sign_in_pages

    site = Portal(config)
    app.add_middleware(SecurityHeaders)
    app.mount("/portal/static", StaticFiles(directory=HERE / "static"), name="portal-static")
    sign_in_pages.add(app, site)
    member_pages.add(app, site)
    provider_pages.add(app, site)
    examiner_pages.add(app, site)
    return site
