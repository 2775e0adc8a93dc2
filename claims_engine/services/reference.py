"""Reference data in the store, and the runtime built from it.

``claims-engine reference load DIR`` checks a reference directory (the loaders of
:mod:`claims_engine.domain.reference_data`, :mod:`claims_engine.domain.benefits` and
:mod:`claims_engine.adjudication.payment_cycle` name every problem's file and place) and stores its
files' text as a new reference set when the content changed. Workers adjudicate against the newest
set, so every process sees the same data whatever its working directory.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from claims_engine.adjudication.adjudicate import AdjudicationContext, RuleHook
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.adjudication.payment_cycle import Payer, load_payer
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Claim
from claims_engine.domain.ncci import NcciTables
from claims_engine.domain.reference_data import (
    PEND_REASONS_FILE,
    ReferenceData,
    load_reference,
    read_utf8,
)
from claims_engine.enrollment.records import Sponsor, load_sponsors
from claims_engine.rules.book import RuleBook, fingerprint, load_rulebook
from claims_engine.rules.engine import Pend, RulePack
from claims_engine.services.authorizations import import_reference_authorizations
from claims_engine.services.members import ImportResult, enrolled, import_members
from claims_engine.services.ncci_store import ncci_in_force
from claims_engine.store.db import check_lookup_key
from claims_engine.store.tables import REFERENCE, reference_sets_table
from claims_engine.store.vault import current_vault

# The files of a reference directory; ``pend_reasons.yaml`` and ``sponsors.yaml`` are read too
# where they are present.
REFERENCE_FILES = (
    "members.csv",
    "providers.csv",
    "plans.yaml",
    "fee_schedule.csv",
    "revenue_rates.csv",
    "authorizations.csv",
    "payer.yaml",
)

SPONSORS_FILE = "sponsors.yaml"
OPTIONAL_FILES = (PEND_REASONS_FILE, SPONSORS_FILE)

_sets = reference_sets_table


@dataclass(frozen=True, slots=True)
class StoredReference:
    id: int
    sha256: str
    created: bool  # False when the same content was stored before
    members: ImportResult | None = None  # what members.csv did to the enrollment
    authorizations: int = 0  # authorizations.csv's authorizations new to the store


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the workers need to decide claims: reference data, the payer, the rule pack and
    the NCCI edit tables loaded (``ncci load``)."""

    reference_id: int
    reference: ReferenceData
    payer: Payer
    book: RuleBook
    hooks: Mapping[str, RuleHook]  # the adjudication hook of each pack, by its version
    # the member ids of each family, by the key :meth:`family_of` gives
    family_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sponsors: Mapping[str, Sponsor] = field(default_factory=dict)  # by N1*P5 id
    enrollment_version: int = 0  # the newest enrollment version the members include
    ncci: NcciTables = field(default_factory=NcciTables)

    @property
    def rules(self) -> RulePack:
        """The newest rule pack (the one in force today, unless a version starts later)."""
        return self.book.newest

    def context(self, received_on: date, claim: Claim | None = None) -> AdjudicationContext:
        """The adjudication context for a claim received on ``received_on`` (each claim's
        own receipt date decides its timely filing), with the rule pack in force for it: on
        its first date of service, or on ``received_on`` when its plan picks rules by receipt
        (see :mod:`claims_engine.rules.book`). Without a claim, the pack in force on
        ``received_on``."""
        if len(self.book.versions) == 1:  # one pack: no day to find, no member to look up
            pack = self.book.newest
        else:
            pack = self.book.pack_on(self._rules_day(received_on, claim))
        return AdjudicationContext(
            reference=self.reference,
            received_on=received_on,
            rules=self.hooks[pack.version],
            rule_pack_version=pack.version,
            ncci=self.ncci,
        )

    def _rules_day(self, received_on: date, claim: Claim | None) -> date:
        if claim is None:
            return received_on
        member = self.reference.find_patient(
            claim.subscriber.member_id,
            claim.patient_relationship,
            claim.patient.first_name,
            claim.patient.birth_date,
        )
        day = claim.service_from or received_on
        dental = claim.claim_type == "D"
        plan = self.reference.plans.get(member.plan_on(day, dental=dental)) if member else None
        if plan is not None and plan.rules_by == "receipt_date":
            return received_on
        days = [d for d in (ln.service_from for ln in claim.lines) if d is not None]
        if claim.statement_from is not None:
            days.append(claim.statement_from)
        return min(days) if days else received_on

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

    def identifiers_of(self, claims: Iterable[Claim]) -> set[str]:
        """Every member id and family key the adjudication of ``claims`` can name: their
        families' members from the reference data and the ids the claims carry. A lookup
        column's values among these can be read back (see :func:`readable_lookups`)."""
        found: set[str] = set()
        for claim in claims:
            family = self.family_of(claim)
            found.add(family)
            found.update(self.family_members.get(family, ()))
            found.update((claim.subscriber.member_id, claim.patient.member_id))
            found.add(self.patient_of(claim))
        found.discard("")
        return found


def family_index(reference: ReferenceData) -> dict[str, tuple[str, ...]]:
    """The member ids of each family, keyed as :meth:`Runtime.family_of` keys families."""
    index: dict[str, list[str]] = {}
    for member in reference.members.values():
        index.setdefault(f"family:{member.family_id}", []).append(member.member_id)
    return {k: tuple(sorted(v)) for k, v in index.items()}


def _read_files(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        raise ConfigurationError(f"{directory} is not a directory of reference data")
    files: dict[str, str] = {}
    for name in REFERENCE_FILES:
        path = directory / name
        if not path.exists():
            raise ConfigurationError(f"{directory}: {name} is missing")
        files[name] = read_utf8(path)  # one line naming the file, and the line of a bad byte
    for name in OPTIONAL_FILES:
        optional = directory / name
        if optional.exists():
            files[name] = read_utf8(optional)
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


def parse_sponsors(files: Mapping[str, str], reference: ReferenceData) -> dict[str, Sponsor]:
    """The sponsors of a set's ``sponsors.yaml`` (none without one)."""
    text = files.get(SPONSORS_FILE)
    return {} if text is None else load_sponsors(text, SPONSORS_FILE, tuple(reference.plans))


def _checked(directory: Path) -> tuple[dict[str, str], ReferenceData, Payer]:
    files = _read_files(directory)
    # every problem, named by file and line, before anything is stored
    reference = load_reference(directory)
    parse_sponsors(files, reference)
    return files, reference, load_payer(directory / "payer.yaml")


def check_reference(directory: Path) -> tuple[ReferenceData, Payer]:
    """Every check :func:`store_reference` makes before it stores a set, storing nothing:
    ``reference load --check`` says valid of a directory exactly when the load would take it."""
    _, reference, payer = _checked(directory)
    return reference, payer


def store_reference(engine: Engine, directory: Path, now: datetime) -> StoredReference:
    """Check the reference data in ``directory`` and store it as the set in force; its
    ``members.csv`` is imported into the enrollment
    (:func:`~claims_engine.services.members.import_members`), and its ``authorizations.csv``
    becomes approved authorizations
    (:func:`~claims_engine.services.authorizations.import_reference_authorizations`)."""
    files, reference, _ = _checked(directory)
    digest = _digest(files)
    with engine.begin() as conn:
        found = conn.execute(select(_sets.c.id).where(_sets.c.sha256 == digest)).scalar()
        if found is None:
            found = conn.execute(
                insert(_sets)
                .values(
                    sha256=digest, loaded_at=now, files=current_vault().seal_json(files, REFERENCE)
                )
                .returning(_sets.c.id)
            ).scalar_one()
            created = True
        else:
            created = False
    members = import_members(engine, reference.members.values(), now)
    authorizations = import_reference_authorizations(engine, reference, now)
    return StoredReference(
        int(found), digest, created=created, members=members, authorizations=authorizations
    )


def latest_reference_id(conn: Connection) -> int | None:
    found = conn.execute(select(_sets.c.id).order_by(_sets.c.id.desc()).limit(1)).scalar()
    return None if found is None else int(found)


_cache: dict[tuple[str, int, str, Any, str, int], Runtime] = {}
_cache_lock = threading.Lock()
RULES_LOOK_SECONDS = 2.0  # how often a process looks for a changed rules folder
_looked: dict[str, tuple[float, Any]] = {}


def _rules_mark(rules_dir: Path, look_seconds: float) -> Any:
    """The rules folder's fingerprint, read again when ``look_seconds`` have passed."""
    key = str(rules_dir)
    now = time.monotonic()
    seen = _looked.get(key)
    if seen is None or now - seen[0] >= look_seconds:
        seen = (now, fingerprint(rules_dir))
        _looked[key] = seen
    return seen[1]


def check_pend_codes(book: RuleBook, reference: ReferenceData) -> None:
    """Refuse rules that pend for a code the reference data's pend reasons do not define: the
    claim would go to no queue the payer keeps."""
    known = reference.pend_reasons.reasons
    for _start, pack in book.versions:
        for rule in pack.rules:
            action = rule.action
            if isinstance(action, Pend) and action.code not in known:
                raise ConfigurationError(
                    f"{rule.source or 'rules'}: rule {rule.id} pends for code {action.code!r}, "
                    f"which {PEND_REASONS_FILE} of the reference data does not define "
                    f"(defined: {', '.join(sorted(known))})"
                )


def load_runtime(
    engine: Engine, rules_dir: Path, *, look_seconds: float = RULES_LOOK_SECONDS
) -> Runtime:
    """The runtime for the newest reference set and the rule packs in ``rules_dir``; built
    once per process for each (database, set, rules folder as its files are).

    A worker takes up a changed rules folder without a restart: every ``look_seconds`` it
    looks at the folder's files, and when they changed it loads every pack again and swaps
    the whole runtime. A batch keeps the runtime it started with, so it never sees half a
    pack; a folder that no longer loads is refused, and the last good runtime stays only
    until the process asks for a new one (the error names the file and rule)."""
    vault = current_vault()
    with engine.connect() as conn:
        set_id = latest_reference_id(conn)
        view = enrolled(conn)
        version = view.last_id
        members, families = view.in_force()
    if set_id is None:
        raise ConfigurationError(
            "the store holds no reference data: run `claims-engine reference load DIR` first"
        )
    with _cache_lock:
        mark = _rules_mark(rules_dir, look_seconds)
        store = engine.url.render_as_string(hide_password=True)
        key = (store, set_id, str(rules_dir), mark, vault.identity(), version)
        runtime = _cache.get(key)
        if runtime is None:
            with engine.connect() as conn:
                check_lookup_key(conn, vault)
                sealed = conn.execute(
                    select(_sets.c.files).where(_sets.c.id == set_id)
                ).scalar_one()
            files = dict(vault.open_json(sealed, REFERENCE, set_id))
            reference, payer = parse_reference(files)
            reference = replace(reference, members=members, families=families)
            book = load_rulebook(rules_dir, known_plans=reference.plans)
            check_pend_codes(book, reference)
            hooks = {pack.version: rule_hook(pack) for _, pack in book.versions}
            runtime = Runtime(
                set_id,
                reference,
                payer,
                book,
                hooks,
                family_index(reference),
                parse_sponsors(files, reference),
                version,
            )
            for old in [k for k in _cache if k[:3] == key[:3]]:
                del _cache[old]  # the runtime of the folder as it was: batches holding it finish
            _cache[key] = runtime
    # the NCCI tables: one look at which are stored, rebuilt only when one changed
    tables = ncci_in_force(engine)
    if not same_tables(runtime.ncci, tables):
        runtime = replace(runtime, ncci=tables)
        with _cache_lock:
            if key in _cache:
                _cache[key] = runtime
    return runtime


def same_tables(a: NcciTables, b: NcciTables) -> bool:
    """Whether two sets of NCCI tables hold the very same tables (the service keeps each
    table it rebuilt, so an unchanged store gives the same objects)."""
    if a.tables.keys() != b.tables.keys():
        return False
    for key, tables in a.tables.items():
        others = b.tables[key]
        if len(tables) != len(others) or any(
            x is not y for x, y in zip(tables, others, strict=True)
        ):
            return False
    return True
