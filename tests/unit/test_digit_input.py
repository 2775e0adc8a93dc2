"""Numbers that come from outside (settings, arguments, reference files, file names) are ASCII
digits: ``str.isdigit()`` also takes characters such as "²", which ``int()`` refuses, and
``int()`` reads a fullwidth or Arabic-Indic digit as its value. (The HTTP API's paths and
headers are tested in ``tests/integration/test_api_submission.py``, X12 envelopes in
``tests/unit/test_x12_276_277.py``.)"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import workers.settings
from adapters.api import app as api_app
from claims_engine.cli.main import _parse_mix
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.npi import npi_is_valid
from claims_engine.domain.reference_data import load_providers
from claims_engine.front_end.edits import parse_levels
from claims_engine.observability.metrics import RUN_DIR_PREFIX, make_run_dir
from claims_engine.store.vault import current_vault
from tests.conftest import ROOT

SUPERSCRIPT_TWO = "\u00b2"
FULLWIDTH_SEVEN = "\uff17"


def test_an_npi_of_other_digits_is_not_valid() -> None:
    assert npi_is_valid("1234567893")
    assert not npi_is_valid(f"12345678{SUPERSCRIPT_TWO}3")
    assert not npi_is_valid(f"{FULLWIDTH_SEVEN}234567893")


def test_snip_levels_are_ascii_digits() -> None:
    assert parse_levels("1-3,5") == frozenset({1, 2, 3, 5})
    for text in (FULLWIDTH_SEVEN, f"1-{SUPERSCRIPT_TWO}"):
        with pytest.raises(ValueError, match="is not a SNIP level or range"):
            parse_levels(text)


def test_a_claim_mix_is_ascii_digits() -> None:
    assert _parse_mix("P:70, I:20") == {"P": 70, "I": 20}
    for text in (f"P:{FULLWIDTH_SEVEN}0", f"P:{SUPERSCRIPT_TWO}"):
        with pytest.raises(argparse.ArgumentTypeError, match="KIND:WEIGHT"):
            _parse_mix(text)


@pytest.mark.parametrize(
    ("column", "good", "bad"),
    [
        ("tin", "312975124", f"31297512{SUPERSCRIPT_TWO}"),
        ("zip9", "431334296", f"43133429{FULLWIDTH_SEVEN}"),
        ("npi", "2750062418", f"27500624{SUPERSCRIPT_TWO}8"),
    ],
)
def test_reference_digits_are_ascii(tmp_path: Path, column: str, good: str, bad: str) -> None:
    source = (ROOT / "fixtures" / "reference" / "providers.csv").read_text()
    assert source.splitlines()[2].count(good) == 1  # first met on line 3
    path = tmp_path / "providers.csv"
    path.write_text(source.replace(good, bad, 1), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=f"line 3, column '{column}'"):
        load_providers(path)


def test_a_metrics_directory_named_with_other_digits_is_no_process_of_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stray = tmp_path / f"{RUN_DIR_PREFIX}{SUPERSCRIPT_TWO}-x"
    stray.mkdir()
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    made = make_run_dir()
    assert made.parent == tmp_path and made.is_dir()
    assert stray.is_dir()  # left alone: no pid of a run that ended


def _unreachable(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("a bad setting must be refused before anything is set up")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLAIMS_API_MAX_BODY", SUPERSCRIPT_TWO),
        ("CLAIMS_API_MAX_BODY", "9" * 5000),  # int() refuses more than 4,300 digits
        ("CLAIMS_API_MAX_INQUIRIES", SUPERSCRIPT_TWO),
        ("CLAIMS_API_MAX_INQUIRIES", "0"),
        ("CLAIMS_API_MAX_INQUIRIES", "ten"),
    ],
)
def test_api_limits_from_the_environment_are_whole_numbers(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setattr(api_app, "configure_logging", _unreachable)
    monkeypatch.setattr(workers.settings, "environment", _unreachable)
    with pytest.raises(ConfigurationError, match=f"{name} must be a number"):
        api_app.app_from_env()


def test_api_limits_from_the_environment_reach_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMS_API_MAX_BODY", "1000")
    monkeypatch.setenv("CLAIMS_API_MAX_INQUIRIES", "3")
    settings = SimpleNamespace(database_url="sqlite://")
    monkeypatch.setattr(api_app, "configure_logging", lambda: None)
    process = SimpleNamespace(settings=settings, vault=current_vault())
    monkeypatch.setattr(workers.settings, "environment", lambda: process)
    monkeypatch.setattr(workers.settings, "use_environment", lambda env: None)
    monkeypatch.setattr(api_app, "engine_for", lambda *args, **kwargs: None)
    monkeypatch.setattr(api_app, "create_app", lambda config: config)
    config: Any = api_app.app_from_env()
    assert (config.max_body_bytes, config.max_inquiries) == (1000, 3)
    monkeypatch.delenv("CLAIMS_API_MAX_INQUIRIES")
    config = api_app.app_from_env()
    assert config.max_inquiries == 100
