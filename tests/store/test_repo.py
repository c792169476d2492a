"""Importing a session into the store and re-importing it: what is updated, kept, and refused."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.domain.session import ExamKind, Member, Role, SessionSpec, Student, Ticket
from lms_bridge.i18n import use_locale
from lms_bridge.store.db import make_engine
from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    CommissionMember,
    ExamSession,
    JournalEntry,
    StudentRecord,
    TicketRecord,
)
from lms_bridge.store.repo import (
    ImportRefused,
    get_session,
    import_session,
    list_sessions,
    spec_from_store,
)
from lms_bridge.store.schema import ensure_schema

NOW = datetime(2026, 6, 10, 5, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    # The assertions read the English msgids; the product's default language is Kazakh.
    with use_locale("en"):
        yield


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    raw = os.environ.get("LMS_BRIDGE_TEST_DATABASE_URL")
    if not raw:
        pytest.skip("LMS_BRIDGE_TEST_DATABASE_URL is not set")
    base = make_url(raw)
    name = f"{base.database or 'lms_bridge'}_repo_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.production)])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        ensure_schema(eng)
        yield eng
        eng.dispose()
        return
    eng = make_engine(request.getfixturevalue("postgres_url"))
    ensure_schema(eng)
    yield eng
    with eng.begin() as conn:  # a clean slate for the next test on the same database
        for model in (AuditEvent, BallotRecord, JournalEntry, ExamSession):
            conn.execute(delete(model))
    eng.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def do_import(factory: sessionmaker[Session], spec: SessionSpec, source: str = "session.yaml"):  # type: ignore[no-untyped-def]
    with factory() as db:
        result = import_session(db, spec, source_name=source, actor="secretary", now=lambda: NOW)
        db.commit()
        return result


def stored(factory: sessionmaker[Session], code: str) -> SessionSpec:
    with factory() as db:
        session = get_session(db, code)
        assert session is not None
        return spec_from_store(db, session)


def snapshot(factory: sessionmaker[Session]) -> dict[str, list[tuple[object, ...]]]:
    """Every row the import touches, to prove a refusal wrote nothing."""
    with factory() as db:
        return {
            "sessions": [tuple(r) for r in db.execute(select(ExamSession.code, ExamSession.title, ExamSession.kind,
                                                             ExamSession.draw_seed, ExamSession.source_name))],
            "members": [tuple(r) for r in db.execute(select(CommissionMember.email, CommissionMember.role,
                                                            CommissionMember.name, CommissionMember.active)
                                                     .order_by(CommissionMember.email))],
            "students": [tuple(r) for r in db.execute(select(StudentRecord.student_ref, StudentRecord.email,
                                                             StudentRecord.admitted, StudentRecord.active,
                                                             StudentRecord.ticket_number)
                                                      .order_by(StudentRecord.student_ref))],
            "tickets": [(n, list(q)) for n, q in db.execute(select(TicketRecord.number, TicketRecord.questions)
                                                          .order_by(TicketRecord.number))],
            "audit": [tuple(r) for r in db.execute(select(AuditEvent.id, AuditEvent.action))],
        }


def draw_ticket(factory: sessionmaker[Session], ref: str, number: int) -> None:
    with factory() as db:
        rec = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == ref))
        assert rec is not None
        rec.ticket_number = number
        rec.ticket_drawn_at = NOW
        db.commit()


def cast_ballot(factory: sessionmaker[Session], member_email: str, ref: str) -> None:
    with factory() as db:
        student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == ref))
        member = db.scalar(select(CommissionMember).where(CommissionMember.email == member_email))
        assert student is not None
        assert member is not None
        db.add(BallotRecord(session_id=student.session_id, student_id=student.id, member_id=member.id,
                            voter_email=member_email, form_id="form-1", response_id=secrets.token_hex(4),
                            submitted_at=NOW, grade="A", status="counted"))
        db.commit()


def journal(factory: sessionmaker[Session], code: str, key: str) -> None:
    with factory() as db:
        session = get_session(db, code)
        assert session is not None
        db.add(JournalEntry(session_id=session.id, step="test.step", key=key, external_id="x-1"))
        session.status = "provisioned"
        db.commit()


def refused(factory: sessionmaker[Session], spec: SessionSpec) -> list[str]:
    before = snapshot(factory)
    with pytest.raises(ImportRefused) as info:
        do_import(factory, spec)
    assert snapshot(factory) == before, "a refused import must leave the store untouched"
    return [r.message for r in info.value.reasons]


def with_students(spec: SessionSpec, students: list[Student]) -> SessionSpec:
    return replace(spec, students=tuple(students))


# -- first import ----------------------------------------------------------------------------------

def test_first_import_stores_everything_with_a_draw_commitment(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    result = do_import(factory, sample_spec)
    assert result.created is True
    assert stored(factory, sample_spec.code) == sample_spec
    with factory() as db:
        session = get_session(db, sample_spec.code)
        assert session is not None
        assert len(session.draw_seed) == 64
        assert session.draw_commitment == hashlib.sha256(session.draw_seed.encode()).hexdigest()
        assert session.source_name == "session.yaml"
        events = list(db.scalars(select(AuditEvent)))
        assert [(e.action, e.actor, e.session_id) for e in events] == [("session.created", "secretary", session.id)]
        assert events[0].detail["source"] == "session.yaml"
        assert session.starts_at == datetime(2026, 6, 10, 4, 0, tzinfo=UTC)  # 09:00 Almaty (UTC+5)


def test_identical_reimport_changes_nothing_and_keeps_the_seed(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    before = snapshot(factory)
    result = do_import(factory, sample_spec)
    assert result.created is False
    assert result.changes == []
    after = snapshot(factory)
    assert after["sessions"] == before["sessions"]
    assert after["students"] == before["students"]
    assert [a for _i, a in after["audit"]] == ["session.created", "session.reimported"]


def test_reimport_updates_students_admission_commission_and_tickets(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    s = list(sample_spec.students)
    s[0] = replace(s[0], name="Аманов Серік", email="serik.amanov@stud.univ.edu.kz")
    s[4] = replace(s[4], admitted=True, admission_note="")  # the debt was paid
    s[1] = replace(s[1], admitted=False, admission_note="Медициналық анықтама")
    del s[2]
    s.append(Student(id="210103099", name="Жаңа Студент", email="new@stud.univ.edu.kz"))
    members = list(sample_spec.commission)
    members[1] = replace(members[1], name="Сейтқалиева Гүлнар")
    del members[3]
    members.insert(3, Member(name="Жаңа Мүше", email="new.member@univ.edu.kz", role=Role.MEMBER))
    tickets = list(sample_spec.tickets)
    tickets[0] = Ticket(number=1, questions=("Жаңа сұрақ 1", "Жаңа сұрақ 2", "Жаңа сұрақ 3"))
    del tickets[-1]
    tickets.append(Ticket(number=20, questions=("Q",)))
    new = replace(sample_spec, title="Жаңа атау", students=tuple(s), commission=tuple(members),
                  tickets=tuple(tickets), starts_at=sample_spec.starts_at + timedelta(hours=1))
    result = do_import(factory, new)
    assert result.created is False
    assert stored(factory, sample_spec.code) == new
    text_ = "\n".join(c.message for c in result.changes)
    for words in ("title changed", "email changed", "is now admitted", "is no longer admitted", "removed",
                  "added", "Ticket 1: questions changed", "Ticket 12 removed", "Ticket 20 added",
                  "starts_at changed from 2026-06-10 09:00 to 2026-06-10 10:00"):
        assert words in text_, words
    with factory() as db:
        # Dropped rows nobody refers to are deleted outright.
        assert db.scalar(select(func.count()).select_from(StudentRecord)
                         .where(StudentRecord.student_ref == sample_spec.students[2].id)) == 0
        assert db.scalar(select(func.count()).select_from(CommissionMember)
                         .where(CommissionMember.email == sample_spec.commission[3].email)) == 0
        event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None
        assert event.action == "session.reimported"
        assert len(event.detail["changes"]) == len(result.changes)


def test_history_survives_a_reimport(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    draw_ticket(factory, sample_spec.students[0].id, 3)
    cast_ballot(factory, sample_spec.commission[1].email, sample_spec.students[0].id)
    new = replace(sample_spec, title="Түзетілген атау", students=sample_spec.students[:-1])
    do_import(factory, new)
    with factory() as db:
        rec = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == sample_spec.students[0].id))
        assert rec is not None
        assert rec.ticket_number == 3
        assert db.scalar(select(func.count()).select_from(BallotRecord)) == 1


def test_students_swapping_emails_do_not_collide(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    s = list(sample_spec.students)
    s[0], s[1] = replace(s[0], email=s[1].email), replace(s[1], email=s[0].email)
    new = with_students(sample_spec, s)
    do_import(factory, new)
    assert stored(factory, sample_spec.code) == new


def test_corrected_student_id_is_matched_by_email(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    s = list(sample_spec.students)
    s[0] = replace(s[0], id="210199999")
    result = do_import(factory, with_students(sample_spec, s))
    assert any("id changed from 210103041 to 210199999" in c.message for c in result.changes)
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(StudentRecord)) == len(s)


def test_dropped_student_known_to_provisioning_is_kept_inactive_and_can_come_back(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    gone = sample_spec.students[3]
    journal(factory, sample_spec.code, f"forms.form:{gone.id}")
    new = with_students(sample_spec, [s for s in sample_spec.students if s != gone])
    result = do_import(factory, new)
    assert any("kept as inactive" in c.message for c in result.changes)
    assert stored(factory, sample_spec.code) == new
    with factory() as db:
        rec = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == gone.id))
        assert rec is not None
        assert rec.active is False
    result = do_import(factory, sample_spec)
    assert any("back in the session" in c.message for c in result.changes)
    assert stored(factory, sample_spec.code) == sample_spec


def test_dropped_member_known_to_provisioning_is_kept_inactive(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    gone = sample_spec.commission[2]
    journal(factory, sample_spec.code, f"classroom.teacher:{gone.email}")
    new = replace(sample_spec, commission=tuple(m for m in sample_spec.commission if m != gone))
    do_import(factory, new)
    assert stored(factory, sample_spec.code) == new
    with factory() as db:
        rec = db.scalar(select(CommissionMember).where(CommissionMember.email == gone.email))
        assert rec is not None
        assert rec.active is False


# -- refusals --------------------------------------------------------------------------------------

def test_removing_or_unadmitting_a_student_who_drew_is_refused(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    drew = sample_spec.students[0]
    draw_ticket(factory, drew.id, 5)
    reasons = refused(factory, with_students(sample_spec, list(sample_spec.students[1:])))
    assert any(drew.id in r and "cannot be removed" in r for r in reasons)
    s = list(sample_spec.students)
    s[0] = replace(drew, admitted=False, admission_note="late")
    reasons = refused(factory, with_students(sample_spec, s))
    assert any(drew.id in r and "cannot be withdrawn" in r for r in reasons)


def test_removing_a_student_with_ballots_is_refused(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    voted_on = sample_spec.students[1]
    cast_ballot(factory, sample_spec.commission[0].email, voted_on.id)
    reasons = refused(factory, with_students(sample_spec, [s for s in sample_spec.students if s != voted_on]))
    assert any(voted_on.id in r for r in reasons)


def test_changing_or_removing_a_drawn_ticket_is_refused(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    draw_ticket(factory, sample_spec.students[0].id, 2)
    tickets = list(sample_spec.tickets)
    tickets[1] = Ticket(number=2, questions=("басқа сұрақ",))
    reasons = refused(factory, replace(sample_spec, tickets=tuple(tickets)))
    assert any("Ticket 2 cannot change" in r for r in reasons)
    reasons = refused(factory, replace(sample_spec, tickets=tuple(t for t in sample_spec.tickets if t.number != 2)))
    assert any("Ticket 2 cannot be removed" in r for r in reasons)
    # A ticket nobody drew may still change.
    tickets = list(sample_spec.tickets)
    tickets[2] = Ticket(number=3, questions=("басқа сұрақ",))
    do_import(factory, replace(sample_spec, tickets=tuple(tickets)))
    assert stored(factory, sample_spec.code).tickets[2].questions == ("басқа сұрақ",)


def test_removing_a_member_who_voted_or_changing_their_role_is_refused(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    voter = sample_spec.commission[1]
    cast_ballot(factory, voter.email, sample_spec.students[0].id)
    reasons = refused(factory, replace(sample_spec, commission=tuple(m for m in sample_spec.commission
                                                                     if m != voter)))
    assert any(voter.email in r and "already voted" in r for r in reasons)
    members = [replace(m, role=Role.MEMBER) if m.role is Role.CHAIR else m for m in sample_spec.commission]
    members[1] = replace(voter, role=Role.CHAIR)
    reasons = refused(factory, replace(sample_spec, commission=tuple(members)))
    assert any(voter.email in r and "role cannot change" in r for r in reasons)


def test_grading_cannot_change_once_ballots_exist(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    cast_ballot(factory, sample_spec.commission[1].email, sample_spec.students[0].id)
    from lms_bridge.domain.session import DecisionRule

    new = replace(sample_spec, grading=replace(sample_spec.grading, decision=DecisionRule.MAJORITY))
    assert any("grading" in r for r in refused(factory, new))


def test_kind_and_language_change_before_provisioning_but_not_after(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    written = replace(sample_spec, kind=ExamKind.WRITTEN_EXAM, preparation_minutes=100)
    do_import(factory, written)
    assert stored(factory, sample_spec.code).kind is ExamKind.WRITTEN_EXAM
    journal(factory, sample_spec.code, "classroom.course")
    reasons = refused(factory, replace(written, kind=ExamKind.ORAL_EXAM, language="ru"))
    assert any("kind cannot change" in r for r in reasons)
    assert any("language cannot change" in r for r in reasons)


def test_sitting_time_cannot_move_after_the_draw(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    draw_ticket(factory, sample_spec.students[0].id, 1)
    reasons = refused(factory, replace(sample_spec, starts_at=sample_spec.starts_at + timedelta(days=1)))
    assert any("starts_at" in r for r in reasons)


def test_sealed_session_refuses_changes_but_accepts_the_same_file(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    with factory() as db:
        session = get_session(db, sample_spec.code)
        assert session is not None
        session.status = "sealed"
        session.sealed_at = NOW
        db.commit()
    reasons = refused(factory, replace(sample_spec, title="Басқа"))
    assert "sealed" in reasons[0]
    assert do_import(factory, sample_spec).changes == []


def test_every_reason_is_given_at_once(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    draw_ticket(factory, sample_spec.students[0].id, 1)
    cast_ballot(factory, sample_spec.commission[2].email, sample_spec.students[0].id)
    new = replace(sample_spec, students=sample_spec.students[1:], tickets=sample_spec.tickets[1:],
                  commission=tuple(m for m in sample_spec.commission if m != sample_spec.commission[2]))
    assert len(refused(factory, new)) == 3


# -- queries ---------------------------------------------------------------------------------------

def test_list_sessions_counts_active_rows(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    other = replace(sample_spec, code="OTHER-1", starts_at=sample_spec.starts_at + timedelta(days=2),
                    students=sample_spec.students[:3], tickets=sample_spec.tickets[:2])
    do_import(factory, other)
    with factory() as db:
        rows = list_sessions(db)
    assert [r.code for r in rows] == ["OTHER-1", sample_spec.code]
    first = rows[1]
    assert (first.members, first.students, first.admitted, first.tickets) == (
        len(sample_spec.commission), len(sample_spec.students), len(sample_spec.admitted), len(sample_spec.tickets))
    assert (rows[0].students, rows[0].tickets) == (3, 2)
    with factory() as db:
        assert get_session(db, "NOPE") is None


def test_a_concurrent_first_import_is_refused_not_crashed(factory, sample_spec, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lms_bridge.domain import draw
    from lms_bridge.store import repo

    real_seed = draw.new_seed

    def other_import_first() -> str:
        # Another secretary's import of the same session lands between our read and our write.
        monkeypatch.setattr(repo.draw, "new_seed", real_seed)
        do_import(factory, sample_spec, "other.xlsx")
        return real_seed()

    monkeypatch.setattr(repo.draw, "new_seed", other_import_first)
    with pytest.raises(ImportRefused) as info:
        do_import(factory, sample_spec)
    assert "at the same time" in info.value.reasons[0].message
    with factory() as db:
        sessions = list(db.scalars(select(ExamSession)))
        assert [s.source_name for s in sessions] == ["other.xlsx"]


def test_email_of_a_student_kept_as_inactive_is_not_reused(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    do_import(factory, sample_spec)
    gone = sample_spec.students[3]
    journal(factory, sample_spec.code, f"moodle.enrol:{gone.email}")
    do_import(factory, with_students(sample_spec, [s for s in sample_spec.students if s != gone]))
    s = [st for st in sample_spec.students if st != gone]
    s[0] = replace(s[0], email=gone.email)
    reasons = refused(factory, with_students(sample_spec, s))
    assert any(gone.email in r and gone.id in r for r in reasons)


def test_a_voters_group_is_kept_with_the_session(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    do_import(factory, replace(sample_spec, voters_group="gak-1@univ.edu.kz"))
    assert stored(factory, sample_spec.code).voters_group == "gak-1@univ.edu.kz"


def test_a_prefetched_journal_answers_the_keys_it_covers_in_one_query(factory, sample_spec) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    from lms_bridge.store.repo import end_prefetch, journal_entries, journal_entry, prefetch_journal

    do_import(factory, sample_spec)
    with factory() as db:
        sid = db.scalar(select(ExamSession.id))
        db.add_all([JournalEntry(session_id=sid, step="s", key=key, external_id=key, data={}, created_at=NOW)
                    for key in ("draw.record", "admission:a", "admission:b", "moodle.admission:a", "forms.form:a")])
        db.commit()
    with factory() as db:
        statements: list[str] = []
        event.listen(db.get_bind(), "before_cursor_execute", lambda *a: statements.append(a[2]))
        prefetch_journal(db, sid, ("draw.record", "admission:"))
        assert len(statements) == 1
        assert journal_entry(db, sid, "draw.record").external_id == "draw.record"  # type: ignore[union-attr]
        assert journal_entry(db, sid, "admission:c") is None
        assert sorted(e.key for e in journal_entries(db, sid, "admission:")) == ["admission:a", "admission:b"]
        assert [e.key for e in journal_entries(db, sid, "admission:b")] == ["admission:b"]
        assert len(statements) == 1  # all answered from what was read
        # Not covered: another prefix, another session, a fresh or locking read: each queries.
        assert [e.key for e in journal_entries(db, sid, "moodle.admission:")] == ["moodle.admission:a"]
        assert journal_entry(db, sid + 1, "draw.record") is None
        assert journal_entry(db, sid, "draw.record", fresh=True) is not None
        assert len(statements) == 4
        end_prefetch(db)
        assert journal_entry(db, sid, "draw.record") is not None
        assert len(statements) == 5
