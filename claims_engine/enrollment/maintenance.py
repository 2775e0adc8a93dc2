"""What an 834 does to the members the payer knows: the maintenance rules, pure.

:class:`Enroller` applies the maintenance of one 834 transaction set
(:class:`~claims_engine.x12.reader834.MemberMaintenance`) to the members as the store knows them,
member by member, and says what each became: ``added``, ``changed``, ``terminated``,
``reinstated``, ``unchanged`` (the same file twice changes nothing), ``stale`` (the store holds a
change from a newer file: reported, not applied over it) or ``refused`` with the reason; a verify
file (BGN08 ``4``) only says whether each ``matches`` or ``differs``. The caller gives the
members, the plans, the sponsor, the file's date and its place in time; no clock, no I/O.

Which id is a member's: a subscriber's is the subscriber identifier REF*0F (NM109 when it is
missing); a dependant's is NM109 of the 2100A loop (whatever its qualifier NM108: the payer and
the sponsor agree on it). A dependant is enrolled on the policy of the subscriber REF*0F names,
who must be enrolled (in the store or earlier in the file). The plan of a coverage line: HD04
when it names a plan the payer has, else the sponsor's plan for the insurance line HD03 (a line
the sponsor marks as not administered here, a vision carve-out say, is left out), else the plan
the member has on that line.

The maintenance codes (INS03 for the member, HD01 for each coverage line; they may differ):

=====  =======================================================================================
code   what it does
=====  =======================================================================================
021    add: a new member with their coverage lines (DTP 348 begin, or DTP 356, or DTP 303, or
       the file's date), or a new coverage line for a member already enrolled
001    change: name, birth date, sex, address as the file gives them; a coverage line with
       HD01 021/024/025/001 adds, ends, reopens or changes (new plan from its DTP 348) that line
024    cancel or terminate: coverage ends on DTP 357 (member) or DTP 349 (line); coverage that
       had not begun by then is cancelled; a subscriber's termination ends their dependants'
       coverage on the same day
025    reinstate: coverage reopens from DTP 356/348 (or the maintenance's effective day, DTP
       303), open ended unless DTP 357/349 ends it
030    audit or compare: in a full file (BGN08 ``RX``) the member is made to match the file;
       otherwise compared and reported
=====  =======================================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from claims_engine.domain.model import Address
from claims_engine.domain.reference_data import CoverageSpan, Member, member_with_spans
from claims_engine.enrollment.records import Sponsor, member_to_json, spans_of
from claims_engine.x12.reader834 import (
    ACTION_REPLACE,
    ACTION_VERIFY,
    Coverage,
    MemberMaintenance,
)

# What an 834 did to a member.
ADDED, CHANGED, TERMINATED, REINSTATED = "added", "changed", "terminated", "reinstated"
UNCHANGED, STALE, REFUSED = "unchanged", "stale", "refused"
DIFFERS, MATCHES = "differs", "matches"  # a verify file, or an audit (030) outside a full file
OUTCOMES = (ADDED, CHANGED, TERMINATED, REINSTATED, UNCHANGED, STALE, REFUSED, DIFFERS, MATCHES)


def member_id_of(m: MemberMaintenance) -> str:
    """The id a member of an 834 is known by: a subscriber's REF*0F (NM109 without it), a
    dependant's NM109."""
    if m.subscriber:
        return (m.subscriber_id or m.member_id).strip()
    return m.member_id.strip()


@dataclass(frozen=True, slots=True)
class Applied:
    """What one member of an 834 became (see the module docstring)."""

    position: int  # the INS segment's place in its set (0: a member the full file left out)
    member_id: str
    outcome: str
    reason: str = ""
    before: Member | None = None
    after: Member | None = None

    @property
    def writes(self) -> bool:
        return self.outcome in (ADDED, CHANGED, TERMINATED, REINSTATED)


class Refused(Exception):
    """A member the file cannot apply; the message is the reason."""


@dataclass(slots=True)
class Enroller:
    """Applies the members of one 834 transaction set in file order (see the module docstring).

    ``current`` finds a member as the store knows them (and ``as_of_of`` when the store learnt
    that version's source: a file older than it is ``stale``); ``dependants`` a subscriber's
    family. Members the set changes are seen by the later members of the same set."""

    current: Callable[[str], Member | None]
    dependants: Callable[[str], Sequence[Member]]
    as_of_of: Callable[[str], Any]
    plans: Sequence[str]
    sponsor: Sponsor
    file_day: date
    as_of: Any  # the file's BGN03/BGN04 time, comparable with ``as_of_of``'s
    action: str  # BGN08
    in_file: frozenset[str] = frozenset()  # the members the set names (their own INS decide)
    changed: dict[str, Member] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    _by_subscriber: dict[str, set[str]] = field(default_factory=dict)

    def find(self, member_id: str) -> Member | None:
        found = self.changed.get(member_id)
        return found if found is not None else self.current(member_id)

    def family(self, subscriber_id: str) -> list[Member]:
        merged = {m.member_id: m for m in self.dependants(subscriber_id)}
        for member_id in self._by_subscriber.get(subscriber_id, ()):
            merged[member_id] = self.changed[member_id]
        return [merged[k] for k in sorted(merged)]

    def _changed(self, member: Member) -> None:
        self.changed[member.member_id] = member
        self._by_subscriber.setdefault(member.subscriber_id, set()).add(member.member_id)

    def apply(self, m: MemberMaintenance) -> list[Applied]:
        """What ``m`` does: the member's own outcome first, then any dependants a subscriber's
        termination ends."""
        member_id = member_id_of(m)
        self.seen.add(member_id)
        before = self.find(member_id) if member_id else None
        try:
            if not member_id:
                raise Refused(
                    "no member id (REF*0F of a subscriber, NM109 of a dependant's 2100A loop)"
                )
            after = self._after(m, member_id, before)
        except Refused as refused:
            return [Applied(m.position, member_id, REFUSED, str(refused), before)]
        if before is not None:
            known = self.as_of_of(member_id) if member_id not in self.changed else None
            if known is not None and self.as_of < known:
                return [
                    Applied(
                        m.position,
                        member_id,
                        STALE,
                        f"the store holds a change from a newer file ({known:%Y-%m-%d %H:%M})",
                        before,
                    )
                ]
        compare = self.action == ACTION_VERIFY or (
            m.maintenance == "030" and self.action != ACTION_REPLACE
        )
        if compare:
            if before is not None and _same(before, after):
                return [Applied(m.position, member_id, MATCHES, "", before, before)]
            what = "not enrolled" if before is None else _difference(before, after)
            return [Applied(m.position, member_id, DIFFERS, what, before, after)]
        if before is not None and _same(before, after):
            return [Applied(m.position, member_id, UNCHANGED, "", before, before)]
        self._changed(after)
        outcome = _outcome(before, after, m.maintenance)
        results = [Applied(m.position, member_id, outcome, "", before, after)]
        if m.subscriber and outcome == TERMINATED:
            end = _last_end(after)
            for dep in self.family(member_id):
                mid = dep.member_id
                if mid == member_id or mid in self.seen or mid in self.in_file:
                    continue
                ended = _end_all(dep, end) if end else dep
                if not _same(dep, ended):
                    self._changed(ended)
                    results.append(
                        Applied(
                            m.position,
                            dep.member_id,
                            TERMINATED,
                            f"the subscriber's coverage ends on {end}",
                            dep,
                            ended,
                        )
                    )
        return results

    def missing(self, known: Sequence[Member]) -> list[Applied]:
        """A full file's end: the sponsor's members it left out who are covered after the day
        the sponsor's setting ends them (terminated there when the sponsor says so)."""
        end = self.sponsor.missing_end(self.file_day)
        results: list[Applied] = []
        for member in known:
            if member.member_id in self.seen or member.sponsor_id != self.sponsor.id:
                continue
            ended = _end_all(member, end)
            if _same(member, ended):
                continue
            if self.action == ACTION_VERIFY or not self.sponsor.terminate_missing:
                results.append(
                    Applied(0, member.member_id, DIFFERS, "not in the full file", member, ended)
                )
                continue
            self._changed(ended)
            results.append(
                Applied(
                    0,
                    member.member_id,
                    TERMINATED,
                    f"not in the full file: coverage ends on {end}",
                    member,
                    ended,
                )
            )
        return results

    # -- one member ------------------------------------------------------------------------

    def _after(self, m: MemberMaintenance, member_id: str, before: Member | None) -> Member:
        if m.group and not self.sponsor.may_enroll(m.group):
            raise Refused(f"group {m.group} (REF*1L) is not one of sponsor {self.sponsor.id}'s")
        if before is not None and before.sponsor_id and before.sponsor_id != self.sponsor.id:
            raise Refused(f"member {member_id} is enrolled by another sponsor")
        if m.birth_date is not None and m.birth_date > self.file_day:
            raise Refused(f"birth date {m.birth_date} is after the file's date {self.file_day}")
        code = m.maintenance
        if code not in ("001", "021", "024", "025", "030"):
            raise Refused(f"maintenance type {code!r} (INS03) is not one this payer applies")
        if before is None and code in ("001", "024", "025"):
            raise Refused(f"member {member_id} is not enrolled: nothing to change")
        person = self._person(m, member_id, before)
        spans = list(spans_of(before)) if before is not None else []
        if code == "024":
            end = m.eligibility_end or _first(c.end for c in m.coverages)
            if end is None:
                raise Refused("a termination needs its last day (DTP*357, or DTP*349 on the HD)")
            return member_with_spans(person, _ended(spans, end))
        if code == "025":
            start = (
                m.eligibility_begin
                or _first(c.begin for c in m.coverages)
                or m.dates.get("303")  # maintenance effective
            )
            spans = _reinstated(spans, start, m.eligibility_end)
        elif code == "030" and self.action == ACTION_REPLACE and m.coverages:
            spans = []  # a full file tells the member's coverage whole
        for cov in m.coverages:
            spans = self._coverage(spans, cov, m, code)
        if not spans:
            raise Refused("no coverage: the member has no coverage line (HD) to enroll in")
        return member_with_spans(person, tuple(sorted(spans, key=lambda s: s.start)))

    def _person(self, m: MemberMaintenance, member_id: str, before: Member | None) -> Member:
        if m.subscriber or m.relationship == "18":
            subscriber_id, family_id = member_id, before.family_id if before else member_id
            relationship = "18"
        else:
            subscriber_id = m.subscriber_id.strip()
            holder = self.find(subscriber_id) if subscriber_id else None
            if holder is None or not holder.is_subscriber:
                raise Refused(
                    f"dependant without subscriber: no subscriber {subscriber_id or '(no REF*0F)'}"
                    " is enrolled"
                )
            family_id = holder.family_id
            relationship = m.relationship if m.relationship in ("01", "19") else "19"
        base = before
        if base is None:
            if m.birth_date is None:
                raise Refused("a new member needs a birth date (DMG*D8)")
            if not m.last_name:
                raise Refused("a new member needs a name (NM1*IL)")
        address = _address(m.address) if m.address else (base.address if base else Address(""))
        return Member(
            member_id=member_id,
            subscriber_id=subscriber_id,
            family_id=family_id,
            relationship=relationship,
            last_name=(m.last_name or (base.last_name if base else "")).upper(),
            first_name=(m.first_name or (base.first_name if base else "")).upper(),
            birth_date=m.birth_date or (base.birth_date if base else date.min),
            sex=(m.sex if m.sex in ("M", "F", "U") else (base.sex if base else "U")),
            address=address,
            plan_id="",
            effective_from=date.min,
            effective_through=None,
            group_id=m.group or (base.group_id if base else ""),
            sponsor_id=self.sponsor.id,
        )

    def _coverage(
        self, spans: list[CoverageSpan], cov: Coverage, m: MemberMaintenance, member_code: str
    ) -> list[CoverageSpan]:
        plan = self._plan(cov, spans)
        if not plan:
            return spans  # a line the sponsor's plans leave to another administrator
        code = cov.maintenance or member_code
        begin = cov.begin or m.eligibility_begin or m.dates.get("303")
        end = cov.end
        if end is not None and begin is not None and end < begin:
            raise Refused(
                f"coverage line at segment {cov.position} ends {end} before it begins {begin}"
            )
        if code == "024":
            if end is None:
                raise Refused(f"coverage line at segment {cov.position}: termination needs DTP*349")
            return list(_ended(spans, end, line=cov.insurance_line or None))
        if code == "025":
            return _reinstated(spans, begin, end, line=cov.insurance_line or None)
        if begin is None:
            if member_code == "021" and not spans:
                begin = self.file_day
            else:
                same = [s for s in spans if s.plan_id == plan]
                if same:
                    return spans  # the line as it stands
                raise Refused(
                    f"coverage line at segment {cov.position} has no begin date (DTP*348)"
                )
        new = CoverageSpan(plan, begin, end, cov.insurance_line or "HLT")
        kept: list[CoverageSpan] = []
        for s in spans:
            if s.line != new.line or (s.end is not None and s.end < begin):
                kept.append(s)  # another line, or over before the new one starts
            elif s.start >= begin:
                continue  # replaced by the new span
            else:
                kept.append(replace(s, end=begin - timedelta(days=1)))
        kept.append(new)
        return kept

    def _plan(self, cov: Coverage, spans: Sequence[CoverageSpan]) -> str:
        if cov.plan and cov.plan in self.plans:
            return cov.plan
        by_line = self.sponsor.plans.get(cov.insurance_line)
        if by_line is not None:
            return by_line  # "": a line not administered here
        same_line = [s.plan_id for s in spans if s.line == (cov.insurance_line or "HLT")]
        if same_line:
            return same_line[-1]
        asked = cov.plan or cov.insurance_line or "(none)"
        raise Refused(f"unknown plan {asked!r} (HD04, or the sponsor's plan for HD03)")


def _first(values: Any) -> date | None:
    for v in values:
        if v is not None:
            return v  # type: ignore[no-any-return]
    return None


def _address(parts: Sequence[str]) -> Address:
    line1, line2, city, state, postal = (*parts, "", "", "", "", "")[:5]
    return Address(line1, line2, city, state, postal)


def _ended(
    spans: Sequence[CoverageSpan], end: date, *, line: str | None = None
) -> tuple[CoverageSpan, ...]:
    if not spans:
        raise Refused("nothing to terminate: the member has no coverage")
    mine = [s for s in spans if line is None or s.line == line]
    if mine and all(end < s.start - timedelta(days=1) for s in mine):
        first = min(s.start for s in mine)
        raise Refused(f"termination on {end} is before the coverage starts on {first}")
    kept: list[CoverageSpan] = []
    for s in spans:
        if line is not None and s.line != line:
            kept.append(s)
        elif s.start > end:
            continue  # never took effect: cancelled
        elif s.end is None or s.end > end:
            kept.append(replace(s, end=end))
        else:
            kept.append(s)
    if not kept:  # cancelled before it began: kept as a span of no day, with its plan
        earliest = min(spans, key=lambda s: s.start)
        kept.append(replace(earliest, end=earliest.start - timedelta(days=1)))
    return tuple(kept)


def _end_all(member: Member, end: date) -> Member:
    spans = spans_of(member)
    kept = []
    for s in spans:
        if s.start > end:
            continue
        kept.append(replace(s, end=end) if s.end is None or s.end > end else s)
    if not kept:  # coverage that had not begun: it never takes effect
        kept = [replace(s, end=s.start - timedelta(days=1)) for s in spans[:1]]
    return member_with_spans(member, tuple(kept))


def _reinstated(
    spans: Sequence[CoverageSpan], start: date | None, end: date | None, *, line: str | None = None
) -> list[CoverageSpan]:
    if line is None:  # the member: every line reopens
        result = list(spans)
        for each in sorted({s.line for s in spans}):
            result = _reinstated(result, start, end, line=each)
        if not result:
            raise Refused("nothing to reinstate: the member had no coverage")
        return result
    mine = [s for s in spans if s.line == line]
    if not mine:
        raise Refused("nothing to reinstate: the member had no coverage on this line")
    last = max(mine, key=lambda s: s.start)
    others = [s for s in spans if s is not last]
    if last.end is None and end is None:
        return list(spans)  # covered already: nothing to reopen
    if start is None or last.end is None or start <= last.end + timedelta(days=1):
        return [*others, replace(last, end=end)]  # the last span goes on
    if start < last.start:
        raise Refused(
            f"reinstatement from {start} is before the coverage it reopens ({last.start})"
        )
    return [*others, last, CoverageSpan(last.plan_id, start, end, last.line)]


def _last_end(member: Member) -> date | None:
    ends = [s.end for s in spans_of(member)]
    if any(e is None for e in ends):
        return None
    return max(e for e in ends if e is not None)


def _same(a: Member, b: Member) -> bool:
    return member_to_json(a) == member_to_json(b)


def _difference(a: Member, b: Member) -> str:
    x, y = member_to_json(a), member_to_json(b)
    fields = [k for k in x if x[k] != y[k]]
    return "differs in " + ", ".join(fields)


def _outcome(before: Member | None, after: Member, code: str) -> str:
    if before is None:
        return ADDED
    was, now = spans_of(before), spans_of(after)
    open_before = any(s.end is None for s in was)
    open_after = any(s.end is None for s in now)
    last_before = max((s.end or date.max) for s in was)
    last_after = max((s.end or date.max) for s in now)
    if code == "025" or (not open_before and open_after) or last_after > last_before:
        return REINSTATED if code == "025" or last_before < date.max else CHANGED
    if code == "024" or (open_before and not open_after) or last_after < last_before:
        return TERMINATED
    return CHANGED
