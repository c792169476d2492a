"""The file's content before validation, each value tagged with where it was read.

Both readers (YAML and workbook) produce a :class:`RawSession`; one validator
(:mod:`lms_bridge.sessionfile.validate`) turns it into a ``SessionSpec``.  That is what keeps the
two formats' rules and messages identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lms_bridge.sessionfile.problems import Location


@dataclass(frozen=True)
class Cell:
    """A value as read (str, int, float, bool, datetime, or a list of Cells for ticket questions)."""

    value: Any
    loc: Location
    # YAML only: the scalar as written.  `id: 0123` is the octal number 83 to YAML and `title: yes`
    # is True, but a text field must keep what the secretary typed.
    source: str | None = None


@dataclass
class RawRecord:
    """One commission member, student or ticket: a workbook row or a YAML list item."""

    loc: Location
    fields: dict[str, Cell] = field(default_factory=dict)


@dataclass
class RawSession:
    file: str
    # Dotted keys ("grading.decision") as in the workbook's session sheet.
    session: dict[str, Cell] = field(default_factory=dict)
    session_loc: Location = field(default_factory=Location)
    # None: the section is missing (already reported by the reader).
    commission: list[RawRecord] | None = None
    commission_loc: Location = field(default_factory=Location)
    students: list[RawRecord] | None = None
    students_loc: Location = field(default_factory=Location)
    tickets: list[RawRecord] | None = None
    tickets_loc: Location = field(default_factory=Location)
    # Optional sections (None: not in the file): the appeal commission and the administrative staff
    # it must not include (003 §65).
    appeal_commission: list[RawRecord] | None = None
    appeal_commission_loc: Location = field(default_factory=Location)
    administrative_staff: list[RawRecord] | None = None
    administrative_staff_loc: Location = field(default_factory=Location)


SESSION_KEYS = (
    "code", "title", "kind", "programme", "group", "university", "commission_name", "platform",
    "department", "head_of_department", "registrar", "department_email", "language", "timezone", "starts_at",
    "preparation_minutes", "answer_minutes", "grading.scale", "grading.decision", "grading.quorum",
    "degree_vote", "commission_vote", "question_bank", "voters_group",
)
COMMISSION_FIELDS = ("name", "email", "role")
STUDENT_FIELDS = ("id", "name", "email", "admitted", "admission_note", "admission_rating", "plagiarism",
                  "current_score", "midterm_score")
TICKET_FIELDS = ("number", "questions")
STAFF_FIELDS = ("name", "email")
# Sections a file may leave out; the workbook's sheets of the same names.
OPTIONAL_SECTIONS = ("appeal_commission", "administrative_staff")
