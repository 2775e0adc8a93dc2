"""Reference data in the store, and the runtime built from it.

``claims-engine reference load DIR`` checks a reference directory (the loaders of
:mod:`claims_engine.reference`, :mod:`claims_engine.benefits` and :mod:`claims_engine.remittance`
name every problem's file and place) and stores its files' text as a new reference set when the
content changed. Workers adjudicate against the newest set, so every process sees the same data
whatever its working directory.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select

from claims_engine.adjudication.adjudicate import AdjudicationContext
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.errors import ConfigurationError
from claims_engine.model import Claim
from claims_engine.reference import ReferenceData, load_reference
from claims_engine.remittance import Payer, load_payer
from claims_engine.rules import RulePack, load_pack
from claims_engine.store.tables import reference_sets_table

REFERENCE_FILES = (
    "members.csv",
    "providers.csv",
    "plans.yaml",
    "fee_schedule.csv",
    "revenue_rates.csv",
    "authorizations.csv",
    "payer.yaml",
)

_sets = reference_sets_table


@dataclass(frozen=True, slots=True)
class StoredReference:
    id: int
    sha256: str
    created: bool  # False when the same content was stored before


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the workers need to decide claims: reference data, the payer and the rule pack."""

    reference_id: int
    reference: ReferenceData
    payer: Payer
    rules: RulePack

    def context(self, received_on: date) -> AdjudicationContext:
        """The adjudication context for claims received on ``received_on`` (each claim's own
        receipt date decides its timely filing)."""
        return AdjudicationContext(
            reference=self.reference,
            received_on=received_on,
            rules=rule_hook(self.rules),
            rule_pack_version=self.rules.version,
        )

    def family_of(self, claim: Claim) -> str:
        """The key a claim's accumulators and history are locked and kept by: the family the
        payer enrolled the subscriber in, else the subscriber's member id as submitted."""
        subscriber = claim.subscriber.member_id
        member = self.reference.members.get(subscriber)
        return f"family:{member.family_id}" if member else f"subscriber:{subscriber}"

    def patient_of(self, claim: Claim) -> str:
        """The member id of the claim's patient as the payer knows them: a dependant, who has
        no member id of their own in a 5010 837, is found on the subscriber's policy by birth
        date (and name); else the id as submitted."""
        patient = claim.patient
        found = self.reference.find_patient(
            claim.subscriber.member_id,
            claim.patient_relationship,
            patient.first_name,
            patient.birth_date,
        )
        if found is not None:
            return found.member_id
        return patient.member_id or claim.subscriber.member_id


def _read_files(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        raise ConfigurationError(f"{directory} is not a directory of reference data")
    files: dict[str, str] = {}
    for name in REFERENCE_FILES:
        path = directory / name
        try:
            files[name] = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(f"{directory}: {name} is missing") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read {path}: {exc}") from None
    return files


def _digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()


def parse_reference(files: dict[str, str]) -> tuple[ReferenceData, Payer]:
    """Reference data and payer from the files' text, through the same loaders as a folder."""
    with tempfile.TemporaryDirectory(prefix="claims-reference-") as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        return load_reference(root), load_payer(root / "payer.yaml")


def store_reference(engine: Engine, directory: Path, now: datetime) -> StoredReference:
    """Check the reference data in ``directory`` and store it as the set in force."""
    files = _read_files(directory)
    load_reference(directory)  # every problem, named by file and line, before anything is stored
    load_payer(directory / "payer.yaml")
    digest = _digest(files)
    with engine.begin() as conn:
        found = conn.execute(select(_sets.c.id).where(_sets.c.sha256 == digest)).scalar()
        if found is not None:
            return StoredReference(found, digest, created=False)
        new_id = conn.execute(
            insert(_sets).values(sha256=digest, loaded_at=now, files=files).returning(_sets.c.id)
        ).scalar_one()
    return StoredReference(new_id, digest, created=True)


def latest_reference_id(conn: Connection) -> int | None:
    return conn.execute(select(_sets.c.id).order_by(_sets.c.id.desc()).limit(1)).scalar()


_cache: dict[tuple[str, int, str], Runtime] = {}
_cache_lock = threading.Lock()


def load_runtime(engine: Engine, rules_dir: Path) -> Runtime:
    """The runtime for the newest reference set and the rule pack in ``rules_dir``; built once
    per process for each (database, set, rules folder)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(_sets.c.id, _sets.c.files).order_by(_sets.c.id.desc()).limit(1)
        ).first()
    if row is None:
        raise ConfigurationError(
            "the store holds no reference data: run `claims-engine reference load DIR` first"
        )
    key = (engine.url.render_as_string(hide_password=True), int(row.id), str(rules_dir))
    with _cache_lock:
        runtime = _cache.get(key)
        if runtime is None:
            reference, payer = parse_reference(dict(row.files))
            pack = load_pack(rules_dir, known_plans=reference.plans)
            runtime = Runtime(int(row.id), reference, payer, pack)
            _cache[key] = runtime
    return runtime
