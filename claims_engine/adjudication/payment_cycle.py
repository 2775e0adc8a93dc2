"""The payment cycle: finalized decisions grouped into one remittance per payer and payee.

Pure: :func:`payment_cycle` takes decisions and the payer's identity and returns, for each
payee (the billing provider), the decisions in remittance order and the :class:`Payment` to
write them with (:func:`claims_engine.x12.writer835.write_835`). Pended decisions wait for the
next cycle; everything else is paid, denied or reversed now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from claims_engine.adjudication.decision import ClaimDecision, Outcome
from claims_engine.domain.benefits import yaml_problem
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Address
from claims_engine.x12.writer835 import Contact, Payment, PaymentMethod


@dataclass(frozen=True, slots=True)
class Payer:
    name: str
    id: str
    tin: str
    address: Address
    contact: Contact
    method: PaymentMethod = PaymentMethod.CHECK


@dataclass(frozen=True, slots=True)
class Remittance:
    """One 835's worth: a payee, its decisions in order, and how they are paid."""

    payee_npi: str
    decisions: tuple[ClaimDecision, ...]
    payment: Payment


def payment_cycle(
    decisions: Sequence[ClaimDecision], payer: Payer, *, paid_on: date, first_trace: int
) -> list[Remittance]:
    """Group the decisions that can be paid by billing provider, payees in NPI order.

    Trace numbers (TRN02, the check or EFT number) run from ``first_trace``.
    """
    by_payee: dict[str, list[ClaimDecision]] = {}
    for d in decisions:
        if d.outcome is Outcome.PENDED:
            continue
        by_payee.setdefault(d.claim.billing_provider.npi, []).append(d)
    result: list[Remittance] = []
    for n, npi in enumerate(sorted(by_payee)):
        group = by_payee[npi]
        bp = group[0].claim.billing_provider
        payment = Payment(
            payer_name=payer.name,
            payer_tin=payer.tin,
            payer_address=payer.address,
            payer_contact=payer.contact,
            payer_id=payer.id,
            payee_name=bp.name or bp.last_name,
            payee_npi=npi,
            payee_tin=bp.tin,
            payee_address=bp.address,
            paid_on=paid_on,
            trace_number=f"{first_trace + n:010d}",
            method=payer.method,
        )
        result.append(Remittance(npi, tuple(group), payment))
    return result


def load_payer(path: str | Path) -> Payer:
    """The payer identity from a YAML file (see ``fixtures/reference/payer.yaml``)."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(yaml_problem(path, exc)) from exc
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{path}: expected a mapping")
    try:
        addr = raw["address"]
        contact = raw.get("contact") or {}
        return Payer(
            name=str(raw["name"]),
            id=str(raw["id"]),
            tin=str(raw["tin"]),
            address=Address(
                str(addr["line1"]),
                "",
                str(addr["city"]),
                str(addr["state"]),
                str(addr["postal_code"]),
            ),
            contact=Contact(name=str(contact.get("name", "")), phone=str(contact.get("phone", ""))),
            method=PaymentMethod(str(raw.get("payment_method", "CHK"))),
        )
    except KeyError as exc:
        raise ConfigurationError(f"{path}: missing {exc.args[0]!r}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
