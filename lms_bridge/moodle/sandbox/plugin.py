"""The companion plugin's functions (local_lmsbridge_*), as ``local_lmsbridge/`` implements them."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import EXC_MOODLE, MoodleException, invalid_parameter
from lms_bridge.moodle.sandbox.qbank import ticket_slot, tickets_category
from lms_bridge.moodle.sandbox.world import _new_assign, _new_qcat, _new_quiz, _next, _now


class PluginFunctions(SandboxBase):
    # Provided by ActorApi (both are mixed into MoodleSandbox): a new attempt with a given ticket question.
    _begin_attempt: Callable[[dict[str, Any], dict[str, Any], dict[str, Any], int], dict[str, Any]]

    def _plugin_course(self, state: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        c = state["courses"].get(str(p["courseid"])) if p["courseid"] else next(
            (
                c
                for c in state["courses"].values()
                if p["courseidnumber"] and c.get("idnumber") == p["courseidnumber"]
            ),
            None,
        )
        if c is None:
            raise MoodleException(EXC_MOODLE, "coursenotfound",
                                  f"No course with id {p['courseid']} or idnumber \"{p['courseidnumber']}\".")
        return c

    def fn_local_lmsbridge_setup_tickets(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = self._plugin_course(state, p)
        numbers = [t["number"] for t in p["tickets"]]
        for n in numbers:
            if numbers.count(n) > 1:
                raise MoodleException(EXC_MOODLE, "duplicateticket", f"Ticket number {n} appears more than once.")
        if not p["tickets"]:
            raise invalid_parameter("tickets => the ticket bank is empty")
        quiz = next(
            (
                q
                for q in state["quizzes"].values()
                if q["course"] == course["id"]
                and state["cms"][str(q["coursemodule"])].get("idnumber") == p["quizidnumber"]
            ),
            None,
        )
        quizcreated = quiz is None
        if quiz is None:
            quiz = _new_quiz(state, course["id"], p["quizname"] or "Ticket", timelimit=p["timelimit"], grade=0.0,
                             intro="Start the attempt to draw your examination ticket.")
            state["cms"][str(quiz["coursemodule"])]["idnumber"] = p["quizidnumber"]
        ctx = state["cms"][str(quiz["coursemodule"])]["contextid"]
        # Wherever it is: drawn from by a slot, in the quiz's or the course's context, or in a question bank
        # of the course, where the upgrade to 5.x moves a course-level category (local_lmsbridge tickets.php).
        cat = tickets_category(state, quiz)
        categorycreated = cat is None
        if cat is None:
            # Under the context's top category, made first when missing (question_get_top_category).
            top = next((c for c in state["qcats"].values() if c["contextid"] == ctx and not c.get("parent")),
                       None) or _new_qcat(state, "top", ctx)
            cat = _new_qcat(state, "Tickets", ctx, top["id"], idnumber="lmsbridge-tickets")
        out_tickets = []
        wanted = {t["number"] for t in p["tickets"]}
        for t in p["tickets"]:
            idnumber = f"ticket-{t['number']}"
            text = "<ol>" + "".join(f"<li>{html.escape(x)}</li>" for x in t["questions"]) + "</ol>"
            name = t["name"] or f"Ticket {t['number']}"
            q = next(
                (
                    q
                    for q in state["questions"].values()
                    if q["category"] == cat["id"] and q["idnumber"] == idnumber
                ),
                None,
            )
            if q is None:
                qid = _next(state, "question")
                q = {
                    "id": qid,
                    "category": cat["id"],
                    "idnumber": idnumber,
                    "name": name,
                    "qtype": "essay",
                    "questiontext": text,
                    "hidden": 0,
                    "entry": qid,
                }
                state["questions"][str(qid)] = q
                status = "created"
            elif (q["name"], q["questiontext"], q.get("hidden", 0)) != (name, text, 0):
                # A changed ticket is a new version of the same question bank entry.
                qid = _next(state, "question")
                q.update(hidden=1, idnumber=f"{idnumber}#v{q['id']}")
                q = {**q, "id": qid, "name": name, "questiontext": text, "hidden": 0, "idnumber": idnumber}
                state["questions"][str(qid)] = q
                status = "updated"
            else:
                status = "unchanged"
            out_tickets.append(
                {
                    "number": t["number"],
                    "idnumber": idnumber,
                    "questionid": q["id"],
                    "questionbankentryid": q.get("entry", q["id"]),
                    "status": status,
                }
            )
        for q in state["questions"].values():
            m = re.fullmatch(r"ticket-(\d+)", q.get("idnumber") or "")
            if q["category"] == cat["id"] and m and int(m.group(1)) not in wanted and not q.get("hidden"):
                q["hidden"] = 1
                out_tickets.append(
                    {
                        "number": int(m.group(1)),
                        "idnumber": q["idnumber"],
                        "questionid": q["id"],
                        "questionbankentryid": q.get("entry", q["id"]),
                        "status": "hidden",
                    }
                )
        # Never a second ticket slot: one drawing from any Tickets category is kept.
        slot = ticket_slot(state, quiz, cat)
        slotcreated = slot is None
        if slot is None:
            slot = {
                "slot": len(quiz["slots"]) + 1,
                "page": 1,
                "type": "random",
                "categoryid": cat["id"],
                "slotid": 500 + quiz["id"] * 10 + len(quiz["slots"]),
                "filtercondition": {
                    "filter": {
                        "category": {
                            "jointype": 1,
                            "values": [cat["id"]],
                            "filteroptions": {"includesubcategories": False},
                        }
                    }
                },
            }
            quiz["slots"].append(slot)
            quiz["sumgrades"] = float(len(quiz["slots"]))
        # Closed to everyone (examroom::close_quiz): closed since a minute ago unless closed already; an
        # admitted student gets a user override (local_lmsbridge_open_ticket).
        now = _now()
        closes, opens = quiz.get("timeclose") or 0, quiz.get("timeopen") or 0
        # Not an open time in the future: 5.x makes attempts ahead of time for a quiz that opens soon.
        quizclosed = not (opens == 0 and closes and closes <= now)
        if quizclosed:
            quiz.update(timeopen=0, timeclose=now - 60)
        self._managed(state, course["id"])
        changed = (
            quizcreated
            or categorycreated
            or slotcreated
            or quizclosed
            or any(t["status"] != "unchanged" for t in out_tickets)
        )
        return {
            "courseid": course["id"],
            "cmid": quiz["coursemodule"],
            "quizid": quiz["id"],
            "quizcreated": quizcreated,
            "categoryid": cat["id"],
            "categorycontextid": cat["contextid"],
            "categorycreated": categorycreated,
            "slotid": slot.get("slotid", slot["slot"]),
            "slot": slot["slot"],
            "slotcreated": slotcreated,
            "changed": changed,
            "tickets": out_tickets,
        }

    def fn_local_lmsbridge_get_drawn_tickets(
        self, state: dict[str, Any], p: dict[str, Any], base: str
    ) -> Any:
        quiz = self._quiz(state, p["quizid"])
        out = []
        for a in sorted(state["attempts"].values(), key=lambda a: a["id"]):
            if a["quiz"] != quiz["id"] or (p["userid"] and a["userid"] != p["userid"]):
                continue
            q = state["questions"].get(str(a.get("questionid")), {})
            m = re.fullmatch(r"ticket-(\d+)", q.get("idnumber") or "")
            out.append(
                {
                    "attemptid": a["id"],
                    "userid": a["userid"],
                    "attempt": a["attempt"],
                    "state": a["state"],
                    "preview": False,
                    "timestart": a["timestart"],
                    "timefinish": a["timefinish"],
                    "ticketnumber": int(m.group(1)) if m else 0,
                    "ticketidnumber": q.get("idnumber") or "" if m else "",
                    "questionid": q.get("id", 0),
                }
            )
        return {"quizid": quiz["id"], "cmid": quiz["coursemodule"], "attempts": out}

    def fn_local_lmsbridge_ensure_result_assignment(
        self, state: dict[str, Any], p: dict[str, Any], base: str
    ) -> Any:
        course = self._plugin_course(state, p)
        a = next(
            (
                a
                for a in state["assigns"].values()
                if a["course"] == course["id"]
                and state["cms"][str(a["cmid"])].get("idnumber") == p["idnumber"]
            ),
            None,
        )
        self._managed(state, course["id"])
        created = a is None
        if a is None:
            a = _new_assign(
                state,
                course["id"],
                p["name"] or "Commission result",
                nosubmissions=1,
                grade=p["grademax"],
                intro="The attestation commission's decision, written by lms_bridge.",
                markingworkflow=int(p["markingworkflow"]),
            )
            state["cms"][str(a["cmid"])]["idnumber"] = p["idnumber"]
        key = f"{course['id']}:{a['cmid']}:0"
        if key not in state["gradeitems"]:
            state["gradeitems"][key] = {
                "id": _next(state, "gradeitem"),
                "courseid": course["id"],
                "cmid": a["cmid"],
                "itemname": a["name"],
                "grademax": float(a["grade"]),
                "grademin": 0.0,
                "locked": 0,
            }
        return {
            "courseid": course["id"],
            "cmid": a["cmid"],
            "assignid": a["id"],
            "created": created,
            "grademax": float(a["grade"]),
            "gradeitemid": state["gradeitems"][key]["id"],
            "markingworkflow": bool(a.get("markingworkflow")),
        }

    def fn_local_lmsbridge_open_ticket(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        """examroom::open_ticket: a user override for the student's window, then the student's attempt
        started with the drawn ticket forced into the random slot (quiz_prepare_and_start_new_attempt's
        forced questions); never a ticket Moodle picks."""
        quiz = self._quiz(state, p["quizid"])
        cm = state["cms"][str(quiz["coursemodule"])]
        user = self._user(state, p["userid"])
        if p["timeclose"] <= p["timeopen"]:
            raise MoodleException(EXC_MOODLE, "closebeforeopen",
                                  "You have specified a close date before the open date.")
        cat = tickets_category(state, quiz)
        if cat is None:
            raise MoodleException(EXC_MOODLE, "notaticketquiz",
                                  f"Quiz {quiz['id']} has no Tickets question category made by lms_bridge.")
        if not active_student(state, quiz["course"], user["id"]):
            raise MoodleException(EXC_MOODLE, "notenrolledactive",
                                  f"User {user['id']} is not an active student of the course (not enrolled, or the "
                                  "enrolment is suspended): no ticket is opened.")
        idnumber = f"ticket-{p['ticketnumber']}"
        question = next((q for q in state["questions"].values() if q["category"] == cat["id"]
                         and q["idnumber"] == idnumber and not q.get("hidden")), None)
        if question is None:
            raise MoodleException(EXC_MOODLE, "ticketnotfound",
                                  f"Ticket {p['ticketnumber']} is not a drawable question of the Tickets category.")
        slot = ticket_slot(state, quiz, cat)
        if slot is None:
            raise MoodleException(EXC_MOODLE, "noticketslot",
                                  f"Quiz {quiz['id']} has no random slot drawing from its Tickets category.")
        override = next((o for o in state["overrides"].values()
                         if o["quiz"] == quiz["id"] and o["userid"] == user["id"]), None)
        if override is None:
            oid = _next(state, "override")
            override = {"id": oid, "quiz": quiz["id"], "userid": user["id"], "groupid": None, "timelimit": None,
                        "password": None}
            state["overrides"][str(oid)] = override
        override.update(timeopen=p["timeopen"], timeclose=p["timeclose"], attempts=1)
        self._managed(state, quiz["course"])
        # 5.x may have made an attempt ahead of time (notstarted) with a question Moodle picked; the student has
        # not seen it: it is deleted (quiz_delete_attempt) and the attempt begins with the drawn ticket.
        for a in [a for a in state["attempts"].values()
                  if a["quiz"] == quiz["id"] and a["userid"] == user["id"] and a["state"] == "notstarted"]:
            del state["attempts"][str(a["id"])]
        mine = sorted((a for a in state["attempts"].values() if a["quiz"] == quiz["id"] and a["userid"] == user["id"]),
                      key=lambda a: a["attempt"])
        created = False
        if mine:
            attempt = mine[-1]
            held = state["questions"].get(str(attempt.get("questionid")), {})
            if held.get("entry", held.get("id")) != question.get("entry", question["id"]):
                raise MoodleException(EXC_MOODLE, "ticketmismatch",
                                      f"The student already has attempt {attempt['id']} with another ticket than "
                                      f"ticket {p['ticketnumber']}; it is never replaced.")
        else:
            attempt = self._begin_attempt(state, quiz, user, question["id"])
            created = True
        return {
            "quizid": quiz["id"], "cmid": cm["id"], "userid": user["id"], "ticketnumber": p["ticketnumber"],
            "questionid": attempt["questionid"], "slot": slot["slot"], "attemptid": attempt["id"],
            "state": attempt["state"], "created": created, "overrideid": override["id"],
            "timeopen": p["timeopen"], "timeclose": p["timeclose"],
        }


def active_student(state: dict[str, Any], courseid: int, userid: int) -> bool:
    """is_enrolled(..., onlyactive=true) for a student: an enrolment not suspended."""
    return any(e["courseid"] == courseid and e["userid"] == userid and not e.get("status")
               for e in state["enrolments"])
