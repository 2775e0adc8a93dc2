"""The engine against pyx12 on every implementation-guide structure fault (issue 17).

    .venv/bin/python benchmarks/guide_agreement.py [--transactions 837p,837i,837d,276]
        [--kinds bad-code,...] [--uncached] [--list] [--output PATH]

Runs each mutant of :mod:`tests.unit.guide_mutants` (one structure fault each, made from a
valid 837P, 837I, 837D and 276 and their guide tables) through pyx12 4.0.0 and through the
engine (the 837 intake with its 999 and 277CA; the 276 reader and its 999), and counts per
transaction and kind:

- ``mutants``; ``faults``: the mutants pyx12 reports an error for (837P, 837I), or all of them
  where pyx12 has no map (837D, 276: the guide table is the expected answer; shown ``table``);
- ``rejects``: the engine rejects the claim (277CA), the transaction set or group (999) or the
  interchange (TA1);
- ``agree``: a fault the engine rejects and whose segment (IK3 id and position) and element
  (IK4, for an element fault) its 999 names; ``unnamed``: rejected without naming them;
  ``missed``: a fault the engine accepts; ``extra``: the engine rejects what pyx12 passes;
  ``both ok``: neither reports anything;
- ``seg named`` and ``elem named``: of the faults.

pyx12's answers are cached in memory by the mutant's hash, and its XML maps are parsed once
(``--uncached`` parses them for every mutant, as pyx12 does by itself: about ten times
slower). Prints the table and writes JSON to ``benchmarks/results/guide_agreement.json``
(totals, the table, one record per mutant). The test form is
``tests/unit/test_guide_mutations.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.guide_mutants import (  # noqa: E402
    BASES,
    KINDS,
    PYX12_MAPPED,
    Mutant,
    Outcome,
    cached_pyx12_maps,
    engine_answer,
    mutants,
    oracle_errors,
)

RESULTS = ROOT / "benchmarks" / "results"
CATEGORIES = ("agree", "unnamed", "missed", "extra", "both-accept")
COLUMNS = (
    "transaction",
    "kind",
    "mutants",
    "faults",
    "rejects",
    "agree",
    "unnamed",
    "missed",
    "extra",
    "both ok",
    "seg named",
    "elem named",
)


def _known() -> tuple[dict[tuple[str, str, str], str], dict[tuple[str, str, str], str]]:
    """The test's known disagreements (pyx12 errors the guide does not support) and the
    faults of the guide pyx12 is known to miss, each with its reason."""
    from tests.unit.test_guide_mutations import KNOWN_DISAGREEMENTS, PYX12_MISSES

    return KNOWN_DISAGREEMENTS, PYX12_MISSES


def _key(o: Outcome) -> tuple[str, str, str]:
    return o.mutant.transaction, o.mutant.kind, o.mutant.target


def _row(transaction: str, kind: str, found: Sequence[Outcome]) -> dict[str, Any]:
    categories = Counter(o.category for o in found)
    faults = [o for o in found if o.fault]
    return {
        "transaction": transaction,
        "kind": kind,
        "oracle": "pyx12"
        if transaction in PYX12_MAPPED
        else "table"
        if transaction in BASES
        else "mixed",
        "mutants": len(found),
        "faults": len(faults),
        "rejects": sum(o.answer.rejected for o in found),
        **{c: categories[c] for c in CATEGORIES},
        "segment_named": sum(o.named_segment for o in faults),
        "element_named": sum(o.named_element for o in faults if o.mutant.element),
        "element_faults": sum(1 for o in faults if o.mutant.element),
        "rejected_by": dict(Counter(o.answer.how for o in found if o.answer.rejected)),
    }


def _cells(row: dict[str, Any]) -> list[str]:
    faults = str(row["faults"]) if row["oracle"] == "pyx12" else f"{row['oracle']} {row['faults']}"
    return [
        row["transaction"],
        row["kind"],
        str(row["mutants"]),
        faults,
        str(row["rejects"]),
        str(row["agree"]),
        str(row["unnamed"]),
        str(row["missed"]),
        str(row["extra"]),
        str(row["both-accept"]),
        f"{row['segment_named']}/{row['faults']}",
        f"{row['element_named']}/{row['element_faults']}",
    ]


def _print_table(rows: list[dict[str, Any]]) -> None:
    lines = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    for n, line in enumerate(lines):
        print(
            "  ".join(
                cell.rjust(w) if i > 1 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _record(
    o: Outcome, known: dict[tuple[str, str, str], str], misses: dict[tuple[str, str, str], str]
) -> dict[str, Any]:
    m = o.mutant
    return {
        "transaction": m.transaction,
        "kind": m.kind,
        "loop": m.loop,
        "segment": m.segment,
        "position": m.position,
        "element": m.element,
        "unplaced": m.unplaced,
        "detail": m.detail,
        "sha256": m.digest,
        "bytes": len(m.data),
        "pyx12_errors": None if o.oracle is None else len(o.oracle),
        "pyx12_first": next(iter(o.oracle or ()), None),
        "fault": o.fault,
        "engine": o.answer.how or "accepts",
        "engine_note": o.answer.note[:300],
        "ik3": [
            {
                "segment": e.segment,
                "position": e.position,
                "loop": e.loop,
                "code": e.code,
                "ik4": [list(x) for x in e.elements],
            }
            for e in o.answer.errors[:10]
        ],
        "segment_named": o.named_segment,
        "element_named": o.named_element,
        "category": o.category,
        "known_disagreement": known.get(_key(o)),
        "pyx12_misses": misses.get(_key(o)) if o.oracle == () else None,
    }


@contextlib.contextmanager
def _maybe_cached(uncached: bool) -> Iterator[None]:
    if uncached:
        yield
    else:
        with cached_pyx12_maps():
            yield


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", default=",".join(BASES))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--uncached", action="store_true", help="parse pyx12's maps each time")
    parser.add_argument("--list", action="store_true", help="print every disagreement")
    parser.add_argument("--output", type=Path, default=RESULTS / "guide_agreement.json")
    args = parser.parse_args(argv)
    transactions = [t for t in args.transactions.split(",") if t]
    kinds = [k for k in args.kinds.split(",") if k]
    for t in transactions:
        if t not in BASES:
            parser.error(f"unknown transaction {t!r}; known: {', '.join(BASES)}")
    for k in kinds:
        if k not in KINDS:
            parser.error(f"unknown kind {k!r}; known: {', '.join(KINDS)}")
    known, misses = _known()

    started = time.perf_counter()
    chosen: dict[str, list[Mutant]] = {
        t: [m for m in mutants(t) if m.kind in kinds] for t in transactions
    }
    made = time.perf_counter() - started
    oracle_seconds = engine_seconds = 0.0
    found: dict[str, list[Outcome]] = {}
    with _maybe_cached(args.uncached):
        for t, items in chosen.items():
            found[t] = []
            for m in items:
                t0 = time.perf_counter()
                oracle = oracle_errors(m)
                t1 = time.perf_counter()
                answer = engine_answer(t, m.data)
                t2 = time.perf_counter()
                oracle_seconds += t1 - t0
                engine_seconds += t2 - t1
                found[t].append(Outcome(m, oracle, answer))
    total = time.perf_counter() - started

    rows = [
        _row(t, k, [o for o in found[t] if o.mutant.kind == k]) for t in transactions for k in kinds
    ]
    totals = [_row(t, "(all)", found[t]) for t in transactions]
    everything = [o for t in transactions for o in found[t]]
    grand = _row("all", "(all)", everything)
    _print_table(
        [
            r
            for t in transactions
            for r in [
                *(x for x in rows if x["transaction"] == t),
                *(x for x in totals if x["transaction"] == t),
            ]
        ]
        + [grand]
    )
    print()
    for t in transactions:
        by = Counter(o.answer.how for o in found[t] if o.answer.rejected)
        source = "pyx12" if t in PYX12_MAPPED else "the table (pyx12 has no map)"
        print(
            f"{t}: expected answer from {source}; engine rejections by "
            + ", ".join(f"{k} {v}" for k, v in sorted(by.items()))
        )
    wrong = [o for o in everything if o.category in ("missed", "unnamed", "extra")]
    print(
        f"\n{len(everything)} mutants, {grand['faults']} faults, {grand['rejects']} engine "
        f"rejections, {grand['agree']} agree, {grand['unnamed']} rejected unnamed, "
        f"{grand['missed']} missed, {grand['extra']} extra; known disagreements: "
        f"{sum(1 for o in everything if _key(o) in known)}"
    )
    from tests.unit.test_guide_mutations import NOT_FAULTS

    valid = [o for o in everything if _key(o) in NOT_FAULTS]
    print(
        f"of the missed, {sum(o.category == 'missed' for o in valid)} are valid documents the "
        f"mutant maker counts as faults (NOT_FAULTS in the test, each explained)"
    )
    missed_by_pyx12 = [o for o in everything if o.oracle == ()]
    print(
        f"pyx12 passes {len(missed_by_pyx12)} mutants, all faults of the guide it is known to "
        f"miss: {all(_key(o) in misses for o in missed_by_pyx12)} (engine rejects "
        f"{sum(o.answer.rejected for o in missed_by_pyx12)}; see PYX12_MISSES in the test)"
    )
    print(
        f"time: {total:.1f} s (mutants {made:.2f} s, pyx12 {oracle_seconds:.1f} s"
        f"{' uncached' if args.uncached else ', maps parsed once'}, engine {engine_seconds:.1f} s)"
    )
    if args.list:
        print()
        for o in wrong:
            print(f"{o.category:8} {o.explain()}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "guide_agreement",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "pyx12_maps_cached": not args.uncached,
        "seconds": {
            "total": round(total, 2),
            "mutants": round(made, 3),
            "pyx12": round(oracle_seconds, 2),
            "engine": round(engine_seconds, 2),
        },
        "bases": {t: str(BASES[t].relative_to(ROOT)) for t in transactions},
        "oracle": {t: "pyx12" if t in PYX12_MAPPED else "table" for t in transactions},
        "totals": grand,
        "by_transaction": totals,
        "by_transaction_kind": rows,
        "known_disagreements": [
            {"transaction": t, "kind": k, "target": g, "why": why}
            for (t, k, g), why in known.items()
        ],
        "pyx12_misses": [
            {"transaction": t, "kind": k, "target": g, "why": why}
            for (t, k, g), why in misses.items()
        ],
        "mutants": [_record(o, known, misses) for o in everything],
    }
    args.output.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
