"""The policy table (:data:`lms_bridge.domain.access.POLICY`) applied to requests: one decorator,
:func:`guard`, on every route of the admin page and the API.

``guard(action, view)`` signs the visitor in first (as ``login_required`` did), then works out their
roles: site roles from the account, session roles by e-mail from the session named by the route's
``code``.  A session in which the person has no role does not exist for them (404, so the page tells
nothing about other sessions); an action their roles do not allow is refused with 403 and words that
say who may take it, naming the people of the session who hold those roles.

An API token narrows its owner's roles to the token's one role (``g.token_role``): a token made
with the member role cannot seal, even when its owner is also the secretary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, g, redirect, request, url_for
from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from lms_bridge.domain.access import (
    APPEAL_ROLE_OF,
    APPEAL_ROLES,
    Role,
    Scope,
    allowed,
    parse_site_roles,
    rule,
    session_roles,
    who_may,
)
from lms_bridge.store.models import AppealMember, CommissionMember, ExamSession, User

F = TypeVar("F", bound=Callable[..., Any])


class Refused(Exception):
    """An action the person's roles do not allow; ``words`` say who may take it."""

    def __init__(self, action: str, words: str) -> None:
        super().__init__(words)
        self.action = action
        self.words = words


# -- whose roles -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """Who is asking: the signed-in account (or the owner of an API token, capped to its role)."""

    user_id: int
    username: str
    email: str
    site: frozenset[Role]
    cap: Role | None = None  # an API token's role: the person acts with at most this one

    @classmethod
    def of(cls, user: User, cap: Role | None = None) -> Person:
        return cls(user.id, user.username, (user.email or "").lower(), parse_site_roles(user.site_roles), cap)

    def narrowed(self, roles: Iterable[Role]) -> frozenset[Role]:
        held = frozenset(roles)
        return held if self.cap is None else held & {self.cap}

    @property
    def is_admin(self) -> bool:
        return Role.ADMINISTRATOR in self.narrowed(self.site)


def current_person() -> Person | None:
    user = g.get("user")
    if user is None:
        return None
    token_role = g.get("token_role")
    return Person.of(user, Role(token_role) if token_role else None)


def roles_in(db: Session, person: Person, exam: ExamSession) -> frozenset[Role]:
    """The person's site roles and their roles in ``exam``, narrowed by a token's role."""
    # Both commissions in one round trip: every guarded request asks this.
    rows = db.execute(union_all(
        select(literal("commission").label("body"), CommissionMember.email, CommissionMember.role).where(
            CommissionMember.session_id == exam.id, CommissionMember.active.is_(True)),
        select(literal("appeal").label("body"), AppealMember.email, AppealMember.role).where(
            AppealMember.session_id == exam.id, AppealMember.active.is_(True)))).all()
    found = session_roles(person.email, members=[(m, r) for body, m, r in rows if body == "commission"],
                          head=exam.head_email, registrar=exam.registrar_email, sealed=exam.status == "sealed",
                          appeal=[(m, r) for body, m, r in rows if body == "appeal"])
    return person.narrowed(found | person.site)


def roles_anywhere(db: Session, person: Person) -> frozenset[Role]:
    """The site roles and every session role the person holds in some session (for site actions
    such as the outbox, where a secretary sees their own sessions' mail)."""
    found: set[Role] = set(person.site)
    if person.email:
        for (role,) in db.execute(select(CommissionMember.role).distinct().where(
                func.lower(CommissionMember.email) == person.email, CommissionMember.active.is_(True))):
            found.add(Role(role))
        for (role,) in db.execute(select(AppealMember.role).distinct().where(
                func.lower(AppealMember.email) == person.email, AppealMember.active.is_(True))):
            if role in APPEAL_ROLE_OF:
                found.add(APPEAL_ROLE_OF[role])
        if db.scalar(select(ExamSession.id).where(func.lower(ExamSession.head_email) == person.email).limit(1)):
            found.add(Role.HEAD)
        if db.scalar(select(ExamSession.id).where(func.lower(ExamSession.registrar_email) == person.email,
                                                  ExamSession.status == "sealed").limit(1)):
            found.add(Role.REGISTRAR)
    return person.narrowed(found)


def visible_sessions(person: Person, *, roles: Iterable[Role] | None = None) -> Any:
    """A WHERE clause on :class:`ExamSession`: the sessions the person has a role in (every session
    for an administrator).  ``roles`` limits it to the sessions where they hold one of those."""
    if person.is_admin:
        return ExamSession.id.is_not(None)
    wanted = person.narrowed(set(roles) if roles is not None else set(Role))
    if not person.email:
        return ExamSession.id.is_(None)
    clauses: list[Any] = []
    commission = {r.value for r in wanted if r in (Role.CHAIR, Role.MEMBER, Role.SECRETARY)}
    if commission:
        clauses.append(ExamSession.id.in_(select(CommissionMember.session_id).where(
            func.lower(CommissionMember.email) == person.email, CommissionMember.active.is_(True),
            CommissionMember.role.in_(commission))))
    appeal = {file_role for file_role, role in APPEAL_ROLE_OF.items() if role in wanted}
    if appeal:
        clauses.append(ExamSession.id.in_(select(AppealMember.session_id).where(
            func.lower(AppealMember.email) == person.email, AppealMember.active.is_(True),
            AppealMember.role.in_(appeal))))
    if Role.HEAD in wanted:
        clauses.append(func.lower(ExamSession.head_email) == person.email)
    if Role.REGISTRAR in wanted:
        clauses.append((func.lower(ExamSession.registrar_email) == person.email) & (ExamSession.status == "sealed"))
    return or_(*clauses) if clauses else ExamSession.id.is_(None)


# -- the refusal's words ----------------------------------------------------------------------------

def refusal(db: Session | None, action: str, exam: ExamSession | None) -> str:
    """"Only the technical secretary of this session (Name); an administrator may do this." """
    from flask_babel import gettext as _

    from lms_bridge.admin.labels import role_label

    parts = []
    for role in who_may(action):
        label = role_label(role)
        names = _holders(db, exam, role) if exam is not None and db is not None else []
        parts.append(f"{label} ({', '.join(names)})" if names else label)
    if not parts:
        return _("Nobody may do this.")
    return _("Only %(who)s may do this.", who="; ".join(parts))


def _holders(db: Session, exam: ExamSession, role: Role) -> list[str]:
    if role in (Role.CHAIR, Role.MEMBER, Role.SECRETARY):
        return list(db.scalars(select(CommissionMember.name).where(
            CommissionMember.session_id == exam.id, CommissionMember.active.is_(True),
            CommissionMember.role == role.value).order_by(CommissionMember.position)))
    if role in APPEAL_ROLES:
        file_role = next(k for k, v in APPEAL_ROLE_OF.items() if v is role)
        return list(db.scalars(select(AppealMember.name).where(
            AppealMember.session_id == exam.id, AppealMember.active.is_(True),
            AppealMember.role == file_role).order_by(AppealMember.position)))
    if role is Role.HEAD and exam.head_email:
        return [exam.head_email]
    if role is Role.REGISTRAR and exam.registrar_email:
        return [exam.registrar_email]
    return []


# -- the decorator ---------------------------------------------------------------------------------

def check(db: Session, action: str, exam: ExamSession | None = None) -> frozenset[Role]:
    """The person's roles when they may take ``action`` (on ``exam``); raises 404 for a session
    they have no role in, :class:`Refused` for an action their roles do not allow."""
    person = current_person()
    found = rule(action)
    if person is None or found is None:
        raise Refused(action, refusal(db, action, exam))
    if found.scope is Scope.SESSION:
        if exam is None:
            abort(404)
        roles = roles_in(db, person, exam)
        if not roles - {Role.IMPORTER}:
            abort(404)  # not their session: it does not exist for them
    else:
        roles = roles_anywhere(db, person)
    if not allowed(action, roles):
        raise Refused(action, refusal(db, action, exam))
    return roles


def guard(action: str, view: F) -> F:
    """``view`` behind sign-in and the policy table's line for ``action``.  Routes with a ``code``
    are about that session; the roles found are left in ``g.roles`` for the page (see :func:`may`)."""
    if rule(action) is None:
        raise KeyError(f"{action!r} is not in lms_bridge.domain.access.POLICY")

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from lms_bridge.appstate import state

        if g.get("user") is None:
            if request.path.endswith(".json") or request.blueprint == "api":
                return {"error": "sign-in required"}, 401
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        code = kwargs.get("code")
        with state().sessionmaker() as db:
            exam = None
            if code is not None:
                exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
            try:
                g.roles = check(db, action, exam)
            except Refused:
                # The appeal commission sees a session only through its appeals: its page is theirs.
                if action == "session.view" and exam is not None and request.blueprint != "api":
                    person = current_person()
                    if person is not None and allowed("appeals.view", roles_in(db, person, exam)):
                        return redirect(url_for("admin.appeals_page", code=code))
                raise
            g.roles_session = code
            g.guarded_exam = exam
        return view(*args, **kwargs)

    wrapped.policy_action = action  # type: ignore[attr-defined]
    return cast(F, wrapped)


def guarded_session(db: Session, code: str) -> ExamSession | None:
    """The session the guard of this request loaded for ``code``, attached to ``db`` without
    reading it again (the guard ran a moment ago, in the same request); else read from ``db``."""
    exam = g.get("guarded_exam")
    if exam is not None and g.get("roles_session") == code and exam.code == code:
        return db.merge(exam, load=False)  # type: ignore[no-any-return]
    return db.scalar(select(ExamSession).where(ExamSession.code == code))  # type: ignore[no-any-return]


def may(action: str) -> bool:
    """For the page: whether the roles found for this request's session allow ``action``."""
    roles = g.get("roles")
    return roles is not None and allowed(action, roles)


def may_site(action: str) -> bool:
    """For the page's menu: whether the signed-in person may take a site action (e.g. the outbox),
    worked out once per request."""
    from lms_bridge.appstate import state

    person = current_person()
    if person is None:
        return False
    roles = g.get("site_roles_found")
    if roles is None:
        with state().sessionmaker() as db:
            roles = roles_anywhere(db, person)
        g.site_roles_found = roles
    return allowed(action, roles)
