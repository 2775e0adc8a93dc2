"""The PHI of the fixtures, and scans of stored bytes for it.

``phi_values()`` gathers every patient and subscriber value the fixtures hold: from the
reference members (member and subscriber ids, names, birth dates in both the ISO and the X12
form, street addresses and cities) and from the 837 files (NM1 names and ids of subscribers and
patients, their N3 / N4 addresses, DMG birth dates, PER phone numbers, CLM01 patient control
numbers). A value is found where it stands as a whole token: not inside a longer run of letters
and digits (``MARY`` is not found in ``PRIMARY``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_837S = sorted(
    p
    for folder in ("837p", "837i", "837d", "valid")
    for p in (ROOT / "fixtures" / "x12" / folder).iterdir()
    if p.suffix == ".edi"
)
BAD_BIRTH_DATE = b"19931345"
_PATIENT_LOOPS = {"IL", "QC"}  # NM101 of the subscriber (2010BA) and the patient (2010CA)


@dataclass(frozen=True, slots=True)
class Leak:
    where: str
    kind: str
    value: str


def _segments(text: str) -> Iterator[list[str]]:
    text = text.lstrip("\ufeff")
    element, terminator = text[3], text[105]
    for raw in text.split(terminator):
        raw = raw.strip("\r\n ")
        if raw:
            yield raw.split(element)


def _x8(iso: str) -> str:
    return iso.replace("-", "")


def _837_values(path: Path) -> Iterator[tuple[str, str]]:
    in_patient = False
    for seg in _segments(path.read_text(encoding="utf-8")):
        tag = seg[0]
        if tag == "NM1":
            in_patient = len(seg) > 1 and seg[1] in _PATIENT_LOOPS
            if in_patient:
                for n, kind in ((3, "last name"), (4, "first name"), (9, "member id")):
                    if len(seg) > n:
                        yield kind, seg[n]
        elif tag in ("HL", "CLM", "SBR", "PAT"):
            in_patient = False
            if tag == "CLM" and len(seg) > 1:
                yield "patient control number", seg[1]
        elif in_patient and tag == "N3":
            yield from (("address", v) for v in seg[1:3])
        elif in_patient and tag == "N4" and len(seg) > 1:
            yield "city", seg[1]
        elif in_patient and tag == "DMG" and len(seg) > 2:
            yield "birth date", seg[2]
            yield "birth date", f"{seg[2][:4]}-{seg[2][4:6]}-{seg[2][6:8]}"
        elif tag == "PER":
            yield from (("phone", seg[n]) for n in (4, 6, 8) if len(seg) > n)


def phi_values(*, min_length: int = 4) -> dict[str, str]:
    """Every PHI value of the fixtures (at least ``min_length`` characters), to its kind."""
    found: dict[str, str] = {}

    def add(kind: str, value: str) -> None:
        value = value.strip()
        if len(value) >= min_length:
            found.setdefault(value, kind)

    with (ROOT / "fixtures" / "reference" / "members.csv").open(encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            add("member id", row["member_id"])
            add("member id", row["subscriber_id"])
            add("last name", row["last_name"])
            add("first name", row["first_name"])
            add("birth date", row["birth_date"])
            add("birth date", _x8(row["birth_date"]))
            add("address", row["address_line"])
            add("city", row["city"])
    for path in FIXTURE_837S:
        for kind, value in _837_values(path):
            add(kind, value)
    return found


def _is_token_edge(data: bytes, at: int) -> bool:
    return at < 0 or at >= len(data) or not chr(data[at]).isalnum()


def scan(where: str, data: bytes, values: dict[str, str], *, min_length: int = 0) -> list[Leak]:
    """The values (of at least ``min_length`` characters) that ``data`` holds as tokens."""
    leaks: list[Leak] = []
    for value, kind in values.items():
        if len(value) < min_length:
            continue
        needle = value.encode()
        at = data.find(needle)
        while at >= 0:
            if _is_token_edge(data, at - 1) and _is_token_edge(data, at + len(needle)):
                leaks.append(Leak(where, kind, value))
                break
            at = data.find(needle, at + 1)
    return leaks


def phi_values_of_files() -> dict[str, str]:
    """What :func:`files_with_phi` puts in a store: the fixtures' PHI and the bad birth date."""
    return {**phi_values(), BAD_BIRTH_DATE.decode(): "birth date"}


def files_with_phi(tmp: Path, claims: int, seed: int) -> list[tuple[str, bytes]]:
    """The fixture 837s, a generated batch, and a fixture whose patient's birth date is no
    date (rejected: its reason must not quote it), as ``(name, bytes)``."""
    from tests.integration.pipeline_support import generated_837

    files = [(p.name, p.read_bytes()) for p in FIXTURE_837S]
    files.append(("batch.837", generated_837(tmp / "batch.837", claims=claims, seed=seed)))
    bad = FIXTURE_837S[-1].read_bytes().replace(b"DMG*D8*19930501", b"DMG*D8*" + BAD_BIRTH_DATE)
    files.append(("bad-birth-date.837", bad.replace(b"*000000101*", b"*000000909*")))
    return files
