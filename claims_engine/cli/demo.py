"""``claims-engine demo``: the whole pipeline on embedded defaults with the fixtures.

A fresh SQLite store under the output folder, the fixture reference data and NCCI sample
(``fixtures/ncci``, made up), the sample 837s of
``fixtures/x12`` (P, I and D) and a generated batch, submitted and worked by the actors
in-process (dramatiq's StubBroker, one worker thread, so the run is deterministic), a payment
cycle, and a resubmission answered as a duplicate. It ends with a summary table and the paths
of the 999, 277CA and 835 files, then asks the HTTP API about a claim as its provider, another
provider and its patient (:mod:`claims_engine.cli.demo_api`).
"""

from __future__ import annotations

import re
import textwrap
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import Engine, func, select

from claims_engine.adjudication.decision import Outcome
from claims_engine.cli.fixtures_commands import (
    DEMO_BATCH_CLAIMS,
    DEMO_SEED,
    FIXTURES,
    generate_file,
)
from claims_engine.domain.errors import ConfigurationError, InputFileError
from claims_engine.front_end.edits import ALL_LEVELS
from claims_engine.observability.metrics import record_payment_cycle
from claims_engine.runtime import PROJECT_ROOT, clock
from claims_engine.services import examination
from claims_engine.services.intake import submit, write_acknowledgments
from claims_engine.services.ncci_store import load_ncci
from claims_engine.services.reference import store_reference
from claims_engine.services.remittance import RemitFile, run_payment_cycle
from claims_engine.store.db import upgrade
from claims_engine.store.tables import (
    adjudications_table,
    claims_table,
    interchanges_table,
)
from claims_engine.x12.tokenizer import parse_isa_delimiters

if TYPE_CHECKING:
    from workers.settings import Environment

EXIT_OK = 0
FILE_COLUMN = 52
# the sample files of the X12 implementation guides (their example 837s), under fixtures/
GUIDE_EXAMPLES = ("x12/837d/", "x12/837i/", "x12/837p/")

_claims = claims_table
_adjudications = adjudications_table
_interchanges = interchanges_table


def renumber(raw: bytes, control: int) -> bytes:
    """A one-interchange file with ISA13 and IEA02 set to ``control``.

    The public samples share their interchange control numbers (most are 000010216); a real
    submitter never reuses one, and the engine answers a reuse as a duplicate (TA1 025).
    """
    text = raw.decode("ascii")
    delimiters, length = parse_isa_delimiters(text)
    sep, term = delimiters.element, delimiters.segment
    if len(re.findall(rf"{re.escape(term)}\s*IEA{re.escape(sep)}", text)) != 1:
        return raw
    fields = text[: length - 1].split(sep)
    fields[13] = f"{control:09d}"
    isa = sep.join(fields) + term
    body = text[length:]
    at = body.rindex(f"IEA{sep}")
    end = body.find(term, at)
    iea = body[at:end].split(sep)
    iea[2] = f"{control:09d}"
    return (isa + body[:at] + sep.join(iea) + body[end:]).encode("ascii")


def run_demo(out_dir: Path, *, stdout: TextIO, stderr: TextIO) -> int:
    from workers.settings import Environment, Settings, use_environment

    created = clock.now()
    inputs, acks, remits = out_dir / "inputs", out_dir / "acks", out_dir / "835"
    database = out_dir / "claims.db"
    try:
        for folder in (inputs, acks, remits):
            folder.mkdir(parents=True, exist_ok=True)
            for old in [*folder.glob("*.x12"), *folder.glob("*.837")]:
                old.unlink()
        database.unlink(missing_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot use {out_dir}: {exc.strerror or exc}") from exc
    env = Environment(
        Settings(
            database_url=f"sqlite:///{database.resolve()}",
            redis_url=None,
            rules_dir=PROJECT_ROOT / "rules",
            levels=ALL_LEVELS,
        )
    )
    use_environment(env)
    from workers import actors
    from workers.inprocess import drain

    engine = env.engine
    started = time.perf_counter()
    upgrade(engine)
    reference = store_reference(engine, FIXTURES / "reference", created)
    stdout.write(
        f"claims-engine demo: store {database}, reference set {reference.id} "
        f"(sha256 {reference.sha256[:12]})\n"
    )
    # the made-up NCCI sample (a few dozen edits: milliseconds), so the demo meets the edits
    read, tables = load_ncci(engine, FIXTURES / "ncci", created)
    if read.problems:
        raise ConfigurationError(f"{FIXTURES / 'ncci'}: {read.problems[0]}")
    quarters = sorted({t.quarter for t in tables})
    stdout.write(f"NCCI edits: {len(tables)} tables of {', '.join(quarters)} (made up)\n")

    batch = inputs / "generated-batch.837"
    generate_file(
        batch,
        claims=DEMO_BATCH_CLAIMS,
        seed=DEMO_SEED,
        mix={"P": 70, "I": 20, "D": 10},
        delimiters=("*", "^", ":", "~"),
        as_of=created.date(),
        created=created,
        reference=FIXTURES / "reference",
    )
    samples = sorted((FIXTURES / "x12").glob("*/*.edi"))
    submitted: list[tuple[str, int]] = []
    for n, path in enumerate([*samples, batch], start=1):
        raw = (
            renumber(path.read_bytes(), 900_000_000 + n) if path in samples else batch.read_bytes()
        )
        name = str(path.relative_to(FIXTURES)) if path in samples else batch.name
        sub = submit(engine, raw, name, created)
        actors.ingest_interchange.send(sub.interchange_id)
        submitted.append((name, sub.interchange_id))
    drain(actors.broker, threads=1)
    # written before the resubmission: its TA1 is stored with the interchange it repeats, and is
    # written once, below
    ack_paths = write_acknowledgments(engine, [i for _, i in submitted], acks)
    # each step at its own time (the workers read the clock as they go), so that a claim's
    # history and its ExplanationOfBenefit follow the order things happened in
    again = submit(engine, batch.read_bytes(), batch.name, clock.now())
    files = run_payment_cycle(engine, env.runtime(), clock.now(), remits)
    record_payment_cycle(files)
    if again.ta1:
        duplicate = acks / "resubmission.ta1.x12"
        duplicate.write_text(again.ta1, encoding="ascii", newline="")
        ack_paths.append(duplicate)
    seconds = time.perf_counter() - started

    _per_file(engine, submitted, stdout)
    stdout.write(
        f"\nresubmitted {batch.name}: duplicate of interchange {again.interchange_id}, "
        "answered with TA1 025 and not processed\n"
    )
    _claims_table(engine, stdout)
    _decisions_table(engine, stdout)
    paid = sum((Decimal(f.total_paid) for f in files), start=Decimal(0))
    stdout.write(f"\n835 remittances: {len(files)} payees, {paid:,.2f} paid, in {remits}\n")
    from claims_engine.cli.demo_api import api_tour

    api_files = api_tour(env, out_dir, clock.now(), stdout)
    worked = _examiner_tour(env, remits, stdout)
    stdout.write(f"\nwhole flow in {seconds:.1f}s\n\nfiles written:\n")
    for p in ack_paths:
        if p.name.endswith((".999.x12", ".277ca.x12", ".ta1.x12")):
            stdout.write(f"  {p}\n")
    for f in [*files, *worked]:
        stdout.write(f"  {f.path}\n")
    for p in api_files:
        stdout.write(f"  {p}\n")
    env.dispose()
    del stderr
    return EXIT_OK


DEMO_EXAMINER = "examiner-demo"


def _examiner_tour(env: Environment, remits: Path, out: TextIO) -> list[RemitFile]:
    """An examiner works the most urgent pended claim of the first queue to payment: takes
    it, releases it, and the next payment cycle pays it in an 835."""
    engine = env.engine
    runtime = env.runtime()
    summaries = examination.queues(engine, clock.now())
    out.write("\nexaminer's queues (claims-engine pended queues):\n")
    for q in summaries:
        out.write(f"  {q.queue:<20} {q.claims:>4} claims, {q.charge:>12,} charged\n")
    if not summaries:
        out.write("  no pended claims\n")
        return []
    first = examination.queue_page(engine, summaries[0].queue, clock.now(), limit=1).entries
    if not first:
        return []
    entry = first[0]
    examiner = examination.Examiner(DEMO_EXAMINER)
    examination.take(engine, entry.claim_id, examiner, clock.now())
    view = examination.show(engine, runtime, entry.claim_id, clock.now())
    lines: dict[str, list[str]] = {}
    for item in view.items:
        if item.state == "open":
            lines.setdefault(f"{item.code} ({item.detail})", []).append(str(item.line))
    reasons = "; ".join(
        f"{what} on line{'s' if len(on) > 1 else ''} {', '.join(on)}" if on != ["0"] else what
        for what, on in lines.items()
    )
    out.write(
        f"claim {entry.claim_id} ({entry.payer_claim_number}), queue {entry.queue}, due "
        f"{entry.due_on.isoformat()}: {reasons}\n"
    )
    result = examination.act(
        engine,
        runtime,
        entry.claim_id,
        examiner,
        examination.Release("records reviewed: the charge is supported", ()),
        clock.now(),
    )
    out.write(f"{DEMO_EXAMINER} released it: {result.message}\n")
    files = run_payment_cycle(engine, runtime, clock.now(), remits)
    record_payment_cycle(files)
    for f in files:
        if f.path is None:
            continue
        for segment in f.path.read_text(encoding="ascii").split("~"):
            fields = segment.strip().split("*")
            if fields[0] == "CLP" and len(fields) > 7 and fields[7] == entry.payer_claim_number:
                out.write(f"paid in {f.path.name} (trace {f.trace_number}): {segment.strip()}\n")
    return files


def _per_file(engine: Engine, submitted: list[tuple[str, int]], out: TextIO) -> None:
    c = _claims.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.interchange_id, c.state, func.count()).group_by(c.interchange_id, c.state)
        ).all()
        errors = conn.execute(
            select(c.interchange_id, c.error).where(c.state == "rejected", c.error.is_not(None))
        ).all()
        reasons: dict[int, str | None] = dict(
            conn.execute(select(_interchanges.c.id, _interchanges.c.reason)).all()
        )
    by_ix: dict[int, Counter[str]] = {}
    for ix, state, n in rows:
        by_ix.setdefault(int(ix), Counter())[str(state)] += int(n)
    codes: dict[int, set[str]] = {}
    for ix, error in errors:
        # a rejection reads "CODE: what, where; CODE: ..."
        codes.setdefault(int(ix), set()).update(
            part.split(":", 1)[0].strip() for part in str(error).split("; ")
        )
    names = [_shorten(name, FILE_COLUMN) for name, _ in submitted]
    if len(set(names)) < len({name for name, _ in submitted}):
        names = [name for name, _ in submitted]  # cut alike: whole names, however long
    out.write(f"\n{'file':<{FILE_COLUMN}} {'claims':>6} {'rejected':>8}  why\n")
    guides = Counter[str]()
    for shown, (name, ix) in zip(names, submitted, strict=True):
        counts = by_ix.get(ix, Counter())
        total = sum(counts.values())
        if name.startswith(GUIDE_EXAMPLES):
            guides.update(claims=total, rejected=counts["rejected"])
        why = ", ".join(sorted(codes.get(ix, ()))) or (reasons.get(ix) or "")
        out.write(
            f"{shown:<{FILE_COLUMN}} {total:>6} {counts['rejected']:>8}  {why}".rstrip() + "\n"
        )
    if guides["claims"]:
        said = (
            f"The implementation guides' examples ({', '.join(GUIDE_EXAMPLES)}) are rejected as "
            f"expected, {guides['rejected']} of their {guides['claims']} claims: they show the "
            "layout, not real billing, so their NPIs are made up and their billing ZIP codes "
            "have five digits where a payer wants nine (see why)."
        )
        out.write(textwrap.fill(said, width=96) + "\n")


def _shorten(name: str, width: int) -> str:
    """``name`` cut in the middle to ``width``: the two ends tell files apart."""
    if len(name) <= width:
        return name
    head = (width - 3) // 2
    return f"{name[:head]}...{name[len(name) - (width - 3 - head) :]}"


def _claims_table(engine: Engine, out: TextIO) -> None:
    c = _claims.c
    with engine.connect() as conn:
        rows: dict[str, int] = dict(
            conn.execute(select(c.state, func.count()).group_by(c.state)).all()
        )
    out.write("\nclaims by state:\n")
    for state in ("rejected", "accepted", "pended", "adjudicated", "remitted"):
        out.write(f"  {state:<12} {int(rows.get(state, 0)):>7,}\n")


def _decisions_table(engine: Engine, out: TextIO) -> None:
    a = _adjudications.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                a.kind,
                a.outcome,
                func.count(),
                func.sum(a.charge),
                func.sum(a.allowed),
                func.sum(a.paid),
                func.sum(a.patient_responsibility),
            ).group_by(a.kind, a.outcome)
        ).all()
    out.write(
        f"\ndecisions:\n  {'outcome':<12} {'claims':>7} {'charged':>14} {'allowed':>14} "
        f"{'paid':>14} {'patient':>12}\n"
    )
    order = {"paid": 0, "partly paid": 1, "denied": 2, "pended": 3}
    for kind, outcome, n, charge, allowed, paid, patient in sorted(
        rows, key=lambda r: (r[0] == "reversal", order.get(r[1], 9))
    ):
        label = "reversed" if kind == "reversal" else outcome
        if outcome == Outcome.PENDED:
            paid = 0  # a pended decision's amounts are not final: nothing is paid
        out.write(
            f"  {label:<12} {int(n):>7,} {_money(charge):>14} {_money(allowed):>14} "
            f"{_money(paid):>14} {_money(patient):>12}\n"
        )


def _money(value: object) -> str:
    # SUM over the cents SQLite stores comes back as a plain integer of cents
    if isinstance(value, int):
        return f"{Decimal(value).scaleb(-2):,.2f}"
    return f"{Decimal(str(value or 0)):,.2f}"
