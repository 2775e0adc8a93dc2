"""``rules lint`` on large packs whose rules share scopes: seconds and peak memory.

    .venv/bin/python benchmarks/bench_rules_lint.py [--sizes 2000,10000,50000]
        [--timeout 300] [--module claims_engine.rules.lint] [--layout mixed|deniers]

For each size, generates a pack (five files, not timed) of that many rules over two procedure
codes, so that at 50,000 rules each scope holds 25,000 rules: conditions on ``age``,
``units``, ``charge``, the history and the diagnoses, distinct within a scope; every kind of
action; staggered dates. Planted among them, one of each per 1,000 rules: a contradiction
(same scope and condition, conflicting action), a duplicate, a shadowed rule and two versions
of one rule that overlap. Then times :func:`~claims_engine.rules.lint.lint_pack` on the pack
in a fresh process (``--module`` names another module with the same ``lint_pack``, such as
an older copy, for a before and after), killed after ``--timeout`` seconds, and reads that
process's peak RSS. "planted found" says the findings are exactly the planted ones.

Prints a table and writes JSON to ``benchmarks/results/bench_rules_lint.json``. Target:
50,000 rules in under 30 s, with every planted finding reported.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
TARGET_SECONDS = 30.0
TARGET_RULES = 50_000
SCOPES = 2
FILES = 5
PLANT_EVERY = 1_000
assert PLANT_EVERY % 5 == 0  # every planted GEN rule denies CO-204

_CONDITIONS: tuple[Callable[[int], str], ...] = (
    lambda k: f"age >= {k}",
    lambda k: f"units > {k}",
    lambda k: f"charge > {k}",
    lambda k: f'visits_in_year("97110") >= {k}',
    lambda k: f'has_diagnosis("E{k % 100:02d}{k // 100}")',
    lambda k: f'days_since_last("97110") < {k} and network == "out"',
)
_ACTIONS = (
    '{deny: {group: CO, carc: "96", rarc: N130}}',
    "{pend: {reason: review}}",
    '{cap_units: {max: 2, group: CO, carc: "119"}}',
    "{require_authorization: {}}",
    '{deny: {group: CO, carc: "204"}}',
)


def _rule(rule_id: str, scope: str, when: str | None, then: str, start: str) -> str:
    condition = f", when: '{when}'" if when is not None else ""
    return (
        f"  - {{id: {rule_id}, description: generated, effective_from: {start}, "
        f'scope: {{procedures: ["{scope}"]}}{condition}, then: {then}}}\n'
    )


def generate_pack(folder: Path, size: int) -> Counter[str]:
    """A pack of ``size`` rules (planted ones included) in ``folder``; the findings planted."""
    planted: Counter[str] = Counter()
    lines: list[str] = []
    n = 0
    while len(lines) < size:
        scope = f"1{n % SCOPES:04d}"
        k = n // SCOPES  # distinct within the scope
        when = _CONDITIONS[k % len(_CONDITIONS)](k)
        start = f"2024-{1 + k % 12:02d}-01"
        action = _ACTIONS[n % len(_ACTIONS)]
        lines.append(_rule(f"GEN{n}", scope, when, action, start))
        if n % PLANT_EVERY == PLANT_EVERY - 1 and len(lines) + 6 <= size:
            p = n // PLANT_EVERY
            # GEN-n denies CO-204 (PLANT_EVERY is a multiple of the five actions): the same
            # scope and condition denying CO-96 contradicts it, and its copy contradicts that
            lines.append(_rule(f"P-CONTRA{p}", scope, when, _ACTIONS[0], start))
            lines.append(_rule(f"P-SAME{p}", scope, when, action, start))
            planted["contradiction"] += 2
            planted["duplicate-rule"] += 1
            shadow = f"S{p:05d}"
            lines.append(_rule(f"P-ALWAYS{p}", shadow, None, _ACTIONS[4], "2024-01-01"))
            lines.append(_rule(f"P-SHADOWED{p}", shadow, "age > 3", _ACTIONS[1], "2024-02-01"))
            planted["shadowed"] += 1
            versions = f"V{p:05d}"
            lines.append(_rule(f"P-VER{p}", versions, "age > 9", _ACTIONS[1], "2024-01-01"))
            lines.append(_rule(f"P-VER{p}-V2", versions, "age > 8", _ACTIONS[1], "2024-06-01"))
            planted["date-overlap"] += 1
        n += 1
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-len(lines) // FILES)
    for f in range(FILES):
        chunk = lines[f * per_file : (f + 1) * per_file]
        (folder / f"part-{f}.yaml").write_text("rules:\n" + "".join(chunk))
    return planted


def generate_deniers_pack(folder: Path, size: int) -> Counter[str]:
    """The layout that made the shadowed check quadratic: in each scope, half the rules with
    a condition, then half that deny every line (distinct, staggered dates, all after the
    conditional ones in pack order, so nothing is shadowed). No findings are planted."""
    half = size // 2
    lines: list[str] = []
    for n in range(half):
        scope = f"1{n % SCOPES:04d}"
        lines.append(_rule(f"COND{n}", scope, f"age >= {n // SCOPES}", _ACTIONS[1], "2024-01-01"))
    for n in range(size - half):
        scope = f"1{n % SCOPES:04d}"
        start = (date(2000, 1, 1) + timedelta(days=n // SCOPES)).isoformat()
        lines.append(_rule(f"DENY{n}", scope, None, _ACTIONS[4], start))
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-len(lines) // FILES)
    for f in range(FILES):
        chunk = lines[f * per_file : (f + 1) * per_file]
        (folder / f"part-{f}.yaml").write_text("rules:\n" + "".join(chunk))
    return Counter()


def _lint_child(module: str, pack: str, conn: Connection) -> None:
    lint_pack = importlib.import_module(module).lint_pack
    start = time.perf_counter()
    findings = lint_pack(pack)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send((seconds, peak, dict(Counter(f.code for f in findings))))
    conn.close()


def measure(
    module: str, pack: Path, timeout: float
) -> tuple[float | None, float | None, dict[str, int]]:
    """(seconds, peak RSS MB, findings by code) of one lint in a fresh process; ``None`` for
    a run killed at ``timeout``."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_lint_child, args=(module, str(pack), send))
    child.start()
    send.close()
    if not receive.poll(timeout):
        child.kill()
        child.join()
        return None, None, {}
    seconds, peak, codes = receive.recv()
    child.join()
    return seconds, peak, codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,50000", help="rule counts, comma separated")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per lint")
    parser.add_argument("--module", default="claims_engine.rules.lint")
    parser.add_argument(
        "--layout",
        choices=("mixed", "deniers"),
        default="mixed",
        help="mixed: the planted findings among every kind of rule; deniers: half conditional "
        "rules, then half that deny every line (generate_deniers_pack)",
    )
    args = parser.parse_args()
    generate = generate_pack if args.layout == "mixed" else generate_deniers_pack
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    print(
        f"{'rules':>7} {'seconds':>8} {'rules/s':>8} {'peak RSS MB':>11} {'findings':>8} "
        f"{'planted found':>13}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-rules-lint-") as tmp:
        for size in sizes:
            pack = Path(tmp) / f"pack-{size}"
            planted = generate(pack, size)
            seconds, peak, codes = measure(args.module, pack, args.timeout)
            found = codes == dict(planted)
            row: dict[str, Any] = {
                "rules": size,
                "seconds": round(seconds, 2) if seconds is not None else None,
                "timed_out_after": None if seconds is not None else args.timeout,
                "rules_per_second": round(size / seconds) if seconds else None,
                "peak_rss_mb": round(peak, 1) if peak is not None else None,
                "findings": codes,
                "planted": dict(planted),
                "planted_found": found if seconds is not None else None,
            }
            rows.append(row)
            shown = f"{seconds:>8.2f}" if seconds is not None else f">{args.timeout:>7.0f}"
            print(
                f"{size:>7,} {shown} {row['rules_per_second'] or '-':>8} "
                f"{row['peak_rss_mb'] or '-':>11} {sum(codes.values()):>8,} "
                f"{'-' if seconds is None else 'yes' if found else 'NO':>13}"
            )
    at_target = [r for r in rows if r["rules"] == TARGET_RULES]
    if at_target:
        seconds = at_target[0]["seconds"]
        verdict = "meets" if seconds is not None and seconds < TARGET_SECONDS else "misses"
        print(f"{TARGET_RULES:,} rules: {verdict} the {TARGET_SECONDS:.0f} s target")
    result = {
        "module": args.module,
        "layout": args.layout,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "target_seconds_at_50k": TARGET_SECONDS,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "bench_rules_lint.json" if args.layout == "mixed" else "bench_rules_lint_deniers.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
