"""Generated NCCI tables in the layout CMS publishes, for benchmarks (issue 21).

    .venv/bin/python benchmarks/ncci_tables.py DIR [--pairs 2000000] [--codes 15000] [--seed 1]

:func:`write_tables` writes one quarter (2026Q4) of made-up tables into ``DIR``, the way CMS's
downloads unpack: the practitioner PTP edits as four tab-separated parts
``ccipra-v323r0-f1.txt`` ... ``-f4.txt`` (each with CMS's six-line banner and header, pairs in
column 1 / column 2 order, split by column 1 code), and the practitioner MUEs as
``MCR_MUE_PractitionerServices_Eff_10-01-2026.csv``. The codes are the ones the synthetic claims
bill (``claims_engine.synthetic.generator``: office visits, labs, venipuncture, imaging,
procedures) and made-up ones up to ``codes``; among the pairs, about one in 20 has a deletion
date, one in 50 modifier indicator 9, one in 200 an older row of the same pair. Load them with
``claims-engine ncci load DIR``. Nothing here is CMS data.
"""

from __future__ import annotations

import argparse
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

QUARTER = "2026Q4"
PTP_PARTS = 4
PTP_BANNER = (
    "Made-up NCCI PTP edits for claims-engine benchmarks: not CMS data.\t\t\t\t\t\t\n"
    "Column1/Column2 Edits\t\t\t\t\t\t\n"
    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\n"
    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\n"
    "\t\t\t\t*=no data\t1=allowed\t\n"
    "\t\t\t\t\t9=not applicable\t\n"
)
MUE_BANNER = (
    '"Made-up medically unlikely edits for claims-engine benchmarks: not CMS data."\n'
    '"HCPCS/\nCPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator",'
    '"MUE Rationale"\n'
)
RATIONALES = (
    "Standards of medical / surgical practice",
    "Mutually exclusive procedures",
    "Misuse of column two code with column one code",
    "CPT Manual or CMS manual coding instructions",
    "More extensive procedure",
    "HCPCS/CPT procedure code definition",
    "Laboratory panel",
    "Evaluation and management service",
)
MAI_TEXT = {
    1: "1 Line Edit",
    2: "2 Date of Service Edit: Policy",
    3: "3 Date of Service Edit: Clinical",
}
MUE_RATIONALES = (
    "Anatomic Consideration",
    "Code Descriptor / CPT Instruction",
    "Clinical: Data",
    "CMS Policy",
    "Nature of Service/Procedure",
)
# what the synthetic claims bill (claims_engine/synthetic/generator.py)
BILLED = (
    "99202 99203 99204 99205 99211 99212 99213 99214 99215 99281 99282 99283 99284 99285 "
    "99221 99222 99223 99231 99232 99233 80053 85025 80061 83036 81002 36415 71046 73030 "
    "73562 90686 90715 90471 20610 11721 17110 69210 93000 97110 J3301 J1885"
).split()


def _codes(count: int, rng: random.Random) -> list[str]:
    found = set(BILLED[:count])
    while len(found) < count:
        if rng.random() < 0.8:
            found.add(f"{rng.randrange(100, 100000):05d}")
        else:
            found.add(f"{rng.choice('ABEGJKLQ')}{rng.randrange(10000):04d}")
    return sorted(found)


def write_tables(directory: Path, pairs: int, codes: int, seed: int) -> dict[str, Any]:
    """Write ``pairs`` PTP rows among ``codes`` codes (MUEs for each of them) into
    ``directory``; return what was written: the files, the quarter, and a few pairs and MUEs
    the synthetic claims' codes meet, to hit in an adjudication."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    listed = _codes(codes, rng)
    per_first = max(1, pairs // len(listed))
    first_day = date(1996, 1, 1)
    quarter_starts = [date(y, m, 1) for y in range(1996, 2027) for m in (1, 4, 7, 10)]
    quarter_starts = [d for d in quarter_starts if d <= date(2026, 10, 1)]
    rows: list[str] = []
    left = pairs
    for n, first in enumerate(listed):
        if left <= 0:
            break
        want = per_first if n < len(listed) - 1 else left
        want = min(want, left, len(listed) - 1)
        seconds = sorted(rng.sample(listed, min(want + 1, len(listed))))
        seconds = [s for s in seconds if s != first][:want]
        for second in seconds:
            effective = rng.choice(quarter_starts)
            roll = rng.random()
            deletion = "*"
            modifier = rng.choice("0111")
            if roll < 0.05:
                later = [d for d in quarter_starts if d > effective]
                if later:
                    deletion = rng.choice(later).strftime("%Y%m%d")
            elif roll < 0.07:
                modifier = "9"
                deletion = effective.strftime("%Y%m%d")
            before = "*" if effective == first_day and rng.random() < 0.5 else ""
            rationale = rng.choice(RATIONALES)
            if roll > 0.995 and left > 1 and effective > first_day + timedelta(days=400):
                old = first_day
                rows.append(
                    f"{first}\t{second}\t\t{old:%Y%m%d}\t{effective:%Y%m%d}\t{modifier}\t{rationale}"
                )
                left -= 1
            rows.append(
                f"{first}\t{second}\t{before}\t{effective:%Y%m%d}\t{deletion}\t{modifier}\t"
                f"{rationale}"
            )
            left -= 1
    files = []
    size = (len(rows) + PTP_PARTS - 1) // PTP_PARTS
    for part in range(PTP_PARTS):
        path = directory / f"ccipra-v323r0-f{part + 1}.txt"
        chunk = rows[part * size : (part + 1) * size]
        # CMS's files end lines with CR LF
        path.write_bytes(
            (PTP_BANNER + "".join(r + "\n" for r in chunk)).encode().replace(b"\n", b"\r\n")
        )
        files.append(path.name)
    mue_lines = []
    for code in listed:
        mai = rng.choice((1, 2, 2, 3, 3, 3))
        value = rng.choice((1, 1, 1, 2, 3, 4, 6, 10, 99))
        mue_lines.append(f'"{code}","{value}","{MAI_TEXT[mai]}","{rng.choice(MUE_RATIONALES)}"\n')
    mue = directory / "MCR_MUE_PractitionerServices_Eff_10-01-2026.csv"
    mue.write_text(MUE_BANNER + "".join(mue_lines), encoding="utf-8")
    files.append(mue.name)
    billed = [c for c in BILLED if c in set(listed)]
    hits = [r.split("\t")[:2] for r in rows if r[:5] in billed and r.split("\t")[1] in billed]
    return {
        "quarter": QUARTER,
        "files": files,
        "ptp_rows": len(rows),
        "mue_codes": len(listed),
        "billed_pairs": hits[:50],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--pairs", type=int, default=2_000_000)
    parser.add_argument("--codes", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    written = write_tables(args.directory, args.pairs, args.codes, args.seed)
    print(
        f"{written['ptp_rows']:,} PTP rows and {written['mue_codes']:,} MUEs "
        f"({written['quarter']}) in {args.directory}: {', '.join(written['files'])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
