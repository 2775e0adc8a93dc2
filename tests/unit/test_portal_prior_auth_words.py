"""The words and marks the portal's prior authorization pages show, pure: the clock's mark and
hours, a member id masked, a request's state in plain words, a quantity as a person writes it,
and the reviewer's form read into a decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from adapters.web.examiner_pages import review_decision
from claims_engine.domain.prior_auth import Action
from claims_engine.services import authorizations as pa
from claims_engine.services import portal_examiner as pe
from claims_engine.services import portal_provider as pp

DUE = datetime(2026, 11, 5, 9, 30)


@pytest.mark.parametrize(
    ("now", "hours", "mark"),
    [
        (DUE - timedelta(hours=30), Decimal("30.0"), ""),
        (DUE - timedelta(hours=12), Decimal("12.0"), pe.DUE_SOON),  # alert_before reached
        (DUE - timedelta(minutes=3), Decimal("0.1"), pe.DUE_SOON),
        (DUE, Decimal("0.0"), pe.OVERDUE),
        (DUE + timedelta(hours=2, minutes=15), Decimal("-2.3"), pe.OVERDUE),
    ],
)
def test_the_clock_s_mark(now: datetime, hours: Decimal, mark: str) -> None:
    assert pe.clock_mark(DUE, now, timedelta(hours=12)) == (hours, mark)


def test_hours_in_words() -> None:
    assert pe.hours_words(Decimal("71.5")) == "in 71.5 hours"
    assert pe.hours_words(Decimal("168.0")) == "in 168 hours"
    assert pe.hours_words(Decimal("1.0")) == "in 1 hour"
    assert pe.hours_words(Decimal("-2.3")) == "2.3 hours ago"


def test_a_member_id_masked() -> None:
    assert pe.masked("PG00000100") == "ending in 0100"
    assert pe.masked("AB1") == "ending in AB1"
    assert pe.masked("") == "–"


def test_a_request_s_state_in_words() -> None:
    assert pp.authorization_state_words("approved", "A1") == "Approved"
    assert pp.authorization_state_words("approved", "A6") == "Approved with changes"
    assert pp.authorization_state_words("approved", "A2") == "Approved in part"
    assert pp.authorization_state_words("pended", "A4") == "Waiting for a clinical reviewer"
    assert pp.authorization_state_words("pended", "CT") == "Waiting: please call the plan"
    assert pp.authorization_state_words("denied", "A3") == "Denied"
    assert pp.shows_reason("denied") and not pp.shows_reason("pended")
    assert pp.quantity_text(Decimal("2.000")) == "2"
    assert pp.quantity_text(Decimal("10.000")) == "10"
    assert pp.quantity_text(Decimal("1.500")) == "1.5"
    assert pp.quantity_words(Decimal("1.000"), "units") == "1 unit"
    assert pp.quantity_words(Decimal("2"), "visits") == "2 visits"
    assert pp.quantity_words(Decimal("1.5"), "days") == "1.5 days"


def test_the_reviewer_s_form_read_into_a_decision() -> None:
    assert review_decision("approve", {}) == (Action.CERTIFIED, {})
    assert review_decision("deny", {"why": "x"}) == (Action.NOT_CERTIFIED, {})
    assert review_decision("modify", {"units-1": " 1 ", "units-2": "0", "why": "x"}) == (
        Action.MODIFIED,
        {1: Decimal(1), 2: Decimal(0)},
    )
    with pytest.raises(pa.AuthorizationRefused, match="not a number of units"):
        review_decision("modify", {"units-1": "two"})
    with pytest.raises(pa.AuthorizationRefused, match="not one of the request's"):
        review_decision("modify", {"units-x": "1"})
    with pytest.raises(pa.AuthorizationRefused, match="say how many units"):
        review_decision("modify", {"why": "x"})
    with pytest.raises(pa.AuthorizationRefused, match="choose one of the actions"):
        review_decision("release", {})
