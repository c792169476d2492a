"""The session as a secretary describes it (see docs/session-file.md): a validated, immutable value.

Parsing and validation of files live in ``lms_bridge.sessionfile``; this module only defines what a
valid session *is*, so that the store, the provisioning plan and the rules share one vocabulary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class ExamKind(enum.StrEnum):
    ORAL_EXAM = "oral_exam"
    WRITTEN_EXAM = "written_exam"
    OPEN_BOOK = "open_book"  # the written flow with materials allowed (003 §13, 000 step 5)
    TEST_EXAM = "test_exam"
    CREATIVE_EXAM = "creative_exam"
    DEFENSE = "defense"


class Role(enum.StrEnum):
    CHAIR = "chair"
    MEMBER = "member"
    SECRETARY = "secretary"

    @property
    def votes(self) -> bool:
        # The technical secretary organises the vote but does not vote (003 §60, §73).
        return self is not Role.SECRETARY


class DecisionRule(enum.StrEnum):
    MEAN = "mean"
    MAJORITY = "majority"


class DegreeVote(enum.StrEnum):
    NONE = "none"
    OPEN = "open"
    SECRET = "secret"  # noqa: S105 - a kind of vote, not a credential


LANGUAGES = ("kk", "ru", "en")

# Preparation minutes by kind when the file gives none (000 step 4 p6: 1 academic hour = 50 min;
# 001 §12 / 003 §37: a written exam gets at least 2 academic hours).
DEFAULT_PREPARATION_MINUTES: dict[ExamKind, int] = {
    ExamKind.ORAL_EXAM: 50,
    ExamKind.WRITTEN_EXAM: 100,
    ExamKind.OPEN_BOOK: 100,
    ExamKind.TEST_EXAM: 40,
    ExamKind.CREATIVE_EXAM: 50,
    ExamKind.DEFENSE: 0,
}


@dataclass(frozen=True)
class Grading:
    scale: str = "kz_letter"
    decision: DecisionRule = DecisionRule.MEAN
    # Share of the voting members whose ballots make a valid decision, as a fraction "p/q".
    quorum_num: int = 2
    quorum_den: int = 3


@dataclass(frozen=True)
class Member:
    name: str
    email: str  # lower-cased
    role: Role


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    email: str  # lower-cased
    admitted: bool = True
    admission_note: str = ""  # why not admitted (debts, ...), shown to the secretary
    admission_rating: float | None = None  # test exams: 0..60 (the university export may give decimals)
    # Defenses: the university checker's result (a percentage) or a link to its report, as given.
    plagiarism: str = ""
    # The current and midterm control scores (0..100): on the student's application a postponed
    # attestation may take their mean, the cumulative grade, instead of the exam (003 §24).
    current_score: float | None = None
    midterm_score: float | None = None


@dataclass(frozen=True)
class Ticket:
    number: int
    questions: tuple[str, ...]


@dataclass(frozen=True)
class TestQuestion:
    """One question of a test exam's bank: a single-answer multiple choice (true/false is two answers)."""

    __test__ = False  # not a pytest test class

    text: str
    answers: tuple[str, ...]
    correct: int  # 0-based index into ``answers``
    name: str = ""


@dataclass(frozen=True)
class SessionSpec:
    code: str
    title: str
    kind: ExamKind
    programme: str
    group: str
    language: str
    timezone: str
    starts_at: datetime  # timezone-aware, in `timezone`
    preparation_minutes: int
    answer_minutes: int = 15
    grading: Grading = field(default_factory=Grading)
    degree_vote: DegreeVote = DegreeVote.NONE
    commission: tuple[Member, ...] = ()
    students: tuple[Student, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    # The protocol's requisites (optional): the university, the commission's name as its order
    # gives it, and where the sitting takes place (the online platform).
    university: str = ""
    commission_name: str = ""
    platform: str = ""
    # Test exams: the bank the Moodle quiz draws its random questions from, and whether the
    # commission also votes (None: the kind's default, see lms_bridge.domain.kinds).
    question_bank: tuple[TestQuestion, ...] = ()
    commission_vote: bool | None = None
    # Who else has a part in the session (matched by e-mail when they sign in): the department that
    # prepares it, its head (reads the session, records that the commission was identified) and the
    # registrar who receives the signed documents once it is sealed.  Optional; e-mails lower-cased.
    department: str = ""
    head_of_department: str = ""
    registrar: str = ""
    # The department's mailbox: the sealed documents also go there (optional).
    department_email: str = ""
    # A Google Group whose members are exactly the voting members (chair and members), kept by the
    # university (optional, lower-cased).  When given, each ballot form is shared with the group in
    # one Drive grant instead of one grant per voting member (docs/google-fidelity.md).
    voters_group: str = ""
    # The appeal commission (003 §65): its own chair, members and secretary, none of them on the
    # attestation commission or among the administrative staff the file lists.
    appeal_commission: tuple[Member, ...] = ()
    administrative_staff: tuple[str, ...] = ()  # e-mails, lower-cased

    @property
    def chair(self) -> Member:
        return next(m for m in self.commission if m.role is Role.CHAIR)

    @property
    def secretary(self) -> Member:
        return next(m for m in self.commission if m.role is Role.SECRETARY)

    @property
    def voters(self) -> tuple[Member, ...]:
        return tuple(m for m in self.commission if m.role.votes)

    @property
    def admitted(self) -> tuple[Student, ...]:
        return tuple(s for s in self.students if s.admitted)
