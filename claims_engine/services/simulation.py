"""What-if simulation: stored claims adjudicated again under a candidate rule pack, in memory.

:func:`simulate` reads the claims accepted at intake (every claim with a payer claim number),
replays them family by family in submission order twice, once under the rules in force (the
runtime's rule book, the pack of each claim's day as production picks it) and once under the
candidate pack, each replay with its own :class:`~claims_engine.adjudication.batch.Ledger` so
that replacements, voids, duplicates and accumulators behave as they do in production. The
difference isolates the rule change: what is stored (decided perhaps under older packs, or in
another order) is neither compared with nor touched. Reads only: plain connections, SELECT
statements, no lock.

Families are split into chunks of about :data:`CHUNK_CLAIMS` claims, spread over worker
processes (spawned, each loading its own runtime from the database URL and the rules folder,
with the keys the parent found: the inherited variables, or the embedded store's key file);
each chunk comes back as the totals of its claims and the :class:`ClaimImpact` of each claim
whose decision changed. A family's claims received before ``since`` are replayed too (they
build its accumulators and history) but not reported; a replacement whose original belongs to
a family in another chunk does not find it (the same as an original the store no longer holds).

Prior authorizations: both replays draw on the store's approved authorizations of the chunk's
families, whole (each replay counts the units its own claims draw).

A claim's amounts are net of the reversals its adjudication made: a replacement or a void
counts what it paid less what its original's reversal took back.

NCCI quarters: with ``ncci_quarters`` (``rules simulate --ncci-quarter 2026Q4 --against
2026Q3``) the two replays use the loaded NCCI tables of one quarter each, whatever the claims'
dates of service (each kind and setting that quarter loaded; a table it did not load is the
one in force as usual): the impact of a new quarter's files before it takes effect. Without a
candidate rules folder both replays use the rules in force, so the difference is the edits'.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from claims_engine.adjudication.adjudicate import (
    Adjudication,
    LineContext,
    RuleHook,
    RuleOutcome,
    adjudicate,
)
from claims_engine.adjudication.batch import Ledger
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.adjudication.decision import ClaimDecision
from claims_engine.domain.benefits import Authorization
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Claim, ServiceLine
from claims_engine.domain.money import ZERO
from claims_engine.domain.ncci import NcciTables, Quarter
from claims_engine.rules.book import RuleBook, load_rulebook
from claims_engine.rules.simulation_report import ClaimImpact, Contribution, Simulation, Totals
from claims_engine.services.authorizations import approved_for_families
from claims_engine.services.reference import Runtime, load_runtime
from claims_engine.services.stored_adjudication import read_claim, readable_lookups
from claims_engine.store.db import engine_for
from claims_engine.store.tables import ClaimState, claims_table
from claims_engine.store.vault import use_vault, vault_from_environment

CHUNK_CLAIMS = 2000  # claims a worker reads and replays at a time: bounds its memory
_claims = claims_table


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    """What to simulate: the store (as a URL, for the worker processes), the rules in force,
    the candidate pack and the claims to report (received in ``[since, until]``, of ``plan``).
    ``store_file``: the database file of an embedded store, beside which its key file is found
    when the variables name no keys (as the parent process found it); None for a server's."""

    database_url: str
    rules_dir: Path
    candidate: Path | None  # None: the rules in force on both sides (an NCCI comparison)
    since: date | None = None
    until: date | None = None
    plan: str | None = None
    processes: int = 1
    store_file: Path | None = None
    # (in force, candidate): the NCCI quarter each replay uses, such as ("2026Q3", "2026Q4")
    ncci_quarters: tuple[str, str] | None = None


@dataclass(slots=True)
class _Partial:
    totals: Totals = field(default_factory=Totals)
    changed: list[ClaimImpact] = field(default_factory=list)


def load_candidate(candidate: Path | None, runtime: Runtime) -> RuleBook:
    """The candidate rule book, checked as the runtime's own (plans known to the reference);
    the runtime's own book when there is no candidate."""
    if candidate is None:
        return runtime.book
    return load_rulebook(candidate, known_plans=runtime.reference.plans)


def quarter_tables(tables: NcciTables, quarter: str) -> NcciTables:
    """``tables`` with the tables of ``quarter`` in force on every day (for each kind and
    setting it has; the others as they are). :class:`ConfigurationError` when the store
    holds no table of that quarter."""
    try:
        wanted = Quarter.parse(quarter)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    chosen = {
        key: [t for t in found if t.quarter == wanted] for key, found in tables.tables.items()
    }
    if not any(chosen.values()):
        loaded = sorted({str(t.quarter) for found in tables.tables.values() for t in found})
        raise ConfigurationError(
            f"no NCCI table of {wanted} is loaded (loaded: {', '.join(loaded) or 'none'}; "
            "see `claims-engine ncci load`)"
        )
    return NcciTables(
        {key: tuple(chosen[key]) if chosen[key] else found for key, found in tables.tables.items()}
    )


def _sides(
    runtime: Runtime, candidate: RuleBook, request: SimulationRequest
) -> tuple[Runtime, Runtime]:
    """The runtimes of the two replays: rules in force and candidate rules, each with its
    NCCI quarter when the request compares quarters."""
    before, after = runtime, replace(runtime, book=candidate)
    if request.ncci_quarters is not None:
        current, proposed = request.ncci_quarters
        before = replace(before, ncci=quarter_tables(runtime.ncci, current))
        after = replace(after, ncci=quarter_tables(runtime.ncci, proposed))
    return before, after


def _described(book: RuleBook, ncci: tuple[str, str] | None, side: int) -> str:
    return book.describe() + (f"; NCCI tables of {ncci[side]}" if ncci is not None else "")


def simulate(engine: Engine, runtime: Runtime, request: SimulationRequest) -> Simulation:
    """Replay the requested claims under the rules in force and under the candidate pack."""
    candidate = load_candidate(request.candidate, runtime)
    _sides(runtime, candidate, request)  # an NCCI quarter not loaded stops here, one line
    if request.plan is not None and request.plan not in runtime.reference.plans:
        known = ", ".join(sorted(runtime.reference.plans))
        raise ConfigurationError(f"unknown plan {request.plan!r} (plans: {known})")
    if request.since and request.until and request.since > request.until:
        raise ConfigurationError(f"--since {request.since} is after --until {request.until}")
    with engine.connect() as conn:
        rows = conn.execute(
            select(_claims.c.family, func.count())
            .where(*_accepted(request.since, request.until))
            .group_by(_claims.c.family)
            .order_by(_claims.c.family)
        ).all()
    chunks = _chunks([(str(r[0]), int(r[1])) for r in rows])
    partial = _Partial()
    if request.processes <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            _merge(partial, _replay_chunk(engine, runtime, candidate, request, chunk))
    else:
        context = multiprocessing.get_context("spawn")  # no inherited database connections
        workers = min(request.processes, len(chunks))
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for result in pool.map(_worker_chunk, [request] * len(chunks), chunks):
                _merge(partial, result)
    return Simulation(
        current_versions=_described(runtime.book, request.ncci_quarters, 0),
        candidate_versions=_described(candidate, request.ncci_quarters, 1),
        since=request.since,
        until=request.until,
        plan=request.plan,
        totals=partial.totals,
        changed=tuple(sorted(partial.changed, key=lambda c: c.payer_claim_number)),
    )


def _merge(into: _Partial, other: _Partial) -> None:
    into.totals.add(other.totals)
    into.changed.extend(other.changed)


def _accepted(since: date | None, until: date | None) -> list[Any]:
    c = _claims.c
    where = [c.payer_claim_number.is_not(None), c.state != ClaimState.REJECTED.value]
    if since is not None:
        where.append(c.received_on >= since)
    if until is not None:
        where.append(c.received_on <= until)
    return where


def _chunks(families: Sequence[tuple[str, int]]) -> list[list[str]]:
    chunks: list[list[str]] = []
    size = CHUNK_CLAIMS
    for family, n in families:
        if size + n > CHUNK_CLAIMS or len(chunks[-1]) >= 500:
            chunks.append([])
            size = 0
        chunks[-1].append(family)
        size += n
    return chunks


_process: dict[tuple[str, str, str], tuple[Engine, Runtime, RuleBook]] = {}


def _worker_chunk(request: SimulationRequest, families: list[str]) -> _Partial:
    """One chunk in a worker process; the engine and runtimes stay for its next chunks."""
    key = (request.database_url, str(request.rules_dir), str(request.candidate))
    found = _process.get(key)
    if found is None:
        # the parent's keys: the same variables (inherited), the same store's key file
        use_vault(vault_from_environment(os.environ, store_file=request.store_file))
        engine = engine_for(request.database_url, pool_size=1)
        runtime = load_runtime(engine, request.rules_dir)
        found = (engine, runtime, load_candidate(request.candidate, runtime))
        _process[key] = found
    engine, runtime, candidate = found
    return _replay_chunk(engine, runtime, candidate, request, families)


class _Recorder:
    """Hooks that note the rules firing on the claim being adjudicated."""

    def __init__(self, book: RuleBook) -> None:
        self.fired: set[str] = set()
        self.hooks = {pack.version: self._wrap(rule_hook(pack)) for _, pack in book.versions}

    def _wrap(self, hook: RuleHook) -> RuleHook:
        fired = self.fired

        def recording(claim: Claim, line: ServiceLine, ctx: LineContext) -> Sequence[RuleOutcome]:
            outcomes = hook(claim, line, ctx)
            for o in outcomes:
                fired.add(o.rule_id)
            return outcomes

        return recording


class _Replay:
    """One of the two runs over a chunk: the runtime with its rule book and recording hooks
    (so :meth:`Runtime.context` picks each claim's pack as production does), and a ledger."""

    def __init__(
        self, runtime: Runtime, authorizations: dict[str, tuple[Authorization, ...]]
    ) -> None:
        self.recorder = _Recorder(runtime.book)
        self.runtime = replace(runtime, hooks=self.recorder.hooks)
        # the store's approved prior authorizations, whole: the replay draws on them anew
        self.ledger = Ledger(authorizations=authorizations)

    def run(self, claim: Claim, received_on: date, pccn: str) -> tuple[Adjudication, set[str]]:
        self.recorder.fired.clear()
        ctx = self.ledger.context_for(claim, self.runtime.context(received_on, claim))
        result = adjudicate(claim, ctx, pccn)
        self.ledger.record(result)
        return result, set(self.recorder.fired)


def _replay_chunk(
    engine: Engine,
    runtime: Runtime,
    candidate: RuleBook,
    request: SimulationRequest,
    families: list[str],
) -> _Partial:
    c = _claims.c
    query = (
        select(
            c.payer_claim_number,
            c.billing_npi,
            c.claim_type,
            c.received_on,
            c.claim,
        )
        .where(*_accepted(None, request.until), c.family.in_(families))
        .order_by(c.interchange_id, c.ordinal)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        claims = [read_claim(r.claim, r.payer_claim_number) for r in rows]
        approved = approved_for_families(
            conn, families, readable_lookups(runtime, claims), whole=True
        )
    current, proposed = _sides(runtime, candidate, request)
    before = _Replay(current, approved)
    after = _Replay(proposed, approved)
    partial = _Partial()
    plan_of = _plan_finder(runtime)
    for r, claim in zip(rows, claims, strict=True):
        pccn = str(r.payer_claim_number)
        old, old_rules = before.run(claim, r.received_on, pccn)
        new, new_rules = after.run(claim, r.received_on, pccn)
        if request.since is not None and r.received_on < request.since:
            continue  # replayed for the state it leaves, not reported
        plan_id = plan_of(claim)
        if request.plan is not None and plan_id != request.plan:
            continue
        t = partial.totals
        paid_old, patient_old = _net(old.decisions)
        paid_new, patient_new = _net(new.decisions)
        t.claims += 1
        t.paid_before += paid_old
        t.paid_after += paid_new
        t.patient_before += patient_old
        t.patient_after += patient_new
        if _signature(old.decisions) == _signature(new.decisions):
            continue
        old_codes, new_codes = _codes(old.decisions), _codes(new.decisions)
        old_own, new_own = _own_codes(old.decision), _own_codes(new.decision)
        partial.changed.append(
            ClaimImpact(
                payer_claim_number=pccn,
                claim_id=claim.claim_id,
                billing_npi=str(r.billing_npi),
                plan_id=plan_id,
                claim_type=str(r.claim_type),
                received_on=r.received_on,
                outcome_before=old.decision.outcome.value,
                outcome_after=new.decision.outcome.value,
                paid_before=paid_old,
                paid_after=paid_new,
                patient_before=patient_old,
                patient_after=patient_new,
                codes_added=tuple(sorted(new_own - old_own)),
                codes_removed=tuple(sorted(old_own - new_own)),
                rules_added=tuple(sorted(new_rules - old_rules)),
                rules_removed=tuple(sorted(old_rules - new_rules)),
                procedures=tuple(_code(ln) for ln in claim.lines),
                by_procedure=_contributions(
                    _by_line_code(old.decisions), _by_line_code(new.decisions)
                ),
                by_reason=_reason_contributions(
                    old_codes,
                    new_codes,
                    old_own ^ new_own,
                    paid_new - paid_old,
                    patient_new - patient_old,
                ),
            )
        )
    return partial


def _plan_finder(runtime: Runtime) -> Callable[[Claim], str]:
    reference = runtime.reference

    def plan_of(claim: Claim) -> str:
        member = reference.find_patient(
            claim.subscriber.member_id,
            claim.patient_relationship,
            claim.patient.first_name,
            claim.patient.birth_date,
        )
        if member is None:
            return ""
        day = claim.service_from
        return member.plan_on(day, dental=claim.claim_type == "D") if day else member.plan_id

    return plan_of


def _code(line: Any) -> str:
    procedure = line.procedure
    return str(procedure.code) if procedure is not None else str(line.revenue_code)


def _net(decisions: Sequence[ClaimDecision]) -> tuple[Decimal, Decimal]:
    return (
        sum((d.paid for d in decisions), ZERO),
        sum((d.patient_responsibility for d in decisions), ZERO),
    )


def _signature(decisions: Sequence[ClaimDecision]) -> Any:
    return [
        (
            d.status,
            d.outcome,
            d.paid,
            d.patient_responsibility,
            # why it pends, not the words: an NCCI pend names its quarter
            tuple((p.code, p.line, p.rule) for p in d.pend_items),
            sorted((a.group, a.reason, a.amount) for a in d.claim_adjustments),
            [
                (
                    ln.line_number,
                    ln.paid,
                    sorted((a.group, a.reason, a.amount) for a in ln.adjustments),
                )
                for ln in d.lines
            ],
        )
        for d in decisions
    ]


def _codes(decisions: Sequence[ClaimDecision]) -> dict[str, Decimal]:
    """Adjusted amount by group-CARC over the claim's decisions (reversals net)."""
    codes: dict[str, Decimal] = {}
    for d in decisions:
        for a in (*d.claim_adjustments, *(a for ln in d.lines for a in ln.adjustments)):
            key = f"{a.group}-{a.reason}"
            codes[key] = codes.get(key, ZERO) + a.amount
    return codes


def _own_codes(decision: ClaimDecision) -> set[str]:
    """The group-CARC codes on the claim's own decision."""
    return {
        f"{a.group}-{a.reason}"
        for a in (
            *decision.claim_adjustments,
            *(a for ln in decision.lines for a in ln.adjustments),
        )
    }


def _by_line_code(decisions: Sequence[ClaimDecision]) -> dict[str, tuple[Decimal, Decimal]]:
    """(paid, patient responsibility) by line procedure code over the claim's decisions."""
    found: dict[str, tuple[Decimal, Decimal]] = {}
    for d in decisions:
        for ln in d.lines:
            code = _code(ln)
            patient = sum((a.amount for a in ln.adjustments if a.group == "PR"), ZERO)
            paid, pr = found.get(code, (ZERO, ZERO))
            found[code] = (paid + ln.paid, pr + patient)
    return found


def _contributions(
    old: Mapping[str, tuple[Decimal, Decimal]], new: Mapping[str, tuple[Decimal, Decimal]]
) -> tuple[Contribution, ...]:
    out = []
    for code in sorted(old.keys() | new.keys()):
        paid_old, pr_old = old.get(code, (ZERO, ZERO))
        paid_new, pr_new = new.get(code, (ZERO, ZERO))
        out.append(Contribution(code, paid_new - paid_old, pr_new - pr_old))
    return tuple(c for c in out if c.paid_delta or c.patient_delta)


def _reason_contributions(
    old: Mapping[str, Decimal],
    new: Mapping[str, Decimal],
    moved: set[str],
    paid: Decimal,
    patient: Decimal,
) -> tuple[Contribution, ...]:
    """Each code whose adjusted amount changed, or that came or went on the claim's own
    decision, with the claim's paid and patient deltas."""
    out = []
    for code in sorted(old.keys() | new.keys() | moved):
        amount = new.get(code, ZERO) - old.get(code, ZERO)
        if amount or code in moved:
            out.append(Contribution(code, paid, patient, amount))
    return tuple(out)


def default_processes() -> int:
    return os.cpu_count() or 1
