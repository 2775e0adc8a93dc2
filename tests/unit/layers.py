"""The layers of ``claims_engine``, one folder each: the pure core's packages and the edge's.
The purity, store-boundary and layout tests hold every module to its folder's rules."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "claims_engine"
CORE_PACKAGES = {
    "domain",
    "x12",
    "front_end",
    "enrollment",
    "adjudication",
    "rules",
    "synthetic",
}
EDGE_PACKAGES = {"runtime", "store", "services", "observability", "cli"}
MODULES = sorted(PACKAGE.rglob("*.py"))
CORE = [p for p in MODULES if p.relative_to(PACKAGE).parts[0] in CORE_PACKAGES]
