"""The examiners' pages' names, on SQLite and PostgreSQL: examiner and supervisor accounts by
email (no member's or provider's), and whom a claim may be reassigned to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from claims_engine.services import accounts, portal_examiner
from claims_engine.services.access import Role
from tests.integration.pipeline_support import NOW, prepared_store

pytestmark = pytest.mark.integration


def test_colleagues_are_the_examiner_and_supervisor_accounts(engine: Engine) -> None:
    runtime = prepared_store(engine)
    made = {
        email: accounts.create_user(
            engine, role, email=email, now=NOW, reference=runtime.reference, **more
        )
        for email, role, more in (
            ("alice@example.org", Role.EXAMINER, {}),
            ("pat@example.org", Role.MEMBER, {"member_id": "PG00000100"}),
            ("sam@example.org", Role.SUPERVISOR, {}),
            ("office@example.org", Role.PROVIDER, {"npis": ["2781759230"]}),
            ("bob@example.org", Role.EXAMINER, {}),
        )
    }
    found = portal_examiner.colleagues(engine, NOW)
    assert [(c.email, c.role, c.active) for c in found] == [
        ("alice@example.org", Role.EXAMINER, True),
        ("sam@example.org", Role.SUPERVISOR, True),
        ("bob@example.org", Role.EXAMINER, True),
    ]
    users = {u["email"]: u for u in accounts.list_users(engine)}
    assert portal_examiner.names(found) == {
        users[e]["key_id"]: e for e in ("alice@example.org", "sam@example.org", "bob@example.org")
    }
    # a disabled account's key is revoked: no claim is handed to it any more, its name stays
    assert accounts.disable_user(engine, made["bob@example.org"].user_id, NOW)
    later = portal_examiner.colleagues(engine, NOW + timedelta(minutes=1))
    assert [(c.email, c.active) for c in later][-1] == ("bob@example.org", False)
