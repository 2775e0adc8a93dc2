"""Prior authorization decisions as data: ``rules/prior-auth/decisions.yaml``.

Which services need authorization is what the coverage rules already say: a line that meets a
``require_authorization`` rule of the pack in force (:func:`requiring_rule`) needs one, and a
service that meets none is answered "no action required" (NA). This file says what is decided
about the services that do need one, and when:

- ``clocks``: how long the payer has to decide, from receipt (``standard``, ``expedited``), how
  long before that an open request is alerted (``alert_before``) and what an extension adds;
  by default, and per line of business (``lines_of_business``: the plans of each) and per plan
  (``plans``), the plan's own over its line of business's over the default. Durations are
  ``72h`` or ``7d``.
- ``gold_cards``: providers (requesting NPI) exempt from review for some codes, for a time.
- ``decisions``: rules in file order; the first in force whose scope and criteria meet a
  service decides it: ``approve`` (``max_quantity`` approves at most that many: more asked is
  a modification, A6), ``review`` (a clinical reviewer's queue, A4) or ``deny`` (A3, with a
  ``reason`` in words, always, a short ``code`` of the file's own, and ``x12_reason``, the
  code of X12's external code list 886, Health Care Services Review Decision Reason Codes,
  that a 278 response carries in HCR03: two letters or digits, by default
  :data:`DEFAULT_X12_REASON`). A service no rule meets goes to review: nothing is denied that
  no rule denies. The file's own code is kept with the reason in words (``LBP6W - Imaging
  ...``), which a 278 response carries in MSG.

Loading checks everything (durations, plans, codes, criteria, that every denial has a
reason) and raises :class:`~claims_engine.rules.engine.RuleError` naming the file, the rule
and the problem. Pure apart from reading the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from claims_engine.domain.prior_auth import (
    DEFAULT_CLOCKS,
    Action,
    AuthRequest,
    AuthService,
    ClockSettings,
    RequestDecision,
    ServiceDecision,
    Urgency,
    decision_reason,
    request_action,
)
from claims_engine.rules.book import RuleBook
from claims_engine.rules.engine import (
    LineFacts,
    MemberHistory,
    RequireAuthorization,
    RuleError,
    RulePack,
    Scope,
    age_on,
    parse_yaml,
)

DECISIONS_FILE = Path("prior-auth") / "decisions.yaml"  # beside the coverage rules' pack
CLINICAL_QUEUE = "clinical"
NO_RULE_REASON = "no decision rule meets the service: a clinical reviewer decides"

_FILE_KEYS = frozenset({"clocks", "lines_of_business", "plans", "gold_cards", "decisions"})
_CLOCK_KEYS = frozenset({"standard", "expedited", "alert_before", "extension"})
_RULE_KEYS = frozenset(
    {"id", "description", "effective_from", "effective_through", "scope", "criteria", "then"}
)
_SCOPE_KEYS = frozenset({"procedures", "procedure_ranges", "plans", "places_of_service"})
_CRITERIA_KEYS = frozenset({"gold_card", "urgency", "diagnoses", "max_quantity", "in_network"})
_DURATION = re.compile(r"^(\d{1,5})([hd])$")
_CODE = re.compile(r"^[A-Z0-9]{1,8}$")
# HCR03 of a 278 response: a code of X12's external code list 886 (Health Care Services Review
# Decision Reason Codes), two letters or digits (01 ... 09, 0A ... 0Z, 10 ...)
X12_REASON = re.compile(r"^[0-9A-Z]{2}$")
# 886 "0F": Not Medically Necessary. A decision rule denies on clinical criteria (the service,
# diagnoses, urgency, quantity, a gold card): a medical necessity determination, unless the
# rule names another code of the list (09 out of network, 0T experimental, 0M non-covered ...)
DEFAULT_X12_REASON = "0F"
# 886 "0M": Non-covered Service: what the service itself denies when the member is not
# covered by the plan on the days asked
NOT_COVERED_X12_REASON = "0M"


@dataclass(frozen=True, slots=True)
class GoldCard:
    """A requesting provider whose requests for these codes are exempt from review."""

    npi: str
    codes: Scope
    effective_from: date
    effective_through: date | None = None

    def covers(self, npi: str, code: str, day: date) -> bool:
        if npi != self.npi or day < self.effective_from:
            return False
        if self.effective_through is not None and day > self.effective_through:
            return False
        return _code_in(self.codes, code)


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a decision rule asks of the request besides the service's scope (each given
    one must hold): a gold card for the code, the urgency, a diagnosis among these (codes or
    prefixes ending in ``*``), at most so much asked, the servicing provider in network."""

    gold_card: bool | None = None
    urgency: Urgency | None = None
    diagnoses: tuple[str, ...] = ()
    max_quantity: Decimal | None = None
    in_network: bool | None = None


@dataclass(frozen=True, slots=True)
class DecisionRule:
    id: str
    description: str
    effective_from: date
    effective_through: date | None
    scope: Scope
    criteria: Criteria
    action: Action  # A1 approve, A4 review, A3 deny
    reason: str = ""
    code: str = ""  # the file's own short code of the reason
    max_quantity: Decimal | None = None  # an approval of at most this much
    x12_reason: str = ""  # a denial's HCR03 (code list 886)

    @property
    def words(self) -> str:
        """The reason in words, behind the file's own code when the rule has one."""
        return with_code(self.code, self.reason)

    def in_force(self, day: date) -> bool:
        if day < self.effective_from:
            return False
        return self.effective_through is None or day <= self.effective_through


@dataclass(frozen=True, slots=True)
class AuthRules:
    """The decisions file as loaded; ``version`` is the first 12 hex digits of its SHA-256."""

    decisions: tuple[DecisionRule, ...] = ()
    gold_cards: tuple[GoldCard, ...] = ()
    clocks: ClockSettings = DEFAULT_CLOCKS
    line_of_business: Mapping[str, str] = field(default_factory=dict)  # plan -> line
    line_clocks: Mapping[str, ClockSettings] = field(default_factory=dict)
    plan_clocks: Mapping[str, ClockSettings] = field(default_factory=dict)
    version: str = ""
    source: str = ""

    def clocks_for(self, plan_id: str) -> ClockSettings:
        """The clocks of ``plan_id``: its own, else its line of business's, else the file's."""
        own = self.plan_clocks.get(plan_id)
        if own is not None:
            return own
        line = self.line_of_business.get(plan_id)
        return self.line_clocks.get(line, self.clocks) if line else self.clocks

    def gold_carded(self, npi: str, code: str, day: date) -> bool:
        return any(card.covers(npi, code, day) for card in self.gold_cards)


# -- which services need authorization ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the coverage rules know of the member and the servicing provider."""

    plan_id: str
    birth_date: date
    sex: str
    in_network: bool


def service_facts(request: AuthRequest, service: AuthService, member: MemberFacts) -> LineFacts:
    """The service as the coverage rules see a claim's line."""
    day = service.first_day
    assert day is not None  # AuthRequest.check
    code = service.code.strip().upper()
    revenue = service.code_kind == "revenue"
    claim_type = "I" if revenue else ("D" if code.startswith("D") and len(code) == 5 else "P")
    sex = member.sex.strip().upper()
    return LineFacts(
        claim_type=claim_type,
        procedure="" if revenue else code,
        revenue_code=code if revenue else "",
        modifiers=tuple(m.strip().upper() for m in service.modifiers),
        units=service.quantity,
        place_of_service=service.place_of_service,
        diagnoses=tuple(_diagnosis(d) for d in request.diagnoses),
        age=age_on(member.birth_date, day),
        sex=sex if sex in ("F", "M") else "U",
        network="in" if member.in_network else "out",
        plan=member.plan_id,
        service_date=day,
        category=service.category,
    )


def requiring_rule(
    pack: RulePack, request: AuthRequest, service: AuthService, member: MemberFacts
) -> str | None:
    """The id of the first coverage rule that requires an authorization for ``service``
    (``None``: it needs none)."""
    facts = service_facts(request, service, member)
    day = facts.service_date
    for action in pack.evaluate(facts, MemberHistory(day)):
        if isinstance(action, RequireAuthorization):
            return action.rule_id
    return None


def services_needing_authorization(pack: RulePack) -> list[tuple[str, str, str]]:
    """The services the pack requires authorization for, as the public report lists them:
    ``(plans, codes, description)``, in pack order (plans ``all`` when the rule names none)."""
    found: list[tuple[str, str, str]] = []
    for rule in pack.rules:
        if not isinstance(rule.action, RequireAuthorization):
            continue
        scope = rule.scope
        codes = sorted(scope.procedures) + [f"{lo}-{hi}" for lo, hi in scope.procedure_ranges]
        if scope.categories:
            codes += [f"category {c}" for c in sorted(scope.categories)]
        plans = " ".join(sorted(scope.plans)) or "all"
        found.append((plans, " ".join(codes), rule.description))
    return found


# -- deciding -------------------------------------------------------------------------------


def decide_request(
    request: AuthRequest,
    rules: AuthRules,
    pack: RulePack,
    member: MemberFacts,
) -> RequestDecision:
    """What the rules decide of ``request`` (see the module docstring), service by service."""
    decisions: list[ServiceDecision] = []
    for line, service in enumerate(request.services, 1):
        if requiring_rule(pack, request, service, member) is None:
            decisions.append(ServiceDecision(line, Action.NOT_REQUIRED, service.quantity))
            continue
        decisions.append(_decide_service(line, request, service, rules, member))
    action = request_action(decisions)
    return RequestDecision(action, tuple(decisions), decision_reason(decisions))


def _decide_service(
    line: int, request: AuthRequest, service: AuthService, rules: AuthRules, member: MemberFacts
) -> ServiceDecision:
    day = service.first_day
    assert day is not None
    code = service.code.strip().upper()
    for rule in rules.decisions:
        if not rule.in_force(day) or not _scope_meets(rule.scope, code, member.plan_id, service):
            continue
        if not _criteria_meet(rule.criteria, request, service, rules, member, code, day):
            continue
        if rule.action is Action.CERTIFIED:
            if rule.max_quantity is not None and service.quantity > rule.max_quantity:
                reason = rule.reason or (
                    f"approved {rule.max_quantity} of the {service.quantity} {service.unit} "
                    f"asked for ({rule.description})"
                )
                return ServiceDecision(
                    line,
                    Action.MODIFIED,
                    rule.max_quantity,
                    with_code(rule.code, reason),
                    "",
                    rule.id,
                )
            return ServiceDecision(line, Action.CERTIFIED, service.quantity, "", "", rule.id)
        if rule.action is Action.NOT_CERTIFIED:
            # reason_code: what the 278 carries in HCR03 (code list 886), not the file's code
            return ServiceDecision(
                line, Action.NOT_CERTIFIED, Decimal(0), rule.words, rule.x12_reason, rule.id
            )
        return ServiceDecision(
            line, Action.PENDED, Decimal(0), rule.reason or rule.description, rule.code, rule.id
        )
    return ServiceDecision(line, Action.PENDED, Decimal(0), NO_RULE_REASON)


def with_code(code: str, reason: str) -> str:
    """``reason`` in words behind the decisions file's own ``code`` (``LBP6W - Imaging ...``)."""
    return f"{code} - {reason}" if code and reason else reason


def _code_in(scope: Scope, code: str) -> bool:
    if not scope.procedures and not scope.procedure_ranges:
        return True
    return code in scope.procedures or any(
        len(lo) == len(code) and lo <= code <= hi for lo, hi in scope.procedure_ranges
    )


def _scope_meets(scope: Scope, code: str, plan_id: str, service: AuthService) -> bool:
    if scope.plans and plan_id not in scope.plans:
        return False
    if scope.places_of_service and service.place_of_service not in scope.places_of_service:
        return False
    return _code_in(scope, code)


def _diagnosis(code: str) -> str:
    return code.strip().upper().replace(".", "")


def _criteria_meet(
    criteria: Criteria,
    request: AuthRequest,
    service: AuthService,
    rules: AuthRules,
    member: MemberFacts,
    code: str,
    day: date,
) -> bool:
    if criteria.urgency is not None and request.urgency is not criteria.urgency:
        return False
    if (
        criteria.gold_card is not None
        and rules.gold_carded(request.requesting_npi, code, day) is not criteria.gold_card
    ):
        return False
    if criteria.in_network is not None and member.in_network is not criteria.in_network:
        return False
    if criteria.max_quantity is not None and service.quantity > criteria.max_quantity:
        return False
    if criteria.diagnoses:
        codes = [_diagnosis(d) for d in request.diagnoses]
        if not any(
            c.startswith(entry[:-1]) if entry.endswith("*") else c == entry
            for entry in criteria.diagnoses
            for c in codes
        ):
            return False
    return True


# -- loading --------------------------------------------------------------------------------


class _Problem(Exception):
    pass


def load_authorization_rules(
    path: str | Path, *, known_plans: Collection[str] | None = None
) -> AuthRules:
    """The decisions file at ``path``, checked (see the module docstring)."""
    path = Path(path)
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RuleError(file, None, f"cannot be read: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(file, None, f"is not UTF-8 ({exc.reason})") from exc
    return parse_authorization_rules(
        text, file, known_plans=known_plans, version=hashlib.sha256(data).hexdigest()[:12]
    )


def parse_authorization_rules(
    text: str, file: str, *, known_plans: Collection[str] | None = None, version: str = ""
) -> AuthRules:
    """The decisions file's ``text`` (named ``file`` in messages), checked."""
    try:
        raw = parse_yaml(text)
    except Exception as exc:  # any YAML problem is the file's
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RuleError(file, None, f"YAML error{where}") from None
    if not isinstance(raw, dict):
        raise RuleError(file, None, "must be a mapping (clocks, gold_cards, decisions, ...)")
    unknown = sorted(str(k) for k in set(raw) - _FILE_KEYS)
    if unknown:
        raise RuleError(file, None, f"unknown keys: {', '.join(unknown)}")
    try:
        default = _clocks(raw.get("clocks"), ClockSettings(), "clocks")
        line_of_business: dict[str, str] = {}
        line_clocks: dict[str, ClockSettings] = {}
        for name, body in _mapping(raw.get("lines_of_business"), "lines_of_business").items():
            where = f"lines_of_business.{name}"
            body = _mapping(body, where)
            extra = set(body) - {"plans", "clocks"}
            if extra:
                raise _Problem(f"{where}: unknown keys: {', '.join(sorted(map(str, extra)))}")
            for plan in _plans(body.get("plans"), known_plans, f"{where}.plans"):
                if plan in line_of_business:
                    raise _Problem(f"{where}: plan {plan} is already in {line_of_business[plan]}")
                line_of_business[plan] = str(name)
            line_clocks[str(name)] = _clocks(body.get("clocks"), default, f"{where}.clocks")
        plan_clocks: dict[str, ClockSettings] = {}
        for key, value in _mapping(raw.get("plans"), "plans").items():
            plan_id = str(key)
            _plans([plan_id], known_plans, "plans")
            settings = _mapping(value, f"plans.{plan_id}")
            if set(settings) - {"clocks"}:
                raise _Problem(f"plans.{plan_id}: only 'clocks' may be set")
            base = line_clocks.get(line_of_business.get(plan_id, ""), default)
            plan_clocks[plan_id] = _clocks(settings.get("clocks"), base, f"plans.{plan_id}.clocks")
        cards = tuple(
            _gold_card(c, n) for n, c in enumerate(_list(raw.get("gold_cards"), "gold_cards"), 1)
        )
    except _Problem as exc:
        raise RuleError(file, None, str(exc)) from None
    rules: list[DecisionRule] = []
    seen: set[str] = set()
    for n, entry in enumerate(_list_or_fail(raw.get("decisions"), file), 1):
        rule_id = entry.get("id") if isinstance(entry, dict) else None
        label = rule_id if isinstance(rule_id, str) and rule_id else f"#{n} (no id)"
        try:
            rule = _rule(entry, known_plans)
        except _Problem as exc:
            raise RuleError(file, label, str(exc)) from None
        if rule.id in seen:
            raise RuleError(file, rule.id, "duplicate rule id")
        seen.add(rule.id)
        rules.append(rule)
    return AuthRules(
        tuple(rules),
        cards,
        default,
        line_of_business,
        line_clocks,
        plan_clocks,
        version,
        file,
    )


def _list_or_fail(value: object, file: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleError(file, None, "'decisions' must be a list")
    return value


def _mapping(value: object, where: str) -> dict[object, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Problem(f"{where} must be a mapping")
    return value


def _list(value: object, where: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Problem(f"{where} must be a list")
    return value


def _duration(value: object, where: str) -> timedelta:
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    found = _DURATION.match(text)
    if not found or int(found.group(1)) < 1:
        raise _Problem(f"{where}: {value!r} is not a duration such as 72h or 7d")
    amount = int(found.group(1))
    return timedelta(hours=amount) if found.group(2) == "h" else timedelta(days=amount)


def _clocks(value: object, base: ClockSettings, where: str) -> ClockSettings:
    body = _mapping(value, where)
    unknown = sorted(str(k) for k in set(body) - _CLOCK_KEYS)
    if unknown:
        raise _Problem(
            f"{where}: unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(_CLOCK_KEYS))})"
        )
    settings = ClockSettings(
        standard=_duration(body["standard"], f"{where}.standard")
        if "standard" in body
        else base.standard,
        expedited=_duration(body["expedited"], f"{where}.expedited")
        if "expedited" in body
        else base.expedited,
        alert_before=_duration(body["alert_before"], f"{where}.alert_before")
        if "alert_before" in body
        else base.alert_before,
        extension=_duration(body["extension"], f"{where}.extension")
        if "extension" in body
        else base.extension,
    )
    if settings.alert_before >= min(settings.standard, settings.expedited):
        raise _Problem(
            f"{where}: alert_before must be shorter than the expedited and standard clocks"
        )
    return settings


def _plans(value: object, known_plans: Collection[str] | None, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise _Problem(f"{where} must be a list of plan ids")
    if known_plans is not None:
        for plan in value:
            if plan not in known_plans:
                raise _Problem(f"{where}: unknown plan {plan!r}")
    return list(value)


def _codes(
    body: Mapping[object, object], where: str
) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    procedures: list[str] = []
    for item in _list(body.get("procedures"), f"{where}.procedures"):
        if not isinstance(item, str) or not _CODE.match(item.strip().upper()):
            raise _Problem(f"{where}.procedures: {item!r} must be a quoted code")
        procedures.append(item.strip().upper())
    ranges: list[tuple[str, str]] = []
    for item in _list(body.get("procedure_ranges"), f"{where}.procedure_ranges"):
        lo, sep, hi = str(item).strip().upper().partition("-")
        if not isinstance(item, str) or not sep or not lo or len(lo) != len(hi) or lo > hi:
            raise _Problem(f"{where}.procedure_ranges: {item!r} is not a same-length 'lo-hi' range")
        ranges.append((lo, hi))
    return frozenset(procedures), tuple(ranges)


def _date(value: object, where: str, *, required: bool) -> date | None:
    if value is None:
        if required:
            raise _Problem(f"{where} is required (a date, YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise _Problem(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _gold_card(value: object, n: int) -> GoldCard:
    where = f"gold_cards[{n}]"
    body = _mapping(value, where)
    unknown = set(body) - {
        "npi",
        "procedures",
        "procedure_ranges",
        "effective_from",
        "effective_through",
    }
    if unknown:
        raise _Problem(f"{where}: unknown keys: {', '.join(sorted(map(str, unknown)))}")
    npi = body.get("npi")
    if not isinstance(npi, str) or not (len(npi) == 10 and npi.isascii() and npi.isdigit()):
        raise _Problem(f"{where}.npi: {npi!r} is not a quoted 10-digit NPI")
    procedures, ranges = _codes(body, where)
    start = _date(body.get("effective_from"), f"{where}.effective_from", required=True)
    assert start is not None
    end = _date(body.get("effective_through"), f"{where}.effective_through", required=False)
    return GoldCard(npi, Scope(procedures=procedures, procedure_ranges=ranges), start, end)


def _rule(entry: object, known_plans: Collection[str] | None) -> DecisionRule:
    if not isinstance(entry, dict):
        raise _Problem("a decision rule must be a mapping")
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise _Problem(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise _Problem("'id' must be a non-empty string")
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _Problem("'description' must be a non-empty string")
    start = _date(entry.get("effective_from"), "effective_from", required=True)
    assert start is not None
    end = _date(entry.get("effective_through"), "effective_through", required=False)
    if end is not None and end < start:
        raise _Problem(f"effective_through {end} is before effective_from {start}")
    scope_raw = _mapping(entry.get("scope"), "scope")
    extra = set(scope_raw) - _SCOPE_KEYS
    if extra:
        raise _Problem(f"unknown scope keys: {', '.join(sorted(map(str, extra)))}")
    procedures, ranges = _codes(scope_raw, "scope")
    places = frozenset(
        str(p) for p in _list(scope_raw.get("places_of_service"), "scope.places_of_service")
    )
    plans = frozenset(_plans(scope_raw.get("plans"), known_plans, "scope.plans"))
    scope = Scope(
        procedures=procedures, procedure_ranges=ranges, plans=plans, places_of_service=places
    )
    criteria = _criteria(_mapping(entry.get("criteria"), "criteria"))
    action, reason, code, most, x12_reason = _then(entry.get("then"))
    return DecisionRule(
        rule_id.strip(),
        description.strip(),
        start,
        end,
        scope,
        criteria,
        action,
        reason,
        code,
        most,
        x12_reason,
    )


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Problem(f"{where} is true or false")
    return value


def _quantity(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Problem(f"{where}: {value!r} is not a whole number above 0")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise _Problem(f"{where}: {value!r} is not a whole number above 0")
    return Decimal(int(text))


def _criteria(body: Mapping[object, object]) -> Criteria:
    unknown = set(body) - _CRITERIA_KEYS
    if unknown:
        raise _Problem(
            f"unknown criteria: {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(sorted(_CRITERIA_KEYS))})"
        )
    urgency = body.get("urgency")
    if urgency is not None and urgency not in tuple(Urgency):
        raise _Problem(f"criteria.urgency: {urgency!r} is standard or expedited")
    diagnoses: list[str] = []
    for d in _list(body.get("diagnoses"), "criteria.diagnoses"):
        if not isinstance(d, str) or not d.strip() or "*" in d.strip()[:-1]:
            raise _Problem(f"criteria.diagnoses: {d!r} is a quoted code or a prefix ending in '*'")
        diagnoses.append(_diagnosis(d))
    return Criteria(
        gold_card=_bool(body["gold_card"], "criteria.gold_card") if "gold_card" in body else None,
        urgency=Urgency(str(urgency)) if urgency is not None else None,
        diagnoses=tuple(diagnoses),
        max_quantity=(
            _quantity(body["max_quantity"], "criteria.max_quantity")
            if "max_quantity" in body
            else None
        ),
        in_network=_bool(body["in_network"], "criteria.in_network")
        if "in_network" in body
        else None,
    )


def _then(value: object) -> tuple[Action, str, str, Decimal | None, str]:
    kinds = "approve, review or deny"
    if value in ("approve", "review"):
        value = {value: {}}
    if not isinstance(value, dict) or len(value) != 1:
        raise _Problem(f"bad action: 'then' names exactly one action ({kinds})")
    ((kind, body),) = value.items()
    body = _mapping(body, f"then.{kind}")
    allowed = {
        "approve": {"max_quantity", "reason", "code"},
        "review": {"reason"},
        "deny": {"reason", "code", "x12_reason"},
    }
    if kind not in allowed:
        raise _Problem(f"bad action: unknown action {kind!r} (expected {kinds})")
    unknown = set(body) - allowed[str(kind)]
    if unknown:
        raise _Problem(
            f"bad action: {kind} has unknown keys {', '.join(sorted(map(str, unknown)))}"
        )
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise _Problem(f"bad action: {kind} reason must be text")
    reason = " ".join(reason.split())
    code = body.get("code", "")
    if not isinstance(code, str) or (code and not _CODE.match(code)):
        raise _Problem(f"bad action: {kind} code {code!r} is 1 to 8 letters and digits")
    if kind == "deny":
        if not reason:
            raise _Problem("bad action: deny needs a reason a person can read")
        x12_reason = body.get("x12_reason", DEFAULT_X12_REASON)
        if not isinstance(x12_reason, str) or not X12_REASON.match(x12_reason):
            raise _Problem(
                f"bad action: deny x12_reason {x12_reason!r} is a quoted code of X12's list 886 "
                "(Health Care Services Review Decision Reason Codes): two letters or digits, "
                'such as "0F" (not medically necessary)'
            )
        return Action.NOT_CERTIFIED, reason, code, None, x12_reason
    if kind == "review":
        return Action.PENDED, reason, "", None, ""
    most = (
        _quantity(body["max_quantity"], "then.approve.max_quantity")
        if "max_quantity" in body
        else None
    )
    return Action.CERTIFIED, reason, code, most, ""


def decision_rules_path(rules_dir: Path) -> Path:
    """Where the decisions file of the rules folder ``rules_dir`` is."""
    return rules_dir / DECISIONS_FILE


def default_rules(sources: Sequence[str] = ()) -> AuthRules:
    """No decision rules: every service that needs authorization goes to review, on the
    default clocks."""
    return AuthRules(source=", ".join(sources))


# -- test cases -------------------------------------------------------------------------------

CASES_FILE = Path("prior-auth") / "tests.yaml"
_CASE_KEYS = frozenset({"name", "request", "expect"})
_CASE_REQUEST_KEYS = frozenset(
    {
        "plan",
        "requesting_npi",
        "urgency",
        "code",
        "quantity",
        "date",
        "diagnoses",
        "in_network",
        "place_of_service",
        "birth_date",
        "sex",
    }
)
_CASE_EXPECT_KEYS = frozenset({"action", "rule", "approved", "reason_contains"})


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One test case of the decisions: its name and what went wrong (empty: it passed)."""

    name: str
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems


def run_cases(text: str, file: str, rules: AuthRules, book: RuleBook) -> list[CaseResult]:
    """The cases of a tests file (``cases:``, each a one-service request and what is expected
    of it: the action, the rule that decides, the quantity approved, words of the reason),
    run against ``rules`` and the coverage pack of ``book`` in force on the case's date. A
    malformed case raises
    :class:`RuleError` naming it."""
    raw = parse_yaml(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("cases"), list):
        raise RuleError(file, None, "must be a mapping with a 'cases' list")
    results: list[CaseResult] = []
    for n, case in enumerate(raw["cases"], 1):
        name = case.get("name") if isinstance(case, dict) else None
        label = name if isinstance(name, str) and name else f"case #{n}"
        try:
            results.append(_run_case(case, label, rules, book))
        except (_Problem, ValueError, TypeError, ArithmeticError) as exc:
            raise RuleError(file, label, str(exc)) from None
    return results


def _run_case(case: object, name: str, rules: AuthRules, book: RuleBook) -> CaseResult:
    body = _mapping(case, "case")
    if set(body) - _CASE_KEYS:
        raise _Problem(f"unknown keys: {', '.join(sorted(map(str, set(body) - _CASE_KEYS)))}")
    given = _mapping(body.get("request"), "request")
    expect = _mapping(body.get("expect"), "expect")
    unknown = sorted(map(str, set(given) - _CASE_REQUEST_KEYS))
    if unknown:
        raise _Problem(f"request: unknown keys: {', '.join(unknown)}")
    if set(expect) - _CASE_EXPECT_KEYS or "action" not in expect:
        others = ", ".join(sorted(_CASE_EXPECT_KEYS - {"action"}))
        raise _Problem(f"expect takes action (required), {others}")
    day = _date(given.get("date"), "request.date", required=True)
    born = _date(given.get("birth_date", "1980-01-01"), "request.birth_date", required=True)
    assert day is not None and born is not None
    npi = str(given.get("requesting_npi", "1234567893"))
    request = AuthRequest(
        member_id="CASE",
        subscriber_id="CASE",
        requesting_npi=npi,
        servicing_npi=npi,
        urgency=Urgency(str(given.get("urgency", "standard"))),
        services=(
            AuthService(
                str(given["code"]),
                Decimal(str(given.get("quantity", 1))),
                day,
                day,
                place_of_service=str(given.get("place_of_service", "11")),
            ),
        ),
        diagnoses=tuple(str(d) for d in _list(given.get("diagnoses"), "request.diagnoses")),
    )
    member = MemberFacts(
        str(given["plan"]), born, str(given.get("sex", "U")), bool(given.get("in_network", True))
    )
    decision = decide_request(request, rules, book.pack_on(day), member)
    service = decision.services[0]
    problems: list[str] = []
    if decision.action.value != str(expect["action"]):
        problems.append(f"action {decision.action.value}, expected {expect['action']}")
    if "rule" in expect and service.rule != str(expect["rule"] or ""):
        problems.append(f"decided by {service.rule or 'no rule'}, expected {expect['rule']}")
    if "approved" in expect and service.approved != Decimal(str(expect["approved"])):
        problems.append(f"approved {service.approved}, expected {expect['approved']}")
    words = expect.get("reason_contains")
    if words is not None and str(words) not in decision.reason:
        problems.append(f"reason {decision.reason!r} does not contain {words!r}")
    return CaseResult(name, tuple(problems))
