"""The intake's hot path compiled with mypyc: it runs compiled when built, never from a build
older than its source, and it answers exactly as the pure-Python source does."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest

from claims_engine.runtime import compiled

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_RECORD = ROOT / "claims_engine" / compiled.RECORD
BUILT = PACKAGE_RECORD.exists()
NOT_BUILT = "not compiled (CLAIMS_ENGINE_COMPILE=0, or the build failed: pip's log says why)"


def _copy_sources(root: Path) -> None:
    for name in (*compiled.COMPILED, *compiled.COMPILED_AGAINST):
        source = compiled.source_path(ROOT, name)
        target = root / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def test_an_edited_source_is_stale(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    everything = [*compiled.COMPILED, *compiled.COMPILED_AGAINST]
    assert compiled.stale_sources(tmp_path) == everything  # no record: no build
    record = tmp_path / "claims_engine" / compiled.RECORD
    record.write_text(json.dumps(compiled.source_digests(tmp_path)))
    assert compiled.stale_sources(tmp_path) == []
    reader = compiled.source_path(tmp_path, "claims_engine.x12.reader837")
    reader.write_text(reader.read_text() + "\n# edited after the build\n")
    model = compiled.source_path(tmp_path, "claims_engine.domain.model")
    model.write_text(model.read_text() + "\n# compiled against, edited\n")
    assert compiled.stale_sources(tmp_path) == [
        "claims_engine.domain.model",
        "claims_engine.x12.reader837",
    ]
    reader.unlink()
    assert "claims_engine.x12.reader837" in compiled.stale_sources(tmp_path)


def test_a_build_is_whole_or_not_used(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    every = [*compiled.COMPILED, compiled.SHARED_LIBRARY]
    assert compiled.missing_extensions(tmp_path) == every
    for name in every:
        compiled.extension_paths(tmp_path, name)[0].write_bytes(b"")
    assert compiled.missing_extensions(tmp_path) == []
    compiled.extension_paths(tmp_path, "claims_engine.x12.reader837")[0].unlink()
    assert compiled.missing_extensions(tmp_path) == ["claims_engine.x12.reader837"]


def _imported(name: str) -> set[str]:
    """The claims_engine modules (or packages) that module ``name`` imports."""
    found = set()
    for node in ast.walk(ast.parse(compiled.source_path(ROOT, name).read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for imported in names:
            parts = imported.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                if parts[0] == "claims_engine" and compiled.source_path(ROOT, candidate).exists():
                    found.add(candidate)
    return found


def test_every_module_a_build_depends_on_is_recorded() -> None:
    """The engine modules the compiled ones import, and theirs, are all compiled or listed in
    COMPILED_AGAINST: an edit to any of them makes a build stale."""
    listed = {*compiled.COMPILED, *compiled.COMPILED_AGAINST}
    seen: set[str] = set()
    todo = list(compiled.COMPILED)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imported(name) - seen)
    assert "claims_engine.domain.model" in seen
    assert seen - listed == set()


def test_the_test_run_uses_the_build() -> None:
    """CI installs the compiled build; a build older than its sources must not be what is
    tested (``make test`` rebuilds it; ``CLAIMS_ENGINE_PURE=1`` tests the sources alone)."""
    if os.environ.get("CI"):
        assert BUILT, "CI installs the compiled build: claims_engine/_compiled.json is missing"
    if not BUILT:
        pytest.skip(NOT_BUILT)
    if os.environ.get(compiled.PURE_VARIABLE, "") not in ("", "0"):
        pytest.skip(f"{compiled.PURE_VARIABLE} is set")
    stale = compiled.stale_sources(ROOT)
    assert stale == [], f"{', '.join(stale)} changed after the build: run `make .venv/.installed`"
    assert compiled.missing_extensions(ROOT) == []
    assert compiled.running_compiled()
    import claims_engine.x12.reader837 as reader

    assert not reader.__file__.endswith(".py")


def _mutations(valid: bytes, count: int, seed: int) -> list[bytes]:
    """Deterministic damage to a valid 837: bytes flipped, cut, inserted; segments repeated."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 3)):
            if not data:
                break
            at = rng.randrange(len(data))
            kind = rng.choice(["flip", "delete", "insert", "dup", "truncate"])
            if kind == "flip":
                data[at] = rng.randrange(256)
            elif kind == "delete":
                del data[at : at + rng.randint(1, 40)]
            elif kind == "insert":
                data[at:at] = rng.choice([b"*", b"~", b":", b"^", b"\n", b"XX", b"\x00"])
            elif kind == "dup":
                segments = [s for s in bytes(data).split(b"~\n") if s]
                i = rng.randrange(len(segments))
                segments.insert(i, segments[i])
                data = bytearray(b"".join(s + b"~\n" for s in segments))
            else:
                data = data[:at]
        found.append(bytes(data))
    return found


def answers(inputs: Path) -> dict[str, str]:
    """Each input file's summary and acknowledgments (an 837), or what its reader made of it
    (a 270, 276 or 834, by the name's first three characters), as digests (run in a child
    process)."""
    from claims_engine.cli.main import summary_json
    from claims_engine.front_end.ingest import IntakeOptions, MemoryAckOutput, ingest
    from claims_engine.x12.reader270 import read_270
    from claims_engine.x12.reader276 import read_276
    from claims_engine.x12.reader834 import read_834

    readers: dict[str, Callable[[bytes], object]] = {
        "270": read_270,
        "276": read_276,
        "834": read_834,
    }
    options = IntakeOptions(received_on=date(2026, 11, 2), created=datetime(2026, 11, 2, 8, 0))
    found = {}
    for path in sorted(inputs.iterdir()):
        read = readers.get(path.name[:3])
        if read is not None:
            text = repr(read(path.read_bytes()))
            found[path.name] = hashlib.sha256(text.encode()).hexdigest()
            continue
        out = MemoryAckOutput()
        with path.open("rb") as fh:
            summary = ingest(fh, options, out, name=path.stem)
        text = json.dumps(summary_json(path.name, summary), sort_keys=True)
        text += "".join(f"\n{key}\n{out.files[key]}" for key in sorted(out.files))
        found[path.name] = hashlib.sha256(text.encode()).hexdigest()
    return found


def _answers_in_child(inputs: Path, *, pure: bool) -> tuple[bool, dict[str, str]]:
    env = dict(os.environ, **{compiled.PURE_VARIABLE: "1" if pure else "0"})
    script = (
        "import json, sys; from pathlib import Path; from claims_engine.runtime import compiled;"
        "from tests.unit.test_compiled import answers;"
        "print(json.dumps([compiled.running_compiled(), answers(Path(sys.argv[1]))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(inputs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    running, digests = json.loads(done.stdout)
    return bool(running), dict(digests)


@pytest.mark.skipif(not BUILT, reason=NOT_BUILT)
def test_compiled_and_pure_python_give_the_same_answers() -> None:
    """Every fixture 837, a generated P/I/D batch with other delimiters, and 300 damaged files:
    the same summaries and byte-identical 999s, 277CAs and TA1s either way; every fixture 270,
    276 and 834 and 100 damaged 270s and 834s each: read the same either way."""
    from claims_engine.cli.fixtures_commands import FIXTURES, generate_file

    with tempfile.TemporaryDirectory(prefix="compiled-") as tmp:
        inputs = Path(tmp)
        for path in sorted((ROOT / "fixtures" / "x12").glob("837*/*.edi")):
            shutil.copyfile(path, inputs / f"{path.parent.name}-{path.name}")
        generate_file(
            inputs / "generated.x12",
            claims=2_000,
            seed=11,
            mix={"P": 60, "I": 25, "D": 15},
            delimiters=("|", "^", ">", "\n"),
            as_of=date(2026, 11, 1),
            created=datetime(2026, 11, 1, 9, 0),
            reference=FIXTURES / "reference",
        )
        valid = (ROOT / "fixtures" / "x12" / "valid" / "837p-two-claims.edi").read_bytes()
        for i, data in enumerate(_mutations(valid, 300, seed=5)):
            (inputs / f"damaged-{i:03d}.x12").write_bytes(data)
        for kind in ("270", "276", "834"):
            for path in sorted((ROOT / "fixtures" / "x12" / kind).glob("*.x12")):
                shutil.copyfile(path, inputs / f"{kind}-{path.name}")
        for kind, example in (("270", "dependent-request"), ("834", "add-subscriber-coverage")):
            valid = (ROOT / "fixtures" / "x12" / kind / f"{example}.x12").read_bytes()
            for i, data in enumerate(_mutations(valid, 100, seed=int(kind))):
                (inputs / f"{kind}-damaged-{i:03d}.x12").write_bytes(data)
        compiled_run, compiled_answers = _answers_in_child(inputs, pure=False)
        pure_run, pure_answers = _answers_in_child(inputs, pure=True)
    assert compiled_run and not pure_run
    fixtures = ROOT / "fixtures" / "x12"
    read_whole = len(list(fixtures.glob("837*/*.edi"))) + 301
    read_by_readers = len(list(fixtures.glob("2[7][06]/*.x12"))) + len(
        list(fixtures.glob("834/*.x12"))
    )
    assert len(compiled_answers) == read_whole + read_by_readers + 200
    different = sorted(k for k in compiled_answers if compiled_answers[k] != pure_answers.get(k))
    assert different == []


def test_no_interpreted_class_inherits_from_a_compiled_one() -> None:
    """A compiled class cannot be subclassed by interpreted code: such a class would fail only
    when it is first built, so they are found here, in every source of the project."""
    defined: dict[str, str] = {}
    for name in compiled.COMPILED:
        tree = ast.parse(compiled.source_path(ROOT, name).read_text())
        defined.update({n.name: name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)})
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if {".venv", "build"} & set(path.relative_to(ROOT).parts):
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module in compiled.COMPILED:
            continue  # compiled together: a compiled class may inherit from another
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                if name in defined and module != defined[name]:
                    found.append(f"{path.relative_to(ROOT)}: {node.name}({name})")
    assert found == []
