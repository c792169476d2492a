"""Storing a session file, re-importing it without losing what happened, and reading sessions back.

Re-import rules (docs/session-file.md, "Importing again"):

* rows are matched by what identifies them: commission members by email, students by their id in
  the university information system (or, failing that, by email: a corrected id), tickets by number;
* what changed is updated, what is new is added;
* a member or student dropped from the file is *deleted* when nothing refers to them yet, and kept
  as *inactive* when a provisioning step has already made something for them (their journal
  entries stay meaningful, and the steps can undo the outside side);
* what cannot be reconciled is refused, all reasons at once, before anything is written: removing
  or un-admitting a student who drew a ticket or has ballots, changing or removing a drawn ticket,
  removing a member who voted or changing their role, changing the kind or language once
  provisioning has made something, changing the grading once ballots exist, moving the sitting
  once tickets are drawn, and any change to a sealed session.

The functions work inside the caller's transaction (``lms_bridge.store.db.transaction``) and only
flush, so a refusal or an error leaves the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms_bridge.domain import draw
from lms_bridge.domain.session import (
    DecisionRule,
    DegreeVote,
    ExamKind,
    Grading,
    Member,
    Role,
    SessionSpec,
    Student,
    TestQuestion,
    Ticket,
)
from lms_bridge.i18n import gettext
from lms_bridge.store.appeals import stored_appeal_commission, sync_appeal_commission
from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    CommissionMember,
    DecisionRecord,
    ExamSession,
    JournalEntry,
    StudentRecord,
    TicketRecord,
    utcnow,
)


def _l(msgid: str) -> str:
    """Mark ``msgid`` for extraction (scripts/catalogs.py collects ``_l``); :class:`Note` translates it."""
    return msgid


@dataclass(frozen=True)
class Note:
    """A translatable sentence about a change or a refusal, translated when shown."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return gettext(self.msgid, **self.params) if self.params else gettext(self.msgid)

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return {"msgid": self.msgid, "params": dict(self.params)}


@dataclass
class ImportResult:
    created: bool
    changes: list[Note]
    session: ExamSession


class ImportRefused(Exception):
    """The file cannot be reconciled with what already happened; nothing was written."""

    def __init__(self, code: str, reasons: list[Note]) -> None:
        super().__init__("; ".join(r.msgid for r in reasons))
        self.code = code
        self.reasons = reasons


def get_session(db: Session, code: str) -> ExamSession | None:
    return db.scalar(select(ExamSession).where(ExamSession.code == code))


def journal_entry(db: Session, session_id: int, key: str, *, fresh: bool = False,
                  for_update: bool = False) -> JournalEntry | None:
    """The journal's entry for ``key`` in a session (what a step made or remembered), if any.

    ``fresh`` reloads a row this session already holds: another process may have written it since.
    ``for_update`` also locks the row until the commit (PostgreSQL; SQLite has one writer at a time),
    so that what is written back from it loses nobody else's change.
    """
    if not (fresh or for_update):
        read = _prefetched(db, session_id, key)
        if read is not None:
            return next((e for e in read if e.key == key), None)
    query = select(JournalEntry).where(JournalEntry.session_id == session_id, JournalEntry.key == key)
    if for_update:
        query = query.with_for_update()
    return db.scalar(query.execution_options(populate_existing=True) if fresh or for_update else query)


def merge_entry_data(db: Session, entry: JournalEntry, **data: Any) -> JournalEntry:
    """Add ``data`` to a journal entry's data without losing what another process wrote to it since
    ``entry`` was read (a provisioning run's step and a job both add to a voting form's entry).

    The row is read again, locked until the caller commits, and only the given keys change."""
    db.flush()
    fresh = journal_entry(db, entry.session_id, entry.key, for_update=True)
    if fresh is None:
        raise LookupError(entry.key)
    fresh.data = {**fresh.data, **data}
    return fresh


_PREFETCH = "lms_bridge.journal_prefetch"


def prefetch_journal(db: Session, session_id: int, prefixes: tuple[str, ...]) -> None:
    """Read, in one query, a session's journal entries under each of ``prefixes`` (exact keys are
    prefixes of themselves) for a read-only request.  Until :func:`end_prefetch` (or until ``db``
    closes), :func:`journal_entry` and :func:`journal_entries` answer a key or prefix that one of
    them covers from what was read (``fresh`` and ``for_update`` reads still query).  A page that
    shows every student looks up several kinds of entries; this makes them one round trip."""
    from sqlalchemy import or_

    rows = list(db.scalars(select(JournalEntry).where(
        JournalEntry.session_id == session_id,
        or_(*(JournalEntry.key.startswith(p, autoescape=True) for p in prefixes)))))
    db.info[_PREFETCH] = (session_id, prefixes, rows)


def end_prefetch(db: Session) -> None:
    """Forget what :func:`prefetch_journal` read: later reads of ``db`` query again."""
    db.info.pop(_PREFETCH, None)


def _prefetched(db: Session, session_id: int, key_or_prefix: str) -> list[JournalEntry] | None:
    """The prefetched entries when they cover ``key_or_prefix`` in ``session_id``, else None."""
    held = db.info.get(_PREFETCH)
    if held is None or held[0] != session_id or not any(key_or_prefix.startswith(p) for p in held[1]):
        return None
    return held[2]  # type: ignore[no-any-return]


def journal_entries(db: Session, session_id: int, prefix: str, *, fresh: bool = False) -> list[JournalEntry]:
    """A session's journal entries whose key starts with ``prefix`` (``forms.form:``, ``moodle.user:``)."""
    if not fresh:
        read = _prefetched(db, session_id, prefix)
        if read is not None:
            return [e for e in read if e.key.startswith(prefix)]
    query = select(JournalEntry).where(
        JournalEntry.session_id == session_id, JournalEntry.key.startswith(prefix, autoescape=True))
    return list(db.scalars(query.execution_options(populate_existing=True) if fresh else query))


@dataclass(frozen=True)
class SessionSummary:
    id: int
    code: str
    title: str
    kind: str
    language: str
    starts_at: datetime
    timezone: str
    status: str
    members: int
    students: int
    admitted: int
    tickets: int
    updated_at: datetime


def list_sessions(db: Session) -> list[SessionSummary]:
    """Every session, the next sitting first, with head counts of the active rows (sessions list page)."""

    def counts(stmt: Any) -> dict[int, int]:
        return {sid: n for sid, n in db.execute(stmt)}

    members = counts(select(CommissionMember.session_id, func.count()).where(CommissionMember.active)
                     .group_by(CommissionMember.session_id))
    students = counts(select(StudentRecord.session_id, func.count()).where(StudentRecord.active)
                      .group_by(StudentRecord.session_id))
    admitted = counts(select(StudentRecord.session_id, func.count())
                      .where(StudentRecord.active, StudentRecord.admitted).group_by(StudentRecord.session_id))
    tickets = counts(select(TicketRecord.session_id, func.count()).group_by(TicketRecord.session_id))
    rows = db.scalars(select(ExamSession).order_by(ExamSession.starts_at.desc(), ExamSession.code))
    return [SessionSummary(id=s.id, code=s.code, title=s.title, kind=s.kind, language=s.language,
                           starts_at=s.starts_at, timezone=s.timezone, status=s.status,
                           members=members.get(s.id, 0), students=students.get(s.id, 0),
                           admitted=admitted.get(s.id, 0), tickets=tickets.get(s.id, 0),
                           updated_at=s.updated_at) for s in rows]


def spec_from_store(db: Session, session: ExamSession) -> SessionSpec:
    """The session as stored (active members and students only), for the provisioning engine."""
    zone = ZoneInfo(session.timezone)
    grading = session.grading or {}
    quorum = grading.get("quorum") or [2, 3]
    return SessionSpec(
        code=session.code, title=session.title, kind=ExamKind(session.kind), programme=session.programme,
        group=session.group_name, language=session.language, timezone=session.timezone,
        university=session.university, commission_name=session.commission_name, platform=session.platform,
        department=session.department, head_of_department=session.head_email, registrar=session.registrar_email,
        department_email=session.department_email,
        starts_at=session.starts_at.astimezone(zone), preparation_minutes=session.preparation_minutes,
        answer_minutes=session.answer_minutes,
        grading=Grading(scale=grading.get("scale", "kz_letter"),
                        decision=DecisionRule(grading.get("decision", "mean")),
                        quorum_num=int(quorum[0]), quorum_den=int(quorum[1])),
        degree_vote=DegreeVote(session.degree_vote),
        commission=tuple(Member(name=m.name, email=m.email, role=Role(m.role))
                         for m in session.members if m.active),
        students=tuple(Student(id=s.student_ref, name=s.name, email=s.email, admitted=s.admitted,
                               admission_note=s.admission_note, admission_rating=_whole(s.admission_rating),
                               plagiarism=s.plagiarism_check, current_score=s.current_score,
                               midterm_score=s.midterm_score)
                       for s in session.students if s.active),
        tickets=tuple(Ticket(number=t.number, questions=tuple(t.questions)) for t in session.tickets),
        question_bank=tuple(TestQuestion(text=q["text"], answers=tuple(q["answers"]), correct=int(q["correct"]),
                                         name=q.get("name", ""))
                            for q in (session.options or {}).get("question_bank", [])),
        commission_vote=(session.options or {}).get("commission_vote"),
        voters_group=str((session.options or {}).get("voters_group", "")),
        appeal_commission=stored_appeal_commission(db, session),
    )


def _grading(spec: SessionSpec) -> dict[str, Any]:
    g = spec.grading
    return {"scale": g.scale, "decision": g.decision.value, "quorum": [g.quorum_num, g.quorum_den]}


def _session_values(spec: SessionSpec) -> dict[str, Any]:
    return {
        "title": spec.title, "kind": spec.kind.value, "programme": spec.programme, "group_name": spec.group,
        "university": spec.university, "commission_name": spec.commission_name, "platform": spec.platform,
        "department": spec.department, "head_email": spec.head_of_department, "registrar_email": spec.registrar,
        "department_email": spec.department_email,
        "language": spec.language, "timezone": spec.timezone, "starts_at": spec.starts_at,
        "preparation_minutes": spec.preparation_minutes, "answer_minutes": spec.answer_minutes,
        "grading": _grading(spec), "degree_vote": spec.degree_vote.value, "options": _options(spec),
    }


def _options(spec: SessionSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.commission_vote is not None:
        out["commission_vote"] = spec.commission_vote
    if spec.voters_group:
        out["voters_group"] = spec.voters_group
    if spec.question_bank:
        out["question_bank"] = [{"text": q.text, "answers": list(q.answers), "correct": q.correct, "name": q.name}
                                for q in spec.question_bank]
    return out


def import_session(db: Session, spec: SessionSpec, *, source_name: str, actor: str,
                   now: Callable[[], datetime] = utcnow) -> ImportResult:
    """Store ``spec`` (new code) or reconcile it with the stored session; raises :class:`ImportRefused`."""
    # The row lock (PostgreSQL; SQLite serialises writers anyway) keeps two imports of one session
    # from reconciling against the same old state.
    session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code).with_for_update())
    try:
        result = (_create(db, spec, source_name) if session is None
                  else _Reconcile(db, session, spec).run(source_name))
    except IntegrityError:
        # Another import created the same session (or row) between our read and our write.
        raise ImportRefused(spec.code, [Note(_l(
            "Another import of session %(code)s ran at the same time; import the file again."),
            {"code": spec.code})]) from None
    sync_appeal_commission(db, result.session, spec)
    db.add(AuditEvent(session_id=result.session.id, at=now(), actor=actor,
                      action="session.created" if result.created else "session.reimported",
                      detail={"source": source_name, "changes": [c.as_dict() for c in result.changes]}))
    db.flush()
    return result


def _create(db: Session, spec: SessionSpec, source_name: str) -> ImportResult:
    seed = draw.new_seed()
    session = ExamSession(code=spec.code, draw_seed=seed, draw_commitment=draw.commitment(seed),
                          source_name=source_name, status="imported", **_session_values(spec))
    session.members = [CommissionMember(position=i, name=m.name, email=m.email, role=m.role.value)
                       for i, m in enumerate(spec.commission)]
    session.students = [_new_student(i, s) for i, s in enumerate(spec.students)]
    session.tickets = [TicketRecord(number=t.number, questions=list(t.questions)) for t in spec.tickets]
    db.add(session)
    db.flush()
    note = Note(_l("Session %(code)s created: %(members)s commission members, %(students)s students "
                "(%(admitted)s admitted), %(tickets)s tickets."),
                {"code": spec.code, "members": len(spec.commission), "students": len(spec.students),
                 "admitted": len(spec.admitted), "tickets": len(spec.tickets)})
    return ImportResult(created=True, changes=[note], session=session)


def _new_student(position: int, s: Student) -> StudentRecord:
    return StudentRecord(position=position, student_ref=s.id, name=s.name, email=s.email, admitted=s.admitted,
                         admission_note=s.admission_note, admission_rating=s.admission_rating,
                         plagiarism_check=s.plagiarism, current_score=s.current_score,
                         midterm_score=s.midterm_score)


class _Reconcile:
    """Plans every change first, collecting refusals; writes only when there are none."""

    def __init__(self, db: Session, session: ExamSession, spec: SessionSpec) -> None:
        self.db = db
        self.session = session
        self.spec = spec
        self.changes: list[Note] = []
        self.refusals: list[Note] = []
        self.writes: list[Callable[[], None]] = []  # applied in order once nothing is refused
        self.late_writes: list[Callable[[], None]] = []  # after renames are flushed (unique columns)
        sid = session.id
        self.journal_keys = list(db.scalars(select(JournalEntry.key).where(JournalEntry.session_id == sid)))
        self.provisioned = bool(self.journal_keys) or session.status != "imported"
        ballots = list(db.execute(
            select(BallotRecord.member_id, BallotRecord.voter_email, BallotRecord.student_id)
            .where(BallotRecord.session_id == sid)))
        self.any_ballots = bool(ballots)
        self.voted_member_ids = {b.member_id for b in ballots if b.member_id is not None}
        self.voted_emails = {b.voter_email.lower() for b in ballots}
        self.balloted_student_ids = {b.student_id for b in ballots}
        self.decided_student_ids = set(db.scalars(select(DecisionRecord.student_id)
                                                  .where(DecisionRecord.session_id == sid)))
        self.drawn_numbers = {s.ticket_number for s in session.students if s.ticket_number is not None}
        self.any_draw = bool(self.drawn_numbers) or any(s.ticket_drawn_at for s in session.students)

    # -- helpers -------------------------------------------------------------------------------
    def change(self, msgid: str, **params: Any) -> None:
        self.changes.append(Note(msgid, params))

    def refuse(self, msgid: str, **params: Any) -> None:
        self.refusals.append(Note(msgid, params))

    def referenced(self, *names: str) -> bool:
        """Whether a provisioning journal key names one of ``names`` (``moodle.enrol:<email>``, ...)."""
        wanted = {n for n in names if n}
        return any(part in wanted for key in self.journal_keys for part in key.split(":")[1:])

    def student_history(self, rec: StudentRecord) -> bool:
        return (rec.ticket_number is not None or rec.ticket_drawn_at is not None
                or rec.id in self.balloted_student_ids or rec.id in self.decided_student_ids
                or rec.files_received > 0 or rec.turned_in_at is not None or bool(rec.attempt_state))

    def member_voted(self, rec: CommissionMember) -> bool:
        return rec.id in self.voted_member_ids or rec.email in self.voted_emails

    # -- the plan ------------------------------------------------------------------------------
    def run(self, source_name: str) -> ImportResult:
        self.plan_session()
        self.plan_members()
        self.plan_students()
        self.plan_tickets()
        sealed = self.session.status == "sealed" or self.session.sealed_at is not None
        if sealed and self.changes:
            self.refusals.insert(0, Note(_l("The session %(code)s is sealed (its protocol is signed); "
                                         "it can no longer change."), {"code": self.session.code}))
        if self.refusals:
            raise ImportRefused(self.session.code, self.refusals)
        for write in self.writes:
            write()
        self.db.flush()
        for write in self.late_writes:
            write()
        self.session.source_name = source_name
        self.db.flush()
        self.db.refresh(self.session)
        return ImportResult(created=False, changes=self.changes, session=self.session)

    def plan_session(self) -> None:
        s, new = self.session, _session_values(self.spec)
        old: dict[str, Any] = {key: getattr(s, key) for key in new}
        changed = [key for key in new if old[key] != new[key]]
        for key in changed:
            if key in ("kind", "language") and self.provisioned:
                self.refuse(_l("The %(field)s cannot change from %(old)s to %(new)s: the session has "
                            "already been provisioned with it."), field=key, old=old[key], new=new[key])
            elif key in ("grading", "degree_vote") and self.any_ballots:
                self.refuse(_l("The %(field)s cannot change: commission members have already voted."), field=key)
            elif key in ("starts_at", "timezone", "preparation_minutes", "answer_minutes") and self.any_draw:
                self.refuse(_l("The %(field)s cannot change: the sitting has begun (tickets were drawn)."),
                            field=key)
            else:
                shown_old, shown_new = old[key], new[key]
                if key == "options":
                    # The test bank can be long: say what changed, not every question.
                    self.change(_l("The kind's options changed (question bank or the commission's vote)."))
                    self.writes.append(partial(setattr, s, key, new[key]))
                    continue
                if key == "starts_at":
                    zone = ZoneInfo(self.spec.timezone)
                    shown_old = old[key].astimezone(zone).strftime("%Y-%m-%d %H:%M")
                    shown_new = new[key].strftime("%Y-%m-%d %H:%M")
                elif key == "grading":
                    shown_old, shown_new = _show_grading(old[key]), _show_grading(new[key])
                self.change(_l("%(field)s changed from %(old)s to %(new)s."), field=key, old=str(shown_old),
                            new=str(shown_new))
                self.writes.append(partial(setattr, s, key, new[key]))

    def plan_members(self) -> None:
        stored = {m.email: m for m in self.session.members}
        wanted = {m.email for m in self.spec.commission}
        for position, m in enumerate(self.spec.commission):
            rec = stored.get(m.email)
            if rec is None:
                self.change(_l("Commission member %(name)s <%(email)s> added as %(role)s."),
                            name=m.name, email=m.email, role=m.role.value)
                self.writes.append(partial(self.session.members.append, CommissionMember(
                    position=position, name=m.name, email=m.email, role=m.role.value)))
                continue
            if rec.role != m.role.value:
                if self.member_voted(rec):
                    self.refuse(_l("%(email)s has already voted, so their role cannot change from %(old)s to "
                                "%(new)s."), email=m.email, old=rec.role, new=m.role.value)
                    continue
                self.change(_l("Commission member %(email)s: role changed from %(old)s to %(new)s."),
                            email=m.email, old=rec.role, new=m.role.value)
            if rec.name != m.name:
                self.change(_l("Commission member %(email)s: name changed to %(name)s."), email=m.email,
                            name=m.name)
            if not rec.active:
                self.change(_l("Commission member %(email)s is back in the commission."), email=m.email)
            self.writes.append(partial(_assign, rec, name=m.name, role=m.role.value, active=True,
                                       position=position))
        for email, rec in stored.items():
            if email in wanted or not rec.active:
                continue
            if self.member_voted(rec):
                self.refuse(_l("Commission member %(email)s cannot be removed: they have already voted."),
                            email=email)
            elif self.referenced(email):
                self.change(_l("Commission member %(email)s left the commission (kept as inactive: "
                            "provisioning has already included them)."), email=email)
                self.writes.append(partial(_assign, rec, active=False))
            else:
                self.change(_l("Commission member %(email)s removed."), email=email)
                self.writes.append(partial(self.session.members.remove, rec))

    def plan_students(self) -> None:
        by_ref = {s.student_ref: s for s in self.session.students}
        by_email = {s.email: s for s in self.session.students}
        spec_refs = {s.id for s in self.spec.students}
        matched: set[int] = set()
        removed: set[int] = set()
        renames: list[tuple[StudentRecord, Student]] = []
        for position, s in enumerate(self.spec.students):
            rec = by_ref.get(s.id)
            if rec is None:
                candidate = by_email.get(s.email)
                # The same person (email) under a corrected id, unless that id is still in the file.
                if candidate is not None and candidate.student_ref not in spec_refs:
                    rec = candidate
            if rec is None or rec.id in matched:
                if s.admitted:
                    self.change(_l("Student %(id)s %(name)s added."), id=s.id, name=s.name)
                else:
                    self.change(_l("Student %(id)s %(name)s added (not admitted)."), id=s.id, name=s.name)
                self.late_writes.append(partial(self.session.students.append, _new_student(position, s)))
                continue
            matched.add(rec.id)
            self.plan_student(rec, s, position, renames)
        for rec in self.session.students:
            if rec.id in matched or not rec.active:
                continue
            if self.student_history(rec):
                self.refuse(_l("Student %(id)s %(name)s cannot be removed: they have already drawn a ticket, "
                            "answered or been voted on."), id=rec.student_ref, name=rec.name)
            elif self.referenced(rec.student_ref, rec.email):
                self.change(_l("Student %(id)s %(name)s left the session (kept as inactive: provisioning has "
                            "already included them)."), id=rec.student_ref, name=rec.name)
                self.writes.append(partial(_assign, rec, active=False))
            else:
                self.change(_l("Student %(id)s %(name)s removed."), id=rec.student_ref, name=rec.name)
                self.writes.append(partial(self.session.students.remove, rec))
                removed.add(rec.id)
        # A student kept as inactive still holds their email (provisioning refers to it).
        kept = {r.email: r for r in self.session.students if r.id not in matched and r.id not in removed}
        for rec, s in renames:
            holder = kept.get(s.email)
            if holder is not None and holder is not rec:
                self.refuse(_l("Student %(id)s cannot take the email %(email)s: it still belongs to student "
                               "%(other)s, who left the session after provisioning."),
                            id=s.id, email=s.email, other=holder.student_ref)
        if renames:
            # Ids and emails are unique per session: park the renamed rows on placeholders first so
            # that two students swapping emails never collide half-way through the flush.
            def park() -> None:
                for rec, _s in renames:
                    rec.student_ref = f"~{rec.id}"
                    rec.email = f"~{rec.id}"

            def rename() -> None:
                for rec, s in renames:
                    rec.student_ref, rec.email = s.id, s.email

            self.writes.append(park)
            self.late_writes.insert(0, rename)

    def plan_student(self, rec: StudentRecord, s: Student, position: int,
                     renames: list[tuple[StudentRecord, Student]]) -> None:
        history = self.student_history(rec)
        label = {"id": s.id, "name": s.name}
        if rec.student_ref != s.id:
            if history or self.referenced(rec.student_ref):
                self.refuse(_l("The student with email %(email)s cannot change id from %(old)s to %(new)s: "
                            "the session already holds records under the old id."), email=s.email,
                            old=rec.student_ref, new=s.id)
                return
            self.change(_l("Student %(email)s: id changed from %(old)s to %(new)s."), email=s.email,
                        old=rec.student_ref, new=s.id)
        if rec.email != s.email:
            self.change(_l("Student %(id)s %(name)s: email changed from %(old)s to %(new)s."), old=rec.email,
                        new=s.email, **label)
        if rec.student_ref != s.id or rec.email != s.email:
            renames.append((rec, s))
        if rec.name != s.name:
            self.change(_l("Student %(id)s: name changed to %(name)s."), **label)
        if rec.admitted and not s.admitted:
            if history:
                self.refuse(_l("Student %(id)s %(name)s cannot be withdrawn from the session: they have already "
                            "drawn a ticket, answered or been voted on."), **label)
                return
            self.change(_l("Student %(id)s %(name)s is no longer admitted."), **label)
        elif s.admitted and not rec.admitted:
            self.change(_l("Student %(id)s %(name)s is now admitted."), **label)
        # A rating imported from the university's export (lms_bridge.results.ratings) stays when the file
        # gives none.
        if s.admission_rating is not None and rec.admission_rating != s.admission_rating:
            if rec.id in self.decided_student_ids:
                self.refuse(_l("The admission rating of student %(id)s %(name)s cannot change: the "
                            "commission has already decided their grade."), **label)
                return
            self.change(_l("Student %(id)s %(name)s: admission rating changed from %(old)s to %(new)s."),
                        old=_dash(rec.admission_rating), new=_dash(s.admission_rating), **label)
        if rec.admission_note != s.admission_note:
            self.change(_l("Student %(id)s %(name)s: admission note changed."), **label)
        if rec.plagiarism_check != s.plagiarism and s.plagiarism:
            self.change(_l("Student %(id)s %(name)s: plagiarism check result changed."), **label)
        if (rec.current_score, rec.midterm_score) != (s.current_score, s.midterm_score):
            self.change(_l("Student %(id)s %(name)s: control scores changed."), **label)
        if not rec.active:
            self.change(_l("Student %(id)s %(name)s is back in the session."), **label)
        # A result recorded on the page stays when the file gives none.
        self.writes.append(partial(
            _assign, rec, name=s.name, admitted=s.admitted, admission_note=s.admission_note,
            admission_rating=s.admission_rating if s.admission_rating is not None else rec.admission_rating,
            current_score=s.current_score, midterm_score=s.midterm_score,
            active=True, position=position, plagiarism_check=s.plagiarism or rec.plagiarism_check))

    def plan_tickets(self) -> None:
        stored = {t.number: t for t in self.session.tickets}
        wanted = {t.number for t in self.spec.tickets}
        for t in self.spec.tickets:
            rec = stored.get(t.number)
            if rec is None:
                self.change(_l("Ticket %(number)s added."), number=t.number)
                self.late_writes.append(partial(self.session.tickets.append,
                                                TicketRecord(number=t.number, questions=list(t.questions))))
            elif list(rec.questions) != list(t.questions):
                if t.number in self.drawn_numbers:
                    self.refuse(_l("Ticket %(number)s cannot change: a student has already drawn it."),
                                number=t.number)
                else:
                    self.change(_l("Ticket %(number)s: questions changed."), number=t.number)
                    self.writes.append(partial(_assign, rec, questions=list(t.questions)))
        for number, rec in stored.items():
            if number in wanted:
                continue
            if number in self.drawn_numbers:
                self.refuse(_l("Ticket %(number)s cannot be removed: a student has already drawn it."),
                            number=number)
            else:
                self.change(_l("Ticket %(number)s removed."), number=number)
                self.writes.append(partial(self.session.tickets.remove, rec))


def _assign(obj: Any, **values: Any) -> None:
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)


def _whole(value: float | None) -> float | None:
    """A stored rating as the session file writes it: 54.0 (the column holds decimals) back to 54."""
    return int(value) if value is not None and float(value).is_integer() else value


def _dash(value: float | None) -> str:
    """A number as people write it (54, 52.5: a stored 54.0 shows as 54); "-" for none."""
    return "-" if value is None else f"{value:g}"


def _show_grading(g: dict[str, Any]) -> str:
    quorum = g.get("quorum") or [2, 3]
    return f"{g.get('scale')}, {g.get('decision')}, {quorum[0]}/{quorum[1]}"
