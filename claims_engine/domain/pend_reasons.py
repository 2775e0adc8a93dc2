"""Why a claim waits for an examiner: pend reasons as data.

A pended claim carries one or more :class:`PendItem` values: a code, the line it is about (or
none for the whole claim), what raised it (a rule id, or a stage of the engine) and the detail
that stage gave. What a code means to the people who work it (its plain-language text, the
queue it goes to, its priority and the days allowed to work it) is the payer's to decide, in
``pend_reasons.yaml`` of the reference data (:func:`load_pend_reasons`); the engine raises the
codes of :data:`ENGINE_CODES` itself, and a file that leaves one out gets its default here.

:func:`items_from_text` reads the free-text pend reasons that decisions held before pend
reasons were codes, for ``db upgrade`` and for decisions stored then.

Pure: no clock, no environment; the loader reads the text it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import yaml

from claims_engine.domain.errors import ConfigurationError

# Codes the engine raises itself (adjudication stages, the store, examiner actions).
HIGH_DOLLAR = "HIGH-DOLLAR"  # the claim's charge is above the plan's pend_above
NO_PRICE = "NO-PRICE"  # a line has no price on file
RULE_REVIEW = "RULE-REVIEW"  # a coverage rule pends without naming a code
RULE_ERROR = "RULE-ERROR"  # a rule's condition failed or spent the claim's budget
ADJUDICATION_ERROR = "ADJUDICATION-ERROR"  # adjudication raised
CLAIM_UNREADABLE = "CLAIM-UNREADABLE"  # the stored claim could not be read
INFO_REQUESTED = "INFO-REQUESTED"  # an examiner asked the provider for information
UNCLASSIFIED = "UNCLASSIFIED"  # a free-text reason from before codes, not recognised
# an NCCI PTP column 1 code billed after its column 2 code was paid on an earlier claim
NCCI_PTP_PAID = "NCCI-PTP-PAID"

PRIORITIES = range(1, 6)  # 1 is the most urgent
PEND_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}\Z")
_QUEUE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}\Z")


@dataclass(frozen=True, slots=True)
class PendItem:
    """One reason a claim pends: ``line`` 0 is the whole claim; ``rule`` the coverage rule
    that raised it (empty when the engine did: its code says which stage)."""

    code: str
    line: int = 0
    rule: str = ""
    detail: str = ""  # what the stage or rule said, for the examiner

    @property
    def key(self) -> tuple[str, int]:
        """What a resolution names: the same cause on the same line does not pend again."""
        return (self.code, self.line)

    def describe(self) -> str:
        """The item as decisions wrote pend reasons before codes (``line 2: ... (RULE-ID)``)."""
        where = f"line {self.line}: " if self.line else ""
        rule = f" ({self.rule})" if self.rule else ""
        return f"{where}{self.detail or self.code}{rule}"


@dataclass(frozen=True, slots=True)
class PendReason:
    """What a pend code means to the people who work it."""

    code: str
    text: str
    queue: str
    priority: int
    days: int  # days allowed to work it, from when it was raised
    # a request to the provider: the claim waits for them, not for an examiner, and providers
    # see ``text`` and what was asked in the claim's status
    waits_for_provider: bool = False


DEFAULT_REASONS: Mapping[str, PendReason] = MappingProxyType(
    {
        r.code: r
        for r in (
            PendReason(
                HIGH_DOLLAR, "Charge above the plan's review threshold", "high-dollar", 2, 10
            ),
            PendReason(NO_PRICE, "No price on file for a service", "pricing", 3, 10),
            PendReason(RULE_REVIEW, "A coverage rule asks for review", "clinical-review", 3, 15),
            PendReason(RULE_ERROR, "A coverage rule could not be evaluated", "rules-support", 1, 3),
            PendReason(ADJUDICATION_ERROR, "Adjudication failed", "rules-support", 1, 3),
            PendReason(
                CLAIM_UNREADABLE, "The stored claim could not be read", "rules-support", 1, 3
            ),
            PendReason(
                INFO_REQUESTED,
                "Information requested from the provider",
                "waiting-for-provider",
                4,
                45,
                waits_for_provider=True,
            ),
            PendReason(UNCLASSIFIED, "Pended before pend reasons had codes", "general", 3, 15),
            PendReason(
                NCCI_PTP_PAID,
                "Billed with a service paid on an earlier claim (NCCI edit)",
                "coding-review",
                3,
                10,
            ),
        )
    }
)
ENGINE_CODES: tuple[str, ...] = tuple(DEFAULT_REASONS)


@dataclass(frozen=True, slots=True)
class PendCatalogue:
    """The payer's pend reasons by code (every engine code included)."""

    reasons: Mapping[str, PendReason]

    def get(self, code: str) -> PendReason:
        """The reason for ``code``; an unknown code (a decision stored under an older file)
        is worked in the ``general`` queue rather than lost."""
        found = self.reasons.get(code)
        if found is not None:
            return found
        return PendReason(code, code, "general", 3, 15)

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(sorted({r.queue for r in self.reasons.values()}))


DEFAULT_CATALOGUE = PendCatalogue(DEFAULT_REASONS)
_KEYS = frozenset({"text", "queue", "priority", "days", "waits_for_provider"})


def load_pend_reasons(text: str, file: str = "pend_reasons.yaml") -> PendCatalogue:
    """The catalogue a ``pend_reasons.yaml`` text describes; a problem names the file and the
    code. Engine codes the file leaves out keep their defaults."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigurationError(f"{file}:{where} is not valid YAML") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("reasons"), Mapping):
        raise ConfigurationError(f"{file}: expected a top-level 'reasons' mapping of codes")
    reasons = dict(DEFAULT_REASONS)
    for code, body in raw["reasons"].items():
        where = f"{file}: reason {code!r}"
        if not isinstance(code, str) or not PEND_CODE.match(code):
            raise ConfigurationError(f"{where}: a code is A-Z, 0-9 and '-', at most 32 characters")
        if not isinstance(body, Mapping):
            raise ConfigurationError(f"{where}: expected {{text, queue, priority, days}}")
        unknown = set(body) - _KEYS
        if unknown:
            raise ConfigurationError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        missing = [k for k in ("text", "queue", "priority", "days") if k not in body]
        if missing:
            raise ConfigurationError(f"{where}: missing {missing[0]!r}")
        text_, queue = body["text"], body["queue"]
        if not isinstance(text_, str) or not text_.strip() or len(text_) > 200:
            raise ConfigurationError(f"{where}: text is 1 to 200 characters")
        if not isinstance(queue, str) or not _QUEUE.match(queue):
            raise ConfigurationError(
                f"{where}: queue {queue!r} is a-z, 0-9 and '-', at most 32 characters"
            )
        priority, days = body["priority"], body["days"]
        if (
            isinstance(priority, bool)
            or not isinstance(priority, int)
            or priority not in PRIORITIES
        ):
            raise ConfigurationError(f"{where}: priority {priority!r} is a whole number 1 to 5")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise ConfigurationError(f"{where}: days {days!r} is a whole number 1 to 365")
        waits = body.get("waits_for_provider", False)
        if not isinstance(waits, bool):
            raise ConfigurationError(f"{where}: waits_for_provider is true or false")
        if code in DEFAULT_REASONS and waits != DEFAULT_REASONS[code].waits_for_provider:
            raise ConfigurationError(f"{where}: waits_for_provider of an engine code is fixed")
        reasons[code] = PendReason(code, text_.strip(), queue, priority, days, waits)
    return PendCatalogue(MappingProxyType(reasons))


# --- free-text reasons from before codes -----------------------------------------------------

_HIGH = re.compile(r"charge .+ is above .+\Z")
_LINE = re.compile(r"line (?P<line>\d{1,6}): (?P<rest>.*)\Z", re.S)
_NO_PRICE = re.compile(r"no price on file for (?P<code>.*)\Z")
_RULE = re.compile(r"(?P<detail>.*) \((?P<rule>[A-Za-z0-9_.:-]{1,80})\)\Z", re.S)


def items_from_text(text: str) -> tuple[PendItem, ...]:
    """The pend items a free-text pend reason of an older decision stands for: the parts the
    engine wrote (``"; "``-joined) become their codes, anything else ``UNCLASSIFIED`` with its
    text kept. An error text (``adjudication failed: ...``) is ``ADJUDICATION-ERROR``."""
    text = text.strip()
    if not text:
        return ()
    if text.startswith("adjudication failed:"):
        return (PendItem(ADJUDICATION_ERROR, 0, "", text),)
    items: list[PendItem] = []
    for part in text.split("; "):
        high = _HIGH.match(part)
        if high:
            items.append(PendItem(HIGH_DOLLAR, 0, "", part))
            continue
        found = _LINE.match(part)
        line, rest = (int(found["line"]), found["rest"]) if found else (0, part)
        price = _NO_PRICE.match(rest)
        rule = _RULE.match(rest)
        if found and price:
            items.append(PendItem(NO_PRICE, line, "", rest))
        elif found and rule:
            failed = rule["detail"].startswith(f"rule {rule['rule']} ") and (
                "could not be evaluated" in rule["detail"] or "evaluation budget" in rule["detail"]
            )
            code = RULE_ERROR if failed else RULE_REVIEW
            items.append(PendItem(code, line, rule["rule"], rule["detail"]))
        else:
            items.append(PendItem(UNCLASSIFIED, line, "", rest))
    return tuple(items)
