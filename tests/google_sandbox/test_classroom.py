"""Classroom through the real client: course by alias, roster, posts, ticket assignments, submissions, push."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import id_token
from googleapiclient.errors import HttpError

from .conftest import SECRETARY, Clock, Google, PushReceiver, start

STUDENTS = ["asanov.a@uni.edu.kz", "beketova.b@uni.edu.kz"]
TEACHER = "chair@uni.edu.kz"
CW_SCOPES = ("classroom.courses", "classroom.rosters", "classroom.coursework.students", "classroom.announcements",
             "classroom.topics")


def setup_course(google: Google, alias: str = "p:gak-2026-cs") -> tuple[object, dict]:
    classroom = google.service("classroom", *CW_SCOPES)
    course = classroom.courses().create(body={"id": alias, "name": "ГАК 2026", "ownerId": "me",
                                              "section": "6B06101"}).execute()
    assert course["courseState"] == "PROVISIONED"
    for email in STUDENTS:
        classroom.courses().students().create(courseId=alias, body={"userId": email}).execute()
    classroom.courses().teachers().create(courseId=alias, body={"userId": TEACHER}).execute()
    return classroom, course


def future_due(hours: int = 2) -> tuple[dict, dict]:
    due = datetime.now(UTC) + timedelta(hours=hours)
    return ({"year": due.year, "month": due.month, "day": due.day},
            {"hours": due.hour, "minutes": due.minute})


def test_course_alias_is_idempotent_and_activates(google: Google) -> None:
    classroom, course = setup_course(google)
    with pytest.raises(HttpError) as exc:
        classroom.courses().create(body={"id": "p:gak-2026-cs", "name": "again", "ownerId": "me"}).execute()
    assert exc.value.status_code == 409
    assert json.loads(exc.value.content)["error"]["status"] == "ALREADY_EXISTS"
    assert classroom.courses().get(id="p:gak-2026-cs").execute()["id"] == course["id"]
    with pytest.raises(HttpError) as exc:
        classroom.courses().patch(id=course["id"], body={"courseState": "ACTIVE"}).execute()
    assert exc.value.status_code == 400  # updateMask is required
    active = classroom.courses().patch(id="p:gak-2026-cs", updateMask="courseState",
                                       body={"courseState": "ACTIVE"}).execute()
    assert active["courseState"] == "ACTIVE"
    listed = classroom.courses().list(teacherId="me").execute()["courses"]
    assert [c["id"] for c in listed] == [course["id"]]


def test_roster_duplicates_and_invitations(google: Google) -> None:
    classroom, course = setup_course(google)
    with pytest.raises(HttpError) as exc:
        classroom.courses().students().create(courseId=course["id"], body={"userId": STUDENTS[0]}).execute()
    assert exc.value.status_code == 409
    # UserProfile.emailAddress only with the classroom.profile.emails scope (UserProfile reference).
    students = classroom.courses().students().list(courseId=course["id"]).execute()["students"]
    assert all("emailAddress" not in s["profile"] and s["profile"]["name"]["fullName"] for s in students)
    with_emails = google.service("classroom", "classroom.rosters", "classroom.profile.emails")
    students = with_emails.courses().students().list(courseId=course["id"]).execute()["students"]
    assert sorted(s["profile"]["emailAddress"] for s in students) == sorted(STUDENTS)
    teachers = with_emails.courses().teachers().list(courseId=course["id"]).execute()["teachers"]
    assert {t["profile"]["emailAddress"] for t in teachers} == {SECRETARY, TEACHER}
    one = with_emails.courses().students().get(courseId=course["id"], userId=STUDENTS[0]).execute()
    assert one["profile"]["emailAddress"] == STUDENTS[0]
    inv = classroom.invitations().create(body={"courseId": course["id"], "userId": "late@uni.edu.kz",
                                               "role": "STUDENT"}).execute()
    assert inv["role"] == "STUDENT"
    with pytest.raises(HttpError) as exc:
        classroom.invitations().create(body={"courseId": course["id"], "userId": "late@uni.edu.kz",
                                             "role": "STUDENT"}).execute()
    assert exc.value.status_code == 409  # an invitation exists: ALREADY_EXISTS
    # Already holding the role or a higher one: FAILED_PRECONDITION (invitations.create reference).
    for user, role in ((SECRETARY, "TEACHER"), (SECRETARY, "OWNER"), (TEACHER, "TEACHER"), (TEACHER, "STUDENT"),
                       (STUDENTS[0], "STUDENT")):
        with pytest.raises(HttpError) as exc:
            classroom.invitations().create(body={"courseId": course["id"], "userId": user, "role": role}).execute()
        assert exc.value.status_code == 400, (user, role)
        assert json.loads(exc.value.content)["error"]["status"] == "FAILED_PRECONDITION"
    # A teacher who is not a domain admin cannot add people directly.
    teacher = google.as_user("classroom", TEACHER, "classroom.rosters")
    with pytest.raises(HttpError) as exc:
        teacher.courses().students().create(courseId=course["id"], body={"userId": "x@uni.edu.kz"}).execute()
    assert exc.value.status_code == 403


def test_individual_ticket_assignment_submission_lifecycle_and_push(google: Google,
                                                                     push_receiver: PushReceiver) -> None:
    classroom, course = setup_course(google)
    classroom.courses().patch(id=course["id"], updateMask="courseState", body={"courseState": "ACTIVE"}).execute()
    topic = classroom.courses().topics().create(courseId=course["id"], body={"name": "Билеттер"}).execute()
    post = classroom.courses().announcements().create(courseId=course["id"], body={
        "text": "Нұсқаулық", "state": "PUBLISHED"}).execute()
    assert post["state"] == "PUBLISHED"
    assert classroom.courses().announcements().list(courseId=course["id"]).execute()["announcements"][0]["id"] \
        == post["id"]
    user = google.build("classroom", google.user_creds())
    user.registrations().create(body={
        "feed": {"feedType": "COURSE_WORK_CHANGES", "courseWorkChangesInfo": {"courseId": course["id"]}},
        "cloudPubsubTopic": {"topicName": "projects/lms/topics/attestation"}}).execute()

    due_date, due_time = future_due()
    with pytest.raises(HttpError):
        classroom.courses().courseWork().create(courseId=course["id"], body={
            "title": "Билет 7", "workType": "ASSIGNMENT", "state": "PUBLISHED", "dueDate": due_date}).execute()
    with pytest.raises(HttpError):
        classroom.courses().courseWork().create(courseId=course["id"], body={
            "title": "Билет 7", "workType": "ASSIGNMENT", "state": "PUBLISHED", "assigneeMode": "INDIVIDUAL_STUDENTS",
            "individualStudentsOptions": {"studentIds": ["nobody@uni.edu.kz"]}}).execute()
    cw = classroom.courses().courseWork().create(courseId=course["id"], body={
        "title": "Билет 7", "workType": "ASSIGNMENT", "state": "PUBLISHED", "topicId": topic["topicId"],
        "dueDate": due_date, "dueTime": due_time, "maxPoints": 100, "assigneeMode": "INDIVIDUAL_STUDENTS",
        "individualStudentsOptions": {"studentIds": [STUDENTS[0]]},
        "materials": [{"link": {"url": "https://example.org/ticket-7"}}]}).execute()
    assert cw["associatedWithDeveloper"] is True
    subs = classroom.courses().courseWork().studentSubmissions().list(
        courseId=course["id"], courseWorkId=cw["id"]).execute()["studentSubmissions"]
    assert len(subs) == 1
    assert subs[0]["state"] == "NEW"

    moved = classroom.courses().courseWork().modifyAssignees(courseId=course["id"], id=cw["id"], body={
        "assigneeMode": "INDIVIDUAL_STUDENTS",
        "modifyIndividualStudentsOptions": {"addStudentIds": [STUDENTS[1]]}}).execute()
    assert len(moved["individualStudentsOptions"]["studentIds"]) == 2

    # The student uploads answer sheets and turns in through the actor API.
    base = f"{google.url}/_actor/classroom/courses/{course['id']}/courseWork/{cw['id']}/submissions/{STUDENTS[0]}"
    r = requests.post(base + "/attachments", json={"name": "answers-1.jpg", "mimeType": "image/jpeg",
                                                   "content": base64.b64encode(b"jpeg").decode()}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["assignmentSubmission"]["attachments"][0]["driveFile"]["title"] == "answers-1.jpg"
    assert requests.post(base + "/turnIn", timeout=10).status_code == 200
    assert requests.post(base + "/turnIn", timeout=10).status_code == 400  # already turned in
    sub = classroom.courses().courseWork().studentSubmissions().list(
        courseId=course["id"], courseWorkId=cw["id"], userId=STUDENTS[0]).execute()["studentSubmissions"][0]
    assert sub["state"] == "TURNED_IN"
    assert sub.get("late") is False
    # turnIn "transfers ownership of attached Drive files to the teacher" (the course's owner); the
    # student, the previous owner, becomes a writer (Drive's transfer-file guide); the course's other
    # teachers get no Drive permission from it (not documented: the strict reading).
    file_id = sub["assignmentSubmission"]["attachments"][0]["driveFile"]["id"]
    perms = {p["emailAddress"]: p["role"] for p in google.service("drive", "drive").permissions().list(
        fileId=file_id, fields="permissions(emailAddress,role)").execute()["permissions"]}
    assert perms == {SECRETARY: "owner", STUDENTS[0]: "writer"}
    # Each submission has its own alternateLink (to that student's work in the web UI).
    both = classroom.courses().courseWork().studentSubmissions().list(
        courseId=course["id"], courseWorkId=cw["id"]).execute()["studentSubmissions"]
    assert len({s["alternateLink"] for s in both}) == 2

    # Grading and returning: return does not copy draftGrade to assignedGrade.
    classroom.courses().courseWork().studentSubmissions().patch(
        courseId=course["id"], courseWorkId=cw["id"], id=sub["id"], updateMask="draftGrade",
        body={"draftGrade": 91.5}).execute()
    classroom.courses().courseWork().studentSubmissions().return_(
        courseId=course["id"], courseWorkId=cw["id"], id=sub["id"], body={}).execute()
    back = classroom.courses().courseWork().studentSubmissions().get(
        courseId=course["id"], courseWorkId=cw["id"], id=sub["id"]).execute()
    assert back["state"] == "RETURNED"
    assert back["draftGrade"] == 91.5
    assert "assignedGrade" not in back
    # draftGrade is "only visible to and modifiable by course teachers" (StudentSubmission
    # reference): the student's own view of the same submission does not carry it.
    mine = google.as_user("classroom", STUDENTS[0], "classroom.coursework.me").courses().courseWork(
        ).studentSubmissions().get(courseId=course["id"], courseWorkId=cw["id"], id=sub["id"]).execute()
    assert mine["state"] == "RETURNED"
    assert "draftGrade" not in mine

    # Another Developer project may not grade this course work.
    foreign = google.as_user("classroom", SECRETARY, "classroom.coursework.students", project="other-project")
    with pytest.raises(HttpError) as exc:
        foreign.courses().courseWork().studentSubmissions().patch(
            courseId=course["id"], courseWorkId=cw["id"], id=sub["id"], updateMask="assignedGrade",
            body={"assignedGrade": 90}).execute()
    assert exc.value.status_code == 403

    deliveries = push_receiver.wait(count=4)
    bodies = [json.loads(base64.b64decode(d["body"]["message"]["data"])) for d in deliveries]
    assert {"collection": "courses.courseWork.studentSubmissions", "eventType": "MODIFIED",
            "resourceId": {"courseId": course["id"], "courseWorkId": cw["id"], "id": sub["id"]}} in bodies
    token = deliveries[0]["authorization"].split(" ", 1)[1]
    claims = id_token.verify_token(token, AuthRequest(), audience=push_receiver.url,
                                   certs_url=google.url + "/www.googleapis.com/oauth2/v1/certs")
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == "pubsub-push@lms-bridge.iam.gserviceaccount.com"
    assert claims["email_verified"] is True
    assert deliveries[0]["body"]["subscription"] == "projects/lms/subscriptions/attestation-push"


def test_student_turns_in_through_the_api_late(tmp_path) -> None:
    clock = Clock(datetime.now(UTC).timestamp())
    google, server = start(tmp_path, clock=clock)
    try:
        classroom, course = setup_course(google)
        classroom.courses().patch(id=course["id"], updateMask="courseState", body={"courseState": "ACTIVE"}).execute()
        due_date, due_time = future_due(1)
        cw = classroom.courses().courseWork().create(courseId=course["id"], body={
            "title": "Билет 3", "workType": "ASSIGNMENT", "state": "PUBLISHED", "dueDate": due_date,
            "dueTime": due_time}).execute()
        student = google.as_user("classroom", STUDENTS[1], "classroom.coursework.me")
        mine = student.courses().courseWork().studentSubmissions().list(
            courseId=course["id"], courseWorkId="-").execute()["studentSubmissions"]
        assert len(mine) == 1  # a student sees only their own submission
        clock.now += 2 * 3600
        # Access tokens live an hour of sandbox time, as at Google: fetch a fresh one.
        student = google.as_user("classroom", STUDENTS[1], "classroom.coursework.me")
        classroom = google.service("classroom", *CW_SCOPES)
        student.courses().courseWork().studentSubmissions().turnIn(
            courseId=course["id"], courseWorkId=cw["id"], id=mine[0]["id"], body={}).execute()
        sub = classroom.courses().courseWork().studentSubmissions().get(
            courseId=course["id"], courseWorkId=cw["id"], id=mine[0]["id"]).execute()
        assert sub["state"] == "TURNED_IN"
        assert sub["late"] is True
        other = google.as_user("classroom", STUDENTS[0], "classroom.coursework.me")
        with pytest.raises(HttpError) as exc:
            other.courses().courseWork().studentSubmissions().turnIn(
                courseId=course["id"], courseWorkId=cw["id"], id=mine[0]["id"], body={}).execute()
        assert exc.value.status_code in (403, 404)
        page = requests.get(f"{google.url}/classroom.googleapis.com/view/{course['id']}", params={"lang": "en"},
                            timeout=10)
        assert page.status_code == 200
        assert "Билет 3" in page.text
        assert STUDENTS[1] in page.text
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_state_survives_a_restart(tmp_path) -> None:
    google, server = start(tmp_path)
    setup_course(google)
    server.shutdown()
    google.sandbox.store.close()
    again, server2 = start(tmp_path)
    try:
        classroom = again.service("classroom", "classroom.courses")
        with pytest.raises(HttpError) as exc:
            classroom.courses().create(body={"id": "p:gak-2026-cs", "name": "x", "ownerId": "me"}).execute()
        assert exc.value.status_code == 409
        assert classroom.courses().get(id="p:gak-2026-cs").execute()["name"] == "ГАК 2026"
    finally:
        server2.shutdown()
        again.sandbox.store.close()


def test_concurrent_creates_of_one_alias_make_one_course(google: Google) -> None:
    token = google.token_for(SECRETARY, ["classroom.courses"])
    statuses: list[int] = []

    def create() -> None:
        r = requests.post(google.url + "/classroom.googleapis.com/v1/courses", timeout=20,
                          json={"id": "p:race", "name": "Race", "ownerId": "me"},
                          headers={"Authorization": f"Bearer {token}"})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7
    courses = requests.get(f"{google.url}/_actor/state", timeout=10).json()["course"]
    assert len(courses) == 1


def test_an_announcement_to_one_student_is_seen_by_that_student_only(google: Google) -> None:
    """What the product posts to explain a refused appeal: assigneeMode INDIVIDUAL_STUDENTS
    (IndividualStudentsOptions: "Identifiers for the students that have access to the
    coursework/announcement"); announcements.list returns what the requester may view."""
    classroom, course = setup_course(google)
    classroom.courses().patch(id=course["id"], updateMask="courseState", body={"courseState": "ACTIVE"}).execute()
    both = classroom.courses().announcements().create(courseId=course["id"], body={
        "text": "Барлығына", "state": "PUBLISHED"}).execute()
    student_id = classroom.courses().students().get(courseId=course["id"], userId=STUDENTS[1]).execute()["userId"]
    one = classroom.courses().announcements().create(courseId=course["id"], body={
        "text": "Тек сізге", "state": "PUBLISHED", "assigneeMode": "INDIVIDUAL_STUDENTS",
        "individualStudentsOptions": {"studentIds": [student_id]}}).execute()
    assert one["individualStudentsOptions"]["studentIds"] == [student_id]
    seen = {a["id"] for a in classroom.courses().announcements().list(courseId=course["id"]).execute()["announcements"]}
    assert seen == {both["id"], one["id"]}  # the teacher sees both
    for email, expected in ((STUDENTS[1], {both["id"], one["id"]}), (STUDENTS[0], {both["id"]})):
        student = google.as_user("classroom", email, "classroom.announcements.readonly")
        got = student.courses().announcements().list(courseId=course["id"]).execute().get("announcements", [])
        assert {a["id"] for a in got} == expected, email


def test_only_the_student_attaches_files_to_a_submission(tmp_path) -> None:
    """studentSubmissions.modifyAttachments: PERMISSION_DENIED "if the user is not permitted to modify
    attachments on the requested student submission"; the reference does not say a teacher is, so the
    sandbox takes the stricter reading: only the student who owns the submission."""
    google, server = start(tmp_path)
    try:
        classroom, course = setup_course(google)
        classroom.courses().patch(id=course["id"], updateMask="courseState", body={"courseState": "ACTIVE"}).execute()
        cw = classroom.courses().courseWork().create(courseId=course["id"], body={
            "title": "Билет 1", "workType": "ASSIGNMENT", "state": "PUBLISHED"}).execute()
        student = google.as_user("classroom", STUDENTS[0], "classroom.coursework.me")
        mine = student.courses().courseWork().studentSubmissions().list(
            courseId=course["id"], courseWorkId=cw["id"]).execute()["studentSubmissions"][0]
        body = {"addAttachments": [{"link": {"url": "https://example.org/answer.pdf"}}]}
        with pytest.raises(HttpError) as exc:  # the secretary, a teacher of the course
            classroom.courses().courseWork().studentSubmissions().modifyAttachments(
                courseId=course["id"], courseWorkId=cw["id"], id=mine["id"], body=body).execute()
        assert exc.value.status_code == 403
        got = student.courses().courseWork().studentSubmissions().modifyAttachments(
            courseId=course["id"], courseWorkId=cw["id"], id=mine["id"], body=body).execute()
        assert len(got["assignmentSubmission"]["attachments"]) == 1
    finally:
        server.shutdown()
        google.sandbox.store.close()
