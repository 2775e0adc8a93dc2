"""CMS National Correct Coding Initiative (NCCI) edits: the procedure-to-procedure (PTP) pairs
and the medically unlikely edits (MUE), read from the quarterly files in the layout CMS
publishes and held compactly for adjudication.

Pure: this module takes text (lines) and returns tables and problems; reading the files, the
store and the clock belong to :mod:`claims_engine.services.ncci_store`.

The files (see ``docs/ncci.md``)::

    PTP, tab-separated text (or a CSV export of it), practitioner (ccipra-*) or hospital (ccioph-*):
      Column 1 | Column 2 | *=in existence prior to 1996 | Effective Date YYYYMMDD |
      Deletion Date YYYYMMDD or * | Modifier 0/1/9 | PTP Edit Rationale
    MUE, CSV (or tab text), practitioner, outpatient hospital or DME supplier:
      HCPCS/CPT Code | <setting> Services MUE Values | MUE Adjudication Indicator
      ("1 Line Edit", "2 Date of Service Edit: Policy", "3 Date of Service Edit: Clinical") |
      MUE Rationale

Each file opens with CMS's banner (the CPT copyright line, ``Column1/Column2 Edits``), its column
header and, in PTP files, the header's continuation lines (``prior to 1996``, ``*=no data``,
``0=not allowed`` ...): these are recognised and skipped. Every other line must be an edit; a
line that is not is a :class:`LoadProblem` naming the file and the line, and the reading goes
on, so that one pass names every bad line.

Dates: an edit is in force on a date of service ``d`` when ``effective <= d < deletion`` (the
deletion date is the first day the edit no longer applies: CMS deletes edits as of the first
day of a quarter, and an edit deleted retroactively carries a deletion date equal to its
effective date, in force on no day). Modifier indicator 9 means the edit does not apply: such an
edit is kept as published but is never in force.

Compact tables: a code (5 letters or digits) is packed into an int as a base-36 number (below
2**26), a pair into ``column1 << 26 | column2``. A :class:`PtpTable` holds the pairs as a sorted
``array('q')`` with parallel arrays (effective and deletion day numbers, modifier indicator,
the pre-1996 flag, a rationale index) and an index of where each column 1 code's pairs start;
two million pairs take about 40 MB. :func:`table_to_bytes` and :func:`table_from_bytes` carry a
table to the store and back (the arrays' bytes behind a small JSON header, zlib-compressed).
"""

from __future__ import annotations

import csv
import hashlib
import operator
import re
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import compress, count, islice
from typing import ClassVar, Final, Literal, TypeAlias

import orjson

PTP: Final = "ptp"
MUE: Final = "mue"
Kind: TypeAlias = Literal["ptp", "mue"]

PRACTITIONER: Final = "practitioner"
HOSPITAL: Final = "hospital"  # outpatient hospital
DME: Final = "dme"  # durable medical equipment suppliers (MUE only)
SETTINGS: Final[Mapping[str, tuple[str, ...]]] = {
    PTP: (PRACTITIONER, HOSPITAL),
    MUE: (PRACTITIONER, HOSPITAL, DME),
}

MODIFIER_NEVER: Final = 0  # no modifier bypasses the edit
MODIFIER_ALLOWED: Final = 1  # an NCCI PTP-associated modifier may bypass it
MODIFIER_NOT_APPLICABLE: Final = 9  # the edit does not apply (deleted retroactively)
MODIFIER_INDICATORS: Final = (MODIFIER_NEVER, MODIFIER_ALLOWED, MODIFIER_NOT_APPLICABLE)

MAI_LINE: Final = 1  # per claim line
MAI_DAY_POLICY: Final = 2  # per day, absolute (policy)
MAI_DAY_CLINICAL: Final = 3  # per day, clinical
MAI_VALUES: Final = (MAI_LINE, MAI_DAY_POLICY, MAI_DAY_CLINICAL)

NEVER_DELETED: Final = 2**31 - 1  # the deletion day number of an edit with no deletion date
HEADER_SEARCH_LINES: Final = 60  # a file's column header must come within its first lines

_CODE_BITS = 26  # 36**5 = 60,466,176 < 2**26
_CODE = re.compile(r"[0-9A-Z]{5}")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


# -- quarters ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    """A calendar quarter, written ``2026Q4``: the quarter a CMS release is for."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """``2026Q4`` (or ``2026q4``) as a quarter; :class:`ValueError` for anything else."""
        found = _QUARTER.match(text.strip().upper())
        if not found or not 1900 <= int(found.group(1)) <= 2099:
            raise ValueError(f"{text!r} is not a quarter such as 2026Q4")
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> date:
        """The first day of the quarter: from it on, this quarter's tables are in force."""
        return date(self.year, 3 * self.number - 2, 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


# -- problems ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """A bad line of a file (``line`` from 1), or a file as a whole (``line`` 0)."""

    file: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}" if self.line else f"{self.file}: {self.what}"


# -- codes and days ------------------------------------------------------------------------------


def pack_code(code: str) -> int | None:
    """A HCPCS/CPT code (five letters or digits, upper case) as an int below 2**26; ``None``
    for anything else."""
    if len(code) != 5 or not _CODE.fullmatch(code):
        return None
    return int(code, 36)


def unpack_code(packed: int) -> str:
    digits = []
    for _ in range(5):
        packed, digit = divmod(packed, 36)
        digits.append("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit])
    return "".join(reversed(digits))


def _day(text: str) -> int | None:
    """``YYYYMMDD`` as a day number (``date.toordinal``); ``None`` when it is not a date."""
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:])).toordinal()
    except ValueError:
        return None


# -- the edits as lookups return them ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PtpEdit:
    """One PTP edit: ``column2`` is not paid with ``column1`` on the same day, unless
    ``modifier`` is 1 and an NCCI PTP-associated modifier says the services were distinct."""

    column1: str
    column2: str
    effective: date
    deleted: date | None  # the first day it no longer applies
    modifier: int  # 0, 1 or 9 (MODIFIER_*)
    rationale: str
    before_1996: bool = False

    @property
    def modifier_may_bypass(self) -> bool:
        return self.modifier == MODIFIER_ALLOWED

    def in_force(self, on: date) -> bool:
        return (
            self.modifier != MODIFIER_NOT_APPLICABLE
            and self.effective <= on
            and (self.deleted is None or on < self.deleted)
        )


@dataclass(frozen=True, slots=True)
class MueEdit:
    """The most units of ``code`` a provider would report for one patient: per claim line
    (MAI 1) or per date of service (MAI 2, absolute; MAI 3, clinical)."""

    code: str
    value: int
    mai: int
    rationale: str

    @property
    def per_line(self) -> bool:
        return self.mai == MAI_LINE


# -- compact tables ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class PtpTable:
    """One quarter's PTP edits of one setting. Lookups take codes as strings and a date of
    service; the arrays are private and never changed once built."""

    quarter: Quarter
    setting: str
    sources: tuple[str, ...]
    rationales: tuple[str, ...]
    _keys: array[int]  # 'q': column1 << 26 | column2, sorted (then by effective day)
    _effective: array[int]  # 'i': day numbers
    _deleted: array[int]  # 'i': day numbers, NEVER_DELETED for none
    _modifier: array[int]  # 'b'
    _before_1996: array[int]  # 'b': 1 when the edit existed before 1996
    _rationale: array[int]  # 'H': index into rationales
    _first_codes: array[int]  # 'q': each column 1 code, sorted
    _first_starts: array[int]  # 'q': where its pairs start in _keys (one more entry: the end)
    _ranges: dict[int, tuple[int, int]] = field(init=False, repr=False)

    kind: ClassVar[Kind] = PTP

    def __post_init__(self) -> None:
        starts = self._first_starts
        ranges = {c: (starts[i], starts[i + 1]) for i, c in enumerate(self._first_codes)}
        object.__setattr__(self, "_ranges", ranges)

    def __len__(self) -> int:
        return len(self._keys)

    def ptp_edit(self, column1: str, column2: str, on: date) -> PtpEdit | None:
        """The edit of the pair (in this order) in force on ``on``, else ``None``."""
        first, second = pack_code(column1), pack_code(column2)
        if first is None or second is None:
            return None
        span = self._ranges.get(first)
        if span is None:
            return None
        found = self._in_force(first << _CODE_BITS | second, span, on.toordinal())
        return None if found < 0 else self._edit(found, column1, column2)

    def pairs_among(self, codes: Iterable[str], on: date) -> list[PtpEdit]:
        """Every edit in force on ``on`` between two of ``codes`` (each ordered pair looked
        up: the table says which one is column 1), in the order of column 1 then column 2."""
        packed = sorted({(p, c) for c in codes if (p := pack_code(c)) is not None})
        ranges = self._ranges
        day = on.toordinal()
        found: list[PtpEdit] = []
        for first, column1 in packed:
            span = ranges.get(first)
            if span is None:
                continue
            base = first << _CODE_BITS
            for second, column2 in packed:
                if second != first:
                    at = self._in_force(base | second, span, day)
                    if at >= 0:
                        found.append(self._edit(at, column1, column2))
        return found

    def edits(self) -> Iterator[PtpEdit]:
        """Every edit as published, in key order (for reports and tests; not a hot path)."""
        return (self._edit(i) for i in range(len(self._keys)))

    def _in_force(self, key: int, span: tuple[int, int], day: int) -> int:
        keys = self._keys
        i = bisect_left(keys, key, span[0], span[1])
        chosen = -1
        while i < span[1] and keys[i] == key:  # a pair may have several dated rows
            if (
                self._effective[i] <= day < self._deleted[i]
                and self._modifier[i] != MODIFIER_NOT_APPLICABLE
            ):
                chosen = i  # rows go by effective day: the latest one in force wins
            i += 1
        return chosen

    def _edit(self, i: int, column1: str | None = None, column2: str | None = None) -> PtpEdit:
        key = self._keys[i]
        deleted = self._deleted[i]
        return PtpEdit(
            column1=column1 or unpack_code(key >> _CODE_BITS),
            column2=column2 or unpack_code(key & ((1 << _CODE_BITS) - 1)),
            effective=date.fromordinal(self._effective[i]),
            deleted=None if deleted == NEVER_DELETED else date.fromordinal(deleted),
            modifier=self._modifier[i],
            rationale=self.rationales[self._rationale[i]],
            before_1996=bool(self._before_1996[i]),
        )

    def _arrays(self) -> dict[str, array[int]]:
        return {
            "keys": self._keys,
            "effective": self._effective,
            "deleted": self._deleted,
            "modifier": self._modifier,
            "before_1996": self._before_1996,
            "rationale": self._rationale,
            "first_codes": self._first_codes,
            "first_starts": self._first_starts,
        }


@dataclass(frozen=True, slots=True, eq=False)
class MueTable:
    """One quarter's MUEs of one setting (MUEs carry no dates: the quarter's file is the
    table in force for that quarter)."""

    quarter: Quarter
    setting: str
    sources: tuple[str, ...]
    rationales: tuple[str, ...]
    _codes: array[int]  # 'i': packed codes, sorted
    _values: array[int]  # 'I'
    _mai: array[int]  # 'b'
    _rationale: array[int]  # 'H'

    kind: ClassVar[Kind] = MUE

    def __len__(self) -> int:
        return len(self._codes)

    def mue(self, code: str) -> MueEdit | None:
        packed = pack_code(code)
        if packed is None:
            return None
        codes = self._codes
        i = bisect_left(codes, packed)
        if i == len(codes) or codes[i] != packed:
            return None
        return MueEdit(code, self._values[i], self._mai[i], self.rationales[self._rationale[i]])

    def edits(self) -> Iterator[MueEdit]:
        return (self._edit(i) for i in range(len(self._codes)))

    def _edit(self, i: int) -> MueEdit:
        return MueEdit(
            code=unpack_code(self._codes[i]),
            value=self._values[i],
            mai=self._mai[i],
            rationale=self.rationales[self._rationale[i]],
        )

    def _arrays(self) -> dict[str, array[int]]:
        return {
            "codes": self._codes,
            "values": self._values,
            "mai": self._mai,
            "rationale": self._rationale,
        }


NcciTable: TypeAlias = PtpTable | MueTable

_TYPECODES: Final[Mapping[str, str]] = {
    "keys": "q",
    "effective": "i",
    "deleted": "i",
    "modifier": "b",
    "before_1996": "b",
    "rationale": "H",
    "first_codes": "q",
    "first_starts": "q",
    "codes": "i",
    "values": "I",
    "mai": "b",
}


# -- the tables in force by date of service ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NcciTables:
    """Every loaded table, by kind and setting, each with its quarter. The table used for a
    date of service is the newest quarter that began on or before it; a date before every
    loaded quarter uses the oldest (PTP tables carry each edit's own dates, which still
    decide). Kinds and settings are chosen independently: a quarter may bring new practitioner
    PTP edits and leave the hospital ones as they were."""

    tables: Mapping[tuple[str, str], tuple[NcciTable, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, tables: Iterable[NcciTable]) -> NcciTables:
        grouped: dict[tuple[str, str], list[NcciTable]] = {}
        for table in tables:
            grouped.setdefault((table.kind, table.setting), []).append(table)
        return cls({k: tuple(sorted(v, key=lambda t: t.quarter)) for k, v in grouped.items()})

    def table_on(self, kind: str, setting: str, on: date) -> NcciTable | None:
        versions = self.tables.get((kind, setting))
        if not versions:
            return None
        if len(versions) == 1:
            return versions[0]
        chosen = versions[0]
        for table in versions[1:]:
            if table.quarter.start <= on:
                chosen = table
            else:
                break
        return chosen

    def ptp_table(self, setting: str, on: date) -> PtpTable | None:
        table = self.table_on(PTP, setting, on)
        return table if isinstance(table, PtpTable) else None

    def mue_table(self, setting: str, on: date) -> MueTable | None:
        table = self.table_on(MUE, setting, on)
        return table if isinstance(table, MueTable) else None

    def ptp_edit(
        self, column1: str, column2: str, on: date, *, setting: str = PRACTITIONER
    ) -> PtpEdit | None:
        table = self.ptp_table(setting, on)
        return None if table is None else table.ptp_edit(column1, column2, on)

    def pairs_among(
        self, codes: Iterable[str], on: date, *, setting: str = PRACTITIONER
    ) -> list[PtpEdit]:
        table = self.ptp_table(setting, on)
        return [] if table is None else table.pairs_among(codes, on)

    def mue(self, code: str, on: date, *, setting: str = PRACTITIONER) -> MueEdit | None:
        table = self.mue_table(setting, on)
        return None if table is None else table.mue(code)

    def __bool__(self) -> bool:
        return bool(self.tables)


# -- reading files ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileKind:
    """What a file is, from its name and its column header."""

    kind: Kind
    setting: str | None  # None: its name does not say (a PTP file not named ccipra/ccioph)
    quarter: Quarter | None  # from its name, when the name says
    delimiter: str  # "\t" or ","


_PTP_NAME = re.compile(r"cci(pra|oph)[-_]?v(\d\d)(\d)r\d+", re.IGNORECASE)
_PTP_SETTING = re.compile(r"cci(pra|oph)", re.IGNORECASE)
_MUE_EFF = re.compile(r"_Eff_(\d\d)-(\d\d)-(\d{4})", re.IGNORECASE)
_QUARTER_IN_NAME = re.compile(r"(?<!\d)(\d{4})[-_]?q([1-4])(?!\d)", re.IGNORECASE)
_MUE_SETTING_WORDS = (("practitioner", PRACTITIONER), ("dme", DME), ("hospital", HOSPITAL))


def quarter_from_name(name: str) -> Quarter | LoadProblem | None:
    """The quarter a CMS file name says: ``ccipra-v323r0-f1.txt`` (NCCI version 32.3: year
    1994 + 32, quarter 3 + 1), ``MCR_MUE_PractitionerServices_Eff_10-01-2026.csv`` (the
    quarter of its effective date), or a ``2026Q4`` / ``2026q4`` anywhere in the path (CMS's
    zip names, a folder per quarter). ``None`` when it says none; a problem when two of them
    disagree."""
    found: set[Quarter] = set()
    version = _PTP_NAME.search(name)
    if version and int(version.group(3)) <= 3:
        found.add(Quarter(1994 + int(version.group(2)), int(version.group(3)) + 1))
    effective = _MUE_EFF.search(name)
    if effective:
        try:
            day = date(int(effective.group(3)), int(effective.group(1)), int(effective.group(2)))
        except ValueError:
            return LoadProblem(name, 0, f"{effective.group(0)[1:]} in the name is not a date")
        found.add(Quarter.of(day))
    for match in _QUARTER_IN_NAME.finditer(name):
        found.add(Quarter(int(match.group(1)), int(match.group(2))))
    if len(found) > 1:
        said = ", ".join(str(q) for q in sorted(found))
        return LoadProblem(name, 0, f"its name says more than one quarter ({said})")
    return next(iter(found), None)


def _normal(cell: str) -> str:
    return re.sub(r"\s+", " ", cell).strip().lower()


def _is_ptp_header(cells: Sequence[str]) -> bool:
    return (
        len(cells) >= 2
        and _normal(cells[0]) in ("column 1", "column1")
        and _normal(cells[1]) in ("column 2", "column2")
    )


def _is_mue_header(cells: Sequence[str]) -> bool:
    return len(cells) >= 3 and _normal(cells[0]).replace(" ", "") in (
        "hcpcs/cptcode",
        "hcpcs/cpt",
        "hcpcscode",
    )


def _split_rows(lines: Iterable[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each row; a CSV cell may span lines (CMS quotes a line
    break inside the MUE header's first cell)."""
    if delimiter == "\t":
        for number, line in enumerate(lines, 1):
            yield number, line.rstrip("\r\n").split("\t")
        return
    reader = csv.reader(lines, strict=True)
    last = 0
    try:
        for cells in reader:
            yield last + 1, cells
            last = reader.line_num
    except csv.Error as exc:
        yield -(reader.line_num or last + 1), [str(exc)]


def classify(name: str, head: Sequence[str]) -> FileKind | LoadProblem:
    """What the file ``name`` is, from its first lines ``head``: a PTP file has the column
    header ``Column 1 | Column 2 | ...``, an MUE file ``HCPCS/CPT Code | ... MUE Values | ...``;
    its setting and quarter come from its name (and, for an MUE file, from the header's
    ``Practitioner Services MUE Values``)."""
    text = "".join(head[:HEADER_SEARCH_LINES])
    lower = name.lower()
    delimiter = "," if lower.endswith(".csv") or "\t" not in text else "\t"
    quarter = quarter_from_name(name)
    if isinstance(quarter, LoadProblem):
        return quarter
    for _number, cells in _split_rows(head[:HEADER_SEARCH_LINES], delimiter):
        if _is_ptp_header(cells):
            ptp = _PTP_SETTING.search(name)
            if ptp:
                setting: str | None = PRACTITIONER if ptp.group(1).lower() == "pra" else HOSPITAL
            elif "practitioner" in lower:
                setting = PRACTITIONER
            elif "hospital" in lower:
                setting = HOSPITAL
            else:
                setting = None
            return FileKind(PTP, setting, quarter, delimiter)
        if _is_mue_header(cells):
            said = _normal(cells[1]) + " " + lower
            setting = next((s for word, s in _MUE_SETTING_WORDS if word in said), None)
            return FileKind(MUE, setting, quarter, delimiter)
    return LoadProblem(
        name,
        0,
        "not a CMS NCCI file: no PTP column header (Column 1, Column 2, ...) or MUE column "
        f"header (HCPCS/CPT Code, ... MUE Values, ...) in its first {HEADER_SEARCH_LINES} lines",
    )


class _Rationales:
    """Rationale texts as small ints: CMS uses a few dozen for millions of edits."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.index)
        return found

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(self.index)


@dataclass(slots=True)
class PtpRows:
    """The edits of PTP files as read, before they are sorted into a :class:`PtpTable`."""

    keys: array[int] = field(default_factory=lambda: array("q"))
    effective: array[int] = field(default_factory=lambda: array("i"))
    deleted: array[int] = field(default_factory=lambda: array("i"))
    modifier: array[int] = field(default_factory=lambda: array("b"))
    before_1996: array[int] = field(default_factory=lambda: array("b"))
    rationale: array[int] = field(default_factory=lambda: array("H"))
    lines: array[int] = field(default_factory=lambda: array("i"))
    files: array[int] = field(default_factory=lambda: array("H"))
    sources: list[str] = field(default_factory=list)
    rationales: _Rationales = field(default_factory=_Rationales)


@dataclass(slots=True)
class MueRows:
    codes: dict[int, tuple[int, int, int, int, int]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    rationales: _Rationales = field(default_factory=_Rationales)


def _text_line(cells: Sequence[str]) -> bool:
    """A banner line (before the column header): text whose first cell is not an edit's code
    (a copyright sentence split at its commas is still text)."""
    return pack_code(cells[0].strip()) is None if cells else True


_PTP_COLUMNS = (
    "column 1 code, column 2 code, *=in existence prior to 1996, effective date, "
    "deletion date, modifier, PTP edit rationale"
)


def read_ptp(name: str, lines: Iterable[str], delimiter: str, rows: PtpRows) -> list[LoadProblem]:
    """Add the edits of one PTP file (its lines, with or without line ends) to ``rows``;
    return the file's problems."""
    problems: list[LoadProblem] = []
    file_number = len(rows.sources)
    if file_number >= 2**16:
        return [LoadProblem(name, 0, "too many PTP files in one table")]
    rows.sources.append(name)
    codes: dict[str, int | None] = {}
    days: dict[str, int | None] = {}
    rationale_of = rows.rationales
    keys, effective, deleted = rows.keys, rows.effective, rows.deleted
    modifier, before_1996, rationale = rows.modifier, rows.before_1996, rows.rationale
    line_numbers, files = rows.lines, rows.files
    modifiers = {"0": 0, "1": 1, "9": 9}
    flags = {"": 0, "*": 1}
    phase = 0  # 0: banner, before the column header; 1: the header's lines; 2: edits
    for number, cells in _split_rows(lines, delimiter):
        if number < 0:
            problems.append(LoadProblem(name, -number, f"not CSV: {cells[0]}"))
            break
        if phase == 2 and len(cells) >= 7:
            c1 = codes.get(cells[0], -1)
            if c1 == -1:
                c1 = codes[cells[0]] = pack_code(cells[0].strip())
            c2 = codes.get(cells[1], -1)
            if c2 == -1:
                c2 = codes[cells[1]] = pack_code(cells[1].strip())
            eff = days.get(cells[3], -1)
            if eff == -1:
                eff = days[cells[3]] = _day(cells[3].strip())
            gone_text = cells[4]
            if gone_text == "*":
                gone: int | None = NEVER_DELETED
            else:
                gone = days.get(gone_text, -1)
                if gone == -1:
                    gone = days[gone_text] = _day(gone_text.strip())
            mod = modifiers.get(cells[5])
            flag = flags.get(cells[2])
            if (
                c1 is not None
                and c2 is not None
                and eff is not None
                and gone is not None
                and mod is not None
                and flag is not None
                and gone >= eff
                and (len(cells) == 7 or not "".join(cells[7:]).strip())
            ):
                keys.append(c1 << _CODE_BITS | c2)
                effective.append(eff)
                deleted.append(gone)
                modifier.append(mod)
                before_1996.append(flag)
                rationale.append(rationale_of(cells[6].strip()))
                line_numbers.append(number)
                files.append(file_number)
                continue
        if phase < 2:
            if phase == 0 and _is_ptp_header(cells):
                phase = 1
                continue
            if phase == 0 and _text_line(cells):
                continue
            if phase == 1 and (len(cells) < 2 or not (cells[0].strip() or cells[1].strip())):
                continue  # the header's continuation: "prior to 1996", "*=no data", ...
            if phase == 0:
                problems.append(
                    LoadProblem(name, number, "an edit before the column header (Column 1 ...)")
                )
            phase = 2
            if len(cells) >= 7:
                # the first edit: read it with the others
                problems.extend(read_ptp_line(name, number, cells, rows, rationale_of))
                continue
        if not "".join(cells).strip() or _is_ptp_header(cells):
            continue  # a blank line; a header again (parts exported one after another)
        problems.extend(read_ptp_line(name, number, cells, rows, rationale_of))
    if phase == 0 and not problems:
        problems.append(LoadProblem(name, 0, "no column header line (Column 1, Column 2, ...)"))
    if len(rows.rationales.index) > 2**16:
        problems.append(LoadProblem(name, 0, "more than 65,536 different edit rationales"))
    return problems


def read_ptp_line(
    name: str, number: int, cells: Sequence[str], rows: PtpRows, rationale_of: _Rationales
) -> list[LoadProblem]:
    """One PTP edit line: added to ``rows`` when it is good, else its problems."""
    problems = _ptp_line_problems(name, number, cells)
    if problems:
        return problems
    c1, c2 = pack_code(cells[0].strip()), pack_code(cells[1].strip())
    eff = _day(cells[3].strip())
    gone = NEVER_DELETED if cells[4].strip() == "*" else _day(cells[4].strip())
    assert c1 is not None and c2 is not None and eff is not None and gone is not None
    rows.keys.append(c1 << _CODE_BITS | c2)
    rows.effective.append(eff)
    rows.deleted.append(gone)
    rows.modifier.append(int(cells[5].strip()))
    rows.before_1996.append(1 if cells[2].strip() == "*" else 0)
    rows.rationale.append(rationale_of(cells[6].strip()))
    rows.lines.append(number)
    rows.files.append(len(rows.sources) - 1)
    return []


def _ptp_line_problems(name: str, number: int, cells: Sequence[str]) -> list[LoadProblem]:
    """Every reason a PTP line is not an edit (an empty list: it is one)."""

    def problem(what: str) -> LoadProblem:
        return LoadProblem(name, number, what)

    if len(cells) < 7:
        return [problem(f"{len(cells)} columns, expected 7 ({_PTP_COLUMNS})")]
    found: list[LoadProblem] = []
    if "".join(cells[7:]).strip():
        found.append(problem(f"{len(cells)} columns, expected 7 ({_PTP_COLUMNS})"))
    for label, cell in (("column 1", cells[0]), ("column 2", cells[1])):
        if pack_code(cell.strip()) is None:
            found.append(problem(f"{label} code {cell.strip()!r} is not 5 letters or digits"))
    if cells[2].strip() not in ("", "*"):
        found.append(
            problem(f"'in existence prior to 1996' is {cells[2].strip()!r}, not * or empty")
        )
    eff = _day(cells[3].strip())
    if eff is None:
        found.append(problem(f"effective date {cells[3].strip()!r} is not a date YYYYMMDD"))
    gone_text = cells[4].strip()
    gone = NEVER_DELETED if gone_text == "*" else _day(gone_text)
    if gone is None:
        found.append(problem(f"deletion date {gone_text!r} is not a date YYYYMMDD or *"))
    elif eff is not None and gone < eff:
        found.append(problem(f"deletion date {gone_text} is before the effective date"))
    if cells[5].strip() not in ("0", "1", "9"):
        found.append(problem(f"modifier indicator {cells[5].strip()!r} is not 0, 1 or 9"))
    return found


def build_ptp(
    quarter: Quarter, setting: str, rows: PtpRows
) -> tuple[PtpTable | None, list[LoadProblem]]:
    """The table of the edits read into ``rows``, sorted by pair and effective date. Two
    lines of one pair with the same effective date are one edit when they say the same
    (CMS's parts do not overlap; an export may), a problem naming both when they differ."""
    keys, effective = rows.keys, rows.effective
    n = len(keys)
    if _is_sorted(keys) and _dated_in_order(rows):
        order: Sequence[int] = range(n)
    else:  # CMS's files come sorted; an export may not (a day number is below 2**22)
        by_pair_and_day = [k << 22 | e for k, e in zip(keys, effective, strict=True)]
        order = sorted(range(n), key=by_pair_and_day.__getitem__)
        del by_pair_and_day
    sorted_keys = array("q", map(keys.__getitem__, order))
    columns = [
        array(a.typecode, map(a.__getitem__, order))
        for a in (rows.effective, rows.deleted, rows.modifier, rows.before_1996, rows.rationale)
    ]
    problems: list[LoadProblem] = []
    drop: list[int] = []
    eff = columns[0]
    for i in compress(count(), map(operator.eq, sorted_keys, islice(sorted_keys, 1, None))):
        if eff[i] != eff[i + 1]:
            continue
        if all(c[i] == c[i + 1] for c in columns):
            drop.append(i + 1)
            continue
        a, b = order[i], order[i + 1]
        pair = sorted_keys[i]
        problems.append(
            LoadProblem(
                rows.sources[rows.files[b]],
                rows.lines[b],
                f"the pair {unpack_code(pair >> _CODE_BITS)}/"
                f"{unpack_code(pair & ((1 << _CODE_BITS) - 1))} has another edit with the same "
                f"effective date, on {rows.sources[rows.files[a]]}:{rows.lines[a]}",
            )
        )
    if problems:
        return None, problems
    if drop:
        dropped = set(drop)
        keep = [i for i in range(n) if i not in dropped]
        sorted_keys = array("q", map(sorted_keys.__getitem__, keep))
        columns = [array(c.typecode, map(c.__getitem__, keep)) for c in columns]
    effective_days, deleted, modifier, before_1996, rationale = columns
    firsts, starts = _first_index(sorted_keys)
    table = PtpTable(
        quarter=quarter,
        setting=setting,
        sources=tuple(rows.sources),
        rationales=rows.rationales.texts,
        _keys=sorted_keys,
        _effective=effective_days,
        _deleted=deleted,
        _modifier=modifier,
        _before_1996=before_1996,
        _rationale=rationale,
        _first_codes=firsts,
        _first_starts=starts,
    )
    return table, []


def _is_sorted(values: array[int]) -> bool:
    return all(map(operator.le, values, islice(values, 1, None)))


def _dated_in_order(rows: PtpRows) -> bool:
    """Whether the rows of each pair already go by effective date (files in key order)."""
    keys, effective = rows.keys, rows.effective
    same = compress(count(), map(operator.eq, keys, islice(keys, 1, None)))
    return all(effective[i] <= effective[i + 1] for i in same)


def _first_index(keys: array[int]) -> tuple[array[int], array[int]]:
    """Each column 1 code of ``keys`` (sorted) and where its pairs start, with the end last."""
    firsts = array("q")
    starts = array("q")
    shift = _CODE_BITS
    i, n = 0, len(keys)
    while i < n:
        first = keys[i] >> shift
        firsts.append(first)
        starts.append(i)
        i = bisect_left(keys, (first + 1) << shift, i, n)
    starts.append(n)
    return firsts, starts


_MAI_TEXT = re.compile(r"^\s*([0-9])(?:\s|$)")


def read_mue(name: str, lines: Iterable[str], delimiter: str, rows: MueRows) -> list[LoadProblem]:
    """Add the MUEs of one file to ``rows``; return the file's problems. A code may have one
    MUE in a table."""
    problems: list[LoadProblem] = []
    rows.sources.append(name)
    phase = 0
    for number, cells in _split_rows(lines, delimiter):
        if number < 0:
            problems.append(LoadProblem(name, -number, f"not CSV: {cells[0]}"))
            break
        if phase == 0:
            if _is_mue_header(cells):
                phase = 2
            elif not _text_line(cells):
                problems.append(
                    LoadProblem(name, number, "an edit before the column header (HCPCS/CPT Code)")
                )
                phase = 2
            else:
                continue
            if phase == 2 and _is_mue_header(cells):
                continue
        if not "".join(cells).strip() or _is_mue_header(cells):
            continue

        def problem(what: str, number: int = number) -> LoadProblem:
            return LoadProblem(name, number, what)

        if len(cells) < 4 or "".join(cells[4:]).strip():
            problems.append(
                problem(
                    f"{len(cells)} columns, expected 4 (HCPCS/CPT code, MUE value, "
                    "MUE adjudication indicator, MUE rationale)"
                )
            )
            continue
        code_text, value_text, mai_text = cells[0].strip(), cells[1].strip(), cells[2].strip()
        code = pack_code(code_text)
        bad: list[LoadProblem] = []
        if code is None:
            bad.append(problem(f"HCPCS/CPT code {code_text!r} is not 5 letters or digits"))
        if not (value_text.isascii() and value_text.isdigit() and len(value_text) <= 9):
            bad.append(problem(f"MUE value {value_text!r} is not a whole number of units"))
        mai = _MAI_TEXT.match(mai_text)
        if mai is None or int(mai.group(1)) not in MAI_VALUES:
            bad.append(
                problem(
                    f"MUE adjudication indicator {mai_text!r} is not 1, 2 or 3 "
                    "(such as '2 Date of Service Edit: Policy')"
                )
            )
        if bad or code is None or mai is None:
            problems.extend(bad)
            continue
        earlier = rows.codes.get(code)
        if earlier is not None:
            problems.append(
                problem(
                    f"{code_text} has an MUE already, on {rows.sources[earlier[4]]}:{earlier[3]}"
                )
            )
            continue
        rows.codes[code] = (
            int(value_text),
            int(mai.group(1)),
            rows.rationales(cells[3].strip()),
            number,
            len(rows.sources) - 1,
        )
    if phase == 0 and not problems:
        problems.append(LoadProblem(name, 0, "no column header line (HCPCS/CPT Code, ...)"))
    return problems


def build_mue(quarter: Quarter, setting: str, rows: MueRows) -> MueTable:
    codes = sorted(rows.codes)
    found = rows.codes
    return MueTable(
        quarter=quarter,
        setting=setting,
        sources=tuple(rows.sources),
        rationales=rows.rationales.texts,
        _codes=array("i", codes),
        _values=array("I", (found[c][0] for c in codes)),
        _mai=array("b", (found[c][1] for c in codes)),
        _rationale=array("H", (found[c][2] for c in codes)),
    )


# -- to and from bytes ------------------------------------------------------------------------

_MAGIC = b"claims-engine ncci 1\n"


def _canonical(table: NcciTable) -> tuple[bytes, list[bytes]]:
    arrays = table._arrays()
    header = {
        "kind": table.kind,
        "setting": table.setting,
        "quarter": str(table.quarter),
        "rationales": list(table.rationales),
        "arrays": [[name, a.typecode, len(a)] for name, a in arrays.items()],
    }
    parts = []
    for a in arrays.values():
        if sys.byteorder != "little":  # pragma: no cover - every platform we run on is
            a = array(a.typecode, a)
            a.byteswap()
        parts.append(a.tobytes())
    return orjson.dumps(header, option=orjson.OPT_SORT_KEYS), parts


def digest(table: NcciTable) -> str:
    """The SHA-256 of the table's content (kind, setting, quarter, edits): the same edits
    read from other files, or files named otherwise, have the same digest."""
    header, parts = _canonical(table)
    hashed = hashlib.sha256(header)
    for part in parts:
        hashed.update(part)
    return hashed.hexdigest()


def table_to_bytes(table: NcciTable) -> bytes:
    header, parts = _canonical(table)
    extra = orjson.dumps({"sources": list(table.sources)})
    body = b"".join(
        [
            len(header).to_bytes(4, "little"),
            header,
            len(extra).to_bytes(4, "little"),
            extra,
            *parts,
        ]
    )
    return _MAGIC + zlib.compress(body, 1)


class PayloadError(ValueError):
    """Stored bytes that are not a table this module wrote."""


def table_from_bytes(payload: bytes) -> NcciTable:
    """The table :func:`table_to_bytes` wrote: a copy of its arrays, no parsing."""
    if not payload.startswith(_MAGIC):
        raise PayloadError("not an NCCI table (unknown format)")
    try:
        body = memoryview(zlib.decompress(payload[len(_MAGIC) :]))
    except zlib.error as exc:
        raise PayloadError(f"NCCI table does not decompress: {exc}") from None
    size = int.from_bytes(body[:4], "little")
    header = orjson.loads(bytes(body[4 : 4 + size]))
    at = 4 + size
    extra_size = int.from_bytes(body[at : at + 4], "little")
    extra = orjson.loads(bytes(body[at + 4 : at + 4 + extra_size]))
    at += 4 + extra_size
    arrays: dict[str, array[int]] = {}
    for name, typecode, length in header["arrays"]:
        if _TYPECODES.get(name) != typecode:
            raise PayloadError(f"NCCI table has an unknown array {name!r} ({typecode})")
        a = array(typecode)
        end = at + length * a.itemsize
        a.frombytes(body[at:end])
        if sys.byteorder != "little":  # pragma: no cover
            a.byteswap()
        arrays[name] = a
        at = end
    if at != len(body):
        raise PayloadError("NCCI table has bytes after its arrays")
    quarter = Quarter.parse(header["quarter"])
    common = {
        "quarter": quarter,
        "setting": header["setting"],
        "sources": tuple(extra["sources"]),
        "rationales": tuple(header["rationales"]),
    }
    if header["kind"] == PTP:
        return PtpTable(
            **common,
            _keys=arrays["keys"],
            _effective=arrays["effective"],
            _deleted=arrays["deleted"],
            _modifier=arrays["modifier"],
            _before_1996=arrays["before_1996"],
            _rationale=arrays["rationale"],
            _first_codes=arrays["first_codes"],
            _first_starts=arrays["first_starts"],
        )
    return MueTable(
        **common,
        _codes=arrays["codes"],
        _values=arrays["values"],
        _mai=arrays["mai"],
        _rationale=arrays["rationale"],
    )
