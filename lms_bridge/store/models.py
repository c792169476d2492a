"""The store's tables.  Datetimes are stored in UTC (``*_at``) and shown in the session's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}
    # Named constraints: a later migration can drop or alter them by name, on SQLite (batch mode) too.
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class User(Base):
    """A local account for the admin page (the embedded default; production may front it with SSO)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(5), default="kk")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The address the person's roles in sessions are matched by (lower-cased); a Google sign-in
    # finds or makes the account by it.  Empty for a local account that has none.
    email: Mapped[str] = mapped_column(String(255), default="", index=True)
    # Site roles, comma-separated: "administrator", "importer" (a secretary allowed to import
    # sessions).  Roles in a session come from its file, never from here (lms_bridge.admin.policy).
    site_roles: Mapped[str] = mapped_column(String(120), default="")
    # "local" (password) or "google" (OpenID Connect; password_hash then unusable).
    auth: Mapped[str] = mapped_column(String(20), default="local")


class SignIn(Base):
    """One signed-in browser.  Its cookie carries a random token; only the token's SHA-256 is kept
    here, so a copy of this table opens nothing.  Signing out deletes the row, and a password change
    deletes all of the user's rows: a cookie captured earlier then opens no page."""

    __tablename__ = "sign_ins"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ExamSession(Base):
    __tablename__ = "exam_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(40))
    programme: Mapped[str] = mapped_column(String(500), default="")
    group_name: Mapped[str] = mapped_column(String(120), default="")
    # Printed at the head of the protocols and the grade sheet (see docs/session-file.md).
    university: Mapped[str] = mapped_column(String(500), default="")
    commission_name: Mapped[str] = mapped_column(String(500), default="")
    platform: Mapped[str] = mapped_column(String(255), default="")
    # Roles outside the commission (see docs/session-file.md), matched by e-mail.
    department: Mapped[str] = mapped_column(String(255), default="")
    head_email: Mapped[str] = mapped_column(String(255), default="")
    registrar_email: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    preparation_minutes: Mapped[int] = mapped_column(Integer)
    answer_minutes: Mapped[int] = mapped_column(Integer, default=15)
    # {"scale": ..., "decision": "mean"|"majority", "quorum": [num, den]}
    grading: Mapped[dict[str, Any]] = mapped_column(default=dict)
    degree_vote: Mapped[str] = mapped_column(String(10), default="none")
    # What only some kinds use (see lms_bridge.domain.kinds): {"commission_vote": bool | None,
    # "question_bank": [{"text", "answers", "correct", "name"}, ...]} for a test exam.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Verifiable draw (see lms_bridge.domain.draw): the commitment is public from import on,
    # the seed stays secret until `draw_revealed_at`.
    draw_seed: Mapped[str] = mapped_column(String(128))
    draw_commitment: Mapped[str] = mapped_column(String(128))
    draw_revealed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="imported")  # imported|provisioned|sealed
    source_name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sealed_at: Mapped[datetime | None]
    # The chair's release of the results (003 §61): decisions stay drafts and no grade is written to
    # Moodle, Classroom or the sheet before it; recorded by the secretary on the chair's word.
    released_at: Mapped[datetime | None]
    released_by: Mapped[str] = mapped_column(String(255), default="")
    # The department's mailbox: the sealed documents also go there (and to `registrar_email` above).
    department_email: Mapped[str] = mapped_column(String(254), default="")

    members: Mapped[list[CommissionMember]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="CommissionMember.position")
    students: Mapped[list[StudentRecord]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="StudentRecord.position")
    tickets: Mapped[list[TicketRecord]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="TicketRecord.number")


class CommissionMember(Base):
    __tablename__ = "commission_members"
    __table_args__ = (UniqueConstraint("session_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # chair|member|secretary
    # False once a re-import drops the member: kept because ballots may point at it.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session: Mapped[ExamSession] = relationship(back_populates="members")


class StudentRecord(Base):
    __tablename__ = "students"
    __table_args__ = (UniqueConstraint("session_id", "student_ref"), UniqueConstraint("session_id", "email"))
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    student_ref: Mapped[str] = mapped_column(String(64))  # the id in the university information system
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255))
    admitted: Mapped[bool] = mapped_column(Boolean, default=True)
    admission_note: Mapped[str] = mapped_column(Text, default="")
    admission_rating: Mapped[float | None]
    # A defense: the plagiarism check's result or a link to its report (session file or the page).
    plagiarism_check: Mapped[str] = mapped_column(Text, default="")
    # The current and midterm control scores (the cumulative grade on application, 003 §24).
    current_score: Mapped[float | None]
    midterm_score: Mapped[float | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Ticket draw (R-TICKET-1..3)
    ticket_number: Mapped[int | None]
    ticket_drawn_at: Mapped[datetime | None]
    ticket_confirmed_at: Mapped[datetime | None]
    # Answer sheets (R-ANS-1..3)
    pages_declared: Mapped[int | None]
    files_received: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_by_secretary: Mapped[bool] = mapped_column(Boolean, default=False)
    turned_in_at: Mapped[datetime | None]
    turned_in_late: Mapped[bool] = mapped_column(Boolean, default=False)
    # Moodle test attempt (test exams)
    attempt_state: Mapped[str] = mapped_column(String(30), default="")
    attempt_score: Mapped[float | None]
    status: Mapped[str] = mapped_column(String(30), default="registered")
    # What the technical secretary notes during the answer, for the protocol: the questions put to
    # the student (list of texts) and the remarks, dissenting opinions included.
    questions_asked: Mapped[list[Any]] = mapped_column(default=list)
    protocol_remarks: Mapped[str] = mapped_column(Text, default="")
    session: Mapped[ExamSession] = relationship(back_populates="students")


class TicketRecord(Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("session_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    questions: Mapped[list[Any]] = mapped_column(default=list)
    session: Mapped[ExamSession] = relationship(back_populates="tickets")


class ProvisioningRun(Base):
    __tablename__ = "provisioning_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|succeeded|failed
    trigger: Mapped[str] = mapped_column(String(20), default="cli")
    created: Mapped[int] = mapped_column(Integer, default=0)
    reused: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    steps: Mapped[list[ProvisioningStepRun]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="ProvisioningStepRun.position")


class ProvisioningStepRun(Base):
    __tablename__ = "provisioning_step_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("provisioning_runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|running|done|failed|skipped
    created: Mapped[int] = mapped_column(Integer, default=0)
    reused: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    run: Mapped[ProvisioningRun] = relationship(back_populates="steps")


class ProvisioningLease(Base):
    """Who runs a session's provisioning plan right now: one row per session code, taken atomically.

    Keyed by the session's code (not its id) so that ``lms-bridge provision FILE`` can hold it before
    its import creates the session.  ``token`` is empty when nobody holds it; the holder proves it
    is alive by moving ``heartbeat_at`` forward, and a holder silent for longer than the timeout may
    be replaced by anyone (see :mod:`lms_bridge.lease`)."""

    __tablename__ = "provisioning_leases"
    session_code: Mapped[str] = mapped_column(String(80), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), default="")
    trigger: Mapped[str] = mapped_column(String(20), default="")
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("provisioning_runs.id", ondelete="SET NULL"))
    since: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]


class PeriodicTick(Base):
    """A periodic job's tick, claimed by the first scheduler that reaches it (the store-side lock that
    makes a job run once per tick however many workers run; Redis holds it when the queue is Redis)."""

    __tablename__ = "periodic_ticks"
    job: Mapped[str] = mapped_column(String(200), primary_key=True)
    tick: Mapped[datetime] = mapped_column(primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(255), default="")


class JournalEntry(Base):
    """What a provisioning step made outside, under a deterministic key: the idempotency record."""

    __tablename__ = "provisioning_journal"
    __table_args__ = (UniqueConstraint("session_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("source", "delivery_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # google|moodle
    delivery_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(80), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|processed|failed|ignored
    error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class BallotRecord(Base):
    """Every response seen on a student's form, counted or not (the audit trail, R-VOTE-3)."""

    __tablename__ = "ballots"
    __table_args__ = (UniqueConstraint("form_id", "response_id", "submitted_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("commission_members.id"))
    voter_email: Mapped[str] = mapped_column(String(255))
    form_id: Mapped[str] = mapped_column(String(128))
    response_id: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[datetime]
    grade: Mapped[str] = mapped_column(String(10), default="")  # letter as chosen
    degree: Mapped[str] = mapped_column(String(10), default="")  # yes|no|""
    comment: Mapped[str] = mapped_column(Text, default="")
    # counted | duplicate | edited | outsider | late | invalid
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DecisionRecord(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), unique=True)
    rule: Mapped[str] = mapped_column(String(20))
    letter: Mapped[str] = mapped_column(String(4))
    points: Mapped[float]
    gpa: Mapped[float]
    votes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per-member or totals (secret vote)
    degree_award: Mapped[bool | None]
    degree_totals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by: Mapped[str] = mapped_column(String(255), default="")  # "" = all voted; else the secretary
    # "vote" or "commission": the commission's decision when the vote could not decide (a tie the
    # chair did not break, no quorum), entered by the secretary on the chair's word, with the reason.
    source: Mapped[str] = mapped_column(String(20), default="vote")
    commission_reason: Mapped[str] = mapped_column(Text, default="")


class StudentExceptionRecord(Base):
    """An exception of the exam day for one student (see lms_bridge.domain.examday): who recorded
    it, when and why, and what it means for the student.  The newest one is the student's."""

    __tablename__ = "student_exceptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    mark: Mapped[str] = mapped_column(String(4), default="")  # F, I or "" (no grade)
    moved_to: Mapped[date | None]  # absent with a valid reason: the next sitting day
    continuation: Mapped[str] = mapped_column(String(10), default="")  # technical failure: later|end
    recorded_by: Mapped[str] = mapped_column(String(255))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class BoardEvent(Base):
    """One step of a student on the sitting board (identified, admitted to the draw, receipt
    confirmed, answer started/ended, announced in Classroom), with who and when.  The newest event of
    each kind is the student's; the stage itself is derived by lms_bridge.domain.sitting."""

    __tablename__ = "board_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SittingDayRecord(Base):
    """A sitting day's meeting link and recording link (Zoom, Webex, Meet…), shown to the
    commission on the board and posted to the students in Classroom."""

    __tablename__ = "sitting_days"
    __table_args__ = (UniqueConstraint("session_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    day: Mapped[date]
    meeting_url: Mapped[str] = mapped_column(String(2000), default="")
    recording_url: Mapped[str] = mapped_column(String(2000), default="")
    updated_by: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[datetime | None]


class WritebackRecord(Base):
    __tablename__ = "writebacks"
    __table_args__ = (UniqueConstraint("decision_id", "target"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))  # sheet|moodle|classroom
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxEmail(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_sessions.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)  # [{"filename", "path", "mimetype"}]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255), default="system")
    action: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ApiToken(Base):
    """A personal API token: acts for ``user_id`` with at most ``role``'s rights until ``expires_at``.
    Only the SHA-256 of the token is kept; the token itself is shown once, when it is made."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RateLimitEntry(Base):
    """One counted request of a moving-window rate limit (see :mod:`lms_bridge.store.ratelimit`).

    ``at`` is seconds since the epoch (``time.time()``), as the ``limits`` library counts; rows older
    than the limit's window are deleted by the next acquisition of the same key.
    """

    __tablename__ = "rate_limit_entries"
    __table_args__ = (Index("ix_rate_limit_entries_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    at: Mapped[float] = mapped_column(Double)


class RateLimitCounter(Base):
    """A fixed-window counter of the ``limits`` library: its value until ``expires_at`` (epoch seconds)."""

    __tablename__ = "rate_limit_counters"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Double)


class AppealMember(Base):
    """A member of the session's appeal commission (003 §65), from the session file."""

    __tablename__ = "appeal_members"
    __table_args__ = (UniqueConstraint("session_id", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # chair|member|secretary
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AppealRecord(Base):
    """One student's appeal (see lms_bridge.domain.appeals): filed in Classroom, heard, voted on,
    answered, applied.  A late filing is kept with the reason it was refused."""

    __tablename__ = "appeals"
    __table_args__ = (UniqueConstraint("session_id", "student_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # filed|refused|hearing|decided|answered|applied
    filed_at: Mapped[datetime]
    filed_on: Mapped[date]  # the local day of the filing, in the session's time zone
    closes_on: Mapped[date]  # the last day of the filing window
    # The statement and its attachments as the student handed them in (Classroom's titles and links).
    # Shown to the appeal commission and the secretary only.
    statement: Mapped[list[Any]] = mapped_column(default=list)
    refusal: Mapped[str] = mapped_column(Text, default="")
    original_letter: Mapped[str] = mapped_column(String(4), default="")
    original_points: Mapped[float | None]
    hearing_at: Mapped[datetime | None]
    meeting_link: Mapped[str] = mapped_column(String(500), default="")
    form_id: Mapped[str] = mapped_column(String(128), default="")
    form_url: Mapped[str] = mapped_column(String(500), default="")
    form_questions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(20), default="")  # kept|changed|new_sitting
    new_letter: Mapped[str] = mapped_column(String(4), default="")
    votes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]
    new_sitting_at: Mapped[datetime | None]  # a new sitting's date and time, told to the student
    documents: Mapped[list[Any]] = mapped_column(default=list)  # [{"filename", "path", "mimetype"}]


class AppealBallotRecord(Base):
    """Every response seen on an appeal's form, counted or not (as BallotRecord for the commission)."""

    __tablename__ = "appeal_ballots"
    __table_args__ = (UniqueConstraint("form_id", "response_id", "submitted_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"), index=True)
    voter_email: Mapped[str] = mapped_column(String(255))
    form_id: Mapped[str] = mapped_column(String(128))
    response_id: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[datetime]
    grade: Mapped[str] = mapped_column(String(10), default="")
    new_sitting: Mapped[str] = mapped_column(String(10), default="")  # yes|no|""
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))  # counted|duplicate|edited|outsider|late|invalid
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
