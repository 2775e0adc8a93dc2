"""The whole command surface, given bad arguments and bad environment values: every command and
subcommand ends in one line that says what is wrong and a non-zero exit, never a traceback.

The commands are found in the parser itself, so a command added later is covered too. Each
option that takes a value is given values of its kind that no command may accept (a number
that is no number, one out of any range, a date that is none, a path that does not exist, a
choice not offered, bytes that are no text); each positional likewise; and every command is
run with each variable of the environment set to a value that is none of its kind."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from claims_engine.cli.main import build_parser, main

# commands that serve until stopped: only ever given arguments that must stop them at once
SERVING = {("serve",), ("worker",)}
# what a user may type where a value goes, that no command may take
BAD_NUMBERS = ["abc", "-7", "99999999999999999999999", "1e999", "\u00b2"]
BAD_DATES = ["2026-13-45", "0001-01-01", "yesterday"]
BAD_PATHS = ["/dev/null/claims-engine"]  # under a file: no one, root included, makes it
BAD_TEXT = ["\udcff"]  # an undecodable byte, as argv holds it


def _leaves() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    def walk(
        path: tuple[str, ...], parser: argparse.ArgumentParser
    ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
            return
        for name, child in subs[0].choices.items():
            yield from walk((*path, name), child)

    yield from walk((), build_parser())


LEAVES = dict(_leaves())


def _required(parser: argparse.ArgumentParser, tmp: Path) -> list[str]:
    """Arguments that satisfy the parser's required options and positionals, pointing at
    things that do not exist (so that the command still has something to refuse)."""
    args: list[str] = []
    for action in parser._actions:
        if action.option_strings and action.required:
            args += [action.option_strings[0], _plausible(action, tmp)]
    for action in parser._actions:
        if not action.option_strings and action.nargs not in ("?", "*", argparse.SUPPRESS):
            if isinstance(action, argparse._SubParsersAction):
                continue
            args.append(_plausible(action, tmp))
    return args


def _plausible(action: argparse.Action, tmp: Path) -> str:
    if action.choices:
        return str(next(iter(action.choices)))
    if action.type is int:
        return "1"
    return str(tmp / f"missing-{action.dest}")


def _bad_values(action: argparse.Action) -> list[str]:
    if action.choices:
        return ["no-such-choice"]
    kind = getattr(action.type, "__name__", "")
    if action.type in (int, float) or "int" in kind or "port" in kind or "count" in kind:
        return BAD_NUMBERS
    if "date" in kind:
        return BAD_DATES
    if action.type is Path or "path" in kind or "dir" in kind or "file" in kind:
        return BAD_PATHS + BAD_TEXT
    return []


def _cases(tmp: Path) -> Iterator[list[str]]:
    """Each command's required arguments with one option given a bad value."""
    for path, parser in LEAVES.items():
        base = [*path, *_required(parser, tmp)]
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and action.dest != "help":
                for value in _bad_values(action):
                    yield [*base, action.option_strings[0], value]


ENVIRONMENTS = {
    "CLAIMS_DATABASE_URL": "garbage",
    "CLAIMS_REDIS_URL": "notaurl",
    "CLAIMS_SNIP_LEVELS": "banana",
    "CLAIMS_RULES_DIR": "/dev/null/rules",
    "CLAIMS_KEY_FILE": "/dev/null/keys.json",
    "CLAIMS_DATA_KEYS": "not-a-key",
    "CLAIMS_LOOKUP_KEY": "!!",
    "CLAIMS_LOG_LEVEL": "loud",
    "CLAIMS_ENCRYPTION": "maybe",
}


def _ran(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(argv: list[str], code: int, err: str) -> None:
    where = f"claims-engine {' '.join(argv)}"
    assert "Traceback" not in err, f"{where}: {err}"
    assert code != 0, f"{where}: exit 0"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, f"{where}: exit {code} and nothing said"
    if lines[0].startswith("usage:"):  # argparse: its usage, then its one error line
        assert lines[-1].startswith("claims-engine") and ": error: " in lines[-1], err
    else:
        assert len(lines) == 1, f"{where}: more than one line: {err}"
        assert lines[0].startswith("claims-engine"), f"{where}: {err}"


def test_every_command_refuses_bad_arguments_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    tried = 0
    for argv in _cases(tmp_path):
        code, _out, err = _ran(argv, capsys)
        _one_line_error(argv, code, err)
        tried += 1
    assert tried > 50


@pytest.mark.parametrize("variable", sorted(ENVIRONMENTS))
def test_every_command_refuses_a_bad_environment_in_one_line(
    variable: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    monkeypatch.setenv(variable, ENVIRONMENTS[variable])
    for path, parser in LEAVES.items():
        if path in SERVING or path == ("demo",) or path[:2] == ("fixtures", "generate"):
            continue
        argv = [*path, *_required(parser, tmp_path)]
        code, _out, err = _ran(argv, capsys)
        assert "Traceback" not in err, f"{variable}: claims-engine {' '.join(argv)}: {err}"
        if code != 0:
            _one_line_error(argv, code, err)


def test_half_a_key_configuration_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lookup key set without data keys was ignored: the store's key file was used."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    monkeypatch.delenv("CLAIMS_DATA_KEYS")
    code, _out, err = _ran(["stats"], capsys)
    assert code == 2 and "CLAIMS_LOOKUP_KEY is set but CLAIMS_DATA_KEYS is not" in err
    _one_line_error(["stats"], code, err)


def test_the_version_is_told(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _err = _ran(["--version"], capsys)
    assert code == 0 and out.strip() == f"claims-engine {version('claims-engine')}"


def test_a_worker_does_not_start_on_a_rules_folder_with_no_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to start, and fail every job it took."""
    from tests.e2e.cli_support import REFERENCE

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    assert _ran(["db", "upgrade"], capsys)[0] == 0
    assert _ran(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    empty = tmp_path / "rules"
    empty.mkdir()
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(empty))
    monkeypatch.setenv("CLAIMS_REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    code, _out, err = _ran(["worker", "--metrics-port", "0"], capsys)
    _one_line_error(["worker"], code, err)
    assert str(empty) in err and "no rule" in err
