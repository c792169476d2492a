"""Every rule a session file must follow, applied to what either reader produced.

Nothing stops at the first problem: the secretary gets the whole list in one go, in file order,
and a ``SessionSpec`` only when the list is empty.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lms_bridge.config import LimitsSettings
from lms_bridge.domain.kinds import rules_for
from lms_bridge.domain.session import (
    DEFAULT_PREPARATION_MINUTES,
    LANGUAGES,
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
from lms_bridge.sessionfile import appeals as appeal_rules
from lms_bridge.sessionfile.bounds import CODE_RE, ID_RE, MULTILINE, bad_character, column_lengths
from lms_bridge.sessionfile.gift import parse_gift
from lms_bridge.sessionfile.problems import Location, Problem, _l
from lms_bridge.sessionfile.raw import Cell, RawRecord, RawSession

# Deliberately plain: one @, no spaces, a dotted domain of letters/digits/hyphens.  The real check is
# Google's and Moodle's; this one catches typos (missing @, comma for dot, trailing spaces inside).
EMAIL_RE = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@([a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")
QUORUM_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
SCALES = ("kz_letter",)
MAX_ADMISSION_RATING = 60
# Kinds whose sitting hands out tickets; a defense, a creative exam and a Moodle test exam have none
# (attestation-rules, lms_bridge.domain.kinds).
TICKET_KINDS = tuple(k for k in ExamKind if rules_for(k).tickets)
# The written (and open-book) exam gets at least 2 academic hours to write (001 §12, 003 §37).
MIN_WRITTEN_PREPARATION = 100
# A question bank file beside the session file: a plain name, no folders.
BANK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")

_TRUE = {"true", "yes", "y", "1", "иә", "ия", "да", "+"}
_FALSE = {"false", "no", "n", "0", "жоқ", "нет", "-"}


class _Validator:
    def __init__(self, raw: RawSession, limits: LimitsSettings, beside: Path | None = None) -> None:
        self.raw = raw
        self.limits = limits
        self.beside = beside
        self.problems: list[Problem] = []
        self.section = "session"  # the section being validated: picks each field's length
        self.lengths = column_lengths()

    # -- reporting -----------------------------------------------------------------------------
    def problem(self, loc: Location, field: str, msgid: str, **params: Any) -> None:
        self.problems.append(Problem(self.raw.file, loc, field, msgid, params))

    # -- value coercion: each returns None after reporting a problem -----------------------------
    def text(self, rec_loc: Location, cells: dict[str, Cell], key: str, *, required: bool) -> str | None:
        cell = cells.get(key)
        value = None if cell is None else cell.value
        if cell is not None and cell.source is not None and value is not None:
            value = cell.source
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Excel stores an id typed as 210103045 as a float
        if isinstance(value, datetime | date | time | list):
            assert cell is not None
            self.problem(cell.loc, key, _l("Expected text here."))
            return None
        text = "" if value is None else str(value).strip()
        if not text:
            if required:
                self.problem(cell.loc if cell else rec_loc, key, _l("This field is required."))
                return None
            return ""
        assert cell is not None
        return self.clean(cell.loc, key, text, self.section)

    def clean(self, loc: Location, key: str, text: str, section: str) -> str | None:
        """``text`` when it fits its column and holds no control or reordering character."""
        limit = self.lengths.get((section, key)) or self.limits.text_chars
        if len(text) > limit:
            self.problem(loc, key, _l("The text is %(num)s characters long; at most %(max)s fit here."),
                         num=len(text), max=limit)
            return None
        multiline = (section, key) in MULTILINE or (section == "tickets" and key.startswith("question"))
        char = bad_character(text, multiline=multiline)
        if char is not None:
            self.problem(loc, key, _l("The text holds the invisible control character %(char)s (a line "
                                      "break, a tab or a direction mark); retype it without it."), char=char)
            return None
        return text

    def integer(self, rec_loc: Location, cells: dict[str, Cell], key: str, *, low: int, high: int,
                required: bool) -> int | None:
        cell = cells.get(key)
        if cell is None or cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
            if required:
                self.problem(cell.loc if cell else rec_loc, key, _l("This field is required."))
            return None
        value = cell.value
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif (isinstance(value, float) and value.is_integer()) or (
                isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)):
            number = int(value)
        if number is None:
            self.problem(cell.loc, key, _l("%(value)s is not a whole number."), value=_show(value))
            return None
        if not low <= number <= high:
            self.problem(cell.loc, key, _l("%(value)s is out of range: it must be from %(low)s to %(high)s."),
                         value=number, low=low, high=high)
            return None
        return number

    def boolean(self, cells: dict[str, Cell], key: str, default: bool) -> bool | None:
        cell = cells.get(key)
        if cell is None or cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
            return default
        value = cell.value
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        self.problem(cell.loc, key, _l("%(value)s is not yes or no."), value=_show(value))
        return None

    def choice(self, rec_loc: Location, cells: dict[str, Cell], key: str, allowed: tuple[str, ...], *,
               default: str | None) -> str | None:
        cell = cells.get(key)
        text = self.text(rec_loc, cells, key, required=default is None)
        if text is None:
            return None
        if not text:
            return default
        word = text.lower()
        if word not in allowed:
            assert cell is not None
            self.problem(cell.loc, key, _l("Unknown value %(value)s: use one of %(allowed)s."),
                         value=_show(text), allowed=", ".join(allowed))
            return None
        return word

    def email(self, rec_loc: Location, cells: dict[str, Cell], key: str) -> str | None:
        text = self.text(rec_loc, cells, key, required=True)
        if text is None:
            return None
        address = text.lower()
        if not EMAIL_RE.match(address) or ".." in address or len(address) > 254:
            self.problem(cells[key].loc, key, _l("%(value)s is not a valid email address."), value=_show(text))
            return None
        return address

    def optional_email(self, rec_loc: Location, cells: dict[str, Cell], key: str) -> str | None:
        """An e-mail address that may be left out ("" then); None when it is given and wrong."""
        if _blank(cells.get(key)):
            return ""
        return self.email(rec_loc, cells, key)

    def score(self, cells: dict[str, Cell], key: str) -> float | None:
        """A control score from 0 to 100 (decimals allowed); None when blank or wrong (reported)."""
        cell = cells.get(key)
        if _blank(cell):
            return None
        assert cell is not None
        value = cell.value
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*\d+([.,]\d+)?\s*", value):
            number = float(value.strip().replace(",", "."))
        if number is None or number != number:  # NaN
            self.problem(cell.loc, key, _l("%(value)s is not a number."), value=_show(value))
            return None
        if not 0 <= number <= 100:
            self.problem(cell.loc, key, _l("%(value)s is out of range: it must be from %(low)s to %(high)s."),
                         value=_show(value), low=0, high=100)
            return None
        return number

    # -- sections ------------------------------------------------------------------------------
    def session(self) -> dict[str, Any]:
        raw, loc = self.raw.session, self.raw.session_loc
        out: dict[str, Any] = {}
        self.section = "session"
        code = self.text(loc, raw, "code", required=True)
        if code is not None and not CODE_RE.match(code):
            self.problem(raw["code"].loc, "code",
                         _l("The session code %(value)s may only hold Latin letters, digits, - and _ "
                         "(at most 80)."), value=_show(code))
            code = None
        out["code"] = code
        out["title"] = self.text(loc, raw, "title", required=True)
        kind = self.choice(loc, raw, "kind", tuple(k.value for k in ExamKind), default=None)
        out["kind"] = ExamKind(kind) if kind else None
        out["programme"] = self.text(loc, raw, "programme", required=False)
        out["group"] = self.text(loc, raw, "group", required=False)
        # The protocol's requisites; optional, printed at the head of every signed document.
        for key in ("university", "commission_name", "platform"):
            out[key] = self.text(loc, raw, key, required=False)
        out["department"] = self.text(loc, raw, "department", required=False)
        # The head of department and the registrar sign in with these addresses; the sealed documents
        # also go to the registrar and the department's mailbox (all optional).
        for key in ("head_of_department", "registrar", "department_email"):
            out[key] = self.optional_email(loc, raw, key)
        # A Google Group of exactly the voting members: each ballot is shared with it in one grant.
        out["voters_group"] = self.optional_email(loc, raw, "voters_group")
        out["language"] = self.choice(loc, raw, "language", LANGUAGES, default="kk")
        out["timezone"] = self.zone(loc, raw)
        out["starts_at"] = self.starts_at(loc, raw, out["timezone"])
        prep = self.integer(loc, raw, "preparation_minutes", low=0, high=600, required=False)
        if prep is None and _blank(raw.get("preparation_minutes")) and out["kind"] is not None:
            prep = DEFAULT_PREPARATION_MINUTES[out["kind"]]
        writing = out["kind"] is not None and rules_for(out["kind"]).writing
        if prep is not None and writing and prep < MIN_WRITTEN_PREPARATION:
            cell = raw.get("preparation_minutes")
            self.problem(cell.loc if cell else loc, "preparation_minutes",
                         _l("A written exam needs at least %(min)s minutes of preparation (2 academic hours)."),
                         min=MIN_WRITTEN_PREPARATION)
            prep = None
        out["preparation_minutes"] = prep
        answer = self.integer(loc, raw, "answer_minutes", low=1, high=240, required=False)
        out["answer_minutes"] = 15 if answer is None and _blank(raw.get("answer_minutes")) else answer
        if out["kind"] is not None and out["answer_minutes"] is not None:
            rules = rules_for(out["kind"])
            if not rules.min_answer_minutes <= out["answer_minutes"] <= rules.max_answer_minutes:
                cell = raw.get("answer_minutes")
                self.problem(cell.loc if cell else loc, "answer_minutes",
                             _l("A slot of this kind of exam lasts from %(low)s to %(high)s minutes, not %(value)s."),
                             low=rules.min_answer_minutes, high=rules.max_answer_minutes,
                             value=out["answer_minutes"])
                out["answer_minutes"] = None
        vote = self.boolean(raw, "commission_vote", default=False) if not _blank(raw.get("commission_vote")) else None
        out["commission_vote"] = vote
        out["question_bank"] = self.question_bank(loc, raw, out["kind"])
        scale = self.choice(loc, raw, "grading.scale", SCALES, default="kz_letter")
        decision = self.choice(loc, raw, "grading.decision", tuple(d.value for d in DecisionRule),
                               default="mean")
        quorum = self.quorum(loc, raw)
        degree = self.choice(loc, raw, "degree_vote", tuple(d.value for d in DegreeVote), default="none")
        out["degree_vote"] = DegreeVote(degree) if degree else None
        if scale and decision and quorum:
            out["grading"] = Grading(scale=scale, decision=DecisionRule(decision),
                                     quorum_num=quorum[0], quorum_den=quorum[1])
        else:
            out["grading"] = None
        return out

    def question_bank(self, loc: Location, raw: dict[str, Cell], kind: ExamKind | None) -> tuple[TestQuestion, ...]:
        """A test exam's bank: GIFT text in the file itself, or the name of a GIFT file beside it."""
        cell = raw.get("question_bank")
        needed = kind is not None and rules_for(kind).test_quiz
        if _blank(cell):
            if needed:
                self.problem(loc, "question_bank",
                             _l("A test exam needs its question bank: the questions in GIFT format, or the name "
                                "of a GIFT file beside the session file."))
            return ()
        assert cell is not None
        if not needed:
            self.problem(cell.loc, "question_bank", _l("Only a test exam has a question bank."))
            return ()
        value = str(cell.source if cell.source is not None else cell.value)
        if "{" in value:
            # Inline: a YAML block's text starts on the line after its key.
            text, file, first = value, self.raw.file, (cell.loc.line or 0)
            where = cell.loc
        else:
            name = value.strip()
            if not BANK_NAME_RE.match(name) or ".." in name:
                self.problem(cell.loc, "question_bank",
                             _l("%(value)s is not a file name: write only the name of a file in the same folder "
                                "as the session file."), value=_show(name))
                return ()
            if self.beside is None:
                self.problem(cell.loc, "question_bank",
                             _l("The question bank file %(name)s can only be read beside a session file on disk "
                                "(lms-bridge import); write the questions into the session file instead."),
                             name=name)
                return ()
            path = self.beside / name
            try:
                with path.open("rb") as fh:
                    data = fh.read(self.limits.file_bytes + 1)
            except OSError:
                self.problem(cell.loc, "question_bank",
                             _l("The question bank file %(name)s cannot be read beside the session file."),
                             name=name)
                return ()
            if len(data) > self.limits.file_bytes:
                self.problem(cell.loc, "question_bank", _l("The question bank file %(name)s is too large."),
                             name=name)
                return ()
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                self.problem(cell.loc, "question_bank",
                             _l("The question bank file %(name)s is not UTF-8 text."), name=name)
                return ()
            file, first, where = name, 0, Location()
        questions, problems = parse_gift(text)
        for line, msgid, params in problems:
            at = Location(path=where.path, line=first + line) if (where.line is not None or not where.sheet) \
                else Location(sheet=where.sheet, row=where.row, column=where.column)
            self.problems.append(Problem(file, at, "question_bank", msgid, dict(params)))
        if not problems and not questions:
            self.problem(cell.loc, "question_bank", _l("The question bank has no questions."))
        return tuple(questions) if not problems else ()

    def zone(self, loc: Location, raw: dict[str, Cell]) -> ZoneInfo | None:
        name = self.text(loc, raw, "timezone", required=True)
        if name is None:
            return None
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(raw["timezone"].loc, "timezone",
                         _l("Unknown time zone %(value)s (write it like Asia/Almaty)."), value=_show(name))
            return None

    def starts_at(self, loc: Location, raw: dict[str, Cell], zone: ZoneInfo | None) -> datetime | None:
        cell = raw.get("starts_at")
        if cell is None or cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
            self.problem(cell.loc if cell else loc, "starts_at", _l("This field is required."))
            return None
        value = cell.value
        moment: datetime | None = None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                moment = None
            if moment is None or ("T" not in value and " " not in value.strip()):
                self.problem(cell.loc, "starts_at",
                             _l("%(value)s is not a possible date and time (write it like 2026-06-10T09:00)."),
                             value=_show(value))
                return None
        else:
            self.problem(cell.loc, "starts_at",
                         _l("%(value)s is not a possible date and time (write it like 2026-06-10T09:00)."),
                         value=_show(value))
            return None
        if not self.limits.earliest_year <= moment.year <= self.limits.latest_year:
            self.problem(cell.loc, "starts_at",
                         _l("%(value)s is not a plausible date for a sitting: the year must be from %(low)s "
                            "to %(high)s."), value=_show(value), low=self.limits.earliest_year,
                         high=self.limits.latest_year)
            return None
        if zone is None:
            return None
        if moment.tzinfo is not None:
            return moment.astimezone(zone)
        local = moment.replace(tzinfo=zone)
        # A wall-clock time skipped by a daylight-saving jump does not survive the round trip.
        if local.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != moment:
            self.problem(cell.loc, "starts_at", _l("%(value)s does not exist in the time zone %(zone)s."),
                         value=moment.isoformat(timespec="minutes"), zone=zone.key)
            return None
        return local

    def quorum(self, loc: Location, raw: dict[str, Cell]) -> tuple[int, int] | None:
        cell = raw.get("grading.quorum")
        if cell is None or cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
            return (2, 3)
        if isinstance(cell.value, datetime | date):
            # Excel turns "2/3" typed into a cell into the 2nd of March (or the 3rd of February).
            self.problem(cell.loc, "grading.quorum",
                         _l("The quorum was read as a date; format the cell as text and write it like 2/3."))
            return None
        match = QUORUM_RE.match(str(cell.value))
        if not match or not 0 < int(match[1]) <= int(match[2]):
            self.problem(cell.loc, "grading.quorum",
                         _l("%(value)s is not a quorum: write a fraction of the voting members like 2/3."),
                         value=_show(cell.value))
            return None
        return int(match[1]), int(match[2])

    def too_many(self, records: list[RawRecord], limit: int) -> bool:
        """Refuse a section longer than ``limit`` before looking at its records (stays fast)."""
        if len(records) <= limit:
            return False
        self.problem(records[limit].loc, "",
                     _l("The list has %(num)s entries; one session may have at most %(max)s. Split it into "
                        "several sessions."), num=len(records), max=limit)
        return True

    def people(self, records: list[RawRecord], listed_twice: Any) -> tuple[list[Member], list[RawRecord], bool]:
        """Each record's name, e-mail and role as a member, with the records kept; ``ok`` is False when
        any is missing, wrong or listed twice (each reported, ``listed_twice`` naming the list)."""
        members: list[Member] = []
        kept: list[RawRecord] = []
        seen: dict[str, RawRecord] = {}
        ok = True
        for rec in records:
            name = self.text(rec.loc, rec.fields, "name", required=True)
            email = self.email(rec.loc, rec.fields, "email")
            role = self.choice(rec.loc, rec.fields, "role", tuple(r.value for r in Role), default=None)
            if email is not None and email in seen:
                self.problem(rec.fields["email"].loc, "email", listed_twice,
                             email=email, first=seen[email].loc.describe())
                email = None
            elif email is not None:
                seen[email] = rec
            if name is None or email is None or role is None:
                ok = False
                continue
            members.append(Member(name=name, email=email, role=Role(role)))
            kept.append(rec)
        return members, kept, ok

    def commission(self) -> list[Member] | None:
        records = self.raw.commission
        self.section = "commission"
        if records is None or self.too_many(records, self.limits.commission):
            return None
        members, _kept, ok = self.people(
            records, _l("%(email)s is listed twice in the commission (first at %(first)s)."))
        if not records:
            self.problem(self.raw.commission_loc, "", _l("The commission is empty."))
            return None
        for role in (Role.CHAIR, Role.SECRETARY):
            holders = [r for r in records if _word(r.fields.get("role")) == role.value]
            if not holders:
                self.problem(self.raw.commission_loc, "role",
                             _l("The commission needs exactly one %(role)s; the file has none."), role=role.value)
                ok = False
            for extra in holders[1:]:
                self.problem(extra.fields["role"].loc, "role",
                             _l("The commission needs exactly one %(role)s; %(first)s is already the %(role)s."),
                             role=role.value, first=holders[0].loc.describe())
                ok = False
        return members if ok else None

    def students(self, kind: ExamKind | None, commission_emails: dict[str, Location]) -> list[Student] | None:
        records = self.raw.students
        self.section = "students"
        if records is None or self.too_many(records, self.limits.students):
            return None
        out: list[Student] = []
        by_id: dict[str, RawRecord] = {}
        by_email: dict[str, RawRecord] = {}
        ok = True
        for rec in records:
            sid = self.text(rec.loc, rec.fields, "id", required=True)
            if sid is not None and (not ID_RE.match(sid) or ".." in sid):
                self.problem(rec.fields["id"].loc, "id",
                             _l("The student id %(value)s may only hold Latin letters, digits, -, _ and . "
                                "(no spaces, no / and no ..)."), value=_show(sid))
                sid = None
            name = self.text(rec.loc, rec.fields, "name", required=True)
            email = self.email(rec.loc, rec.fields, "email")
            admitted = self.boolean(rec.fields, "admitted", default=True)
            note = self.text(rec.loc, rec.fields, "admission_note", required=False)
            rating = self.integer(rec.loc, rec.fields, "admission_rating", low=0, high=MAX_ADMISSION_RATING,
                                  required=False)
            plagiarism = self.text(rec.loc, rec.fields, "plagiarism", required=False)
            bad_rating = rating is None and not _blank(rec.fields.get("admission_rating"))
            current = self.score(rec.fields, "current_score")
            midterm = self.score(rec.fields, "midterm_score")
            bad_rating = bad_rating or any(value is None and not _blank(rec.fields.get(key))
                                           for key, value in (("current_score", current),
                                                              ("midterm_score", midterm)))
            if sid is not None and sid in by_id:
                self.problem(rec.fields["id"].loc, "id",
                             _l("Student %(id)s is listed twice (first at %(first)s)."),
                             id=sid, first=by_id[sid].loc.describe())
                sid = None
            elif sid is not None:
                by_id[sid] = rec
            if email is not None and email in by_email:
                self.problem(rec.fields["email"].loc, "email",
                             _l("%(email)s is used by two students (first at %(first)s)."),
                             email=email, first=by_email[email].loc.describe())
                email = None
            elif email is not None:
                by_email[email] = rec
            if email is not None and email in commission_emails:
                self.problem(rec.fields["email"].loc, "email",
                             _l("%(email)s is a commission member (%(where)s) and cannot also be a student."),
                             email=email, where=commission_emails[email].describe())
                email = None
            if (kind is ExamKind.TEST_EXAM and admitted and rating is None and not bad_rating):
                where = rec.fields["admission_rating"].loc if "admission_rating" in rec.fields else rec.loc
                self.problem(where, "admission_rating",
                             _l("A test exam needs the admission rating (0 to 60) of every admitted student."))
                bad_rating = True
            if None in (sid, name, email, admitted, note, plagiarism) or bad_rating:
                ok = False
                continue
            assert sid is not None
            assert name is not None
            assert email is not None
            assert note is not None
            out.append(Student(id=sid, name=name, email=email, admitted=bool(admitted), admission_note=note,
                               admission_rating=rating, plagiarism=plagiarism or "", current_score=current,
                               midterm_score=midterm))
        if not records:
            self.problem(self.raw.students_loc, "", _l("The student list is empty."))
            ok = False
        elif ok and not any(s.admitted for s in out):
            self.problem(self.raw.students_loc, "admitted", _l("No student is admitted to the session."))
            ok = False
        return out if ok else None

    def tickets(self, kind: ExamKind | None) -> list[Ticket] | None:
        records = self.raw.tickets
        self.section = "tickets"
        out: list[Ticket] = []
        if records is None or self.too_many(records, self.limits.tickets):
            return None
        seen: dict[int, RawRecord] = {}
        ok = True
        for rec in records:
            number = self.integer(rec.loc, rec.fields, "number", low=1, high=9999, required=True)
            if number is not None and number in seen:
                self.problem(rec.fields["number"].loc, "number",
                             _l("Ticket %(number)s is listed twice (first at %(first)s)."),
                             number=number, first=seen[number].loc.describe())
                number = None
            elif number is not None:
                seen[number] = rec
            questions = self.questions(rec)
            if number is None or questions is None:
                ok = False
                continue
            out.append(Ticket(number=number, questions=tuple(questions)))
        if ok and not out and kind in TICKET_KINDS:
            self.problem(self.raw.tickets_loc, "number", _l("An exam of this kind needs at least one ticket."))
            ok = False
        if ok and out and kind is not None and kind not in TICKET_KINDS:
            # No draw at a defense, a creative exam or a test exam: tickets there would never be used.
            self.problem(self.raw.tickets_loc, "number",
                         _l("An exam of this kind has no tickets and no draw; leave the tickets section empty."))
            ok = False
        return sorted(out, key=lambda t: t.number) if ok else None

    def questions(self, rec: RawRecord) -> list[str] | None:
        cell = rec.fields.get("questions")
        if cell is None or not cell.value:
            self.problem(cell.loc if cell else rec.loc, "questions", _l("The ticket has no questions."))
            return None
        texts: list[str] = []
        ok = True
        for index, q in enumerate(cell.value, start=1):
            value = q.source if q.source is not None and q.value is not None else q.value
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            text = "" if value is None else str(value).strip()
            if not text or isinstance(value, list | dict):
                self.problem(q.loc, f"question {index}", _l("The question is empty."))
                ok = False
            elif self.clean(q.loc, f"question {index}", text, "tickets") is None:
                ok = False
            texts.append(text)
        return texts if ok else None


def _word(cell: Cell | None) -> str:
    return "" if cell is None or cell.value is None else str(cell.value).strip().lower()


def _blank(cell: Cell | None) -> bool:
    return cell is None or cell.value is None or (isinstance(cell.value, str) and not cell.value.strip())


def _show(value: Any) -> str:
    text = str(value)
    return f'"{text[:60]}…"' if len(text) > 60 else f'"{text}"'


def build_spec(raw: RawSession, limits: LimitsSettings | None = None, *,
               beside: Path | None = None) -> tuple[SessionSpec | None, list[Problem]]:
    """The validated session, or None and every problem found."""
    v = _Validator(raw, limits or LimitsSettings(), beside)
    head = v.session()
    members = v.commission()
    commission_emails: dict[str, Location] = {}
    for rec in raw.commission or []:
        cell = rec.fields.get("email")
        if cell is not None and isinstance(cell.value, str):
            commission_emails.setdefault(cell.value.strip().lower(), rec.loc)
    students = v.students(head["kind"], commission_emails)
    tickets = v.tickets(head["kind"])
    # The appeal commission's sections are optional (lms_bridge.sessionfile.appeals).
    staff = appeal_rules.administrative_staff(v, raw)
    appeal = appeal_rules.appeal_commission(v, raw, commission_emails, staff)
    if v.problems or members is None or students is None or tickets is None or appeal is None or staff is None:
        return None, v.problems
    assert None not in (v for k, v in head.items() if k != "commission_vote")
    spec = SessionSpec(
        code=head["code"], title=head["title"], kind=head["kind"], programme=head["programme"],
        group=head["group"], university=head["university"], commission_name=head["commission_name"],
        platform=head["platform"], department=head["department"],
        head_of_department=head["head_of_department"], registrar=head["registrar"],
        department_email=head["department_email"], voters_group=head["voters_group"], language=head["language"],
        timezone=head["timezone"].key,
        starts_at=head["starts_at"], preparation_minutes=head["preparation_minutes"],
        answer_minutes=head["answer_minutes"], grading=head["grading"], degree_vote=head["degree_vote"],
        commission=tuple(members), students=tuple(students), tickets=tuple(tickets),
        question_bank=head["question_bank"], commission_vote=head["commission_vote"],
        appeal_commission=tuple(appeal), administrative_staff=tuple(staff),
    )
    return spec, []
