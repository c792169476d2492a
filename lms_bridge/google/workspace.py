"""GoogleWorkspace: the provisioning backend and the calls the tally and renewal jobs make.

It owns one :class:`Transport` for the delegated service account and one for the secretary's user
grant (push registrations), sharing the run's :class:`ApiCalls` and one rate limiter, and exposes the
four thin clients.  Which Google it talks to is decided once here: the sandbox at ``base_url`` (or
``settings.sandbox_url``) unless ``google.mode`` is ``live``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lms_bridge.config import Settings
from lms_bridge.domain.session import Student, Ticket
from lms_bridge.google.auth import SCOPES, CredentialSource
from lms_bridge.google.classroom import ClassroomClient
from lms_bridge.google.drive import DriveClient
from lms_bridge.google.errors import NotFound
from lms_bridge.google.forms import FormsClient, rfc3339
from lms_bridge.google.sheets import Cell, SheetsClient
from lms_bridge.google.transport import Endpoints, GoogleLimiter, Transport
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale


@dataclass(frozen=True)
class Watch:
    watch_id: str
    expire_time: str  # RFC 3339, as Google gives it


class GoogleWorkspace:
    def __init__(self, credentials: CredentialSource, *, endpoints: Endpoints, api_calls: Any = None,
                 settings: Settings | None = None, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, limiter: GoogleLimiter | None = None) -> None:
        g = (settings or Settings()).google
        self.settings = settings or Settings()
        self.credentials = credentials
        self.endpoints = endpoints
        self.api_calls = api_calls
        # Google counts quotas per user: the delegated service account is the secretary; the user
        # grant is counted apart (it may belong to another account).
        limiter = limiter or GoogleLimiter(sleep=sleep, guard_seconds=g.quota_guard_seconds)
        common: dict[str, Any] = {"endpoints": endpoints, "api_calls": api_calls,
                                  "timeout": g.timeout_seconds, "max_retries": g.max_retries,
                                  "quota_wait_seconds": g.quota_wait_seconds, "sleep": sleep, "rand": rand}
        self.transport = Transport(credentials.delegated, limiter=limiter.for_user(credentials.delegated_user),
                                   **common)
        self.user_transport = (Transport(credentials.user, limiter=limiter.for_user("user-grant"), **common)
                               if credentials.has_user_grant else None)
        self.classroom = ClassroomClient(self.transport, self.user_transport)
        self.forms = FormsClient(self.transport)
        self.drive = DriveClient(self.transport)
        self.sheets = SheetsClient(self.transport, credentials.delegated(SCOPES["sheets"]))

    def __repr__(self) -> str:
        where = "live" if self.endpoints.live else self.endpoints.sandbox_base
        return f"GoogleWorkspace({where}, acting as {self.credentials.delegated_user})"

    @classmethod
    def from_settings(cls, settings: Settings, api_calls: Any = None, *, base_url: str | None = None,
                      state_dir: Path | None = None, sleep: Callable[[float], None] = time.sleep,
                      rand: Callable[[], float] = random.random) -> GoogleWorkspace:
        """The workspace as configured.

        Sandbox mode: ``base_url`` (the embedded server :func:`lms_bridge.sandbox.start_embedded`
        returned) or ``settings.sandbox_url``; the key files are read from the sandbox's state
        directory (``data_dir/sandbox/google`` unless ``state_dir`` is given) unless configured.
        """
        base = ""
        if not settings.google_live:
            base = (base_url or settings.sandbox_url).rstrip("/")
            if not base:
                raise ValueError("google.mode is 'sandbox' but no sandbox URL was given "
                                 "(set LMS_BRIDGE_SANDBOX_URL or let lms_bridge.sandbox start one)")
        creds = CredentialSource.from_settings(
            settings, sandbox_base=base, state_dir=state_dir or settings.data_dir / "sandbox" / "google")
        from lms_bridge.store.ratelimit import limits_storage

        # Every process acting as the same user shares one count (Redis, or the store).
        limiter = GoogleLimiter(limits_storage(settings), guard_seconds=settings.google.quota_guard_seconds,
                                sleep=sleep)
        return cls(creds, endpoints=Endpoints(base), api_calls=api_calls, settings=settings, sleep=sleep,
                   rand=rand, limiter=limiter)

    # -- what the tally, draw and renewal jobs call ------------------------------------------------
    def list_responses(self, form_id: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """Responses submitted at or after ``since`` (all when None); one call per 5,000."""
        return self.forms.list_responses(form_id, since=since)

    def close_form(self, form_id: str) -> None:
        """Stop accepting responses once the decision is recorded (the form stays published)."""
        self.forms.set_publish_state(form_id, published=True, accepting=False)

    def write_decision_rows(self, spreadsheet_id: str, blocks: Sequence[tuple[int, int, Sequence[Sequence[Cell]]]],
                            ) -> None:
        """Write students' decision cells (ticket ... degree decision), each block (row, first column,
        [cells]), in one ``values:batchUpdate``: Sheets counts it as one write request however many
        ranges it holds.  Rows and columns come from the grade-sheet layout kept in the journal
        (:class:`lms_bridge.google.steps.SheetLayout`); values are written RAW, exactly as given."""
        self.sheets.write_ranges(spreadsheet_id, blocks)

    def create_ticket_assignment(self, course_id: str, student_email: str, *, title: str, description: str,
                                 due: datetime | None, topic_id: str | None = None,
                                 max_points: float | None = None) -> dict[str, Any]:
        """An ASSIGNMENT given to this one student (INDIVIDUAL_STUDENTS), due at the end of preparation.

        The student uploads the answer sheets to it.  ``title`` must be unique in the course: it is
        the dedupe key when a create is retried after a lost answer.  ``due`` None: no due date
        (Classroom refuses one in the past, see lms_bridge.results.draw.assignment_due).
        """
        student = self.classroom.get_student(course_id, student_email)
        body: dict[str, Any] = {
            "title": title, "description": description, "workType": "ASSIGNMENT", "state": "PUBLISHED",
            "assigneeMode": "INDIVIDUAL_STUDENTS",
            "individualStudentsOptions": {"studentIds": [student["userId"]]},
        }
        if due is not None:
            due_utc = rfc3339(due)
            date_part, time_part = due_utc[:10], due_utc[11:19]
            y, m, d = (int(x) for x in date_part.split("-"))
            hh, mm, ss = (int(x) for x in time_part.split(":"))
            # dueDate and dueTime go together or not at all (Classroom reference).
            body["dueDate"] = {"year": y, "month": m, "day": d}
            body["dueTime"] = {"hours": hh, "minutes": mm, "seconds": ss}
        if topic_id:
            body["topicId"] = topic_id
        if max_points:
            body["maxPoints"] = max_points
        return self.classroom.create_course_work(course_id, body)

    def assign_ticket(self, course_id: str, student: Student, ticket: Ticket, due: datetime | None, *,
                      language: str, topic_id: str | None = None, max_points: float | None = 100,
                      ) -> dict[str, Any]:
        """The student's individual ticket assignment, worded in the session language.

        Journal it under :func:`lms_bridge.google.steps.ticket_key` (the Classroom grade write-back
        looks for it there).  The title names the student, so it is unique in the course and serves
        as the dedupe key of the create.
        """
        with use_locale(language):
            title = _("Ticket %(number)s — %(student)s (%(ref)s)", number=ticket.number, student=student.name,
                      ref=student.id)
            questions = "\n".join(f"{i}. {q}" for i, q in enumerate(ticket.questions, start=1))
            description = _("Answer the questions by hand on the answer sheets, photograph every sheet and "
                            "upload the photos here before the preparation time ends.") + "\n\n" + questions
        return self.create_ticket_assignment(course_id, student.email, title=title, description=description,
                                             due=due, topic_id=topic_id, max_points=max_points)

    def set_assigned_grade(self, course_id: str, course_work_id: str, student_email: str,
                           grade: float) -> dict[str, Any]:
        """Write the decision's points as the draft and assigned grade of the student's submission."""
        subs = self.classroom.list_submissions(course_id, course_work_id, user_id=student_email)
        if not subs:
            raise NotFound(f"no submission of {student_email} on course work {course_work_id}", status=404,
                           reason="notFound", service="classroom")
        return self.classroom.set_grades(course_id, course_work_id, subs[0]["id"], round(grade, 2))

    def set_draft_grade(self, course_id: str, course_work_id: str, student_email: str,
                        grade: float) -> dict[str, Any]:
        """Write the decision's points as the draft grade only (teachers see it, the student does not)."""
        subs = self.classroom.list_submissions(course_id, course_work_id, user_id=student_email)
        if not subs:
            raise NotFound(f"no submission of {student_email} on course work {course_work_id}", status=404,
                           reason="notFound", service="classroom")
        return self.classroom.set_draft_grade(course_id, course_work_id, subs[0]["id"], round(grade, 2))

    def renew_watch(self, form_id: str, watch_id: str, topic_name: str | None = None) -> Watch:
        """Renew a watch for 7 more days; an expired one (NotFound) is created anew."""
        try:
            got = self.forms.renew_watch(form_id, watch_id)
        except NotFound:
            got = self.forms.create_watch(form_id, topic_name or self.settings.google.pubsub_topic)
        return Watch(got["id"], got.get("expireTime", ""))

    def renew_registration(self, course_id: str, topic_name: str | None = None) -> dict[str, Any]:
        """An identical create renews a Classroom registration (facts §3)."""
        return self.classroom.create_registration(course_id, topic_name or self.settings.google.pubsub_topic)

    def tag_files(self, items: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        return self.drive.set_app_properties(items)
