"""The report of a what-if simulation (``claims-engine rules simulate``), pure: no database.

The simulation's values (:class:`ClaimImpact` for each claim whose decision changed under the
candidate rule pack, :class:`Totals` over every claim simulated) and what is made of them:
aggregates by plan, procedure, provider (billing NPI) and reason code (group-CARC); a terminal
table; CSV files; a self-contained HTML page with inline SVG bar charts (no script, nothing
fetched). Output is deterministic: sorted, and no clock read (``generated`` is given).

Deltas are the candidate's decisions less those of the rules in force, both replayed the same
way, so they isolate the rule change. A claim's amounts are net of the reversals its
adjudication made (a replacement or void). By procedure, the amounts are those of the lines with
the code; by reason, each claim counts under every code whose adjusted amount changed, with the
claim's whole paid and patient deltas (a claim can count under several codes).
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from claims_engine.domain.money import ZERO

DIMENSIONS = ("plan", "procedure", "provider", "reason")
HTML_CLAIMS = 500  # changed claims listed in the HTML page
TOP_ROWS = 5  # rows per dimension in the terminal


@dataclass(frozen=True, slots=True)
class Contribution:
    """One key's share of a claim's change (a procedure code, a reason code)."""

    key: str
    paid_delta: Decimal
    patient_delta: Decimal
    amount_delta: Decimal = ZERO  # for a reason code: the adjusted amount's change


@dataclass(frozen=True, slots=True)
class ClaimImpact:
    """A claim whose decision differs under the candidate pack, and why."""

    payer_claim_number: str
    claim_id: str
    billing_npi: str
    plan_id: str
    claim_type: str
    received_on: date
    outcome_before: str
    outcome_after: str
    paid_before: Decimal
    paid_after: Decimal
    patient_before: Decimal
    patient_after: Decimal
    codes_added: tuple[str, ...]  # group-CARC on the claim after, not before
    codes_removed: tuple[str, ...]
    rules_added: tuple[str, ...]  # rule ids that fired on the claim after, not before
    rules_removed: tuple[str, ...]
    procedures: tuple[str, ...]  # the claim's line procedure (or revenue) codes
    by_procedure: tuple[Contribution, ...]
    by_reason: tuple[Contribution, ...]

    @property
    def paid_delta(self) -> Decimal:
        return self.paid_after - self.paid_before

    @property
    def patient_delta(self) -> Decimal:
        return self.patient_after - self.patient_before

    @property
    def why(self) -> str:
        parts: list[str] = []
        if self.outcome_before != self.outcome_after:
            parts.append(f"{self.outcome_before} -> {self.outcome_after}")
        if self.rules_added:
            parts.append("rules fired: " + ", ".join(self.rules_added))
        if self.rules_removed:
            parts.append("rules no longer fired: " + ", ".join(self.rules_removed))
        if self.codes_added:
            parts.append("codes added: " + ", ".join(self.codes_added))
        if self.codes_removed:
            parts.append("codes removed: " + ", ".join(self.codes_removed))
        if not self.rules_added and not self.rules_removed:
            parts.append("no rule of its own changed: an earlier claim of the family did")
        return "; ".join(parts)


@dataclass(slots=True)
class Totals:
    claims: int = 0
    paid_before: Decimal = ZERO
    paid_after: Decimal = ZERO
    patient_before: Decimal = ZERO
    patient_after: Decimal = ZERO

    def add(self, other: Totals) -> None:
        self.claims += other.claims
        self.paid_before += other.paid_before
        self.paid_after += other.paid_after
        self.patient_before += other.patient_before
        self.patient_after += other.patient_after


@dataclass(frozen=True, slots=True)
class Simulation:
    """The result: totals of every claim simulated and the claims that changed (sorted)."""

    current_versions: str
    candidate_versions: str
    since: date | None
    until: date | None
    plan: str | None
    totals: Totals
    changed: tuple[ClaimImpact, ...]


@dataclass(slots=True)
class Aggregate:
    """One row of a dimension: claims changed and the deltas they carry."""

    key: str
    claims_changed: int = 0
    paid_delta: Decimal = ZERO
    patient_delta: Decimal = ZERO
    claims_added: int = 0  # reason codes: claims the code is new on
    claims_removed: int = 0  # reason codes: claims the code is gone from
    amount_delta: Decimal = ZERO  # reason codes: the adjusted amount's change


def aggregate(changed: Iterable[ClaimImpact], dimension: str) -> list[Aggregate]:
    """Rows of ``dimension`` (plan, procedure, provider, reason), largest |paid delta| first."""
    rows: dict[str, Aggregate] = {}

    def row(key: str) -> Aggregate:
        found = rows.get(key)
        if found is None:
            found = rows[key] = Aggregate(key)
        return found

    for claim in changed:
        if dimension in ("plan", "provider"):
            r = row((claim.plan_id or "(none)") if dimension == "plan" else claim.billing_npi)
            r.claims_changed += 1
            r.paid_delta += claim.paid_delta
            r.patient_delta += claim.patient_delta
        elif dimension == "procedure":
            for c in claim.by_procedure:
                r = row(c.key)
                r.claims_changed += 1
                r.paid_delta += c.paid_delta
                r.patient_delta += c.patient_delta
        elif dimension == "reason":
            for c in claim.by_reason:
                r = row(c.key)
                r.claims_changed += 1
                r.paid_delta += c.paid_delta
                r.patient_delta += c.patient_delta
                r.amount_delta += c.amount_delta
                r.claims_added += c.key in claim.codes_added
                r.claims_removed += c.key in claim.codes_removed
        else:
            raise ValueError(f"unknown dimension {dimension!r}")
    return sorted(rows.values(), key=lambda a: (-abs(a.paid_delta), a.key))


def summary(sim: Simulation) -> dict[str, object]:
    """The summary as plain values (money as strings), for ``--json``."""
    t = sim.totals
    return {
        "claims_simulated": t.claims,
        "claims_changed": len(sim.changed),
        "paid_before": str(t.paid_before),
        "paid_after": str(t.paid_after),
        "paid_delta": str(t.paid_after - t.paid_before),
        "patient_responsibility_before": str(t.patient_before),
        "patient_responsibility_after": str(t.patient_after),
        "patient_responsibility_delta": str(t.patient_after - t.patient_before),
        "current_rules": sim.current_versions,
        "candidate_rules": sim.candidate_versions,
        "since": sim.since.isoformat() if sim.since else None,
        "until": sim.until.isoformat() if sim.until else None,
        "plan": sim.plan,
    }


def _window(sim: Simulation) -> str:
    since = sim.since.isoformat() if sim.since else "the first"
    until = sim.until.isoformat() if sim.until else "the last"
    plan = f", plan {sim.plan}" if sim.plan else ""
    return f"claims received from {since} to {until}{plan}"


def write_table(sim: Simulation, out: TextIO, top: int = TOP_ROWS) -> None:
    """The summary, then the top rows by |paid delta| of each dimension."""
    t = sim.totals
    out.write(f"simulated {t.claims:,} {_window(sim)}\n")
    out.write(f"  rules in force  {sim.current_versions}\n")
    out.write(f"  candidate       {sim.candidate_versions}\n")
    out.write(f"  claims changed  {len(sim.changed):,}\n")
    out.write(
        f"  paid            {t.paid_before} -> {t.paid_after} "
        f"({_signed(t.paid_after - t.paid_before)})\n"
    )
    out.write(
        f"  patient resp.   {t.patient_before} -> {t.patient_after} "
        f"({_signed(t.patient_after - t.patient_before)})\n"
    )
    for dimension in DIMENSIONS:
        rows = aggregate(sim.changed, dimension)
        if not rows:
            continue
        out.write(f"\nby {dimension} (top {min(top, len(rows))} of {len(rows)}, by |paid delta|)\n")
        out.write(f"  {'key':<16} {'claims':>8} {'paid delta':>14} {'patient delta':>14}\n")
        for r in rows[:top]:
            out.write(
                f"  {r.key:<16} {r.claims_changed:>8,} {_signed(r.paid_delta):>14} "
                f"{_signed(r.patient_delta):>14}\n"
            )


def _signed(amount: Decimal) -> str:
    return f"+{amount}" if amount > 0 else str(amount)


CLAIM_COLUMNS = (
    "payer_claim_number",
    "claim_id",
    "billing_npi",
    "plan_id",
    "claim_type",
    "received_on",
    "procedures",
    "outcome_before",
    "outcome_after",
    "paid_before",
    "paid_after",
    "paid_delta",
    "patient_responsibility_before",
    "patient_responsibility_after",
    "patient_responsibility_delta",
    "codes_added",
    "codes_removed",
    "rules_added",
    "rules_removed",
    "why",
)


def claim_row(c: ClaimImpact) -> list[str]:
    return [
        c.payer_claim_number,
        c.claim_id,
        c.billing_npi,
        c.plan_id,
        c.claim_type,
        c.received_on.isoformat(),
        " ".join(c.procedures),
        c.outcome_before,
        c.outcome_after,
        str(c.paid_before),
        str(c.paid_after),
        str(c.paid_delta),
        str(c.patient_before),
        str(c.patient_after),
        str(c.patient_delta),
        " ".join(c.codes_added),
        " ".join(c.codes_removed),
        " ".join(c.rules_added),
        " ".join(c.rules_removed),
        c.why,
    ]


def _aggregate_rows(rows: Sequence[Aggregate], dimension: str) -> list[list[str]]:
    head = [dimension, "claims_changed", "paid_delta", "patient_responsibility_delta"]
    if dimension == "reason":
        head += ["claims_added", "claims_removed", "amount_delta"]
    table = [head]
    for r in rows:
        line = [r.key, str(r.claims_changed), str(r.paid_delta), str(r.patient_delta)]
        if dimension == "reason":
            line += [str(r.claims_added), str(r.claims_removed), str(r.amount_delta)]
        table.append(line)
    return table


def _csv(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def write_reports(sim: Simulation, out_dir: Path, generated: str) -> list[Path]:
    """The CSV files and ``report.html`` in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {
        "changed_claims.csv": _csv([CLAIM_COLUMNS, *(claim_row(c) for c in sim.changed)]),
    }
    for dimension in DIMENSIONS:
        rows = aggregate(sim.changed, dimension)
        files[f"by_{dimension}.csv"] = _csv(_aggregate_rows(rows, dimension))
    files["report.html"] = render_html(sim, generated)
    paths = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8", newline="")
        paths.append(path)
    return paths


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em}
td,th{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.neg{fill:#c0392b}.pos{fill:#27ae60}.lbl{font-size:11px;fill:#222}
.note{color:#666;font-size:.9em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def bar_chart(rows: Sequence[Aggregate], title: str, top: int = 15) -> str:
    """An SVG bar chart of the paid delta of the rows: red below zero, green above."""
    shown = list(rows[:top])
    if not shown:
        return f'<p class="note">{_e(title)}: no change.</p>'
    width, label_w, value_w, bar_h = 720, 150, 110, 22
    plot = width - label_w - value_w
    largest = max(abs(r.paid_delta) for r in shown) or Decimal(1)
    has_neg = any(r.paid_delta < 0 for r in shown)
    has_pos = any(r.paid_delta > 0 for r in shown)
    zero = label_w + (plot / 2 if has_neg and has_pos else (plot if has_neg else 0))
    scale = (plot / 2 if has_neg and has_pos else plot) / float(largest)
    height = bar_h * len(shown) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
    ]
    for i, r in enumerate(shown):
        y = 5 + i * bar_h
        length = abs(float(r.paid_delta)) * scale
        x = zero - length if r.paid_delta < 0 else zero
        kind = "neg" if r.paid_delta < 0 else "pos"
        parts.append(
            f'<text class="lbl" x="{label_w - 6}" y="{y + 15}" text-anchor="end">'
            f"{_e(r.key[:22])}</text>"
        )
        parts.append(
            f'<rect class="{kind}" x="{x:.1f}" y="{y + 3}" width="{max(length, 1):.1f}" '
            f'height="{bar_h - 6}"><title>{_e(r.key)}: {_e(_signed(r.paid_delta))}</title></rect>'
        )
        parts.append(
            f'<text class="lbl" x="{width - value_w + 6}" y="{y + 15}">'
            f"{_e(_signed(r.paid_delta))}</text>"
        )
    parts.append(
        f'<line x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height}" stroke="#555"/></svg>'
    )
    return "".join(parts)


def _html_table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{' class=n' if i in numeric else ''}>{_e(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


def render_html(sim: Simulation, generated: str) -> str:
    """The whole report as one self-contained HTML page."""
    t = sim.totals
    facts = [
        ("Claims simulated", f"{t.claims:,}"),
        ("Claims changed", f"{len(sim.changed):,}"),
        ("Paid", f"{t.paid_before} → {t.paid_after} ({_signed(t.paid_after - t.paid_before)})"),
        (
            "Patient responsibility",
            f"{t.patient_before} → {t.patient_after} "
            f"({_signed(t.patient_after - t.patient_before)})",
        ),
        ("Rules in force", sim.current_versions),
        ("Candidate rules", sim.candidate_versions),
        ("Claims", _window(sim)),
        ("Generated", generated),
    ]
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<title>Rule simulation</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>What-if simulation of a candidate rule pack</h1>",
        "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>",
        '<p class="note">Deltas are the candidate pack\'s decisions less those of the rules in '
        "force, both replayed from the stored claims in submission order, so they isolate the "
        "rule change. Nothing stored was changed. Amounts of a replacement or void are net of "
        "its original's reversal.</p>",
    ]
    for dimension in DIMENSIONS:
        rows = aggregate(sim.changed, dimension)
        parts.append(f"<h2>Paid delta by {_e(dimension)}</h2>")
        parts.append(bar_chart(rows, f"paid delta by {dimension}"))
        if rows:
            table = _aggregate_rows(rows, dimension)
            parts.append(_html_table(table[0], table[1:], set(range(1, len(table[0])))))
    parts.append("<h2>Changed claims</h2>")
    shown = sim.changed[:HTML_CLAIMS]
    if len(sim.changed) > HTML_CLAIMS:
        parts.append(
            f'<p class="note">The first {HTML_CLAIMS:,} of {len(sim.changed):,}; '
            "every one is in changed_claims.csv.</p>"
        )
    if shown:
        parts.append(
            _html_table(CLAIM_COLUMNS, (claim_row(c) for c in shown), {9, 10, 11, 12, 13, 14})
        )
    else:
        parts.append('<p class="note">No claim changes under the candidate pack.</p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)
