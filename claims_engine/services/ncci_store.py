"""CMS NCCI edit tables in the store, and the tables in force for adjudication.

``claims-engine ncci load DIR`` reads CMS's quarterly files (:mod:`claims_engine.domain.ncci`
parses them; ``docs/ncci.md`` says where they come from) and stores one compact table per kind
(PTP or MUE), setting (practitioner, hospital, DME) and quarter in ``ncci_tables``:

* :func:`read_ncci` reads every ``*.txt`` and ``*.csv`` file under ``DIR`` (other files, such
  as CMS's ``.xlsx`` and ``.pdf`` copies, are left alone), recognises each by its column header
  and its name, and groups them into tables: the parts of one table (``ccipra-v323r0-f1.txt``
  ... ``-f4.txt``) become one. A file's quarter is ``--quarter``, else what its name or its
  folder's says (``2026Q4``, ``ccipra-v323r0``, ``..._Eff_10-01-2026.csv``). Every problem is
  collected, each naming its file and line.
* :func:`load_ncci` stores the tables, all in one transaction, and only when no file had a
  problem. A table whose content is stored already is left as it is (``unchanged``); one that
  differs from the stored table of its quarter replaces it (CMS re-publishes a quarter now and
  then).
* :func:`ncci_in_force` gives the stored tables as :class:`~claims_engine.domain.ncci.
  NcciTables`, which picks a table by date of service. Each process keeps the tables it
  rebuilt and asks the store only which tables exist (ids and digests), so a load reaches
  every worker at its next call without rebuilding the tables that did not change.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO

import orjson
from sqlalchemy import Engine, insert, select, update

from claims_engine.domain.errors import StoredDataError
from claims_engine.domain.ncci import (
    HEADER_SEARCH_LINES,
    PTP,
    LoadProblem,
    MueRows,
    NcciTable,
    NcciTables,
    PayloadError,
    PtpRows,
    Quarter,
    build_mue,
    build_ptp,
    classify,
    digest,
    read_mue,
    read_ptp,
    table_from_bytes,
    table_to_bytes,
)
from claims_engine.store.tables import ncci_tables_table

SUFFIXES = (".txt", ".csv")  # CMS's text and CSV files (and CSV exports of its workbooks)

_stored = ncci_tables_table


@dataclass(frozen=True, slots=True)
class ReadNcci:
    """What :func:`read_ncci` found: the tables (none when there is a problem), every problem,
    and the files it left alone."""

    tables: tuple[NcciTable, ...]
    problems: tuple[LoadProblem, ...]
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredTable:
    id: int
    kind: str
    setting: str
    quarter: str
    edits: int
    digest: str
    sources: tuple[str, ...]
    state: str  # "stored", "replaced" or "unchanged"


def _lines(fh: BinaryIO) -> Iterator[str]:
    """The file's lines as text: UTF-8, or Windows-1252 for a line that is not (a CPT
    copyright line with its (R) sign, saved by a spreadsheet); without a byte order mark."""
    first = True
    for raw in fh:
        if first:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
            first = False
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            yield raw.decode("cp1252", "replace")


def _files(directory: Path) -> tuple[list[Path], list[Path]]:
    found: list[Path] = []
    ignored: list[Path] = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(directory).parts):
            continue
        (found if path.suffix.lower() in SUFFIXES else ignored).append(path)
    return found, ignored


def read_ncci(directory: Path, *, quarter: Quarter | None = None) -> ReadNcci:
    """Read and check the NCCI files under ``directory`` (see the module's docstring)."""
    where = str(directory)
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        return ReadNcci((), (LoadProblem(where, 0, what),))
    files, ignored = _files(directory)
    if not files:
        return ReadNcci(
            (),
            (
                LoadProblem(
                    where,
                    0,
                    "holds no NCCI files (*.txt or *.csv: ccipra-*, ccioph-*, MCR_MUE_*; "
                    "see docs/ncci.md)",
                ),
            ),
            tuple(str(p) for p in ignored),
        )
    problems: list[LoadProblem] = []
    ptp: dict[tuple[str, Quarter], PtpRows] = {}
    mue: dict[tuple[str, Quarter], MueRows] = {}
    for path in files:
        name = str(path)
        said = directory.name + "/" + path.relative_to(directory).as_posix()
        try:
            with path.open("rb") as fh:
                lines = _lines(fh)
                head = list(islice(lines, HEADER_SEARCH_LINES))
                kind = classify(said, head)
                if isinstance(kind, LoadProblem):
                    problems.append(LoadProblem(name, 0, kind.what))
                    continue
                in_quarter = _quarter(name, said, kind.quarter, quarter, problems)
                if kind.setting is None:
                    problems.append(
                        LoadProblem(
                            name,
                            0,
                            f"a {kind.kind.upper()} file whose name says no setting: CMS names "
                            "them ccipra-* (practitioner) and ccioph-* (hospital)",
                        )
                    )
                    continue
                if in_quarter is None:
                    continue
                group = (kind.setting, in_quarter)
                text = chain(head, lines)
                if kind.kind == PTP:
                    rows = ptp.setdefault(group, PtpRows())
                    problems.extend(read_ptp(name, text, kind.delimiter, rows))
                else:
                    found = mue.setdefault(group, MueRows())
                    problems.extend(read_mue(name, text, kind.delimiter, found))
        except OSError as exc:
            problems.append(LoadProblem(name, 0, f"cannot read: {exc.strerror or exc}"))
    tables: list[NcciTable] = []
    if not problems:
        for (setting, in_quarter), rows in sorted(ptp.items()):
            table, found_problems = build_ptp(in_quarter, setting, rows)
            problems.extend(found_problems)
            if table is not None:
                tables.append(table)
        for (setting, in_quarter), mue_rows in sorted(mue.items()):
            tables.append(build_mue(in_quarter, setting, mue_rows))
    if problems:
        return ReadNcci((), tuple(problems), tuple(str(p) for p in ignored))
    return ReadNcci(tuple(tables), (), tuple(str(p) for p in ignored))


def _quarter(
    name: str,
    said: str,
    from_name: Quarter | None,
    given: Quarter | None,
    problems: list[LoadProblem],
) -> Quarter | None:
    if given is not None:
        if from_name is not None and from_name != given:
            problems.append(
                LoadProblem(name, 0, f"its name says {from_name}, not the {given} of --quarter")
            )
            return None
        return given
    if from_name is None:
        problems.append(
            LoadProblem(
                name,
                0,
                "its name says no quarter: name it as CMS does (ccipra-v323r0-f1.txt, "
                "MCR_MUE_..._Eff_10-01-2026.csv), put it in a folder such as 2026Q4, or give "
                "--quarter",
            )
        )
    return from_name


def load_ncci(
    engine: Engine, directory: Path, now: datetime, *, quarter: Quarter | None = None
) -> tuple[ReadNcci, list[StoredTable]]:
    """Read the files under ``directory`` and, when none has a problem, store their tables
    (one transaction). The stored tables are listed with what became of each."""
    read = read_ncci(directory, quarter=quarter)
    if read.problems:
        return read, []
    return read, store_tables(engine, read.tables, now)


def store_tables(engine: Engine, tables: tuple[NcciTable, ...], now: datetime) -> list[StoredTable]:
    results: list[StoredTable] = []
    with engine.begin() as conn:
        for table in tables:
            content = digest(table)
            where = (
                (_stored.c.kind == table.kind)
                & (_stored.c.setting == table.setting)
                & (_stored.c.quarter == str(table.quarter))
            )
            found = conn.execute(select(_stored.c.id, _stored.c.digest).where(where)).first()
            values = {
                "digest": content,
                "edits": len(table),
                "sources": orjson.dumps(list(table.sources)).decode(),
                "loaded_at": now,
                "effective_from": table.quarter.start,
            }
            if found is not None and found.digest == content:
                state, row_id = "unchanged", int(found.id)
            elif found is not None:
                payload = table_to_bytes(table)
                conn.execute(update(_stored).where(where).values(payload=payload, **values))
                state, row_id = "replaced", int(found.id)
            else:
                payload = table_to_bytes(table)
                inserted = conn.execute(
                    insert(_stored).values(
                        kind=table.kind,
                        setting=table.setting,
                        quarter=str(table.quarter),
                        payload=payload,
                        **values,
                    )
                ).inserted_primary_key
                assert inserted is not None
                row_id = int(inserted[0])
                state = "stored"
            results.append(
                StoredTable(
                    id=row_id,
                    kind=table.kind,
                    setting=table.setting,
                    quarter=str(table.quarter),
                    edits=len(table),
                    digest=content,
                    sources=table.sources,
                    state=state,
                )
            )
    return results


# -- the tables in force ------------------------------------------------------------------------

_cache_lock = threading.Lock()
# per engine: the tables rebuilt so far, by (row id, digest)
_cache: weakref.WeakKeyDictionary[Engine, dict[tuple[int, str], NcciTable]] = (
    weakref.WeakKeyDictionary()
)


def ncci_in_force(engine: Engine) -> NcciTables:
    """Every stored table, as :class:`NcciTables` (empty when none is loaded). Only the tables
    this process has not rebuilt yet are read from the store."""
    with engine.connect() as conn:
        listed = [
            (int(r.id), str(r.digest))
            for r in conn.execute(select(_stored.c.id, _stored.c.digest).order_by(_stored.c.id))
        ]
    with _cache_lock:
        known = _cache.setdefault(engine, {})
        missing = [key for key in listed if key not in known]
    if missing:
        with engine.connect() as conn:
            rows = conn.execute(
                select(_stored.c.id, _stored.c.digest, _stored.c.payload).where(
                    _stored.c.id.in_([row_id for row_id, _ in missing])
                )
            ).all()
        rebuilt: dict[tuple[int, str], NcciTable] = {}
        for row in rows:
            try:
                rebuilt[(int(row.id), str(row.digest))] = table_from_bytes(bytes(row.payload))
            except (PayloadError, ValueError, KeyError) as exc:
                raise StoredDataError(f"ncci_tables row {row.id}: {exc}") from None
        with _cache_lock:
            known.update(rebuilt)
    with _cache_lock:
        current = set(listed)
        for key in [k for k in known if k not in current]:  # replaced or gone
            del known[key]
        return NcciTables.of(known[key] for key in listed if key in known)


def stored_tables(engine: Engine) -> list[dict[str, object]]:
    """The stored tables without their payloads, newest quarter first (for a listing)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                _stored.c.id,
                _stored.c.quarter,
                _stored.c.kind,
                _stored.c.setting,
                _stored.c.effective_from,
                _stored.c.edits,
                _stored.c.digest,
                _stored.c.sources,
                _stored.c.loaded_at,
            ).order_by(_stored.c.quarter.desc(), _stored.c.kind, _stored.c.setting)
        ).all()
    return [
        {
            "id": r.id,
            "quarter": r.quarter,
            "kind": r.kind,
            "setting": r.setting,
            "effective_from": r.effective_from.isoformat(),
            "edits": r.edits,
            "digest": r.digest,
            "sources": orjson.loads(r.sources),
            "loaded_at": r.loaded_at.isoformat(),
        }
        for r in rows
    ]
