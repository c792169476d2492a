"""Sittings as the store holds them after the vote: the sample session as an oral exam, a defense with
an open degree vote and a test exam, in Kazakh or Russian, with ballots, comments and decisions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.documents.model import SessionDocument, gather
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.session import DegreeVote, ExamKind, SessionSpec
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import BallotRecord, CommissionMember, DecisionRecord, ExamSession, StudentRecord
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema

# (letter, points) per admitted student in list order: a fraction, and counts that take each of the
# three Russian noun forms (81 балл, 82 балла, 85 баллов).
DECISIONS = (("A-", 91.67), ("B", 82.0), ("B+", 85.0), ("B", 81.0), ("A", 95.5), ("FX", 41.0), ("C+", 72.0))
TEXTS = {
    "kk": {"question": "Реляциялық модельдің қалыпты формаларын мысалмен түсіндіріңіз.",
           "remark": "Жауап толық, бірақ екінші сұраққа мысал келтірілмеді.",
           "dissent": "Ерекше пікір: жауап «B+» бағасына лайық деп санаймын."},
    "ru": {"question": "Объясните нормальные формы реляционной модели на примере.",
           "remark": "Ответ полный, но ко второму вопросу не приведён пример.",
           "dissent": "Особое мнение: считаю, что ответ заслуживает оценки «B+»."},
}
SITTINGS = {
    "oral_exam": dict(kind=ExamKind.ORAL_EXAM, degree_vote=DegreeVote.SECRET),
    "defense": dict(kind=ExamKind.DEFENSE, degree_vote=DegreeVote.OPEN),
    "test_exam": dict(kind=ExamKind.TEST_EXAM, degree_vote=DegreeVote.NONE),
}


def sitting_spec(base: SessionSpec, kind: str, language: str) -> SessionSpec:
    students = tuple(dataclasses.replace(s, admission_rating=50 if s.admitted else None) for s in base.students)
    return dataclasses.replace(base, code=f"{base.code}-{kind}-{language}", language=language,
                               students=students, **SITTINGS[kind])


def record_sitting(db: Session, spec: SessionSpec) -> ExamSession:
    """Import ``spec`` and record what the day leaves in the store: draws, ballots, decisions, notes."""
    import_session(db, spec, source_name="sample-session.yaml", actor="test")
    session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
    assert session is not None
    scale = GradeScale.load("kz_letter")
    texts = TEXTS[spec.language]
    voters = list(db.scalars(select(CommissionMember).where(CommissionMember.session_id == session.id,
                                                            CommissionMember.role != "secretary")))
    admitted = list(db.scalars(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                           StudentRecord.admitted.is_(True))
                               .order_by(StudentRecord.position)))
    for i, (student, (letter, points)) in enumerate(zip(admitted, DECISIONS, strict=False)):
        student.ticket_number = i + 1
        if i == 0:
            student.questions_asked = [texts["question"]]
            student.protocol_remarks = texts["remark"]
        degree = "yes" if letter != "FX" else "no"
        for j, member in enumerate(voters):
            db.add(BallotRecord(
                session_id=session.id, student_id=student.id, voter_email=member.email, form_id=f"{spec.code}-f{i}",
                response_id=f"r{j}", submitted_at=session.starts_at + timedelta(hours=1, minutes=j),
                grade=letter, degree=("no" if (i == 0 and j == len(voters) - 1) else degree),
                comment=texts["dissent"] if (i == 0 and j == 1) else "", status="counted"))
        yes = len(voters) if degree == "yes" else 0
        if i == 0:
            yes -= 1
        db.add(DecisionRecord(
            session_id=session.id, student_id=student.id, rule="mean", letter=letter, points=points,
            gpa=scale.band(letter).gpa, votes={"letter_counts": {letter: len(voters)}},
            degree_award=(yes * 2 > len(voters)) if spec.degree_vote is not DegreeVote.NONE else None,
            degree_totals={"yes": yes, "no": len(voters) - yes},
            decided_at=session.starts_at + timedelta(hours=2, minutes=47)))
    db.flush()
    return session


@pytest.fixture
def texts() -> dict[str, dict[str, str]]:
    """What the secretary and the members wrote on the first student, per language."""
    return TEXTS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    with make_sessionmaker(engine)() as db:
        yield db
    engine.dispose()


@pytest.fixture
def sitting(store: Session, sample_spec: SessionSpec):  # type: ignore[no-untyped-def]
    """``sitting(kind, language)`` -> the gathered document of that sitting."""
    def make(kind: str, language: str) -> SessionDocument:
        session = record_sitting(store, sitting_spec(sample_spec, kind, language))
        return gather(store, session)
    return make
