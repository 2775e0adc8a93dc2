"""Intake throughput and memory, against pyx12 in the same run.

    .venv/bin/python benchmarks/bench_ingest.py [--claims 100000] [--rss-claims 1000000]

1. generates an N-claim 837P batch with the fixture reference data;
2. ingests it in a child process (parse, SNIP 1-5 edits, 999 and 277CA written to disk) and
   reports claims/s, segments/s and the child's peak RSS; where the intake is compiled
   (setup.py), once more with ``CLAIMS_ENGINE_PURE=1`` for the pure-Python figure and the ratio;
3. builds a file of ``--rss-claims`` claims from copies of the batch (each copy its own
   interchange, claim ids made unique) and ingests it the same way, for peak RSS at scale;
4. has pyx12 validate the batch's first transaction set (5,000 claims) and reports the ratio.

Prints a table and writes JSON to ``benchmarks/results/bench_ingest.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
AS_OF = date(2026, 11, 1)
CREATED = datetime(2026, 11, 1, 9, 0)
TARGET_CLAIMS_PER_S = 20_000  # the intake issue's target


def child_ingest(path: Path, out_dir: Path) -> dict[str, Any]:
    """Run in a fresh interpreter: ingest ``path`` and report time, counts and peak RSS."""
    from claims_engine.cli.main import DirectoryAckOutput, _temp_spool
    from claims_engine.front_end.ingest import IntakeOptions, ingest
    from claims_engine.runtime.compiled import running_compiled

    options = IntakeOptions(received_on=AS_OF, created=CREATED, spool=_temp_spool)
    started = time.perf_counter()
    with path.open("rb") as fh:
        summary = ingest(fh, options, DirectoryAckOutput(out_dir), name="bench")
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "claims": summary.claims,
        "accepted": summary.claims_accepted,
        "rejected": summary.claims_rejected,
        "segments": summary.segments,
        "peak_rss_mb": peak_rss_mb(),
        "file_error": summary.file_error,
        "compiled": running_compiled(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux, VmHWM: ``ru_maxrss`` survives exec, so a
    child started by a large parent would report the parent's size from before the exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(path: Path, out_dir: Path, *, pure: bool = False) -> dict[str, Any]:
    """Ingest in a fresh interpreter; ``pure`` runs the compiled modules from their sources."""
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--child-out", str(out_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, CLAIMS_ENGINE_PURE="1" if pure else "0"),
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    result["claims_per_s"] = result["claims"] / result["seconds"]
    result["segments_per_s"] = result["segments"] / result["seconds"]
    return result


def ingest_row(label: str, run: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (
        label,
        f"{run['claims']:,}",
        f"{run['claims_per_s']:,.0f}",
        f"{run['segments_per_s']:,.0f}",
        f"{run['peak_rss_mb']:.0f}",
    )


def generate(path: Path, claims: int, seed: int) -> float:
    from claims_engine.cli.fixtures_commands import FIXTURES, generate_file

    started = time.perf_counter()
    generate_file(
        path,
        claims=claims,
        seed=seed,
        mix={"P": 100},
        delimiters=("*", "^", ":", "~"),
        as_of=AS_OF,
        created=CREATED,
        reference=FIXTURES / "reference",
    )
    return time.perf_counter() - started


def build_large(source: Path, target: Path, copies: int) -> int:
    """``copies`` interchanges from one: new ISA13/IEA02, claim ids prefixed per copy."""
    text = source.read_text(encoding="ascii")
    isa_control = text[90:99]
    with target.open("w", encoding="ascii", newline="") as out:
        for k in range(copies):
            control = f"{k + 1:09d}"
            copy = text.replace(f"*{isa_control}*", f"*{control}*", 1)
            copy = copy.replace(f"IEA*1*{isa_control}~", f"IEA*1*{control}~")
            copy = copy.replace("\nCLM*", f"\nCLM*K{k}")
            out.write(copy)
    return copies


def first_transaction(source: Path) -> tuple[str, int]:
    """The interchange cut down to its first transaction set, and that set's claim count."""
    lines = source.read_text(encoding="ascii").splitlines(keepends=True)
    head: list[str] = []
    claims = 0
    for line in lines:
        head.append(line)
        if line.startswith("CLM*"):
            claims += 1
        if line.startswith("SE*"):
            break
    gs_control = head[1].split("*")[6]
    isa_control = head[0].split("*")[13]
    head.append(f"GE*1*{gs_control}~\n")
    head.append(f"IEA*1*{isa_control}~\n")
    return "".join(head), claims


def pyx12_validate(text: str) -> tuple[float, bool]:
    import logging

    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    ok = pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(), src_file=io.StringIO(text), fd_997=None, fd_html=None
    )
    return time.perf_counter() - started, bool(ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument(
        "--rss-claims",
        type=int,
        default=1_000_000,
        help="claims in the memory run (a multiple of --claims); 0 skips it",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_ingest.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        json.dump(child_ingest(args.child, args.child_out), sys.stdout)
        return 0

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "claims": args.claims,
    }
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        batch = work / "batch.837"
        gen_seconds = generate(batch, args.claims, args.seed)
        results["generate"] = {"seconds": gen_seconds, "claims_per_s": args.claims / gen_seconds}
        results["file_mb"] = batch.stat().st_size / 1e6

        run = run_child(batch, work / "acks")
        results["ingest"] = run
        if run["compiled"]:
            results["ingest_pure_python"] = run_child(batch, work / "acks-pure", pure=True)

        if args.rss_claims:
            copies = max(1, args.rss_claims // args.claims)
            large = work / "large.837"
            build_large(batch, large, copies)
            results["ingest_large"] = run_child(large, work / "acks-large")
            large.unlink()

        slice_text, slice_claims = first_transaction(batch)
        seconds, valid = pyx12_validate(slice_text)
        results["pyx12"] = {
            "claims": slice_claims,
            "seconds": seconds,
            "claims_per_s": slice_claims / seconds,
            "valid": valid,
        }
    ratio = results["ingest"]["claims_per_s"] / results["pyx12"]["claims_per_s"]
    results["ratio_engine_to_pyx12"] = ratio

    rows = [
        (
            "generate 837P",
            f"{args.claims:,}",
            f"{results['generate']['claims_per_s']:,.0f}",
            "",
            "",
        ),
        ingest_row(
            "ingest (parse, edits, 999, 277CA)" + (", compiled" if run["compiled"] else ""), run
        ),
    ]
    if "ingest_pure_python" in results:
        label = "ingest, pure Python (CLAIMS_ENGINE_PURE=1)"
        rows.append(ingest_row(label, results["ingest_pure_python"]))
    if "ingest_large" in results:
        rows.append(ingest_row("ingest, large file", results["ingest_large"]))
    p = results["pyx12"]
    rows.append(
        ("pyx12 validate (first ST)", f"{p['claims']:,}", f"{p['claims_per_s']:,.0f}", "", "")
    )
    header = ("step", "claims", "claims/s", "segments/s", "peak RSS MB")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for r in [header, *rows]:
        print(
            "  ".join(
                str(v).rjust(w) if i else str(v).ljust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print(f"engine / pyx12 throughput ratio: {ratio:,.1f}x")
    if "ingest_pure_python" in results:
        speedup = run["claims_per_s"] / results["ingest_pure_python"]["claims_per_s"]
        results["ratio_compiled_to_pure"] = speedup
        print(f"compiled / pure Python throughput ratio: {speedup:,.2f}x")
    met = "met" if run["claims_per_s"] >= TARGET_CLAIMS_PER_S else "NOT met"
    print(f"target {TARGET_CLAIMS_PER_S:,} claims/s with edits and acknowledgments: {met}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
