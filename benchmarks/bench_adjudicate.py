"""Adjudication throughput of the pure core, what a tenfold rule pack costs, and what the
NCCI edits cost with tables of CMS's size.

    .venv/bin/python benchmarks/bench_adjudicate.py [--claims 100000] [--ncci-pairs 2000000]

Generates claims from the fixture reference data and adjudicates each with the shipped rule
pack, then again with the pack grown tenfold by generated rules in other scopes (rules for
procedure codes the claims never use, so a line only meets the rules of its own scope), and
then with the shipped pack and generated NCCI tables (``benchmarks/ncci_tables.py``: about
2,000,000 practitioner PTP pairs and 15,000 MUEs among the codes the claims bill, in CMS's
layout) in force: their load time (reading and checking CMS's files, building the tables), a
worker's rebuild from the stored payload, the tables' memory in the worker, and the cost of
adjudication with them against without (``--ncci-pairs 0`` leaves this run out). One process,
one core. Prints a table and writes JSON to benchmarks/results/bench_adjudicate.json.

Each claim is adjudicated against the same starting state (no accumulators, no history): the
fixture has 314 members, so carrying a ledger through 100,000 claims would give each member a
history of hundreds of claims a year, far from a real plan's, and measure that instead.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from claims_engine.adjudication.adjudicate import AdjudicationContext, adjudicate
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.domain.model import Claim
from claims_engine.domain.ncci import NcciTables, table_from_bytes, table_to_bytes
from claims_engine.domain.reference_data import load_members, load_providers, load_reference
from claims_engine.rules.engine import RulePack, load_pack
from claims_engine.services.ncci_store import read_ncci
from claims_engine.synthetic.generator import generate_claims

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ncci_tables import write_tables  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
AS_OF = date(2026, 11, 1)


def grow_pack(source: Path, target: Path, factor: int) -> None:
    """Copy the pack, and add ``factor - 1`` copies of every scoped rule, each scoped to
    procedure codes of their own (ZZ0000 ...), which no generated claim uses."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(source.glob("*.yaml"))
    extra: list[dict[str, Any]] = []
    n = 0
    for path in files:
        (target / path.name).write_text(path.read_text())
        doc = yaml.safe_load(path.read_text()) or {}
        for rule in doc.get("rules", []) if isinstance(doc, dict) else []:
            for k in range(1, factor):
                n += 1
                clone = dict(rule)
                clone["id"] = f"{rule['id']}-GROWN-{k}"
                clone["scope"] = {"procedures": [f"ZZ{n:04d}", f"ZY{n:04d}"]}
                extra.append(clone)
    (target / "zz-grown.yaml").write_text(yaml.safe_dump({"rules": extra}, sort_keys=False))
    pack_index = target / "pack.yaml"
    if pack_index.exists():
        index = yaml.safe_load(pack_index.read_text())
        index.setdefault("files", []).append("zz-grown.yaml")
        pack_index.write_text(yaml.safe_dump(index, sort_keys=False))


def run(claims: list[Claim], pack: RulePack, ncci: NcciTables | None = None) -> dict[str, Any]:
    reference = load_reference(ROOT / "fixtures" / "reference")
    context = AdjudicationContext(
        reference=reference,
        received_on=date(2026, 11, 2),
        rules=rule_hook(pack),
        rule_pack_version=pack.version,
        ncci=ncci if ncci is not None else NcciTables(),
    )
    outcomes: Counter[str] = Counter()
    edited = 0
    started = time.perf_counter()
    for i, claim in enumerate(claims):
        decision = adjudicate(claim, context, f"P{i:08d}").decision
        outcomes[decision.outcome.value] += 1
        if ncci is not None:
            edited += any(ln.note for ln in decision.lines) or any(
                p.code == "NCCI-PTP-PAID" for p in decision.pends
            )
    seconds = time.perf_counter() - started
    return {
        "rules": len(pack.rules),
        "seconds": seconds,
        "claims_per_s": len(claims) / seconds,
        "outcomes": dict(outcomes),
        "claims_meeting_an_ncci_edit": edited,
    }


def _rss_kb() -> int:
    """This process's resident memory (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4
    except OSError:
        return 0


def ncci_tables(pairs: int, codes: int, seed: int) -> tuple[NcciTables, dict[str, Any]]:
    """Generated tables of CMS's size: read and built from CMS's layout (the load), stored as
    a payload and rebuilt from it as a worker does, with the time and memory of each."""
    with tempfile.TemporaryDirectory(prefix="bench-ncci-") as tmp:
        started = time.perf_counter()
        written = write_tables(Path(tmp), pairs, codes, seed)
        generate = time.perf_counter() - started
        started = time.perf_counter()
        read = read_ncci(Path(tmp))
        load = time.perf_counter() - started
    assert read.problems == (), read.problems[:3]
    payloads = [table_to_bytes(t) for t in read.tables]
    del read
    gc.collect()
    rss_before = _rss_kb()
    tracemalloc.start()
    started = time.perf_counter()
    tables = NcciTables.of(table_from_bytes(p) for p in payloads)
    rebuild = time.perf_counter() - started
    traced, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gc.collect()
    return tables, {
        "ptp_rows": written["ptp_rows"],
        "mue_codes": written["mue_codes"],
        "generate_files_seconds": generate,
        "load_seconds": load,
        "payload_bytes": sum(len(p) for p in payloads),
        "worker_rebuild_seconds": rebuild,
        "worker_tables_mb": traced / 1e6,
        "worker_rss_increase_mb": (_rss_kb() - rss_before) / 1e3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each pack; the best counts")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_adjudicate.json")
    parser.add_argument("--ncci-pairs", type=int, default=2_000_000, help="0: no NCCI run")
    parser.add_argument("--ncci-codes", type=int, default=15_000)
    args = parser.parse_args()

    members = load_members(ROOT / "fixtures" / "reference" / "members.csv")
    providers = load_providers(ROOT / "fixtures" / "reference" / "providers.csv")
    started = time.perf_counter()
    claims = list(generate_claims(args.seed, members, providers, as_of=AS_OF, count=args.claims))
    generated = time.perf_counter() - started

    shipped = load_pack(ROOT / "rules")
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        grow_pack(ROOT / "rules", Path(tmp), 10)
        grown_pack = load_pack(tmp)
    tables, ncci_load = (
        ncci_tables(args.ncci_pairs, args.ncci_codes, args.seed)
        if args.ncci_pairs > 0
        else (None, None)
    )
    # Best of --repeat runs each, interleaved: this machine is shared and its speed drifts.
    base = grown = with_ncci = None
    for _ in range(args.repeat):
        for name in ("shipped", "tenfold", "ncci"):
            if name == "ncci" and tables is None:
                continue
            pack = grown_pack if name == "tenfold" else shipped
            result = run(claims, pack, tables if name == "ncci" else None)
            if name == "shipped" and (base is None or result["seconds"] < base["seconds"]):
                base = result
            if name == "tenfold" and (grown is None or result["seconds"] < grown["seconds"]):
                grown = result
            if name == "ncci" and (with_ncci is None or result["seconds"] < with_ncci["seconds"]):
                with_ncci = result
    assert base is not None and grown is not None
    ratio = grown["seconds"] / base["seconds"]
    results = {
        "python": platform.python_version(),
        "claims": args.claims,
        "repeat": args.repeat,
        "generate_seconds": generated,
        "shipped_pack": base,
        "tenfold_pack": grown,
        "slowdown_tenfold": ratio,
    }
    runs = [("shipped", base), ("tenfold", grown)]
    if with_ncci is not None and ncci_load is not None:
        results["shipped_pack_with_ncci"] = with_ncci
        results["ncci_tables"] = ncci_load
        results["slowdown_ncci"] = with_ncci["seconds"] / base["seconds"]
        runs.append(("shipped + NCCI", with_ncci))
    print(f"{'pack':<16} {'rules':>6} {'claims':>9} {'seconds':>8} {'claims/s':>9}")
    for name, r in runs:
        print(
            f"{name:<16} {r['rules']:>6} {args.claims:>9,} {r['seconds']:>8.1f} "
            f"{r['claims_per_s']:>9,.0f}"
        )
    print(f"tenfold pack / shipped pack time: {ratio:.2f}x")
    if with_ncci is not None and ncci_load is not None:
        n = ncci_load
        print(
            f"NCCI tables: {n['ptp_rows']:,} PTP rows, {n['mue_codes']:,} MUEs; load (read, "
            f"check, build) {n['load_seconds']:.1f} s; payload {n['payload_bytes'] / 1e6:.1f} MB; "
            f"worker rebuild {n['worker_rebuild_seconds']:.2f} s, "
            f"{n['worker_tables_mb']:.0f} MB (tracemalloc), "
            f"RSS +{n['worker_rss_increase_mb']:.0f} MB"
        )
        print(
            f"with NCCI / without time: {results['slowdown_ncci']:.2f}x "
            f"({with_ncci['claims_meeting_an_ncci_edit']:,} claims met an edit)"
        )
        print(f"outcomes (shipped pack + NCCI): {with_ncci['outcomes']}")
    print(f"outcomes (shipped pack): {base['outcomes']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
