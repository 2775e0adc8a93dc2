"""Loading CMS NCCI tables into the store (:mod:`claims_engine.services.ncci_store`), on SQLite and
PostgreSQL, and ``claims-engine ncci load``: the made-up sample of ``fixtures/ncci``, a load
that changes nothing the second time, a bad file that stores nothing, and the tables a worker
rebuilds from the store."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from claims_engine.cli.main import main
from claims_engine.domain.ncci import HOSPITAL, PRACTITIONER, Quarter
from claims_engine.services.ncci_store import load_ncci, ncci_in_force, read_ncci
from claims_engine.store.db import upgrade
from claims_engine.store.tables import ncci_tables_table
from tests.conftest import FIXTURES

NCCI = FIXTURES / "ncci"
NOW = datetime(2026, 12, 1, 9, 0)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ncci_tables_table)).scalar_one())


def test_the_sample_loads_once_and_picks_its_quarter_by_date_of_service(engine: Engine) -> None:
    upgrade(engine)
    read, stored = load_ncci(engine, NCCI, NOW)
    assert read.problems == ()
    # two quarters: PTP practitioner and hospital, MUE practitioner, hospital and DME
    assert len(stored) == 10 and {s.state for s in stored} == {"stored"}
    assert _count(engine) == 10
    _, again = load_ncci(engine, NCCI, NOW)
    assert {s.state for s in again} == {"unchanged"}
    assert [s.id for s in again] == [s.id for s in stored]
    assert _count(engine) == 10

    tables = ncci_in_force(engine)
    # 99213/36415: modifier indicator 1, deleted on 2026-09-01 (listed so in 2026Q3 and 2026Q4)
    visit = tables.ptp_edit("99213", "36415", date(2026, 8, 31))
    assert visit is not None and visit.modifier == 1
    assert tables.ptp_edit("99213", "36415", date(2026, 9, 1)) is None
    assert tables.ptp_edit("99213", "36415", date(2026, 10, 15)) is None
    # 93000/93010: modifier indicator 0, in both settings
    ecg = tables.ptp_edit("93000", "93010", date(2026, 10, 15), setting=HOSPITAL)
    assert ecg is not None and ecg.modifier == 0
    # 99214/93000 arrives with 2026Q4
    assert tables.ptp_edit("99214", "93000", date(2026, 9, 30)) is None
    assert tables.ptp_edit("99214", "93000", date(2026, 10, 1)) is not None
    # MUEs: 36415 is 2 units a day in 2026Q3, 3 in 2026Q4; MAI 1, 2 and 3
    q3, q4 = date(2026, 9, 30), date(2026, 10, 1)
    assert [tables.mue("36415", d).value for d in (q3, q4)] == [2, 3]  # type: ignore[union-attr]
    assert [tables.mue(c, q4).mai for c in ("J3301", "99213", "97110")] == [1, 2, 3]  # type: ignore[union-attr]
    table = tables.ptp_table(PRACTITIONER, q4)
    assert table is not None and table.quarter == Quarter(2026, 4)
    assert [Path(s).name for s in table.sources] == [
        "ccipra-v323r0-f1.txt",
        "ccipra-v323r0-f2.txt",
    ]
    assert ncci_in_force(engine).tables == tables.tables  # rebuilt once, then kept


def test_a_bad_file_stores_nothing_and_names_every_bad_line(engine: Engine, tmp_path: Path) -> None:
    upgrade(engine)
    folder = tmp_path / "2026Q4"
    shutil.copytree(NCCI / "2026Q4", folder)
    part = folder / "ccipra-v323r0-f2.txt"
    lines = part.read_text().splitlines(keepends=True)
    lines[7] = "99213\t36415\t\t20150101\t20260901\t7\tbad modifier\n"  # line 8
    lines.append("99215\t\t\t20261001\t*\t1\tno column 2\n")
    part.write_text("".join(lines))
    mue = folder / "MCR_MUE_DMESupplierServices_Eff_10-01-2026.csv"
    mue.write_text(mue.read_text() + '"E0570","2","3 Date of Service Edit: Clinical","again"\n')
    read, stored = load_ncci(engine, folder, NOW)
    assert stored == [] and read.tables == ()
    end = len(lines)
    assert [str(p) for p in read.problems] == [
        f"{mue}:8: E0570 has an MUE already, on {mue}:6",
        f"{part}:8: modifier indicator '7' is not 0, 1 or 9",
        f"{part}:{end}: column 2 code '' is not 5 letters or digits",
    ]
    assert _count(engine) == 0
    assert not ncci_in_force(engine)


def test_a_changed_quarter_replaces_its_table(engine: Engine, tmp_path: Path) -> None:
    upgrade(engine)
    folder = tmp_path / "2026Q4"
    shutil.copytree(NCCI / "2026Q4", folder)
    _, first = load_ncci(engine, folder, NOW)
    assert ncci_in_force(engine).ptp_edit("99214", "93000", date(2026, 10, 1)) is not None
    part = folder / "ccipra-v323r0-f2.txt"
    part.write_text(
        part.read_text().replace("99214\t93000\t\t20261001", "99214\t93000\t\t20261101")
    )
    _, second = load_ncci(engine, folder, NOW)
    states = {(s.kind, s.setting): s.state for s in second}
    assert states[("ptp", PRACTITIONER)] == "replaced"
    assert {v for k, v in states.items() if k != ("ptp", PRACTITIONER)} == {"unchanged"}
    assert _count(engine) == len(first)
    tables = ncci_in_force(engine)  # the replaced table is rebuilt, the others kept
    assert tables.ptp_edit("99214", "93000", date(2026, 10, 1)) is None
    assert tables.ptp_edit("99214", "93000", date(2026, 11, 1)) is not None


def test_read_without_a_store_names_missing_quarters_and_settings(tmp_path: Path) -> None:
    source = (NCCI / "2026Q4" / "ccipra-v323r0-f1.txt").read_text()
    (tmp_path / "ptp-export.txt").write_text(source)
    read = read_ncci(tmp_path)
    assert [p.what for p in read.problems] == [
        "its name says no quarter: name it as CMS does (ccipra-v323r0-f1.txt, "
        "MCR_MUE_..._Eff_10-01-2026.csv), put it in a folder such as 2026Q4, or give --quarter",
        "a PTP file whose name says no setting: CMS names them ccipra-* (practitioner) and "
        "ccioph-* (hospital)",
    ]
    (tmp_path / "ptp-export.txt").rename(tmp_path / "ccipra-export.txt")
    read = read_ncci(tmp_path)
    assert [p.what for p in read.problems] == [
        "its name says no quarter: name it as CMS does (ccipra-v323r0-f1.txt, "
        "MCR_MUE_..._Eff_10-01-2026.csv), put it in a folder such as 2026Q4, or give --quarter"
    ]
    read = read_ncci(tmp_path, quarter=Quarter(2026, 4))
    assert read.problems == () and [len(t) for t in read.tables] == [15]
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    assert read_ncci(tmp_path, quarter=Quarter(2026, 4)).ignored == (str(tmp_path / "notes.pdf"),)


def test_the_command_loads_checks_and_refuses(
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = sqlite_engine
    upgrade(engine)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    capsys.readouterr()

    assert main(["ncci", "load", str(NCCI / "2026Q4"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "2026Q4 ptp practitioner         23 edits checked" in out
    assert "nothing stored (--check)" in out
    assert _count(engine) == 0

    assert main(["ncci", "load", str(NCCI / "2026Q4")]) == 0
    out = capsys.readouterr().out
    assert "2026Q4 ptp practitioner         23 edits stored" in out
    assert main(["ncci", "load", str(NCCI / "2026Q4"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {t["state"] for t in summary["tables"]} == {"unchanged"}
    assert main(["ncci", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["tables"]) == 5

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["ncci", "load", str(empty)]) == 1
    assert capsys.readouterr().err == (
        f"claims-engine: {empty}: holds no NCCI files (*.txt or *.csv: ccipra-*, ccioph-*, "
        "MCR_MUE_*; see docs/ncci.md) (nothing stored)\n"
    )
    bad = tmp_path / "2026Q3"
    shutil.copytree(NCCI / "2026Q3", bad)
    part = bad / "ccioph-v322r0-f1.txt"
    part.write_text(part.read_text().replace("20170101", "2017-01-01"))
    assert main(["ncci", "load", str(bad)]) == 1
    assert capsys.readouterr().err == (
        f"claims-engine: {part}:9: effective date '2017-01-01' is not a date YYYYMMDD "
        "(nothing stored)\n"
    )
    assert main(["ncci", "load", str(NCCI / "2026Q4"), "--quarter", "2026Q3"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("its name says 2026Q4, not the 2026Q3 of --quarter")
    assert err[-1] == f"claims-engine: 6 problems in {NCCI / '2026Q4'}: nothing stored"
    assert _count(engine) == 5
