"""Google Classroom: thin typed calls through the transport choke point.

Course ids may be given as the project alias (``p:<code>``): every ``courseId`` parameter accepts an
alias (facts §3), so callers need not keep the numeric id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lms_bridge.google.auth import SCOPES
from lms_bridge.google.errors import GoogleApiError
from lms_bridge.google.transport import Transport

API = "classroom"


class ClassroomClient:
    def __init__(self, transport: Transport, user_transport: Transport | None = None) -> None:
        self.t = transport
        # Push registrations cannot use delegation; they go through the secretary's own grant.
        self.user_t = user_transport

    def _svc(self, scope: str) -> Any:
        return self.t.service(API, SCOPES[scope])

    # -- courses -------------------------------------------------------------------------------------
    def create_course(self, *, alias: str, name: str, section: str = "", description_heading: str = "",
                      owner_id: str = "me") -> dict[str, Any]:
        """Create a course under a project alias; a repeat raises AlreadyExists (safe to retry).

        :calls: POST /v1/courses
        """
        body = {"id": alias, "name": name, "section": section, "descriptionHeading": description_heading,
                "ownerId": owner_id}
        # The alias is the dedupe key: a retry after a lost answer meets 409, never a second course.
        return self.t.execute(self._svc("classroom.courses").courses().create(body=body), api=API)

    def get_course(self, course_id: str) -> dict[str, Any]:
        """:calls: GET /v1/courses/{id}"""
        return self.t.execute(self._svc("classroom.courses").courses().get(id=course_id), api=API)

    def set_course_state(self, course_id: str, state: str) -> dict[str, Any]:
        """Move a course between PROVISIONED, ACTIVE, ARCHIVED, DECLINED.

        :calls: PATCH /v1/courses/{id}?updateMask=courseState
        """
        req = self._svc("classroom.courses").courses().patch(
            id=course_id, updateMask="courseState", body={"courseState": state})
        return self.t.execute(req, api=API)

    # -- people --------------------------------------------------------------------------------------
    def add_people(self, course_id: str, emails: Iterable[str], *, role: str) -> dict[str, Any]:
        """Enrol users directly (domain admins only), batched 50 a request.

        Returns email -> the Student/Teacher resource or the GoogleApiError of that part
        (AlreadyExists means already enrolled).

        :calls: POST /v1/courses/{courseId}/students | POST /v1/courses/{courseId}/teachers (batched)
        """
        svc = self._svc("classroom.rosters").courses()
        coll = svc.students() if role == "STUDENT" else svc.teachers()
        reqs = {e: coll.create(courseId=course_id, body={"userId": e}) for e in emails}
        return self.t.execute_batch(API, SCOPES["classroom.rosters"], reqs)

    def invite(self, course_id: str, emails: Iterable[str], *, role: str) -> dict[str, Any]:
        """Invite users (role STUDENT or TEACHER), batched 50 a request; email -> Invitation or error.

        :calls: POST /v1/invitations (batched)
        """
        inv = self._svc("classroom.rosters").invitations()
        reqs = {e: inv.create(body={"courseId": course_id, "userId": e, "role": role}) for e in emails}
        return self.t.execute_batch(API, SCOPES["classroom.rosters"], reqs)

    def list_students(self, course_id: str) -> list[dict[str, Any]]:
        """Students with their profiles, e-mail included (asks for classroom.profile.emails).

        :calls: GET /v1/courses/{courseId}/students
        """
        coll = self._svc("classroom.rosters.emails").courses().students()
        return self.t.pages(lambda tok: coll.list(courseId=course_id, pageSize=100, pageToken=tok),
                            api=API, items="students")

    def list_teachers(self, course_id: str) -> list[dict[str, Any]]:
        """Teachers with their profiles, e-mail included (asks for classroom.profile.emails).

        :calls: GET /v1/courses/{courseId}/teachers
        """
        coll = self._svc("classroom.rosters.emails").courses().teachers()
        return self.t.pages(lambda tok: coll.list(courseId=course_id, pageSize=100, pageToken=tok),
                            api=API, items="teachers")

    def list_invitations(self, course_id: str) -> list[dict[str, Any]]:
        """:calls: GET /v1/invitations?courseId="""
        inv = self._svc("classroom.rosters").invitations()
        return self.t.pages(lambda tok: inv.list(courseId=course_id, pageSize=100, pageToken=tok),
                            api=API, items="invitations")

    def get_student(self, course_id: str, user_id: str) -> dict[str, Any]:
        """A student with the profile's e-mail: turn-ins name only the numeric userId, and the e-mail
        is how they are matched to the session's students.  ``profile.emailAddress`` is filled only
        with the classroom.profile.emails scope, so it is asked for here.

        :calls: GET /v1/courses/{courseId}/students/{userId}
        """
        req = self._svc("classroom.rosters.emails").courses().students().get(courseId=course_id, userId=user_id)
        return self.t.execute(req, api=API)

    def get_teacher(self, course_id: str, user_id: str) -> dict[str, Any]:
        """:calls: GET /v1/courses/{courseId}/teachers/{userId}"""
        req = self._svc("classroom.rosters").courses().teachers().get(courseId=course_id, userId=user_id)
        return self.t.execute(req, api=API)

    # -- posts ---------------------------------------------------------------------------------------
    def create_topic(self, course_id: str, name: str) -> dict[str, Any]:
        """Not idempotent: callers look the topic up by name first (see :meth:`list_topics`).

        :calls: POST /v1/courses/{courseId}/topics
        """
        coll = self._svc("classroom.topics").courses().topics()
        return self.t.execute(coll.create(courseId=course_id, body={"name": name}), api=API, idempotent=False,
                              recover=lambda: next((x for x in self.list_topics(course_id)
                                                    if x.get("name") == name), None))

    def list_topics(self, course_id: str) -> list[dict[str, Any]]:
        """:calls: GET /v1/courses/{courseId}/topics"""
        coll = self._svc("classroom.topics").courses().topics()
        return self.t.pages(lambda tok: coll.list(courseId=course_id, pageSize=100, pageToken=tok),
                            api=API, items="topic")

    def create_announcement(self, course_id: str, text: str, *, links: Iterable[str] = (),
                            student_ids: Iterable[str] = ()) -> dict[str, Any]:
        """Post a published announcement to everyone in the course, or only to ``student_ids``
        (``INDIVIDUAL_STUDENTS``: only they see it; reference "IndividualStudentsOptions").

        :calls: POST /v1/courses/{courseId}/announcements
        """
        body: dict[str, Any] = {"text": text, "state": "PUBLISHED", "assigneeMode": "ALL_STUDENTS"}
        only = list(student_ids)
        if only:
            body["assigneeMode"] = "INDIVIDUAL_STUDENTS"
            body["individualStudentsOptions"] = {"studentIds": only}
        materials = [{"link": {"url": u}} for u in links]
        if materials:
            body["materials"] = materials
        coll = self._svc("classroom.announcements").courses().announcements()
        return self.t.execute(coll.create(courseId=course_id, body=body), api=API, idempotent=False,
                              recover=lambda: next((a for a in self.list_announcements(course_id)
                                                    if a.get("text") == text), None))

    def list_announcements(self, course_id: str) -> list[dict[str, Any]]:
        """:calls: GET /v1/courses/{courseId}/announcements"""
        coll = self._svc("classroom.announcements").courses().announcements()
        return self.t.pages(lambda tok: coll.list(courseId=course_id, pageSize=100, pageToken=tok),
                            api=API, items="announcements")

    # -- course work ---------------------------------------------------------------------------------
    def create_course_work(self, course_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create course work; callers dedupe by title through :meth:`list_course_work`.

        :calls: POST /v1/courses/{courseId}/courseWork
        """
        coll = self._svc("classroom.coursework").courses().courseWork()
        title = body.get("title")
        return self.t.execute(coll.create(courseId=course_id, body=body), api=API, idempotent=False,
                              recover=lambda: next((w for w in self.list_course_work(course_id)
                                                    if w.get("title") == title), None))

    def list_course_work(self, course_id: str) -> list[dict[str, Any]]:
        """:calls: GET /v1/courses/{courseId}/courseWork"""
        coll = self._svc("classroom.coursework").courses().courseWork()
        return self.t.pages(lambda tok: coll.list(courseId=course_id, pageSize=100, pageToken=tok),
                            api=API, items="courseWork")

    def list_submissions(self, course_id: str, course_work_id: str, *, user_id: str | None = None,
                         states: list[str] | None = None) -> list[dict[str, Any]]:
        """``course_work_id`` "-" lists the submissions of every course work of the course; ``states``
        keeps only those (e.g. TURNED_IN).

        :calls: GET /v1/courses/{courseId}/courseWork/{courseWorkId}/studentSubmissions
        """
        coll = self._svc("classroom.coursework").courses().courseWork().studentSubmissions()
        extra: dict[str, Any] = {"userId": user_id} if user_id else {}
        if states:
            extra["states"] = states
        return self.t.pages(lambda tok: coll.list(courseId=course_id, courseWorkId=course_work_id,
                                                  pageSize=100, pageToken=tok, **extra),
                            api=API, items="studentSubmissions")

    def set_grades(self, course_id: str, course_work_id: str, submission_id: str, grade: float,
                   ) -> dict[str, Any]:
        """Set draft and assigned grade together (``return`` does not copy one to the other).

        :calls: PATCH /v1/courses/{courseId}/courseWork/{courseWorkId}/studentSubmissions/{id}
        """
        coll = self._svc("classroom.coursework").courses().courseWork().studentSubmissions()
        req = coll.patch(courseId=course_id, courseWorkId=course_work_id, id=submission_id,
                         updateMask="draftGrade,assignedGrade",
                         body={"draftGrade": grade, "assignedGrade": grade})
        return self.t.execute(req, api=API)

    def set_draft_grade(self, course_id: str, course_work_id: str, submission_id: str, grade: float,
                        ) -> dict[str, Any]:
        """Set the draft grade alone: teachers see it, the student does not (StudentSubmission
        reference, ``draftGrade``), so a decision not yet released stays a draft in Classroom.

        :calls: PATCH /v1/courses/{courseId}/courseWork/{courseWorkId}/studentSubmissions/{id}
        """
        coll = self._svc("classroom.coursework").courses().courseWork().studentSubmissions()
        req = coll.patch(courseId=course_id, courseWorkId=course_work_id, id=submission_id,
                         updateMask="draftGrade", body={"draftGrade": grade})
        return self.t.execute(req, api=API)

    def return_submission(self, course_id: str, course_work_id: str, submission_id: str) -> dict[str, Any]:
        """Return a submission to the student (its state becomes RETURNED; the student sees it returned
        and may hand in again).  Only the Developer project that made the course work may call it.

        :calls: POST /v1/courses/{courseId}/courseWork/{courseWorkId}/studentSubmissions/{id}:return
        """
        coll = self._svc("classroom.coursework").courses().courseWork().studentSubmissions()
        # ``return`` is a Python keyword: the discovery client names the method ``return_``.
        req = coll.return_(courseId=course_id, courseWorkId=course_work_id, id=submission_id, body={})
        return self.t.execute(req, api=API)

    # -- push ----------------------------------------------------------------------------------------
    def create_registration(self, course_id: str, topic_name: str) -> dict[str, Any]:
        """Register COURSE_WORK_CHANGES pushes; an identical create renews it (about a week).

        :calls: POST /v1/registrations (user grant: delegation is not supported here)
        """
        if self.user_t is None:
            raise GoogleApiError("Classroom push registration needs the secretary's OAuth grant "
                                 "(setting google.oauth_token_file)", status=401, reason="noUserGrant",
                                 service=API)
        svc = self.user_t.service(API, SCOPES["classroom.push"])
        body = {"feed": {"feedType": "COURSE_WORK_CHANGES",
                         "courseWorkChangesInfo": {"courseId": course_id}},
                "cloudPubsubTopic": {"topicName": topic_name}}
        return self.user_t.execute(svc.registrations().create(body=body), api=API)
