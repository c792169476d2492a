"""The session file's optional sections about appeals: the appeal commission and the administrative
staff it must not include (003 §65).  The rules are :func:`lms_bridge.domain.appeals.appeal_commission_issues`;
this module reads the records and names each problem by file, row (or YAML path) and field."""

from __future__ import annotations

from typing import Any

from lms_bridge.domain.appeals import CommissionIssue, appeal_commission_issues
from lms_bridge.domain.session import Member, Role
from lms_bridge.sessionfile.problems import Location, _l
from lms_bridge.sessionfile.raw import RawRecord, RawSession

# ``v`` is the validator of lms_bridge.sessionfile.validate (text, email, choice, problem, too_many);
# typed loosely, as that module imports this one.
_Validator = Any


def administrative_staff(v: _Validator, raw: RawSession) -> list[str] | None:
    records = raw.administrative_staff
    if records is None:
        return []
    v.section = "commission"  # the same columns' lengths as a commission member's
    if v.too_many(records, v.limits.commission * 10):
        return None
    emails: list[str] = []
    ok = True
    for rec in records:
        name = v.text(rec.loc, rec.fields, "name", required=False)
        email = v.email(rec.loc, rec.fields, "email")
        if name is None or email is None:
            ok = False
            continue
        emails.append(email)
    return emails if ok else None


def appeal_commission(v: _Validator, raw: RawSession, attestation: dict[str, Location],
                      staff: list[str] | None) -> list[Member] | None:
    """The appeal commission, or None after reporting its problems; [] when the file has none."""
    records = raw.appeal_commission
    if not records:
        # Not in the file, or an empty list (the template's empty sheet): no appeal commission.
        return []
    v.section = "commission"
    if v.too_many(records, v.limits.commission):
        return None
    members: list[Member] = []
    kept: list[RawRecord] = []
    seen: dict[str, RawRecord] = {}
    ok = True
    for rec in records:
        name = v.text(rec.loc, rec.fields, "name", required=True)
        email = v.email(rec.loc, rec.fields, "email")
        role = v.choice(rec.loc, rec.fields, "role", tuple(r.value for r in Role), default=None)
        if email is not None and email in seen:
            v.problem(rec.fields["email"].loc, "email",
                      _l("%(email)s is listed twice in the appeal commission (first at %(first)s)."),
                      email=email, first=seen[email].loc.describe())
            email = None
        elif email is not None:
            seen[email] = rec
        if name is None or email is None or role is None:
            ok = False
            continue
        members.append(Member(name=name, email=email, role=Role(role)))
        kept.append(rec)
    if not ok:
        return None
    students = {str(r.fields["email"].value).strip().lower() for r in raw.students or []
                if "email" in r.fields and isinstance(r.fields["email"].value, str)}
    for m, rec in zip(members, kept, strict=True):
        if m.email in students:
            v.problem(rec.fields["email"].loc, "email", _l("%(email)s is a student of this session and cannot "
                                                           "sit on the appeal commission."), email=m.email)
            ok = False
    for issue in appeal_commission_issues(members, attestation, staff or []):
        rec = kept[issue.index] if issue.index is not None else None
        email_loc = rec.fields["email"].loc if rec is not None else raw.appeal_commission_loc
        role_loc = rec.fields["role"].loc if rec is not None else raw.appeal_commission_loc
        member = members[issue.index] if issue.index is not None else None
        if issue.issue is CommissionIssue.ON_ATTESTATION_COMMISSION:
            assert member is not None
            v.problem(email_loc, "email", _l("%(email)s is on the attestation commission (%(where)s) and cannot "
                                             "sit on the appeal commission."),
                      email=member.email, where=attestation[member.email].describe())
        elif issue.issue is CommissionIssue.ADMINISTRATIVE_STAFF:
            assert member is not None
            v.problem(email_loc, "email", _l("%(email)s is listed as administrative staff and cannot sit on "
                                             "the appeal commission."), email=member.email)
        elif issue.issue in (CommissionIssue.EXTRA_CHAIR, CommissionIssue.EXTRA_SECRETARY):
            role = "chair" if issue.issue is CommissionIssue.EXTRA_CHAIR else "secretary"
            v.problem(role_loc, "role", _l("The appeal commission needs at most one %(role)s."), role=role)
        elif issue.issue is CommissionIssue.NO_CHAIR:
            v.problem(role_loc, "role", _l("The appeal commission needs a chair; the file has none."))
        elif issue.issue is CommissionIssue.EVEN_VOTERS:
            voters = sum(1 for m in members if m.role.votes)
            v.problem(role_loc, "role", _l("The appeal commission has %(num)s voting members (chair and "
                                           "members); it needs an odd number."), num=voters)
        ok = False
    return members if ok else None
