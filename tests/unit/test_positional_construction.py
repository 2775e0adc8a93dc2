"""Model objects built with positional arguments name each argument's field, and rightly.

Compiled code (see claims_engine/runtime/compiled.py) calls the model's dataclasses positionally on
the hot path: with keywords it would build a dict for every object. Many fields share a type (a
dozen ``str`` on a claim), so mypy cannot see two swapped arguments; the rule here is that such a
call puts each argument on its own line, ending with ``# <field name>``, and this test checks every
such comment against the dataclass's field order.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import tokenize
from pathlib import Path

import pytest

from claims_engine.domain import model
from claims_engine.runtime import compiled

ROOT = Path(__file__).resolve().parents[2]
MODEL_CLASSES = {
    name: [f.name for f in dataclasses.fields(cls)]
    for name, cls in vars(model).items()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
}
NAMED_FROM = 6  # a call with this many positional arguments names each of them


def _comments(source: str) -> dict[int, str]:
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string.lstrip("#").strip()
    return found


def problems(source: str, where: str) -> tuple[int, list[str]]:
    """How many positional model constructions ``source`` holds, and what is wrong with them."""
    comments = _comments(source)
    checked, found = 0, []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        fields = MODEL_CLASSES.get(node.func.id)
        if fields is None or len(node.args) < NAMED_FROM:
            continue
        checked += 1
        for position, arg in enumerate(node.args):
            want = fields[position] if position < len(fields) else "(no such field)"
            said = comments.get(arg.end_lineno or 0, "")
            if said != want:
                found.append(
                    f"{where}:{arg.lineno}: argument {position + 1} of {node.func.id}(...) "
                    f"is the field {want!r}, the comment says {said!r}"
                )
    return checked, found


@pytest.mark.parametrize("name", compiled.COMPILED)
def test_positional_arguments_name_their_fields(name: str) -> None:
    path = compiled.source_path(ROOT, name)
    _, found = problems(path.read_text(), path.name)
    assert found == []


def test_the_reader_is_checked_and_a_swap_is_found() -> None:
    source = compiled.source_path(ROOT, "claims_engine.x12.reader837").read_text()
    checked, found = problems(source, "reader837.py")
    assert checked >= 5 and found == []  # Claim, Source, ServiceLine, Provider, Person
    swapped = source.replace("  # first_name\n", "  # XX\n", 1)
    swapped = swapped.replace("  # last_name\n", "  # first_name\n", 1).replace(
        "  # XX\n", "  # last_name\n", 1
    )
    _, found = problems(swapped, "reader837.py")
    assert len(found) == 2 and "'last_name'" in found[0]
