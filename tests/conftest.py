"""Shared test helpers: paths to the fixtures and a one-call intake."""

from __future__ import annotations

import importlib
import io
import os
import pkgutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import adapters
import claims_engine
from claims_engine.front_end.ingest import IntakeOptions, IntakeSummary, MemoryAckOutput, ingest


def _import_everything() -> None:
    """Import every module of the engine and its adapters now, before any test freezes the
    clock: a module first imported under freezegun keeps freezegun's FakeDate and FakeDatetime
    as its ``date`` and ``datetime`` for good, and later tests see fake dates in real objects.
    (``workers`` is left out: importing its actors binds them to a broker.)"""
    for package in (claims_engine, adapters):
        for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(found.name)


_import_everything()

# Every test, and every process a test starts, seals PHI under these keys (made for the tests,
# never used elsewhere): workers and the CLI in subprocesses read them from the environment.
TEST_DATA_KEYS = "test-1:" + "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
TEST_LOOKUP_KEY = "bG9va3VwLWtleS1mb3ItdGhlLXRlc3RzLW9ubHktMDA="
os.environ["CLAIMS_DATA_KEYS"] = TEST_DATA_KEYS
os.environ["CLAIMS_LOOKUP_KEY"] = TEST_LOOKUP_KEY
os.environ.pop("CLAIMS_KEY_FILE", None)
os.environ.pop("CLAIMS_ENCRYPTION", None)

# CI draws the same examples every run (2,000 where a test does not set its own number), so a
# red build always reproduces; a developer's run draws new ones each time, which is where new
# failures are found.
settings.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
X12_FIXTURES = FIXTURES / "x12"
VALID_837P = X12_FIXTURES / "valid" / "837p-two-claims.edi"

RECEIVED = date(2026, 11, 2)
CREATED = datetime(2026, 11, 2, 8, 0)


@dataclass
class IntakeRun:
    summary: IntakeSummary
    acks: dict[str, str]

    def ack(self, kind: str) -> str:
        found = [text for k, text in self.acks.items() if k == kind]
        assert found, f"no {kind} written; have {sorted(self.acks)}"
        return found[0]


def run_intake(
    data: bytes,
    *,
    received_on: date = RECEIVED,
    levels: frozenset[int] = frozenset({1, 2, 3, 4, 5}),
) -> IntakeRun:
    out = MemoryAckOutput()
    options = IntakeOptions(received_on=received_on, created=CREATED, levels=levels)
    summary = ingest(io.BytesIO(data), options, out)
    acks: dict[str, str] = {}
    for (kind, _key), text in out.files.items():
        acks.setdefault(kind, text)
    return IntakeRun(summary, acks)


@pytest.fixture
def valid_837p() -> bytes:
    return VALID_837P.read_bytes()
