"""The layers of ``claims_engine``: the edge modules and packages, and the core (the rest),
which the purity and store-boundary tests hold to their rules (see STYLE.md)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "claims_engine"
EDGE_MODULES = {
    "api_cli.py",
    "audit_cli.py",
    "cli.py",
    "clock.py",
    "compiled.py",
    "demo.py",
    "demo_api.py",
    "fixtures_cli.py",
    "observability/__init__.py",
    "observability/logs.py",
    "observability/metrics.py",
    "pipeline_cli.py",
    "rules_cli.py",
    "simulate_cli.py",
}
EDGE_PACKAGES = {"store", "services"}
CORE = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if p.relative_to(PACKAGE).as_posix() not in EDGE_MODULES
    and p.relative_to(PACKAGE).parts[0] not in EDGE_PACKAGES
)
