"""The edge of ``claims-engine fixtures generate`` and ``claims-engine demo``: files and terminal.

The generator itself is pure (:mod:`claims_engine.generator`); this module loads the reference
data, opens files, reads the clock and prints.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from claims_engine import clock
from claims_engine.errors import ConfigurationError, InputFileError
from claims_engine.generator import generate_claims
from claims_engine.intake import IntakeOptions, IntakeSummary
from claims_engine.reference import load_members, load_providers
from claims_engine.x12.tokenizer import Delimiters
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
    """Ingest every fixture 837 and a generated batch; print what happened and where."""
    from claims_engine.cli import EXIT_OK, _temp_spool, ingest_files, print_summary

    created = clock.now()
    inputs = out_dir / "inputs"
    acks = out_dir / "acks"
    try:
        inputs.mkdir(parents=True, exist_ok=True)
        acks.mkdir(parents=True, exist_ok=True)
        for old in acks.glob("*.x12"):
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
    started = time.perf_counter()
    results, errors = ingest_files(files, acks, options, stderr=stderr)
    ingested_in = time.perf_counter() - started

    stdout.write(f"claims-engine demo: {len(files)} files, acknowledgments in {acks}\n\n")
    for path, summary in results:
        if Path(path) == batch:
            continue
        _one_line(Path(path).relative_to(FIXTURES), summary, stdout)
    stdout.write(f"\ngenerated batch ({DEMO_BATCH_CLAIMS:,} claims in {generated_in:.1f}s):\n")
    for path, summary in results:
        if Path(path) == batch:
            print_summary(str(batch), summary, stdout, limit=5)
    total = _Totals()
    for _, summary in results:
        total.add(summary)
    stdout.write(
        f"\n{'TOTAL':<58} {total.accepted:>6} accepted {total.rejected:>6} rejected\n"
        f"ingested {total.accepted + total.rejected:,} claims in {ingested_in:.2f}s\n"
    )
    for err in errors:
        stderr.write(f"claims-engine: {err}\n")
    stdout.write("\nacknowledgment files:\n")
    for ack in sorted(acks.glob("*.x12")):
        stdout.write(f"  {ack}\n")
    return EXIT_OK


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
