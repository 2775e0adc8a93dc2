"""Adjudication throughput of the pure core, and what a tenfold rule pack costs.

    .venv/bin/python benchmarks/bench_adjudicate.py [--claims 100000]

Generates claims from the fixture reference data and adjudicates each with the shipped rule
pack, then again with the pack grown tenfold by generated rules in other scopes (rules for
procedure codes the claims never use, so a line only meets the rules of its own scope). One
process, one core. Prints a table and writes JSON to benchmarks/results/bench_adjudicate.json.

Each claim is adjudicated against the same starting state (no accumulators, no history): the
fixture has 314 members, so carrying a ledger through 100,000 claims would give each member a
history of hundreds of claims a year, far from a real plan's, and measure that instead.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from claims_engine.adjudication.adjudicate import AdjudicationContext, adjudicate
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.domain.model import Claim
from claims_engine.domain.reference_data import load_members, load_providers, load_reference
from claims_engine.rules.engine import RulePack, load_pack
from claims_engine.synthetic.generator import generate_claims

ROOT = Path(__file__).resolve().parent.parent
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


def run(claims: list[Claim], pack: RulePack) -> dict[str, Any]:
    reference = load_reference(ROOT / "fixtures" / "reference")
    context = AdjudicationContext(
        reference=reference,
        received_on=date(2026, 11, 2),
        rules=rule_hook(pack),
        rule_pack_version=pack.version,
    )
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    for i, claim in enumerate(claims):
        outcomes[adjudicate(claim, context, f"P{i:08d}").decision.outcome.value] += 1
    seconds = time.perf_counter() - started
    return {
        "rules": len(pack.rules),
        "seconds": seconds,
        "claims_per_s": len(claims) / seconds,
        "outcomes": dict(outcomes),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each pack; the best counts")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_adjudicate.json")
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
    # Best of --repeat runs each, interleaved: this machine is shared and its speed drifts.
    base = grown = None
    for _ in range(args.repeat):
        for pack in (shipped, grown_pack):
            result = run(claims, pack)
            if pack is shipped and (base is None or result["seconds"] < base["seconds"]):
                base = result
            if pack is grown_pack and (grown is None or result["seconds"] < grown["seconds"]):
                grown = result
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
    print(f"{'pack':<16} {'rules':>6} {'claims':>9} {'seconds':>8} {'claims/s':>9}")
    for name, r in (("shipped", base), ("tenfold", grown)):
        print(
            f"{name:<16} {r['rules']:>6} {args.claims:>9,} {r['seconds']:>8.1f} "
            f"{r['claims_per_s']:>9,.0f}"
        )
    print(f"tenfold pack / shipped pack time: {ratio:.2f}x")
    print(f"outcomes (shipped pack): {base['outcomes']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
