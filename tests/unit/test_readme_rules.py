"""The README lists every situational rule the structure walker checks, as the code has them."""

from __future__ import annotations

from pathlib import Path

from claims_engine.x12.situational import RULES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_lists_every_situational_rule() -> None:
    start = README.index("## What the front door checks")
    section = README[start : README.index("\n## ", start + 1)]
    rows = [line for line in section.splitlines() if line.startswith("| `SITUATIONAL-")]
    assert [row.split("`")[1] for row in rows] == [rule.code for rule in RULES]
    for row, rule in zip(rows, RULES, strict=True):
        assert rule.text in row and f"| {rule.segment_error} |" in row
