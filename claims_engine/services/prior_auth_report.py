"""The yearly public report on prior authorization (CMS-0057-F), from the store.

:func:`prior_auth_report` reads the requests decided in a calendar year (approved, in full, in
part or modified, or denied; by the rules or by a reviewer), leaving out the reference data's
imported authorizations (no request was made of the payer for them), cancellations, expiries
and requests that needed no authorization, and counts them with
:func:`claims_engine.domain.prior_auth.report_figures`: of the standard and of the expedited
requests, the percentage approved, denied, approved after appeal (a request appealing a
denial, approved) and approved after the timeframe was extended, and the mean and the median
hours from request to decision. The services that need authorization are the coverage rules'
``require_authorization`` rules in force at the end of the year.

:func:`report_csv`, :func:`services_csv` and :func:`report_html` write it as two CSV files and
one self-contained HTML page (its style inline; no script, no image, nothing fetched).
"""

from __future__ import annotations

import csv
import html
import io
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine, select

from claims_engine.domain.prior_auth import (
    AuthState,
    ReportFigures,
    ReportRecord,
    Urgency,
    UrgencyFigures,
    report_figures,
)
from claims_engine.rules.authorization_rules import services_needing_authorization
from claims_engine.rules.book import RuleBook
from claims_engine.store.tables import prior_authorizations_table

_auths = prior_authorizations_table
MEASURES = (
    ("approved", "approved"),
    ("denied", "denied"),
    ("approved_after_appeal", "approved after appeal"),
    ("approved_after_extension", "approved after the timeframe was extended"),
)


def prior_auth_report(engine: Engine, book: RuleBook, year: int) -> ReportFigures:
    """The report of ``year`` (see the module docstring)."""
    start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
    a = _auths.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.urgency, a.state, a.received_at, a.decided_at, a.appeal_of, a.extended_at)
            .where(
                a.decided_at >= start,
                a.decided_at < end,
                a.source != "csv",
                a.state.in_([AuthState.APPROVED.value, AuthState.DENIED.value]),
            )
            .order_by(a.id)
        ).all()
    records = [
        ReportRecord(
            Urgency(r.urgency),
            AuthState(r.state),
            r.received_at,
            r.decided_at,
            appeal=r.appeal_of is not None,
            extended=r.extended_at is not None,
        )
        for r in rows
    ]
    pack = book.pack_on(date(year, 12, 31))
    return report_figures(year, records, services_needing_authorization(pack))


def _value(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def figure_rows(figures: ReportFigures) -> list[list[str]]:
    """The figures as rows: urgency, measure, count, percent of decided (hours for times)."""
    rows: list[list[str]] = [["urgency", "measure", "count", "percent_or_hours"]]
    for f in (figures.standard, figures.expedited):
        rows.append([f.urgency.value, "decided", str(f.decided), ""])
        for field, _label in MEASURES:
            count = getattr(f, field)
            rows.append([f.urgency.value, field, str(count), _value(f.percent(count))])
        rows.append([f.urgency.value, "mean_hours_to_decision", "", _value(f.mean_hours)])
        rows.append([f.urgency.value, "median_hours_to_decision", "", _value(f.median_hours)])
    return rows


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue()


def report_csv(figures: ReportFigures) -> str:
    return _csv(figure_rows(figures))


def services_csv(figures: ReportFigures) -> str:
    return _csv([["plans", "codes", "description"], *(list(s) for s in figures.services)])


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{border:1px solid #c9c9c9;padding:.35rem .6rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.3rem 0}
"""


def _urgency_table(f: UrgencyFigures) -> str:
    cells = []
    for field, label in MEASURES:
        count = getattr(f, field)
        percent = f.percent(count)
        cells.append(
            f"<tr><th scope=row>{html.escape(label)}</th><td class=n>{count}</td>"
            f"<td class=n>{'&ndash;' if percent is None else f'{percent}%'}</td></tr>"
        )
    hours = (
        ("mean time from request to decision", f.mean_hours),
        ("median time from request to decision", f.median_hours),
    )
    for label, value in hours:
        shown = "&ndash;" if value is None else f"{value} hours"
        cells.append(f"<tr><th scope=row>{label}</th><td class=n colspan=2>{shown}</td></tr>")
    return (
        f"<table><caption>{f.urgency.value.capitalize()} requests: {f.decided} decided"
        "</caption><thead><tr><th scope=col>measure</th><th scope=col>requests</th>"
        "<th scope=col>percent of decided</th></tr></thead><tbody>"
        + "".join(cells)
        + "</tbody></table>"
    )


def report_html(figures: ReportFigures, payer: str = "") -> str:
    """The report as one self-contained page."""
    title = f"Prior authorization metrics {figures.year}"
    if payer:
        title += f": {payer}"
    services = "".join(
        f"<tr><td>{html.escape(p)}</td><td>{html.escape(c)}</td><td>{html.escape(d)}</td></tr>"
        for p, c, d in figures.services
    )
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Requests decided from January 1 to December 31, {figures.year}. Percentages are "
        "of the requests decided, rounded half up to two places; times are hours from "
        "receipt of the request to the decision, rounded half up to one place.</p>"
        f"<h2>Standard requests</h2>{_urgency_table(figures.standard)}"
        f"<h2>Expedited requests</h2>{_urgency_table(figures.expedited)}"
        "<h2>Services that need prior authorization</h2><table><thead><tr>"
        "<th scope=col>plans</th><th scope=col>codes</th><th scope=col>service</th>"
        f"</tr></thead><tbody>{services}</tbody></table></body></html>\n"
    )
