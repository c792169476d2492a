"""Who may do what: the roles and the one table of actions every page, form and API call is checked
against (``lms_bridge.admin.policy`` applies it to requests).

Two kinds of role.  *Site roles* belong to an account: the administrator (accounts, settings, every
session) and the importer (a secretary allowed to import sessions).  *Session roles* come from the
session file and are matched by e-mail when a person signs in: the commission's chair, members and
technical secretary, the head of department and the registrar (003 §56-73, 002 steps 1-5; see
``shared/docs/attestation-rules.md``, "Who").  The registrar's role counts only once the session is
sealed: what they receive are the signed documents.  The appeal commission's chair, members and
secretary (003 §65, the session file's ``appeal_commission``) are session roles of their own: they see
the session only through its appeals, and the student's statement is theirs and the technical
secretary's alone.

Adding an action is one line in :data:`POLICY`: its name, whether it is about one session or the
site, and the roles that may take it.  An action missing from the table is refused to everybody.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Role(enum.StrEnum):
    # In the order a refusal names them: the session's people first, the site's last.
    SECRETARY = "secretary"
    CHAIR = "chair"
    MEMBER = "member"
    HEAD = "head_of_department"
    REGISTRAR = "registrar"
    APPEAL_SECRETARY = "appeal_secretary"
    APPEAL_CHAIR = "appeal_chair"
    APPEAL_MEMBER = "appeal_member"
    IMPORTER = "importer"
    ADMINISTRATOR = "administrator"


SITE_ROLES = frozenset({Role.ADMINISTRATOR, Role.IMPORTER})
SESSION_ROLES = frozenset(Role) - SITE_ROLES
APPEAL_ROLES = frozenset({Role.APPEAL_CHAIR, Role.APPEAL_MEMBER, Role.APPEAL_SECRETARY})
# The session file's appeal_commission role -> the session role it gives.
APPEAL_ROLE_OF = {"chair": Role.APPEAL_CHAIR, "member": Role.APPEAL_MEMBER, "secretary": Role.APPEAL_SECRETARY}


class Scope(enum.StrEnum):
    SESSION = "session"  # about one session: the person's roles in that session count
    SITE = "site"  # about no session in particular: site roles, and session roles held anywhere


@dataclass(frozen=True)
class Rule:
    scope: Scope
    roles: frozenset[Role]


def _rule(scope: Scope, *roles: Role) -> Rule:
    return Rule(scope, frozenset(roles))


A, I = Role.ADMINISTRATOR, Role.IMPORTER  # noqa: E741 - one letter per role keeps the table readable
S, C, M, H, R = Role.SECRETARY, Role.CHAIR, Role.MEMBER, Role.HEAD, Role.REGISTRAR
SESSION, SITE = Scope.SESSION, Scope.SITE
AC, AM, AS = Role.APPEAL_CHAIR, Role.APPEAL_MEMBER, Role.APPEAL_SECRETARY
EVERYONE = (A, I, S, C, M, H, R)
APPEAL = (AC, AM, AS)

# action -> who may take it.  One line per action; keep the names stable (the API and the audit
# trail show them).
POLICY: dict[str, Rule] = {
    # -- the site ---------------------------------------------------------------------------------
    "sessions.list": _rule(SITE, *EVERYONE, *APPEAL),  # each sees the sessions they have a role in
    "sessions.import": _rule(SITE, A, I),              # a new session from a file
    "outbox.view": _rule(SITE, A, S),                  # the secretary sees their sessions' mail
    "audit.view_all": _rule(SITE, A),                  # the audit trail of every session and sign-ins
    "accounts.manage": _rule(SITE, A),
    "tokens.manage": _rule(SITE, *EVERYONE),           # one's own API tokens, with one's own roles
    # -- one session: reading -------------------------------------------------------------------
    "session.view": _rule(SESSION, A, S, C, M, H, R),  # the page: each sees only their part of it
    "session.students": _rule(SESSION, A, S, C, M, H),
    "session.board": _rule(SESSION, A, S, C, H),       # runs, tickets, timetable, created resources
    "session.ballots.own": _rule(SESSION, C, M),       # the ballots one cast oneself
    "session.documents": _rule(SESSION, A, S, C, H, R),
    "session.audit": _rule(SESSION, A, S, C, H),
    # -- one session: running it ------------------------------------------------------------------
    "session.import_again": _rule(SESSION, A, S),      # re-import (reconcile) an existing session
    "session.provision": _rule(SESSION, A, S),
    "session.identify_commission": _rule(SESSION, A, S, H),
    "session.draw": _rule(SESSION, A, S),
    "student.admit": _rule(SESSION, A, S),             # admitted to the draw, or to a test exam's quiz
    "student.exception": _rule(SESSION, A, S),
    "student.close_vote": _rule(SESSION, A, S),
    "student.commission_decision": _rule(SESSION, A, S, C),
    "session.release": _rule(SESSION, A, S, C),        # the chair announces; the secretary records it
    "session.sign_off": _rule(SESSION, C),             # the chair signs off the protocols
    "session.seal": _rule(SESSION, A, S),
    # -- the forms of the exam (lms_bridge.domain.kinds) ----------------------------------------------
    "session.test_scores": _rule(SESSION, A, S),       # read a test exam's scores from Moodle now
    "student.test_reconnect": _rule(SESSION, A, S),    # a test continued after a lost connection
    "student.plagiarism": _rule(SESSION, A, S),        # a defense's plagiarism-check result
    "session.ratings": _rule(SESSION, A, S),           # a test exam's admission ratings from the university's export
    # -- the sitting board (003 §56-61): the secretary runs it, the chair and the head watch it ----------
    "board.view": _rule(SESSION, A, S, C, H),          # the board, board.json, the uploaded answer sheets
    "board.identify": _rule(SESSION, A, S),            # the student showed an ID on camera
    "board.confirm_receipt": _rule(SESSION, A, S),     # the student has the ticket
    "board.start_answer": _rule(SESSION, A, S),
    "board.finish_answer": _rule(SESSION, A, S),
    "board.upload": _rule(SESSION, A, S),              # answer sheets uploaded on the student's behalf
    "board.links": _rule(SESSION, A, S),               # the meeting's and the recording's links
    # -- appeals (003 §64-67) -------------------------------------------------------------------------
    # One appeal commission per session, so every appeal of the session is its members' own.  The
    # attestation commission's chair and the head follow the appeals' status and deadlines only.
    "appeals.view": _rule(SESSION, A, S, C, H, *APPEAL),
    # The student's statement: the appeal commission and the technical secretary, nobody else
    # (not the administrator, not the attestation commission whose grade is appealed).
    "appeals.statement": _rule(SESSION, S, *APPEAL),
    # The hearing (003 §66) and the answer (§67) are the appeal commission's acts: its secretary
    # records them, or the technical secretary for it.
    "appeals.manage": _rule(SESSION, A, S, AS),        # read the filings, schedule, count, answer
    # Applying the outcome rewrites the attestation's own record (the grade in the sheet, Moodle
    # and Classroom, or a new sitting): the session's technical secretary keeps that record.
    "appeals.apply": _rule(SESSION, A, S),
}


def rule(action: str) -> Rule | None:
    return POLICY.get(action)


def allowed(action: str, roles: Iterable[Role]) -> bool:
    """Whether someone holding ``roles`` (for a session action: their roles in that session plus
    their site roles) may take ``action``.  Unknown actions are refused."""
    found = POLICY.get(action)
    return found is not None and not found.roles.isdisjoint(roles)


def who_may(action: str) -> tuple[Role, ...]:
    """The roles that may take ``action``, in the order of :class:`Role` (for the refusal's words)."""
    found = POLICY.get(action)
    return tuple(r for r in Role if found is not None and r in found.roles)


def session_roles(email: str, *, members: Iterable[tuple[str, str]], head: str, registrar: str,
                  sealed: bool, appeal: Iterable[tuple[str, str]] = ()) -> frozenset[Role]:
    """A person's roles in one session, by e-mail: ``members`` are the active commission's
    (email, role) pairs, ``appeal`` the active appeal commission's (role as the session file names
    it: chair, member, secretary).  No e-mail, no role: a local account without one has site roles
    only."""
    address = email.strip().lower()
    if not address:
        return frozenset()
    roles = {Role(role) for mail, role in members if mail.lower() == address}
    roles |= {APPEAL_ROLE_OF[role] for mail, role in appeal if mail.lower() == address and role in APPEAL_ROLE_OF}
    if head and head.lower() == address:
        roles.add(Role.HEAD)
    if sealed and registrar and registrar.lower() == address:
        roles.add(Role.REGISTRAR)
    return frozenset(roles)


def parse_site_roles(text: str) -> frozenset[Role]:
    """The site roles stored on an account ("administrator,importer"); anything else is ignored."""
    words = {w.strip() for w in (text or "").split(",")}
    return frozenset(r for r in SITE_ROLES if r.value in words)
