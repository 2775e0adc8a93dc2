"""The claim generator draws realistic claims; the reference loaders refuse bad rows."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Claim, ClaimType
from claims_engine.domain.npi import npi_check_digit, npi_is_valid
from claims_engine.domain.reference_data import load_members, load_providers
from claims_engine.synthetic.generator import generate_claims
from claims_engine.x12.envelope import ClaimRead, TransactionEnd
from claims_engine.x12.interchange import read_events
from claims_engine.x12.tokenizer import SegmentReader
from claims_engine.x12.writer837 import write_837

REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "reference"
AS_OF = date(2025, 6, 30)
WINDOW = 90
MEMBERS = load_members(REFERENCE / "members.csv")
PROVIDERS = load_providers(REFERENCE / "providers.csv")


@pytest.fixture(scope="module")
def batch() -> list[Claim]:
    return list(generate_claims(2025, MEMBERS, PROVIDERS, as_of=AS_OF, count=2000))


def test_reference_data_has_the_expected_shape() -> None:
    assert 280 <= len(MEMBERS) <= 340
    assert 100 <= len({m.family_id for m in MEMBERS}) <= 140
    assert {m.plan_id for m in MEMBERS} == {"PPO-GOLD", "HMO-SILVER", "DENTAL-BASIC"}
    assert {m.relationship for m in MEMBERS} == {"18", "01", "19"}
    assert 35 <= len(PROVIDERS) <= 45
    assert {p.kind for p in PROVIDERS} == {"professional", "institutional", "dental"}


def test_mix_ratio_is_roughly_respected(batch: list[Claim]) -> None:
    counts = Counter(c.claim_type for c in batch)
    assert sum(counts.values()) == 2000
    # 70/20/10 of 2,000 with a binomial spread of a few percent.
    assert 1300 <= counts[ClaimType.PROFESSIONAL] <= 1500
    assert 330 <= counts[ClaimType.INSTITUTIONAL] <= 470
    assert 140 <= counts[ClaimType.DENTAL] <= 260


def test_a_different_mix() -> None:
    claims = list(
        generate_claims(1, MEMBERS, PROVIDERS, as_of=AS_OF, count=300, mix={"D": 1, "I": 1})
    )
    counts = Counter(c.claim_type for c in claims)
    assert counts[ClaimType.PROFESSIONAL] == 0
    assert counts[ClaimType.DENTAL] > 100 and counts[ClaimType.INSTITUTIONAL] > 100


def test_line_counts_are_one_to_six_mostly_few(batch: list[Claim]) -> None:
    counts = Counter(len(c.lines) for c in batch)
    assert set(counts) <= set(range(1, 7))
    assert counts[1] + counts[2] + counts[3] > 0.6 * len(batch)
    assert counts[5] + counts[6] > 0


def test_dates_fall_in_the_window_and_after_birth(batch: list[Claim]) -> None:
    start = AS_OF - timedelta(days=WINDOW - 1)
    for claim in batch:
        first, last = claim.service_from, claim.service_to
        assert first is not None and last is not None
        assert start <= first <= last <= AS_OF, claim.claim_id
        assert claim.patient.birth_date is not None and first >= claim.patient.birth_date
        for line in claim.lines:
            if line.service_from is not None:
                assert line.service_to is not None and line.service_from <= line.service_to
        if claim.statement_from is not None:
            assert claim.statement_to is not None and claim.statement_to <= AS_OF
        for other in claim.other_payers:
            dates = [a.adjudicated_on for ln in claim.lines for a in ln.adjudications]
            for d in [other.adjudicated_on, *dates]:
                assert d is None or first <= d <= AS_OF


def test_npis_pass_the_luhn_check(batch: list[Claim]) -> None:
    assert npi_check_digit("123456789") == "3"  # the CMS worked example: 1234567893
    assert all(npi_is_valid(p.npi) for p in PROVIDERS)
    for claim in batch:
        people = [claim.billing_provider, *claim.providers]
        people += [ln.rendering for ln in claim.lines if ln.rendering is not None]
        for p in people:
            assert npi_is_valid(p.npi), (claim.claim_id, p)


def test_billing_providers_have_zip_plus_four_and_ein(batch: list[Claim]) -> None:
    for claim in batch:
        bp = claim.billing_provider
        assert bp.address is not None
        assert len(bp.address.postal_code) == 9 and bp.address.postal_code.isdigit()
        assert len(bp.tin) == 9 and bp.tin.isdigit() and bp.tin_qualifier == "EI"


def test_claim_ids_are_unique_per_billing_provider(batch: list[Claim]) -> None:
    keys = Counter((c.billing_provider.npi, c.claim_id) for c in batch)
    assert max(keys.values()) == 1


def test_money_balances(batch: list[Claim]) -> None:
    for claim in batch:
        assert claim.total_charge == sum(ln.charge for ln in claim.lines)
        for ln in claim.lines:
            assert ln.charge > 0 and ln.charge == ln.charge.quantize(Decimal("0.01"))
        for other in claim.other_payers:
            assert other.paid_amount is not None
            line_adjustments = sum(
                (a.amount for ln in claim.lines for j in ln.adjudications for a in j.adjustments),
                Decimal(0),
            )
            claim_adjustments = sum((a.amount for a in other.adjustments), Decimal(0))
            # Charge = what the primary paid + everything it adjusted.
            assert claim.total_charge == other.paid_amount + claim_adjustments + line_adjustments
            for ln in claim.lines:
                for j in ln.adjudications:
                    assert ln.charge == j.paid_amount + sum(a.amount for a in j.adjustments)


def test_diagnosis_pointers_point_at_diagnoses(batch: list[Claim]) -> None:
    for claim in batch:
        if claim.diagnoses:
            assert claim.diagnoses[0].qualifier == "ABK"
        assert all("." not in d.code for d in claim.diagnoses)
        for ln in claim.lines:
            assert len(ln.diagnosis_pointers) <= 4
            assert all(1 <= p <= len(claim.diagnoses) for p in ln.diagnosis_pointers)
            if claim.claim_type is ClaimType.PROFESSIONAL:
                assert ln.diagnosis_pointers, claim.claim_id


def test_claims_look_like_their_type(batch: list[Claim]) -> None:
    for claim in batch:
        if claim.claim_type is ClaimType.PROFESSIONAL:
            assert claim.facility_code in {"11", "22", "23", "21", "02"}
            assert all(ln.procedure and ln.procedure.qualifier == "HC" for ln in claim.lines)
        elif claim.claim_type is ClaimType.INSTITUTIONAL:
            assert claim.type_of_bill in {"111", "117", "131", "137"}
            assert all(len(ln.revenue_code) == 4 for ln in claim.lines)
            if claim.facility_code == "11":
                assert claim.admission_date == claim.statement_from
                assert claim.discharge_date == claim.statement_to
            else:
                assert all(ln.procedure or ln.revenue_code in {"0250", "0370", "0710"}
                           for ln in claim.lines)  # fmt: skip
        else:
            for ln in claim.lines:
                assert ln.procedure is not None and ln.procedure.code.startswith("D")
                for tooth in ln.teeth:
                    assert 1 <= int(tooth.code) <= 32
                    assert set(tooth.surfaces) <= set("MODBLIF")


def test_some_claims_are_replacements_and_some_secondary(batch: list[Claim]) -> None:
    replacements = [c for c in batch if c.frequency_code == "7"]
    secondary = [c for c in batch if c.payer_responsibility == "S"]
    assert 20 <= len(replacements) <= 120
    assert all(c.original_claim_number for c in replacements)
    assert 60 <= len(secondary) <= 220
    assert all(c.other_payers for c in secondary)
    assert any(ln.adjudications for c in secondary for ln in c.lines)
    assert any(c.other_payers[0].adjustments for c in secondary)


def test_members_repeat_with_a_skew(batch: list[Claim]) -> None:
    per_patient = Counter((c.subscriber.member_id, c.patient.first_name) for c in batch)
    top = per_patient.most_common(5)
    assert top[0][1] >= 50  # Zipf: the most frequent patient comes back many times
    assert len(per_patient) >= 150  # ... and most members still show up


def test_dental_claims_go_to_dental_members(batch: list[Claim]) -> None:
    for claim in batch:
        dental = claim.group_number == "DENTAL-BASIC"
        assert dental == (claim.claim_type is ClaimType.DENTAL)


def test_every_claim_reads_back_without_issues(batch: list[Claim]) -> None:
    out = io.StringIO()
    write_837(
        batch,
        out,
        interchange_control=5,
        created=datetime(2025, 7, 1, 8, 0),
        sender_id="BCX0042",
        receiver_id="ACMEHP01",
        claims_per_transaction=400,
    )
    read = 0
    for event in read_events(SegmentReader(io.BytesIO(out.getvalue().encode("ascii")))):
        if isinstance(event, ClaimRead):
            assert event.issues == (), event.claim.claim_id
            read += 1
        elif isinstance(event, TransactionEnd):
            assert event.issues == ()
    assert read == len(batch)


def test_same_seed_same_claims() -> None:
    a = list(generate_claims(99, MEMBERS, PROVIDERS, as_of=AS_OF, count=200))
    b = list(generate_claims(99, MEMBERS, PROVIDERS, as_of=AS_OF, count=200))
    assert a == b


def test_a_type_without_members_is_refused() -> None:
    medical_only = [m for m in MEMBERS if m.plan_id != "DENTAL-BASIC"]
    with pytest.raises(ValueError, match="dental"):
        list(generate_claims(1, medical_only, PROVIDERS, as_of=AS_OF, count=1))


# -- reference loaders --------------------------------------------------------------------------
def _copy_with(tmp_path: Path, name: str, line: int, old: str, new: str) -> Path:
    lines = (REFERENCE / name).read_text(encoding="utf-8").splitlines()
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_member_rows_name_file_line_and_column(tmp_path: Path) -> None:
    first = (REFERENCE / "members.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
    birth = first[6]
    path = _copy_with(tmp_path, "members.csv", 2, birth, "1987-13-45")
    with pytest.raises(ConfigurationError, match=r"members\.csv: line 2, column 'birth_date'"):
        load_members(path)
    path = _copy_with(tmp_path, "members.csv", 2, ",18,", ",77,")
    with pytest.raises(ConfigurationError, match=r"line 2, column 'relationship'"):
        load_members(path)


def test_dangling_subscriber_is_refused(tmp_path: Path) -> None:
    lines = (REFERENCE / "members.csv").read_text(encoding="utf-8").splitlines()
    dependant = next(i for i, ln in enumerate(lines) if ",19," in ln or ",01," in ln)
    fields = lines[dependant].split(",")
    fields[1] = "NOSUCH0001"
    lines[dependant] = ",".join(fields)
    path = tmp_path / "members.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=rf"line {dependant + 1}, column 'subscriber_id'"):
        load_members(path)


def test_bad_provider_rows_name_file_line_and_column(tmp_path: Path) -> None:
    row = (REFERENCE / "providers.csv").read_text(encoding="utf-8").splitlines()[3]
    npi = row.split(",")[0]
    broken = npi[:9] + str((int(npi[9]) + 1) % 10)
    path = _copy_with(tmp_path, "providers.csv", 4, npi, broken)
    with pytest.raises(ConfigurationError, match=r"providers\.csv: line 4, column 'npi'"):
        load_providers(path)


def test_missing_columns_and_files(tmp_path: Path) -> None:
    path = tmp_path / "providers.csv"
    path.write_text("npi,entity_type\n1234567893,1\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="missing column"):
        load_providers(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_members(tmp_path / "nope.csv")
