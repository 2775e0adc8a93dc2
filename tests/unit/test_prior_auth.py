"""Prior authorization in the pure core: clocks, the request's action from its services', the
fixture decisions file (rules/prior-auth/decisions.yaml) against the fixture coverage rules,
the loader's refusals, units drawn by claims in order (and given back by a void), and the
report's figures, each worked out by hand in its comment."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claims_engine.adjudication.adjudicate import AdjudicationContext
from claims_engine.adjudication.batch import Ledger, adjudicate_in_order
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.adjudication.decision import Outcome
from claims_engine.domain.benefits import Authorization
from claims_engine.domain.prior_auth import (
    Action,
    AuthRequest,
    AuthRequestError,
    AuthService,
    AuthState,
    ClockSettings,
    ReportRecord,
    ServiceDecision,
    Urgency,
    alert_at,
    due_at,
    report_figures,
    request_action,
)
from claims_engine.rules.authorization_rules import (
    NO_RULE_REASON,
    MemberFacts,
    decide_request,
    load_authorization_rules,
    parse_authorization_rules,
    run_cases,
    services_needing_authorization,
)
from claims_engine.rules.book import load_rulebook
from claims_engine.rules.engine import RuleError
from tests.unit.adjudication.support import BUCKEYE, REFERENCE, claim_from_837, subscriber

ROOT = Path(__file__).resolve().parents[2]
BOOK = load_rulebook(ROOT / "rules", known_plans=REFERENCE.plans)
RULES = load_authorization_rules(
    ROOT / "rules" / "prior-auth" / "decisions.yaml", known_plans=REFERENCE.plans
)
D = Decimal
OCT = date(2026, 10, 15)
GOLD_CARD = "2422581191"  # MAUMEE RADIOLOGY ASSOCIATES, gold-carded for imaging in 2026
BUCKEYE_NPI = "2781759230"
LIAM = MemberFacts("PPO-GOLD", date(1987, 12, 27), "M", in_network=True)


def _request(
    code: str,
    quantity: str = "1",
    *,
    npi: str = BUCKEYE_NPI,
    urgency: Urgency = Urgency.STANDARD,
    diagnoses: tuple[str, ...] = (),
    place: str = "11",
) -> AuthRequest:
    return AuthRequest(
        member_id="PG00000100",
        subscriber_id="PG00000100",
        requesting_npi=npi,
        servicing_npi=npi,
        urgency=urgency,
        services=(AuthService(code, D(quantity), OCT, OCT, place_of_service=place),),
        diagnoses=diagnoses,
        trace="T1",
    )


def _decide(request: AuthRequest, member: MemberFacts = LIAM) -> tuple[Action, ServiceDecision]:
    decision = decide_request(request, RULES, BOOK.pack_on(OCT), member)
    return decision.action, decision.services[0]


# -- clocks ------------------------------------------------------------------------------------


def test_a_standard_request_is_due_in_7_calendar_days_and_an_expedited_one_in_72_hours() -> None:
    received = datetime(2026, 10, 30, 16, 45)
    assert due_at(received, Urgency.STANDARD) == datetime(2026, 11, 6, 16, 45)
    assert due_at(received, Urgency.EXPEDITED) == datetime(2026, 11, 2, 16, 45)
    # alerted 12 hours before: 2026-11-02 04:45
    assert alert_at(due_at(received, Urgency.EXPEDITED)) == datetime(2026, 11, 2, 4, 45)


def test_clocks_per_plan_over_line_of_business_over_the_default() -> None:
    rules = parse_authorization_rules(
        """
clocks: {standard: 7d, expedited: 72h, alert_before: 12h}
lines_of_business:
  medicaid: {plans: [HMO-SILVER], clocks: {standard: 72h, expedited: 24h, alert_before: 4h}}
plans:
  DENTAL-BASIC: {clocks: {standard: 14d}}
""",
        "test.yaml",
        known_plans=REFERENCE.plans,
    )
    assert rules.clocks_for("PPO-GOLD") == ClockSettings()
    silver = rules.clocks_for("HMO-SILVER")
    assert (silver.standard, silver.expedited, silver.alert_before) == (
        timedelta(hours=72),
        timedelta(hours=24),
        timedelta(hours=4),
    )
    assert rules.clocks_for("DENTAL-BASIC").standard == timedelta(days=14)
    assert rules.clocks_for("DENTAL-BASIC").expedited == timedelta(hours=72)


# -- the request's action ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["A1", "A1"], "A1"),
        (["A1", "NA"], "A1"),
        (["NA", "NA"], "NA"),
        (["A3", "A3"], "A3"),
        (["A1", "A3"], "A2"),
        (["A1", "A6"], "A6"),
        (["A6", "A3"], "A2"),
        (["A1", "A4"], "A4"),
        (["A3", "CT"], "A4"),
    ],
)
def test_the_request_action_sums_up_its_services(actions: list[str], expected: str) -> None:
    services = [ServiceDecision(n, Action(a)) for n, a in enumerate(actions, 1)]
    assert request_action(services) == Action(expected)


def test_a_request_without_what_it_needs_is_refused() -> None:
    with pytest.raises(AuthRequestError, match="service 1: quantity must be above 0"):
        AuthRequest(
            "PG00000100", "PG00000100", BUCKEYE_NPI, BUCKEYE_NPI, Urgency.STANDARD,
            (AuthService("70551", D(0), OCT),),
        ).check()  # fmt: skip
    with pytest.raises(AuthRequestError, match="to_date is before from_date"):
        AuthRequest(
            "PG00000100", "PG00000100", BUCKEYE_NPI, BUCKEYE_NPI, Urgency.STANDARD,
            (AuthService("70551", D(1), OCT, OCT - timedelta(days=1)),),
        ).check()  # fmt: skip


# -- the fixture decisions ---------------------------------------------------------------------


def test_a_gold_card_provider_s_mri_is_approved_automatically() -> None:
    action, service = _decide(_request("70551", npi=GOLD_CARD))
    assert (action, service.approved, service.rule) == (
        Action.CERTIFIED,
        D(1),
        "PA-IMAGING-GOLD-CARD",
    )


def test_more_than_the_gold_card_approves_is_a_modification_with_its_reason() -> None:
    action, service = _decide(_request("70551", "2", npi=GOLD_CARD))
    assert (action, service.action, service.approved) == (Action.MODIFIED, Action.MODIFIED, D(1))
    assert service.reason.startswith("approved 1 of the 2 units asked for")


def test_uncomplicated_low_back_pain_imaging_is_denied_with_a_reason_a_person_can_read() -> None:
    decision = decide_request(
        _request("72148", diagnoses=("M54.50",)), RULES, BOOK.pack_on(OCT), LIAM
    )
    assert decision.action is Action.NOT_CERTIFIED
    assert decision.state is AuthState.DENIED
    # HCR03 is X12's code (list 886: 0F, not medically necessary); the file's own code
    # (LBP6W) is kept with the words
    assert decision.services[0].reason_code == "0F"
    assert decision.reason.startswith("LBP6W - Imaging for uncomplicated low back pain")
    assert "six weeks of conservative treatment" in decision.reason


def test_a_red_flag_diagnosis_meets_the_criteria() -> None:
    # cauda equina syndrome (G83.4)
    action, service = _decide(_request("72148", diagnoses=("M54.50", "G83.4")))
    assert (action, service.rule) == (Action.CERTIFIED, "PA-LUMBAR-MRI-RED-FLAGS")


def test_what_no_rule_decides_goes_to_a_clinical_reviewer() -> None:
    # expedited lumbar MRI for low back pain: the denial rule is for standard requests only
    action, service = _decide(_request("72148", urgency=Urgency.EXPEDITED, diagnoses=("M54.50",)))
    assert (action, service.reason) == (Action.PENDED, NO_RULE_REASON)
    action, service = _decide(_request("70551", npi=BUCKEYE_NPI))
    assert action is Action.PENDED


def test_an_out_of_network_provider_goes_to_review_with_the_rule_s_reason() -> None:
    out = MemberFacts("PPO-GOLD", date(1987, 12, 27), "M", in_network=False)
    action, service = _decide(_request("95810", diagnoses=("G47.33",)), out)
    assert (action, service.rule) == (Action.CERTIFIED, "PA-SLEEP-STUDY-IN-LAB")
    action, service = _decide(_request("70551"), out)
    assert (action, service.reason, service.rule) == (
        Action.PENDED,
        "out-of-network servicing provider",
        "PA-OUT-OF-NETWORK",
    )


def test_a_service_no_coverage_rule_requires_authorization_for_needs_no_action() -> None:
    assert _decide(_request("99213"))[0] is Action.NOT_REQUIRED
    # AUTH-MRI: except in the emergency department
    assert _decide(_request("70551", place="23"))[0] is Action.NOT_REQUIRED


def test_the_services_needing_authorization_are_the_coverage_rules() -> None:
    listed = services_needing_authorization(BOOK.newest)
    assert listed[0][:2] == ("HMO-SILVER PPO-GOLD", "72148 73721 70551-70553")
    assert any(p == "PPO-GOLD" and "43775" in c for p, c, _ in listed)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "decisions: [{id: X, description: d, effective_from: 2026-01-01, then: {deny: {}}}]",
            "rule X: bad action: deny needs a reason a person can read",
        ),
        (
            "decisions: [{id: X, description: d, effective_from: 2026-01-01,"
            " criteria: {bmi: 40}, then: approve}]",
            "rule X: unknown criteria: bmi",
        ),
        ("clocks: {standard: 7 days}", "clocks.standard: '7 days' is not a duration"),
        ("clocks: {expedited: 8h}", "alert_before must be shorter"),
        ("plans: {GOLD: {clocks: {standard: 5d}}}", "plans: unknown plan 'GOLD'"),
        ("gold_cards: [{npi: 2422581191, effective_from: 2026-01-01}]", "not a quoted 10-digit"),
        (
            "decisions: [{id: X, description: d, effective_from: 2026-01-01,"
            " then: {deny: {reason: r, code: LBP6W, x12_reason: LBP6W}}}]",
            "rule X: bad action: deny x12_reason 'LBP6W' is a quoted code of X12's list 886",
        ),
        (
            "decisions: [{id: X, description: d, effective_from: 2026-01-01,"
            " then: {deny: {reason: r, x12_reason: 9}}}]",
            "rule X: bad action: deny x12_reason 9 is a quoted code",
        ),
    ],
)
def test_the_decisions_file_is_checked_at_load(text: str, problem: str) -> None:
    with pytest.raises(RuleError, match=problem):
        parse_authorization_rules(text, "decisions.yaml", known_plans=REFERENCE.plans)


# -- units drawn by claims -----------------------------------------------------------------------

SOPHIA = subscriber("PG00000200", "JOHNSON", "SOPHIA", "19751120", "F", "PPO-GOLD")


def _knee_mri(claim_id: str, day: str, *, void_of: str = "") -> str:
    frequency = "8" if void_of else "1"
    ref = f"REF*F8*{void_of}~\n" if void_of else ""
    return (
        SOPHIA
        + f"CLM*{claim_id}*1000***11:B:{frequency}*Y*A*Y*Y~\n{ref}HI*ABK:M2551~\n"
        + f"LX*1~\nSV1*HC:73721*1000*UN*1***1~\nDTP*472*D8*{day}~\n"
    )


def test_claims_draw_an_authorization_s_units_once_and_a_void_gives_them_back() -> None:
    # PA-TEST service 1 approves one 73721 in October 2026 for PG00000200
    approved = Authorization(
        "PA-TEST", "PG00000200", frozenset({"73721"}), date(2026, 10, 1), date(2026, 10, 31),
        D(1), service=1,
    )  # fmt: skip
    ctx = AdjudicationContext(
        reference=REFERENCE,
        received_on=date(2026, 11, 2),
        rules=rule_hook(BOOK.newest),
        authorizations={"PG00000200": (approved,)},
    )
    first = claim_from_837(_knee_mri("KNEE-1", "20261010"), billing=BUCKEYE)
    second = claim_from_837(_knee_mri("KNEE-2", "20261020"), billing=BUCKEYE)
    void = claim_from_837(_knee_mri("KNEE-1", "20261010", void_of="PCN1"), billing=BUCKEYE)
    third = claim_from_837(_knee_mri("KNEE-3", "20261025"), billing=BUCKEYE)
    ledger = Ledger()
    results = list(
        adjudicate_in_order(
            [(first, "PCN1"), (second, "PCN2"), (void, "PCN3"), (third, "PCN4")], ctx, ledger
        )
    )
    one, two, voided, three = (r.decision for r in results)
    # the first draws the one unit; the second finds none left: CO-198 (N54) on its 1000.00
    assert one.outcome is Outcome.PAID
    assert (one.lines[0].authorization, one.lines[0].authorization_service) == ("PA-TEST", 1)
    assert [(a.group, a.reason, a.amount) for a in two.lines[0].adjustments] == [
        ("CO", "198", D("1000.00"))
    ]
    assert two.lines[0].remarks == ("N54",) and two.lines[0].authorization == ""
    # the void reverses the first and gives its unit back: the third draws it
    assert voided.reverses == "PCN1"
    assert three.outcome is Outcome.PAID and three.lines[0].authorization == "PA-TEST"
    assert ledger.authorization_used == {("PA-TEST", 1): D(1)}


def test_without_an_authorization_on_file_the_line_is_denied_co_197() -> None:
    ctx = AdjudicationContext(
        reference=REFERENCE,
        received_on=date(2026, 11, 2),
        rules=rule_hook(BOOK.newest),
        authorizations={},
    )
    (result,) = adjudicate_in_order(
        [(claim_from_837(_knee_mri("KNEE-9", "20261010"), billing=BUCKEYE), "PCN9")], ctx
    )
    line = result.decision.lines[0]
    assert [(a.group, a.reason) for a in line.adjustments] == [("CO", "197")]
    assert line.remarks == ("N54",)


# -- the report's figures ----------------------------------------------------------------------


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_report_figures_of_a_year() -> None:
    s, e = Urgency.STANDARD, Urgency.EXPEDITED
    ok, no = AuthState.APPROVED, AuthState.DENIED
    records = [
        # standard: 24 h, 84 h, 6 h (an appeal), 336 h (extended)
        ReportRecord(s, ok, _at("2026-01-05T08:00"), _at("2026-01-06T08:00")),
        ReportRecord(s, no, _at("2026-02-01T00:00"), _at("2026-02-04T12:00")),
        ReportRecord(s, ok, _at("2026-03-01T00:00"), _at("2026-03-01T06:00"), appeal=True),
        ReportRecord(s, ok, _at("2026-04-01T00:00"), _at("2026-04-15T00:00"), extended=True),
        # expedited: 10 h, 20 h, 71 h (denied)
        ReportRecord(e, ok, _at("2026-05-01T00:00"), _at("2026-05-01T10:00")),
        ReportRecord(e, ok, _at("2026-06-01T00:00"), _at("2026-06-01T20:00")),
        ReportRecord(e, no, _at("2026-07-01T00:00"), _at("2026-07-03T23:00")),
        # not counted: decided in 2025; cancelled
        ReportRecord(s, ok, _at("2025-12-20T00:00"), _at("2025-12-21T00:00")),
        ReportRecord(s, AuthState.CANCELLED, _at("2026-08-01T00:00"), _at("2026-08-02T00:00")),
    ]
    figures = report_figures(2026, records)
    std = figures.standard
    # 3 of 4 approved (75.00%), 1 denied, 1 after appeal, 1 after extension (25.00% each);
    # mean (24 + 84 + 6 + 336) / 4 = 112.5 h; median of 6, 24, 84, 336 = (24 + 84) / 2 = 54.0
    assert (std.decided, std.approved, std.denied) == (4, 3, 1)
    assert [std.percent(n) for n in (std.approved, std.denied)] == [D("75.00"), D("25.00")]
    assert std.percent(std.approved_after_appeal) == D("25.00")
    assert std.percent(std.approved_after_extension) == D("25.00")
    assert (std.mean_hours, std.median_hours) == (D("112.5"), D("54.0"))
    exp = figures.expedited
    # 2 of 3 approved: 66.666... -> 66.67%, 33.33% denied; mean 101 / 3 = 33.67 -> 33.7 h,
    # median 20.0 h
    assert [exp.percent(n) for n in (exp.approved, exp.denied)] == [D("66.67"), D("33.33")]
    assert (exp.mean_hours, exp.median_hours) == (D("33.7"), D("20.0"))
    assert report_figures(2027, records).standard.percent(0) is None


def test_the_fixture_decisions_pass_their_test_cases() -> None:
    cases = ROOT / "rules" / "prior-auth" / "tests.yaml"
    results = run_cases(cases.read_text(encoding="utf-8"), str(cases), RULES, BOOK)
    assert len(results) == 10
    assert [(r.name, r.problems) for r in results if not r.passed] == []


def test_a_failing_case_says_what_differs() -> None:
    text = """
cases:
  - name: wrong on purpose
    request: {plan: PPO-GOLD, code: "99213", date: 2026-10-15}
    expect: {action: A1, rule: PA-X}
"""
    (result,) = run_cases(text, "tests.yaml", RULES, BOOK)
    assert result.problems == ("action NA, expected A1", "decided by no rule, expected PA-X")


# -- HCR03: a code of X12's list 886 ---------------------------------------------------------------


def test_a_denials_x12_reason_is_a_code_of_list_886_by_default_not_medically_necessary() -> None:
    """A deny without ``x12_reason`` is 0F (not medically necessary); one naming another code
    of the list carries it (09, out of network); the rule's own code stays with its words."""
    text = """
decisions:
  - {id: A, description: d, effective_from: 2024-01-01, scope: {procedures: ["72148"]},
     then: {deny: {reason: "not before six weeks", code: LBP6W}}}
  - {id: B, description: d, effective_from: 2024-01-01, scope: {procedures: ["43644"]},
     then: {deny: {reason: "out of network", x12_reason: "09"}}}
"""
    rules = parse_authorization_rules(text, "decisions.yaml", known_plans=REFERENCE.plans)
    assert [(r.x12_reason, r.code) for r in rules.decisions] == [("0F", "LBP6W"), ("09", "")]
    mri = decide_request(_request("72148"), rules, BOOK.pack_on(OCT), LIAM).services[0]
    assert (mri.action, mri.reason_code, mri.reason) == (
        Action.NOT_CERTIFIED,
        "0F",
        "LBP6W - not before six weeks",
    )
    bariatric = decide_request(_request("43644"), rules, BOOK.pack_on(OCT), LIAM).services[0]
    assert (bariatric.reason_code, bariatric.reason) == ("09", "out of network")


def test_the_writer_takes_no_hcr03_but_a_code_of_list_886() -> None:
    from claims_engine.x12.writer278 import NOT_CERTIFIED, Decision

    assert Decision(NOT_CERTIFIED, reason="0F").reason == "0F"
    with pytest.raises(ValueError, match="HCR03 'LBP6W' is not a code of the list 886"):
        Decision(NOT_CERTIFIED, reason="LBP6W")


# -- the decisions file, loaded once for each version of it -------------------------------------


def test_the_decisions_file_is_read_once_and_again_when_it_changes(tmp_path: Path) -> None:
    """The 278 route asks for the decisions file on every request: it is parsed and checked
    once, and read again when it changes (a new clock here), not before."""
    import os

    from claims_engine.services.review_requests import authorization_rules

    (tmp_path / "prior-auth").mkdir()
    path = tmp_path / "prior-auth" / "decisions.yaml"
    original = (ROOT / "rules" / "prior-auth" / "decisions.yaml").read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    first = authorization_rules(tmp_path, REFERENCE.plans)
    assert authorization_rules(tmp_path, REFERENCE.plans) is first  # not parsed again
    assert first.clocks.standard == timedelta(days=7)

    changed = original.replace("standard: 7d", "standard: 5d", 1)
    assert changed != original
    path.write_text(changed, encoding="utf-8")
    stat = path.stat()  # the same size: a later modification time says it changed
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = authorization_rules(tmp_path, REFERENCE.plans)
    assert second is not first and second.clocks.standard == timedelta(days=5)
    assert authorization_rules(tmp_path, REFERENCE.plans) is second

    path.write_text("clocks: {standard: 7 days}\n", encoding="utf-8")  # broken: said each time
    for _ in range(2):
        with pytest.raises(RuleError, match="is not a duration"):
            authorization_rules(tmp_path, REFERENCE.plans)
    path.unlink()  # no file: every service that needs authorization goes to a reviewer
    assert authorization_rules(tmp_path, REFERENCE.plans).decisions == ()
