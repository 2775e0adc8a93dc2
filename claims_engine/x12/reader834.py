"""The 834 reader: benefit enrollment and maintenance (005010X220A1) into frozen dataclasses.

An 834 tells a payer who is covered, as a sponsor (an employer, an exchange, a state agency)
knows it::

    ISA GS*BE ST*834 BGN                      BGN08: 2 changes, 4 verify (compare only), RX replace
      REF*38 DTP QTY                           master policy, file effective date, counts
      1000A N1*P5  1000B N1*IN  [1000C N1]     sponsor, payer, broker or administrator
      2000 INS REF*0F [REF*1L ...] [DTP]       one member: subscriber or dependant (INS01/02),
        2100A NM1*IL PER N3 N4 DMG ...         maintenance (INS03 001 change, 021 add, 024
        2100B..2100H                           cancel or terminate, 025 reinstate, 030 audit)
        2300 HD DTP*348/349 REF ...            one coverage line, with its own maintenance
          2310 LX NM1 ...  2320 COB ...        (HD01), insurance line (HD03), plan (HD04)
        2700 LS ... LE                         reporting categories
    SE GE IEA

The envelope is checked by :mod:`claims_engine.x12.envelope_walk` (TA1 notes and 999 codes as
for claims), the structure of each transaction set by the guide walker on the 834 table
(:mod:`claims_engine.x12.structure`): every finding rejects the set, and nothing of a rejected
set is read. :func:`read_834` returns an :class:`Enrollment`, or an
:class:`~claims_engine.x12.envelope_walk.Unreadable` saying what is wrong and where. What the
members' maintenance means for the store (who is added, terminated, reinstated, from when,
and what is refused) is the enrollment service's to decide: this module only reads.

Pure: no clock, no I/O beyond the bytes given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from claims_engine.domain.frozen import fast_init
from claims_engine.domain.issues import Scope
from claims_engine.x12.envelope import (
    GroupHeader,
    InterchangeHeader,
    TransactionEnd,
    TransactionHeader,
    trailer_issues,
)
from claims_engine.x12.envelope_walk import (
    EnvelopeSpec,
    SetReader,
    Unreadable,
    read_interchange,
)
from claims_engine.x12.reader837 import parse_date8
from claims_engine.x12.structure import GuideWalker, compile_guide
from claims_engine.x12.tokenizer import INVALID_CHARACTER

IMPLEMENTATION = "005010X220A1"
SPEC = EnvelopeSpec("BE", "834", (IMPLEMENTATION,), "benefit enrollment and maintenance")

# BGN08: what the file asks of the payer
ACTION_CHANGE, ACTION_VERIFY, ACTION_REPLACE = "2", "4", "RX"
# INS03 / HD01 maintenance type codes
MAINTENANCE = {
    "001": "change",
    "021": "add",
    "024": "cancel or terminate",
    "025": "reinstate",
    "030": "audit or compare",
}
_PAD = ("",) * 16


@dataclass(frozen=True, slots=True)
class Party:
    """A sponsor, payer or broker (N1): its name and identifier."""

    name: str = ""
    qualifier: str = ""  # N103: FI federal tax id, 94 code assigned by the payer, ...
    id: str = ""


@fast_init  # built once per member of files of a hundred thousand
@dataclass(frozen=True, slots=True)
class Coverage:
    """One coverage line of a member (2300 HD) and its dates (DTP by qualifier: 348 benefit
    begin, 349 benefit end, 303 maintenance effective, ...)."""

    position: int  # the HD's place in its transaction set
    maintenance: str  # HD01
    insurance_line: str  # HD03: HLT, DEN, VIS, HMO, PPO, ...
    plan: str  # HD04: plan coverage description
    coverage_level: str  # HD05: EMP, ESP, FAM, ...
    dates: dict[str, date]
    references: dict[str, str]  # REF01 -> REF02

    @property
    def begin(self) -> date | None:
        return self.dates.get("348")

    @property
    def end(self) -> date | None:
        return self.dates.get("349")


@fast_init  # built once per member of files of a hundred thousand
@dataclass(frozen=True, slots=True)
class MemberMaintenance:
    """One member of an 834 (a 2000 loop) as the file tells it."""

    position: int  # the INS segment's place in its transaction set
    subscriber: bool  # INS01 Y
    relationship: str  # INS02: 18 self, 01 spouse, 19 child, ...
    maintenance: str  # INS03
    reason: str  # INS04 maintenance reason
    benefit_status: str  # INS05: A active, C COBRA, S surviving insured, T tax equity
    subscriber_id: str  # REF*0F
    group: str  # REF*1L, group or policy number
    last_name: str
    first_name: str
    middle_name: str
    id_qualifier: str  # NM108: 34 social security number, ZZ mutually defined
    member_id: str  # NM109
    birth_date: date | None
    sex: str  # DMG03
    address: tuple[str, ...]  # N301, N302, N401 city, N402 state, N403 postal code
    dates: dict[str, date]  # 356/357 eligibility, 303, ...
    references: dict[str, str]  # REF01 -> REF02 (2000 loop)
    coverages: tuple[Coverage, ...]

    @property
    def eligibility_begin(self) -> date | None:
        return self.dates.get("356")

    @property
    def eligibility_end(self) -> date | None:
        return self.dates.get("357")


@dataclass(frozen=True, slots=True)
class EnrollmentTransaction:
    """One 834 transaction set."""

    header: TransactionHeader
    group: GroupHeader
    purpose: str  # BGN01: 00 original, 15 re-submission, 22 information copy
    reference: str  # BGN02
    created: date | None  # BGN03
    action: str  # BGN08: 2 change, 4 verify, RX replace
    sponsor: Party
    payer: Party
    policy: str  # REF*38 master policy number
    members: tuple[MemberMaintenance, ...]
    created_time: str = ""  # BGN04: HHMM, HHMMSS, ...

    @property
    def created_at(self) -> datetime | None:
        """BGN03 and BGN04 as one moment (the time's first four digits; midnight without)."""
        if self.created is None:
            return None
        hhmm = self.created_time[:4]
        if len(hhmm) == 4 and hhmm.isdigit() and int(hhmm[:2]) < 24 and int(hhmm[2:]) < 60:
            return datetime.combine(self.created, time(int(hhmm[:2]), int(hhmm[2:])))
        return datetime.combine(self.created, time())


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A readable 834 interchange."""

    interchange: InterchangeHeader
    transactions: tuple[EnrollmentTransaction, ...]

    @property
    def members(self) -> tuple[MemberMaintenance, ...]:
        return tuple(m for t in self.transactions for m in t.members)


def read_834(data: bytes) -> Enrollment | Unreadable:
    """Read one 834 interchange (see the module docstring)."""
    read: tuple[InterchangeHeader, tuple[EnrollmentTransaction, ...]] | Unreadable = (
        read_interchange(data, SPEC, _Transaction, one="file")
    )
    if isinstance(read, Unreadable):
        return read
    header, transactions = read
    return Enrollment(header, transactions)


# -- the transaction set --------------------------------------------------------------------------


class _Coverage:
    """A coverage line as it is read; its dicts become the built line's (read once: a set's
    members are built when its SE is read, and these are dropped)."""

    __slots__ = (
        "dates",
        "insurance_line",
        "level",
        "maintenance",
        "plan",
        "position",
        "references",
    )

    def __init__(self, position: int, hd: list[str]) -> None:
        self.position = position
        self.maintenance, self.insurance_line, self.plan, self.level = hd[1], hd[3], hd[4], hd[5]
        self.dates: dict[str, date] = {}
        self.references: dict[str, str] = {}

    def build(self) -> Coverage:
        return Coverage(
            self.position,
            self.maintenance,
            self.insurance_line,
            self.plan,
            self.level,
            self.dates,
            self.references,
        )


class _Member:
    """A member (2000 loop) as it is read."""

    __slots__ = (
        "address",
        "birth_date",
        "coverages",
        "dates",
        "ins",
        "name",
        "position",
        "references",
        "sex",
    )

    def __init__(self, position: int, ins: list[str]) -> None:
        self.position = position
        self.ins = ins
        self.references: dict[str, str] = {}
        self.dates: dict[str, date] = {}
        self.name: Sequence[str] = _PAD
        self.birth_date: date | None = None
        self.sex = ""
        self.address: list[str] = []
        self.coverages: list[_Coverage] = []

    def build(self) -> MemberMaintenance:
        ins, name, refs = self.ins, self.name, self.references
        return MemberMaintenance(
            self.position,
            ins[1] == "Y",
            ins[2],
            ins[3],
            ins[4],
            ins[5],
            refs.get("0F", ""),
            refs.get("1L", ""),
            name[3],
            name[4],
            name[5],
            name[8],
            name[9],
            self.birth_date,
            self.sex,
            tuple(self.address),
            self.dates,
            refs,
            tuple([c.build() for c in self.coverages]),
        )


class _Transaction(SetReader):
    """Reads one 834 transaction set from ST to SE: the guide walker checks every segment,
    and the values of the ones read are kept (only a set without a finding is built)."""

    def __init__(
        self, header: TransactionHeader, group: GroupHeader, component: str, repetition: str = ""
    ) -> None:
        super().__init__(header, group, component, repetition)
        self.walker = GuideWalker(compile_guide("834"), component, repetition)
        self.bgn: list[str] = list(_PAD)
        self.policy = ""
        self.parties: dict[str, Party] = {}
        self.members: list[_Member] = []
        self.member: _Member | None = None
        self.coverage: _Coverage | None = None
        self.name_loop = ""  # the 2100 loop NM1 opened (IL is the member's own)

    def feed(self, seg: list[str], bad: bool) -> None:
        self.position += 1
        if self.skip or self.ended:
            if seg[0] == "SE":
                self._se(seg)
            return
        if bad:  # the walker reports the element (its character check); the value is kept clean
            seg = [INVALID_CHARACTER.sub("", v) for v in seg]
        for finding in self.walker.step(seg, self.position):
            self._report(finding.issue(Scope.TRANSACTION))
        padded = [*seg, *_PAD]
        sid = seg[0]
        if sid == "SE":
            self._se(seg)
        elif sid == "BGN":
            self.bgn = padded
        elif sid == "N1" and self.member is None:
            self.parties[padded[1]] = Party(padded[2], padded[3], padded[4])
        elif sid == "INS":
            self.coverage = None
            self.name_loop = ""
            self.member = _Member(self.position, padded)
            self.members.append(self.member)
        elif sid == "HD" and self.member is not None:
            self.coverage = _Coverage(self.position, padded)
            self.member.coverages.append(self.coverage)
        elif sid == "NM1" and self.member is not None and self.coverage is None:
            self.name_loop = padded[1]
            if padded[1] == "IL":
                self.member.name = padded
        elif self.member is None:
            if sid == "REF" and padded[1] == "38":
                self.policy = padded[2]
        else:
            self._member_segment(sid, padded, self.member)

    def _member_segment(self, sid: str, seg: list[str], member: _Member) -> None:
        coverage = self.coverage
        if sid == "REF":
            (coverage.references if coverage is not None else member.references)[seg[1]] = seg[2]
        elif sid == "DTP" and seg[2] == "D8":
            day = parse_date8(seg[3])
            if day is not None:
                (coverage.dates if coverage is not None else member.dates)[seg[1]] = day
        elif coverage is None and self.name_loop == "IL":
            if sid == "DMG" and seg[1] == "D8":
                member.birth_date = parse_date8(seg[2])
                member.sex = seg[3]
            elif sid == "N3":
                member.address = [seg[1], seg[2]]
            elif sid == "N4":
                member.address = [*member.address[:2], seg[1], seg[2], seg[3]]

    def _se(self, seg: list[str]) -> None:
        if not self.skip and not self.ended:
            for finding in self.walker.finish(self.position):
                self._report(finding.issue(Scope.TRANSACTION))
        self.ended = True
        for issue in trailer_issues([*seg, *_PAD], self.header.control, self.position):
            self._report(issue)

    def finish(self) -> tuple[TransactionEnd, EnrollmentTransaction | None]:
        """The set's end for the 999 (a missing SE the envelope reported already), and what it
        holds when nothing rejected it."""
        end = TransactionEnd(
            self.header, tuple(self.issues), self.position, len(self.members), self.suppressed
        )
        if not end.accepted:
            return end, None
        bgn = self.bgn
        return end, EnrollmentTransaction(
            header=self.header,
            group=self.group,
            purpose=bgn[1],
            reference=bgn[2],
            created=parse_date8(bgn[3]),
            action=bgn[8],
            sponsor=self.parties.get("P5", Party()),
            payer=self.parties.get("IN", Party()),
            policy=self.policy,
            members=tuple(m.build() for m in self.members),
            created_time=bgn[4],
        )
