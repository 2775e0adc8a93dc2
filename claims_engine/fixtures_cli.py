"""The edge of ``claims-engine fixtures generate`` and ``claims-engine demo``: files and terminal.

The generator itself is pure (:mod:`claims_engine.generator`); this module loads the reference
data, opens files, reads the clock and prints.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from claims_engine import clock
from claims_engine.adjudication.adjudicate import AdjudicationContext
from claims_engine.adjudication.batch import adjudicate_in_order
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.adjudication.decision import ClaimDecision, ClaimStatusCode
from claims_engine.errors import ConfigurationError, InputFileError
from claims_engine.generator import generate_claims
from claims_engine.intake import CollectingSink, IntakeOptions, IntakeSummary
from claims_engine.reference import load_members, load_providers, load_reference
from claims_engine.remittance import load_payer, payment_cycle
from claims_engine.rules import load_pack
from claims_engine.x12.acks import ClaimAck
from claims_engine.x12.tokenizer import Delimiters
from claims_engine.x12.writer835 import write_835
from claims_engine.x12.writer837 import write_837

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_ROOT / "fixtures"
DEMO_BATCH_CLAIMS = 2000
DEMO_SEED = 20261101


def generate_file(
    out: Path,
    *,
    claims: int,
    seed: int,
    mix: dict[str, int],
    delimiters: tuple[str, str, str, str],
    as_of: date,
    created: datetime,
    reference: Path,
) -> int:
    """Write ``claims`` generated claims to ``out``; returns how many were written."""
    members = load_members(reference / "members.csv")
    providers = load_providers(reference / "providers.csv")
    element, repetition, component, terminator = delimiters
    try:
        fh = out.open("w", encoding="ascii", newline="")
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from exc
    with fh:
        try:
            summary = write_837(
                generate_claims(seed, members, providers, as_of=as_of, count=claims, mix=mix),
                fh,
                delimiters=Delimiters(element, repetition, component, terminator),
                interchange_control=seed % 1_000_000_000 or 1,
                created=created,
                sender_id="SUBMITTER01",
                receiver_id="CLAIMSENGINE",
            )
        except ValueError as exc:
            raise ConfigurationError(f"cannot generate: {exc}") from exc
    return summary.claims


def run_demo(out_dir: Path, *, stdout: TextIO, stderr: TextIO) -> int:
    """The whole flow as far as it goes: intake of every fixture 837 and a generated batch,
    adjudication of the accepted claims with the shipped rule pack, and the 835s."""
    from claims_engine.cli import EXIT_OK, _temp_spool, ingest_files, print_summary

    created = clock.now()
    inputs, acks, remits = out_dir / "inputs", out_dir / "acks", out_dir / "835"
    try:
        for folder in (inputs, acks, remits):
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.x12"):
                old.unlink()
    except OSError as exc:
        raise InputFileError(f"cannot use {out_dir}: {exc.strerror or exc}") from exc
    batch = inputs / "generated-batch.837"
    started = time.perf_counter()
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
    generated_in = time.perf_counter() - started
    files = [*sorted((FIXTURES / "x12").glob("*/*.edi")), batch]
    options = IntakeOptions(received_on=created.date(), created=created, spool=_temp_spool)
    collected = CollectingSink()
    started = time.perf_counter()
    results, errors = ingest_files(files, acks, options, stderr=stderr, sink=collected)
    ingested_in = time.perf_counter() - started

    stdout.write(f"claims-engine demo: {len(files)} files in, acknowledgments in {acks}\n\n")
    for path, summary in results:
        if Path(path) != batch:
            _one_line(Path(path).relative_to(FIXTURES), summary, stdout)
    stdout.write(f"\ngenerated batch ({DEMO_BATCH_CLAIMS:,} claims in {generated_in:.1f}s):\n")
    for path, summary in results:
        if Path(path) == batch:
            print_summary(str(batch), summary, stdout, limit=3)
    total = _Totals()
    for _, summary in results:
        total.add(summary)
    stdout.write(
        f"\nintake: {total.accepted:,} accepted, {total.rejected:,} rejected, "
        f"{total.accepted + total.rejected:,} claims in {ingested_in:.2f}s\n"
    )
    for err in errors:
        stderr.write(f"claims-engine: {err}\n")

    started = time.perf_counter()
    decisions = _adjudicate(collected.accepted, received_on=created.date())
    adjudicated_in = time.perf_counter() - started
    _decision_table(decisions, adjudicated_in, stdout)
    paths = _remit(decisions, remits, created)
    stdout.write(f"\n835 remittances ({len(paths)} payees) in {remits}\n")
    stdout.write("\nfiles written:\n")
    for ack in sorted(acks.glob("*.x12")):
        stdout.write(f"  {ack}\n")
    for remit_path in paths:
        stdout.write(f"  {remit_path}\n")
    return EXIT_OK


def _adjudicate(accepted: list[ClaimAck], *, received_on: date) -> list[ClaimDecision]:
    reference = load_reference(FIXTURES / "reference")
    pack = load_pack(PROJECT_ROOT / "rules", known_plans=reference.plans)
    context = AdjudicationContext(
        reference=reference,
        received_on=received_on,
        rules=rule_hook(pack),
        rule_pack_version=pack.version,
    )
    pairs = [(ack.claim, ack.payer_claim_number) for ack in accepted]
    return [d for result in adjudicate_in_order(pairs, context) for d in result.decisions]


def _decision_table(decisions: list[ClaimDecision], seconds: float, out: TextIO) -> None:
    rows: dict[str, list[Decimal]] = {}
    for d in decisions:
        key = "reversed" if d.status is ClaimStatusCode.REVERSAL else d.outcome.value
        row = rows.setdefault(key, [Decimal(0)] * 5)
        row[0] += 1
        row[1] += d.charge
        row[2] += d.allowed
        row[3] += d.paid
        row[4] += d.patient_responsibility
    out.write(f"\nadjudication ({len(decisions):,} decisions in {seconds:.2f}s):\n")
    out.write(
        f"  {'outcome':<12} {'claims':>7} {'charged':>14} {'allowed':>14} {'paid':>14} "
        f"{'patient':>12}\n"
    )
    for key in ("paid", "partly paid", "denied", "pended", "reversed"):
        if key in rows:
            n, charge, allowed, paid, patient = rows[key]
            out.write(
                f"  {key:<12} {int(n):>7,} {charge:>14,.2f} {allowed:>14,.2f} "
                f"{paid:>14,.2f} {patient:>12,.2f}\n"
            )


def _remit(decisions: list[ClaimDecision], folder: Path, created: datetime) -> list[Path]:
    payer = load_payer(FIXTURES / "reference" / "payer.yaml")
    paths: list[Path] = []
    cycle = payment_cycle(decisions, payer, paid_on=created.date(), first_trace=1)
    for n, remittance in enumerate(cycle, start=1):
        path = folder / f"835-{remittance.payee_npi}.x12"
        with path.open("w", encoding="ascii", newline="") as fh:
            write_835(
                fh,
                remittance.decisions,
                payment=remittance.payment,
                interchange_control=n,
                created=created,
            )
        paths.append(path)
    return paths


class _Totals:
    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0

    def add(self, summary: IntakeSummary) -> None:
        self.accepted += summary.claims_accepted
        self.rejected += summary.claims_rejected


def _one_line(name: Path, summary: IntakeSummary, out: TextIO) -> None:
    reasons = ", ".join(sorted(summary.reasons)) or "-"
    out.write(
        f"{name!s:<58.58} {summary.claims_accepted:>6} accepted "
        f"{summary.claims_rejected:>6} rejected  {reasons}\n"
    )
