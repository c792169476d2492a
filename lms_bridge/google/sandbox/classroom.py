"""Classroom v1: courses and aliases, people, posts, course work, submissions and push registrations."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from .common import (
    Ctx,
    Handler,
    ensure_user,
    mask_fields,
    numeric_id,
    page,
    parse_rfc3339,
    profile,
    resolve_user,
    rfc3339,
    token_id,
)
from .errors import ApiError, already_exists, bad_request, failed_precondition, permission_denied
from .files import ensure_perm_id

HANDLERS: dict[str, Handler] = {}
REGISTRATION_LIFETIME = 7 * 24 * 3600
SCOPE = "https://www.googleapis.com/auth/"


def handler(method_id: str):  # type: ignore[no-untyped-def]
    def deco(fn: Handler) -> Handler:
        HANDLERS[method_id] = fn
        return fn
    return deco


def _not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.")


def _project_denied() -> ApiError:
    return ApiError(403, "@ProjectPermissionDenied The Developer Console project is not permitted to make this "
                    "request.")


# -- courses and aliases ---------------------------------------------------------------------------------
def _alias_key(ctx: Ctx, alias: str) -> str:
    if alias.startswith("p:"):
        return f"{ctx.principal.project}/{alias}"  # project-scoped: invisible to other projects
    return f"domain/{alias}"


def find_course(ctx: Ctx, ref: str) -> dict[str, Any] | None:
    if ref.startswith(("p:", "d:")):
        rec = ctx.store.get("alias", _alias_key(ctx, ref))
        if rec is None:
            return None
        ref = rec["courseId"]
    return ctx.store.get("course", ref)


def is_teacher(ctx: Ctx, course_id: str, email: str) -> bool:
    from .common import user_id

    return ctx.store.get("teacher", f"{course_id}/{user_id(email)}") is not None


def is_student(ctx: Ctx, course_id: str, email: str) -> bool:
    from .common import user_id

    return ctx.store.get("student", f"{course_id}/{user_id(email)}") is not None


def course_for(ctx: Ctx, ref: str, *, manage: bool = False) -> dict[str, Any]:
    course = find_course(ctx, ref)
    if course is None:
        raise _not_found()
    teacher = ctx.is_admin() or is_teacher(ctx, course["id"], ctx.me)
    if manage and not teacher:
        raise permission_denied()
    if not teacher and (not is_student(ctx, course["id"], ctx.me) or course["courseState"] == "PROVISIONED"):
        raise _not_found()
    return course


PROFILE_EMAILS_SCOPE = "https://www.googleapis.com/auth/classroom.profile.emails"


def hide_profile_emails(value: Any) -> Any:
    """``UserProfile.emailAddress`` is filled only for a token holding ``classroom.profile.emails``
    (UserProfile reference: "Must request https://www.googleapis.com/auth/classroom.profile.emails
    scope for this field to be populated in a response body"); the server drops it from every
    profile in a Classroom answer otherwise."""
    if isinstance(value, list):
        return [hide_profile_emails(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: hide_profile_emails(v) for k, v in value.items()}
    if "name" in out and "id" in out and "emailAddress" in out and isinstance(out["name"], dict):
        del out["emailAddress"]  # a UserProfile: id, name, emailAddress, photoUrl, …
    return out


def _course_view(ctx: Ctx, course: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in course.items() if not k.startswith("_")}
    out["alternateLink"] = f"{ctx.base_url}/classroom.googleapis.com/view/{course['id']}"
    return out


@handler("classroom.courses.create")
def courses_create(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    if not (body.get("name") or "").strip():
        raise bad_request("Course name is required.", field="course.name")
    owner_ref = body.get("ownerId")
    if not owner_ref:
        raise bad_request("ownerId is required.", field="course.owner_id")
    owner = resolve_user(ctx, owner_ref)
    if owner["email"] != ctx.me and not ctx.is_admin():
        raise permission_denied("@UserCannotOwnCourse Only domain administrators can create courses owned by "
                                "another user.")
    alias = body.get("id")
    if alias:
        if not alias.startswith(("p:", "d:")) or len(alias) > 256 or len(alias) < 3:
            raise bad_request("The course id must be an alias starting with 'p:' or 'd:'.", field="course.id")
        if alias.startswith("d:") and not ctx.is_admin():
            raise permission_denied("Only domain administrators can create domain-scoped aliases.")
        if ctx.store.get("alias", _alias_key(ctx, alias)):
            raise already_exists()
    state = body.get("courseState") or "PROVISIONED"
    if state not in ("PROVISIONED", "ACTIVE"):
        raise bad_request(f"A new course cannot be in state {state}.", field="course.course_state")
    cid = numeric_id(12)
    now = rfc3339(ctx.now)
    course = {
        "id": cid, "name": body["name"], "ownerId": owner["id"], "creationTime": now, "updateTime": now,
        "enrollmentCode": token_id(7).lower().replace("-", "a").replace("_", "b"), "courseState": state,
        "teacherGroupEmail": f"{cid}-teachers@groups.sandbox.test", "courseGroupEmail": f"{cid}@groups.sandbox.test",
        "guardiansEnabled": False, "calendarId": f"classroom{cid}@group.calendar.google.com",
        "gradebookSettings": {"calculationType": "TOTAL_POINTS", "displaySetting": "HIDE_OVERALL_GRADE"},
    }
    for key in ("section", "descriptionHeading", "description", "room"):
        if body.get(key):
            course[key] = body[key]
    ctx.store.put("course", cid, course)
    if alias:
        ctx.store.put("alias", _alias_key(ctx, alias), {"alias": alias, "courseId": cid}, parent=cid)
    # The owner is the primary teacher.
    ctx.store.put("teacher", f"{cid}/{owner['id']}", {"courseId": cid, "userId": owner["id"],
                                                       "profile": profile(owner)}, parent=cid)
    return _course_view(ctx, course)


@handler("classroom.courses.get")
def courses_get(ctx: Ctx) -> dict[str, Any]:
    return _course_view(ctx, course_for(ctx, ctx.params["id"]))


@handler("classroom.courses.patch")
def courses_patch(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["id"], manage=True)
    fields = mask_fields(ctx.params.get("updateMask"), {"name", "section", "descriptionHeading", "description",
                                                        "room", "courseState", "ownerId"})
    for f in fields:
        value = ctx.body.get(f)
        if f == "courseState":
            allowed = {"PROVISIONED": {"ACTIVE", "DECLINED", "PROVISIONED"},
                       "ACTIVE": {"ACTIVE", "ARCHIVED"}, "ARCHIVED": {"ARCHIVED", "ACTIVE"},
                       "DECLINED": {"DECLINED"}, "SUSPENDED": {"SUSPENDED"}}
            if value not in allowed.get(course["courseState"], set()):
                raise failed_precondition(f"@CourseStateTransitionNotAllowed {course['courseState']} -> {value}")
        if f == "ownerId" and value:
            value = resolve_user(ctx, value)["id"]
        if f == "name" and not (value or "").strip():
            raise bad_request("Course name is required.", field="course.name")
        if value is None:
            course.pop(f, None)
        else:
            course[f] = value
    course["updateTime"] = rfc3339(ctx.now)
    ctx.store.put("course", course["id"], course)
    return _course_view(ctx, course)


@handler("classroom.courses.list")
def courses_list(ctx: Ctx) -> dict[str, Any]:
    states = ctx.params.get("courseStates") or []
    student = resolve_user(ctx, ctx.params["studentId"]) if ctx.params.get("studentId") else None
    teacher = resolve_user(ctx, ctx.params["teacherId"]) if ctx.params.get("teacherId") else None
    out = []
    for c in ctx.store.list("course"):
        if states and c["courseState"] not in states:
            continue
        if student and not is_student(ctx, c["id"], student["email"]):
            continue
        if teacher and not is_teacher(ctx, c["id"], teacher["email"]):
            continue
        if not (ctx.is_admin() or is_teacher(ctx, c["id"], ctx.me)
                or (is_student(ctx, c["id"], ctx.me) and c["courseState"] != "PROVISIONED")):
            continue
        out.append(_course_view(ctx, c))
    return page(out, ctx, "courses", default_size=500, max_size=1000)


@handler("classroom.courses.aliases.create")
def aliases_create(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    alias = ctx.body.get("alias") or ""
    if not alias.startswith(("p:", "d:")):
        raise bad_request("The alias must start with 'p:' or 'd:'.", field="course_alias.alias")
    if ctx.store.get("alias", _alias_key(ctx, alias)):
        raise already_exists()
    ctx.store.put("alias", _alias_key(ctx, alias), {"alias": alias, "courseId": course["id"]}, parent=course["id"])
    return {"alias": alias}


@handler("classroom.courses.aliases.list")
def aliases_list(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    rows = [a for a in ctx.store.list("alias", course["id"])
            if a["alias"].startswith("d:") or ctx.store.get("alias", _alias_key(ctx, a["alias"]))]
    return page([{"alias": a["alias"]} for a in rows], ctx, "aliases")


# -- people ---------------------------------------------------------------------------------------------
def _member_create(ctx: Ctx, kind: str) -> dict[str, Any]:
    course = find_course(ctx, ctx.params["courseId"])
    if course is None:
        raise _not_found()
    user = resolve_user(ctx, ctx.body.get("userId") or "")
    code = ctx.params.get("enrollmentCode")
    self_enrol = kind == "student" and code and user["email"] == ctx.me
    if self_enrol:
        if code != course["enrollmentCode"]:
            raise permission_denied("The enrollment code is not valid.")
    elif not ctx.is_admin():
        # Only domain admins add people directly; teachers must send invitations.
        raise permission_denied("@CannotDirectAddUser The caller does not have permission to add this user "
                                "directly; send an invitation instead.")
    key = f"{course['id']}/{user['id']}"
    if ctx.store.get(kind, key):
        raise already_exists()
    other = "teacher" if kind == "student" else "student"
    if ctx.store.get(other, key):
        raise failed_precondition(f"@UserInIllegalDomain The user is already a {other} of the course.")
    rec = {"courseId": course["id"], "userId": user["id"], "profile": profile(user)}
    ctx.store.put(kind, key, rec, parent=course["id"])
    _publish_change(ctx, course["id"], f"courses.{kind}s", "CREATED", {"courseId": course["id"], "userId": user["id"]},
                    feed="COURSE_ROSTER_CHANGES")
    # Invitations for the same course and user are consumed by the membership.
    for inv in ctx.store.list("invitation", course["id"]):
        if inv["userId"] == user["id"]:
            ctx.store.delete("invitation", inv["id"])
    return rec


@handler("classroom.courses.students.create")
def students_create(ctx: Ctx) -> dict[str, Any]:
    return _member_create(ctx, "student")


@handler("classroom.courses.teachers.create")
def teachers_create(ctx: Ctx) -> dict[str, Any]:
    return _member_create(ctx, "teacher")


def _member_list(ctx: Ctx, kind: str, key: str) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    return page(ctx.store.list(kind, course["id"]), ctx, key, default_size=30, max_size=1000)


@handler("classroom.courses.students.list")
def students_list(ctx: Ctx) -> dict[str, Any]:
    return _member_list(ctx, "student", "students")


@handler("classroom.courses.teachers.list")
def teachers_list(ctx: Ctx) -> dict[str, Any]:
    return _member_list(ctx, "teacher", "teachers")


def _member_get(ctx: Ctx, kind: str) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    rec = ctx.store.get(kind, f"{course['id']}/{resolve_user(ctx, ctx.params['userId'])['id']}")
    if rec is None:
        raise _not_found()
    return rec  # type: ignore[no-any-return]


@handler("classroom.courses.students.get")
def students_get(ctx: Ctx) -> dict[str, Any]:
    return _member_get(ctx, "student")


@handler("classroom.courses.teachers.get")
def teachers_get(ctx: Ctx) -> dict[str, Any]:
    return _member_get(ctx, "teacher")


@handler("classroom.invitations.create")
def invitations_create(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    course = course_for(ctx, body.get("courseId") or "", manage=True)
    user = resolve_user(ctx, body.get("userId") or "")
    role = body.get("role")
    if role not in ("STUDENT", "TEACHER", "OWNER"):
        raise bad_request("Invitation role is required.", field="invitation.role")
    key = f"{course['id']}/{user['id']}"
    # invitations.create reference: FAILED_PRECONDITION "if the user already has this role or a role
    # with greater permissions" (owner > teacher > student); ALREADY_EXISTS only "if an invitation for
    # the specified user and course already exists".
    held = ("OWNER" if course["ownerId"] == user["id"] else "TEACHER" if ctx.store.get("teacher", key)
            else "STUDENT" if ctx.store.get("student", key) else None)
    rank = {"STUDENT": 1, "TEACHER": 2, "OWNER": 3}
    if held is not None and rank[held] >= rank[role]:
        raise failed_precondition("The user already has this role or a role with greater permissions in "
                                  "the course.")
    if any(i["userId"] == user["id"] for i in ctx.store.list("invitation", course["id"])):
        raise already_exists()
    rec = {"id": numeric_id(12), "userId": user["id"], "courseId": course["id"], "role": role}
    ctx.store.put("invitation", rec["id"], rec, parent=course["id"])
    return rec


@handler("classroom.invitations.list")
def invitations_list(ctx: Ctx) -> dict[str, Any]:
    course_id = ctx.params.get("courseId")
    user = resolve_user(ctx, ctx.params["userId"]) if ctx.params.get("userId") else None
    if not course_id and not user:
        raise bad_request("Either courseId or userId is required.")
    rows = ctx.store.list("invitation", course_for(ctx, course_id, manage=True)["id"]) if course_id \
        else ctx.store.list("invitation")
    if user:
        rows = [r for r in rows if r["userId"] == user["id"]]
    return page(rows, ctx, "invitations", default_size=500)


@handler("classroom.invitations.accept")
def invitations_accept(ctx: Ctx) -> dict[str, Any]:
    inv = ctx.store.get("invitation", ctx.params["id"])
    me = ensure_user(ctx.store, ctx.me)
    if inv is None or inv["userId"] != me["id"]:
        raise _not_found()
    kind = "student" if inv["role"] == "STUDENT" else "teacher"
    ctx.store.put(kind, f"{inv['courseId']}/{me['id']}", {"courseId": inv["courseId"], "userId": me["id"],
                                                          "profile": profile(me)}, parent=inv["courseId"])
    ctx.store.delete("invitation", inv["id"])
    return {}


# -- topics and announcements ---------------------------------------------------------------------------
@handler("classroom.courses.topics.create")
def topics_create(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    name = (ctx.body.get("name") or "").strip()
    if not name:
        raise bad_request("Topic name is required.", field="topic.name")
    if any(t["name"] == name for t in ctx.store.list("topic", course["id"])):
        raise already_exists()
    rec = {"courseId": course["id"], "topicId": numeric_id(12), "name": name, "updateTime": rfc3339(ctx.now)}
    ctx.store.put("topic", f"{course['id']}/{rec['topicId']}", rec, parent=course["id"])
    return rec


@handler("classroom.courses.topics.list")
def topics_list(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    return page(list(reversed(ctx.store.list("topic", course["id"]))), ctx, "topic", default_size=500)


def _assignees(ctx: Ctx, course_id: str, body: dict[str, Any], where: str) -> dict[str, Any]:
    mode = body.get("assigneeMode") or "ALL_STUDENTS"
    out: dict[str, Any] = {"assigneeMode": mode}
    if mode == "INDIVIDUAL_STUDENTS":
        ids = ((body.get("individualStudentsOptions") or {}).get("studentIds")) or []
        if not ids:
            raise bad_request("individualStudentsOptions.studentIds is required when assigneeMode is "
                              "INDIVIDUAL_STUDENTS.", field=f"{where}.individual_students_options")
        resolved = []
        for ref in ids:
            user = resolve_user(ctx, ref)
            if not is_student(ctx, course_id, user["email"]):
                raise bad_request(f"@InvalidStudentId {ref} is not a student of this course.",
                                  field=f"{where}.individual_students_options.student_ids")
            resolved.append(user["id"])
        out["individualStudentsOptions"] = {"studentIds": resolved}
    elif body.get("individualStudentsOptions"):
        raise bad_request("individualStudentsOptions is only allowed with INDIVIDUAL_STUDENTS.",
                          field=f"{where}.individual_students_options")
    return out


def _materials(materials: list[dict[str, Any]] | None, where: str) -> list[dict[str, Any]]:
    materials = materials or []
    if len(materials) > 20:
        raise bad_request("At most 20 materials are allowed.", field=f"{where}.materials")
    for i, m in enumerate(materials):
        if m.get("form") is not None:
            raise bad_request("@FormMaterialReadOnly Form materials are read-only; attach the form as a link.",
                              field=f"{where}.materials[{i}].form")
        kinds = [k for k in ("driveFile", "youtubeVideo", "link") if m.get(k) is not None]
        if len(kinds) != 1:
            raise bad_request("A material must have exactly one of driveFile, youtubeVideo, link.",
                              field=f"{where}.materials[{i}]")
        if kinds[0] == "link" and not (m["link"].get("url") or "").startswith(("http://", "https://")):
            raise bad_request("A link material needs an http(s) url.", field=f"{where}.materials[{i}].link.url")
    return materials


@handler("classroom.courses.announcements.create")
def announcements_create(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    body = ctx.body
    if not (body.get("text") or "").strip():
        raise bad_request("Announcement text is required.", field="announcement.text")
    now = rfc3339(ctx.now)
    rec = {"courseId": course["id"], "id": numeric_id(12), "text": body["text"],
           "materials": _materials(body.get("materials"), "announcement"),
           "state": body.get("state") or "PUBLISHED", "creationTime": now, "updateTime": now,
           "creatorUserId": ensure_user(ctx.store, ctx.me)["id"],
           **_assignees(ctx, course["id"], body, "announcement")}
    rec["alternateLink"] = f"{ctx.base_url}/classroom.googleapis.com/view/{course['id']}#a{rec['id']}"
    if not rec["materials"]:
        del rec["materials"]
    ctx.store.put("announcement", f"{course['id']}/{rec['id']}", rec, parent=course["id"])
    return rec


@handler("classroom.courses.announcements.list")
def announcements_list(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    states = ctx.params.get("announcementStates") or ["PUBLISHED"]
    # "Returns a list of announcements that the requester is permitted to view"; an
    # INDIVIDUAL_STUDENTS announcement is seen only by the students it names (IndividualStudentsOptions:
    # "Identifiers for the students that have access to the coursework/announcement"), as course work.
    teacher = ctx.is_admin() or is_teacher(ctx, course["id"], ctx.me)
    me = ensure_user(ctx.store, ctx.me)["id"]
    rows = [a for a in ctx.store.list("announcement", course["id"]) if a["state"] in states and (
        teacher or (a["state"] == "PUBLISHED" and (a.get("assigneeMode") != "INDIVIDUAL_STUDENTS"
                                                   or me in a["individualStudentsOptions"]["studentIds"])))]
    return page(list(reversed(rows)), ctx, "announcements", default_size=500)


# -- course work ----------------------------------------------------------------------------------------
def _due(cw: dict[str, Any]) -> float | None:
    d, t = cw.get("dueDate"), cw.get("dueTime")
    if not d:
        return None
    t = t or {}
    return dt.datetime(int(d["year"]), int(d["month"]), int(d["day"]), int(t.get("hours", 0)),
                       int(t.get("minutes", 0)), int(t.get("seconds", 0)), tzinfo=dt.UTC).timestamp()


def _check_due(ctx: Ctx, cw: dict[str, Any]) -> None:
    if bool(cw.get("dueDate")) != bool(cw.get("dueTime")):
        raise bad_request("dueDate and dueTime must be set together.", field="course_work.due_time")
    if cw.get("dueDate"):
        d = cw["dueDate"]
        try:
            due = _due(cw)
        except (KeyError, ValueError, TypeError):
            raise bad_request(f"Invalid due date: {json.dumps(d)}", field="course_work.due_date") from None
        if due is not None and due <= ctx.now:
            raise bad_request("@DueDateInPast The due date and time must be in the future.",
                              field="course_work.due_date")


def cw_for(ctx: Ctx, course_id: str, cw_id: str) -> dict[str, Any]:
    cw = ctx.store.get("courseWork", f"{course_id}/{cw_id}")
    if cw is None:
        raise _not_found()
    return cw


def _cw_view(ctx: Ctx, cw: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in cw.items() if not k.startswith("_")}
    out["associatedWithDeveloper"] = cw["_project"] == ctx.principal.project
    return out


@handler("classroom.courses.courseWork.create")
def coursework_create(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    body = ctx.body
    if not (body.get("title") or "").strip():
        raise bad_request("Course work title is required.", field="course_work.title")
    if body.get("workType") in (None, "COURSE_WORK_TYPE_UNSPECIFIED"):
        raise bad_request("Course work type is required.", field="course_work.work_type")
    if body.get("maxPoints") is not None and float(body["maxPoints"]) < 0:
        raise bad_request("maxPoints must not be negative.", field="course_work.max_points")
    if body.get("topicId") and not ctx.store.get("topic", f"{course['id']}/{body['topicId']}"):
        raise bad_request("@TopicNotFound topicId does not name a topic of this course.", field="course_work.topic_id")
    _check_due(ctx, body)
    now = rfc3339(ctx.now)
    cw: dict[str, Any] = {
        "courseId": course["id"], "id": numeric_id(12), "title": body["title"], "state": body.get("state") or "DRAFT",
        "creationTime": now, "updateTime": now, "workType": body["workType"],
        "creatorUserId": ensure_user(ctx.store, ctx.me)["id"],
        "submissionModificationMode": body.get("submissionModificationMode") or "MODIFIABLE_UNTIL_TURNED_IN",
        **_assignees(ctx, course["id"], body, "course_work"), "_project": ctx.principal.project,
    }
    for key in ("description", "dueDate", "dueTime", "maxPoints", "topicId", "scheduledTime"):
        if body.get(key) is not None:
            cw[key] = body[key]
    materials = _materials(body.get("materials"), "course_work")
    if materials:
        cw["materials"] = materials
    cw["alternateLink"] = f"{ctx.base_url}/classroom.googleapis.com/view/{course['id']}#cw{cw['id']}"
    ctx.store.put("courseWork", f"{course['id']}/{cw['id']}", cw, parent=course["id"])
    sync_submissions(ctx, course["id"], cw)
    _publish_change(ctx, course["id"], "courses.courseWork", "CREATED",
                    {"courseId": course["id"], "id": cw["id"]})
    return _cw_view(ctx, cw)


@handler("classroom.courses.courseWork.get")
def coursework_get(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    return _cw_view(ctx, cw_for(ctx, course["id"], ctx.params["id"]))


@handler("classroom.courses.courseWork.list")
def coursework_list(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    states = ctx.params.get("courseWorkStates") or ["PUBLISHED"]
    teacher = ctx.is_admin() or is_teacher(ctx, course["id"], ctx.me)
    me = ensure_user(ctx.store, ctx.me)["id"]
    rows = []
    for cw in reversed(ctx.store.list("courseWork", course["id"])):
        if cw["state"] not in states:
            continue
        if not teacher and (cw["state"] != "PUBLISHED" or (cw["assigneeMode"] == "INDIVIDUAL_STUDENTS" and me
                                                           not in cw["individualStudentsOptions"]["studentIds"])):
            continue
        rows.append(_cw_view(ctx, cw))
    return page(rows, ctx, "courseWork", default_size=500)


@handler("classroom.courses.courseWork.patch")
def coursework_patch(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    cw = cw_for(ctx, course["id"], ctx.params["id"])
    if cw["_project"] != ctx.principal.project:
        raise _project_denied()
    fields = mask_fields(ctx.params.get("updateMask"), {"title", "description", "state", "dueDate", "dueTime",
                                                        "maxPoints", "scheduledTime", "submissionModificationMode",
                                                        "topicId", "gradingPeriodId"})
    updated = dict(cw)
    for f in fields:
        if ctx.body.get(f) is None:
            updated.pop(f, None)
        else:
            updated[f] = ctx.body[f]
    if cw["state"] == "PUBLISHED" and updated.get("state") == "DRAFT":
        raise failed_precondition("@CannotUnpublish Published course work cannot go back to DRAFT.")
    if {"dueDate", "dueTime"} & set(fields):
        _check_due(ctx, updated)
    updated["updateTime"] = rfc3339(ctx.now)
    ctx.store.put("courseWork", f"{course['id']}/{cw['id']}", updated, parent=course["id"])
    sync_submissions(ctx, course["id"], updated)
    _publish_change(ctx, course["id"], "courses.courseWork", "MODIFIED", {"courseId": course["id"], "id": cw["id"]})
    return _cw_view(ctx, updated)


@handler("classroom.courses.courseWork.modifyAssignees")
def coursework_modify_assignees(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    cw = cw_for(ctx, course["id"], ctx.params["id"])
    if cw["_project"] != ctx.principal.project:
        raise _project_denied()
    mode = ctx.body.get("assigneeMode")
    if mode in (None, "ASSIGNEE_MODE_UNSPECIFIED"):
        raise bad_request("assigneeMode is required.", field="assignee_mode")
    if mode == "ALL_STUDENTS":
        cw["assigneeMode"] = "ALL_STUDENTS"
        cw.pop("individualStudentsOptions", None)
    else:
        opts = ctx.body.get("modifyIndividualStudentsOptions") or {}
        current = list((cw.get("individualStudentsOptions") or {}).get("studentIds", []))
        for ref in opts.get("addStudentIds") or []:
            user = resolve_user(ctx, ref)
            if not is_student(ctx, course["id"], user["email"]):
                raise bad_request(f"@InvalidStudentId {ref} is not a student of this course.",
                                  field="modify_individual_students_options.add_student_ids")
            if user["id"] not in current:
                current.append(user["id"])
        for ref in opts.get("removeStudentIds") or []:
            uid = resolve_user(ctx, ref)["id"]
            current = [c for c in current if c != uid]
        if not current:
            raise bad_request("INDIVIDUAL_STUDENTS needs at least one student.",
                              field="modify_individual_students_options")
        cw["assigneeMode"] = "INDIVIDUAL_STUDENTS"
        cw["individualStudentsOptions"] = {"studentIds": current}
    cw["updateTime"] = rfc3339(ctx.now)
    ctx.store.put("courseWork", f"{course['id']}/{cw['id']}", cw, parent=course["id"])
    sync_submissions(ctx, course["id"], cw)
    return _cw_view(ctx, cw)


# -- submissions ----------------------------------------------------------------------------------------
def sync_submissions(ctx: Ctx, course_id: str, cw: dict[str, Any]) -> None:
    """Every assignee of published work has a submission (as Classroom creates them lazily)."""
    if cw["state"] != "PUBLISHED":
        return
    if cw["assigneeMode"] == "INDIVIDUAL_STUDENTS":
        ids = cw["individualStudentsOptions"]["studentIds"]
    else:
        ids = [s["userId"] for s in ctx.store.list("student", course_id)]
    parent = f"{course_id}/{cw['id']}"
    have = {s["userId"] for s in ctx.store.list("submission", parent)}
    for uid in ids:
        if uid in have:
            continue
        now = rfc3339(ctx.now)
        sub = {"courseId": course_id, "courseWorkId": cw["id"], "id": "Cg" + token_id(14), "userId": uid,
               "creationTime": now, "updateTime": now, "state": "NEW", "courseWorkType": cw["workType"],
               "assignmentSubmission": {}, "_project": cw["_project"],
               "submissionHistory": [{"stateHistory": {"state": "CREATED", "stateTimestamp": now,
                                                       "actorUserId": uid}}]}
        ctx.store.put("submission", f"{parent}/{sub['id']}", sub, parent=parent)


def _sub_view(ctx: Ctx, sub: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in sub.items() if not k.startswith("_")}
    cw = ctx.store.get("courseWork", f"{sub['courseId']}/{sub['courseWorkId']}") or {}
    due = _due(cw) if cw else None
    if "_late" in sub:
        out["late"] = sub["_late"]
    elif due is not None and sub["state"] in ("NEW", "CREATED", "RECLAIMED_BY_STUDENT") and ctx.now > due:
        out["late"] = True
    out["associatedWithDeveloper"] = sub["_project"] == ctx.principal.project
    # StudentSubmission.alternateLink: "Absolute link to the submission in the Classroom web UI" — one
    # per submission, so a ballot's link opens that student's work, not the assignment's
    # (https://developers.google.com/workspace/classroom/reference/rest/v1/courses.courseWork.studentSubmissions).
    out["alternateLink"] = (f"{ctx.base_url}/classroom.googleapis.com/view/{sub['courseId']}"
                            f"#cw{sub['courseWorkId']}-s{sub['id']}")
    if not out.get("assignmentSubmission"):
        out["assignmentSubmission"] = {}
    if not (ctx.is_admin() or is_teacher(ctx, sub["courseId"], ctx.me)):
        # StudentSubmission.draftGrade: "This is only visible to and modifiable by course
        # teachers" (Classroom API reference; the grades guide: "a tentative grade visible only to
        # teachers").  The student sees assignedGrade only.
        out.pop("draftGrade", None)
    return out


def sub_for(ctx: Ctx, course_id: str, cw_id: str, sub_id: str) -> dict[str, Any]:
    sub = ctx.store.get("submission", f"{course_id}/{cw_id}/{sub_id}")
    if sub is None:
        raise _not_found()
    return sub


def save_sub(ctx: Ctx, sub: dict[str, Any], event: str = "MODIFIED") -> None:
    sub["updateTime"] = rfc3339(ctx.now)
    parent = f"{sub['courseId']}/{sub['courseWorkId']}"
    ctx.store.put("submission", f"{parent}/{sub['id']}", sub, parent=parent)
    _publish_change(ctx, sub["courseId"], "courses.courseWork.studentSubmissions", event,
                    {"courseId": sub["courseId"], "courseWorkId": sub["courseWorkId"], "id": sub["id"]})


def _history(sub: dict[str, Any], state: str, ts: str, actor: str) -> None:
    sub.setdefault("submissionHistory", []).append(
        {"stateHistory": {"state": state, "stateTimestamp": ts, "actorUserId": actor}})


@handler("classroom.courses.courseWork.studentSubmissions.list")
def submissions_list(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    teacher = ctx.is_admin() or is_teacher(ctx, course["id"], ctx.me)
    cw_id = ctx.params["courseWorkId"]
    works = ctx.store.list("courseWork", course["id"]) if cw_id == "-" else [cw_for(ctx, course["id"], cw_id)]
    user = resolve_user(ctx, ctx.params["userId"]) if ctx.params.get("userId") else None
    if not teacher:
        me = ensure_user(ctx.store, ctx.me)
        if user and user["id"] != me["id"]:
            raise permission_denied()
        user = me
    states = ctx.params.get("states") or []
    late = ctx.params.get("late")
    rows = []
    for cw in works:
        sync_submissions(ctx, course["id"], cw)
        for sub in ctx.store.list("submission", f"{course['id']}/{cw['id']}"):
            if user and sub["userId"] != user["id"]:
                continue
            view = _sub_view(ctx, sub)
            if states and sub["state"] not in states:
                continue
            if late == "LATE_ONLY" and not view.get("late"):
                continue
            if late == "NOT_LATE_ONLY" and view.get("late"):
                continue
            rows.append(view)
    return page(rows, ctx, "studentSubmissions", default_size=500)


@handler("classroom.courses.courseWork.studentSubmissions.get")
def submissions_get(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    sub = sub_for(ctx, course["id"], ctx.params["courseWorkId"], ctx.params["id"])
    if not (ctx.is_admin() or is_teacher(ctx, course["id"], ctx.me)) and \
            sub["userId"] != ensure_user(ctx.store, ctx.me)["id"]:
        raise _not_found()
    return _sub_view(ctx, sub)


@handler("classroom.courses.courseWork.studentSubmissions.patch")
def submissions_patch(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    sub = sub_for(ctx, course["id"], ctx.params["courseWorkId"], ctx.params["id"])
    if sub["_project"] != ctx.principal.project:
        raise _project_denied()
    fields = mask_fields(ctx.params.get("updateMask"), {"draftGrade", "assignedGrade", "shortAnswerSubmission"})
    for f in fields:
        value = ctx.body.get(f)
        if f in ("draftGrade", "assignedGrade") and value is not None and (
                float(value) < 0 or round(float(value), 2) != float(value)):
            raise bad_request(f"{f} must be non-negative with at most 2 decimal places.",
                              field=f"student_submission.{f}")
        if value is None:
            sub.pop(f, None)
        else:
            sub[f] = value
    if "assignedGrade" in fields and sub.get("assignedGrade") is not None:
        sub.setdefault("submissionHistory", []).append({"gradeHistory": {
            "pointsEarned": sub["assignedGrade"], "gradeTimestamp": rfc3339(ctx.now),
            "actorUserId": ensure_user(ctx.store, ctx.me)["id"],
            "gradeChangeType": "ASSIGNED_GRADE_POINTS_EARNED_CHANGE"}})
    save_sub(ctx, sub)
    return _sub_view(ctx, sub)


def do_turn_in(ctx: Ctx, sub: dict[str, Any], actor_id: str) -> None:
    if sub["state"] in ("TURNED_IN", "RETURNED"):
        raise failed_precondition("@SubmissionNotModifiable The submission is already turned in.")
    cw = ctx.store.get("courseWork", f"{sub['courseId']}/{sub['courseWorkId']}") or {}
    due = _due(cw)
    now = rfc3339(ctx.now)
    sub["state"] = "TURNED_IN"
    sub["_late"] = bool(due is not None and ctx.now > due)
    _history(sub, "TURNED_IN", now, actor_id)
    _transfer_attachments(ctx, sub)
    save_sub(ctx, sub)


def _transfer_attachments(ctx: Ctx, sub: dict[str, Any]) -> None:
    """"Turning in a student submission transfers ownership of attached Drive files to the teacher"
    (https://developers.google.com/workspace/classroom/reference/rest/v1/courses.courseWork.studentSubmissions/turnIn):
    the course's owner, its primary teacher, becomes the owner and the student, the previous owner, a
    writer ("the previous owner's role is downgraded to writer",
    https://developers.google.com/workspace/drive/api/guides/transfer-file).  Google documents nothing
    for the course's other teachers, so the strict reading: they get no Drive permission from this."""
    course = ctx.store.get("course", sub["courseId"]) or {}
    owner = ctx.store.get("user", course.get("ownerId", "")) if course.get("ownerId") else None
    if owner is None:
        return
    new_owner = str(owner["email"]).lower()
    for att in (sub.get("assignmentSubmission") or {}).get("attachments") or []:
        fid = (att.get("driveFile") or {}).get("id")
        doc = ctx.store.get("file", fid) if fid else None
        if doc is None:
            continue
        for perm in doc["permissions"]:
            if perm.get("role") == "owner":
                perm["role"] = "writer"
        mine = next((p for p in doc["permissions"] if p.get("type") == "user"
                     and p.get("emailAddress") == new_owner and not p.get("view")), None)
        if mine is None:
            mine = {"kind": "drive#permission", "id": ensure_perm_id(new_owner), "type": "user",
                    "emailAddress": new_owner, "displayName": new_owner.split("@")[0], "deleted": False,
                    "pendingOwner": False}
            doc["permissions"].append(mine)
        mine["role"] = "owner"
        doc["owners"] = [{"kind": "drive#user", "emailAddress": new_owner, "displayName": new_owner.split("@")[0],
                          "me": False, "permissionId": mine["id"]}]
        doc["shared"] = True
        ctx.store.put("file", doc["id"], doc)


@handler("classroom.courses.courseWork.studentSubmissions.turnIn")
def submissions_turn_in(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    sub = sub_for(ctx, course["id"], ctx.params["courseWorkId"], ctx.params["id"])
    me = ensure_user(ctx.store, ctx.me)["id"]
    if sub["userId"] != me:
        raise permission_denied("Only the student who owns the submission can turn it in.")
    if sub["_project"] != ctx.principal.project:
        raise _project_denied()
    do_turn_in(ctx, sub, me)
    return {}


@handler("classroom.courses.courseWork.studentSubmissions.reclaim")
def submissions_reclaim(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    sub = sub_for(ctx, course["id"], ctx.params["courseWorkId"], ctx.params["id"])
    me = ensure_user(ctx.store, ctx.me)["id"]
    if sub["userId"] != me:
        raise permission_denied()
    if sub["state"] != "TURNED_IN":
        raise failed_precondition("Only a turned-in submission can be reclaimed.")
    sub["state"] = "RECLAIMED_BY_STUDENT"
    _history(sub, "RECLAIMED_BY_STUDENT", rfc3339(ctx.now), me)
    save_sub(ctx, sub)
    return {}


@handler("classroom.courses.courseWork.studentSubmissions.return")
def submissions_return(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"], manage=True)
    sub = sub_for(ctx, course["id"], ctx.params["courseWorkId"], ctx.params["id"])
    if sub["_project"] != ctx.principal.project:
        raise _project_denied()
    # Returning does not publish draftGrade as assignedGrade (Classroom documents this).
    sub["state"] = "RETURNED"
    _history(sub, "RETURNED", rfc3339(ctx.now), ensure_user(ctx.store, ctx.me)["id"])
    save_sub(ctx, sub)
    return {}


def add_attachments(ctx: Ctx, sub: dict[str, Any], attachments: list[dict[str, Any]]) -> None:
    if sub["state"] in ("TURNED_IN", "RETURNED"):
        raise failed_precondition("@SubmissionNotModifiable Attachments cannot change after turn-in.")
    current = sub.setdefault("assignmentSubmission", {}).setdefault("attachments", [])
    current.extend(attachments)
    if sub["state"] == "NEW":
        sub["state"] = "CREATED"
    save_sub(ctx, sub)


@handler("classroom.courses.courseWork.studentSubmissions.modifyAttachments")
def submissions_modify_attachments(ctx: Ctx) -> dict[str, Any]:
    course = course_for(ctx, ctx.params["courseId"])
    sub = sub_for(ctx, course["id"], ctx.params["courseWorkId"], ctx.params["id"])
    if sub["_project"] != ctx.principal.project:
        raise _project_denied()
    if sub["userId"] != ensure_user(ctx.store, ctx.me)["id"]:
        # PERMISSION_DENIED "if the user is not permitted to modify attachments on the requested student
        # submission"; the reference grants no teacher that right, so only the owner may (stricter reading;
        # https://developers.google.com/classroom/reference/rest/v1/courses.courseWork.studentSubmissions/modifyAttachments).
        raise permission_denied("Only the student can change a submission's attachments.")
    items = []
    for att in ctx.body.get("addAttachments") or []:
        if att.get("driveFile"):
            f = ctx.store.get("file", att["driveFile"].get("id", ""))
            if f is None:
                raise bad_request("@AttachmentNotVisible The Drive file was not found.", field="add_attachments")
            items.append({"driveFile": {"id": f["id"], "title": f["name"], "alternateLink": f["webViewLink"]}})
        elif att.get("link"):
            items.append({"link": {"url": att["link"]["url"]}})
        elif att.get("youTubeVideo"):
            items.append({"youTubeVideo": att["youTubeVideo"]})
    add_attachments(ctx, sub, items)
    return _sub_view(ctx, sub)


# -- push registrations ---------------------------------------------------------------------------------
_FEED_SCOPES = {
    "COURSE_WORK_CHANGES": ("classroom.coursework.students", "classroom.coursework.students.readonly"),
    "COURSE_ROSTER_CHANGES": ("classroom.rosters", "classroom.rosters.readonly"),
    "DOMAIN_ROSTER_CHANGES": ("classroom.rosters", "classroom.rosters.readonly"),
}


@handler("classroom.registrations.create")
def registrations_create(ctx: Ctx) -> dict[str, Any]:
    if ctx.principal.delegated or ctx.principal.service_account:
        # Classroom documents that domain-wide delegation is not supported for push registrations.
        raise permission_denied("@DomainWideDelegationNotSupported Domain-wide delegation is not currently "
                                "supported for push notifications; use a user OAuth grant.")
    feed = ctx.body.get("feed") or {}
    ftype = feed.get("feedType")
    if ftype not in _FEED_SCOPES:
        raise bad_request("feed.feed_type is required.", field="registration.feed.feed_type")
    if not any(SCOPE + s in ctx.principal.scopes for s in _FEED_SCOPES[ftype]):
        raise ApiError(403, "Request had insufficient authentication scopes.", reason="insufficientPermissions",
                       details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                 "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com"}])
    course_id = None
    if ftype != "DOMAIN_ROSTER_CHANGES":
        info = feed.get("courseWorkChangesInfo" if ftype == "COURSE_WORK_CHANGES" else "courseRosterChangesInfo")
        course = course_for(ctx, (info or {}).get("courseId") or "", manage=True)
        course_id = course["id"]
        feed = {"feedType": ftype, ("courseWorkChangesInfo" if ftype == "COURSE_WORK_CHANGES"
                                    else "courseRosterChangesInfo"): {"courseId": course_id}}
    elif not ctx.is_admin():
        raise permission_denied()
    topic = ((ctx.body.get("cloudPubsubTopic") or {}).get("topicName")) or ""
    if not topic.startswith("projects/") or "/topics/" not in topic:
        raise bad_request("cloudPubsubTopic.topicName must be projects/{project}/topics/{topic}.",
                          field="registration.cloud_pubsub_topic.topic_name")
    # An identical create renews the registration.
    for reg in ctx.store.list("registration"):
        if reg["feed"] == feed and reg["cloudPubsubTopic"]["topicName"] == topic and reg["_owner"] == ctx.me:
            reg["expiryTime"] = rfc3339(ctx.now + REGISTRATION_LIFETIME)
            ctx.store.put("registration", reg["registrationId"], reg, parent=course_id)
            return {k: v for k, v in reg.items() if not k.startswith("_")}
    reg = {"registrationId": token_id(24), "feed": feed, "cloudPubsubTopic": {"topicName": topic},
           "expiryTime": rfc3339(ctx.now + REGISTRATION_LIFETIME), "_owner": ctx.me,
           "_project": ctx.principal.project}
    ctx.store.put("registration", reg["registrationId"], reg, parent=course_id)
    return {k: v for k, v in reg.items() if not k.startswith("_")}


@handler("classroom.registrations.delete")
def registrations_delete(ctx: Ctx) -> dict[str, Any]:
    reg = ctx.store.get("registration", ctx.params["registrationId"])
    if reg is None or reg["_owner"] != ctx.me:
        raise _not_found()
    ctx.store.delete("registration", reg["registrationId"])
    return {}


def _publish_change(ctx: Ctx, course_id: str, collection: str, event: str, resource: dict[str, str], *,
                    feed: str = "COURSE_WORK_CHANGES") -> None:
    for reg in ctx.store.list("registration", course_id):
        if reg["feed"]["feedType"] != feed or parse_rfc3339(reg["expiryTime"]) <= ctx.now:
            continue
        data = json.dumps({"collection": collection, "eventType": event, "resourceId": resource}).encode()
        topic = reg["cloudPubsubTopic"]["topicName"]
        attrs = {"registrationId": reg["registrationId"]}
        ctx.events.append(functools.partial(ctx.sandbox.publish, topic, data, attrs))
