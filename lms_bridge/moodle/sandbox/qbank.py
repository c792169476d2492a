"""Question banks as Moodle 5.x keeps them, and where the companion plugin finds the Tickets category.

From 5.0 question categories live only in module contexts: a quiz's own bank or a ``mod_qbank`` instance.
The upgrade to 5.0 runs ``\\mod_qbank\\task\\transfer_question_categories``
(public/mod/qbank/classes/task/transfer_question_categories.php): for each course whose context holds
categories it makes a "<shortname> shared question bank" (a qbank module of the course), moves the
categories under a new top there (their ids stay, so random slots keep drawing from them), and deletes a
top category left without subcategories (the quiz's own, when its only category was moved).
"""

from __future__ import annotations

from typing import Any

from lms_bridge.moodle.sandbox.world import _new_cm, _new_qcat

TICKETS_IDNUMBER = "lmsbridge-tickets"


def course_qbanks(state: dict[str, Any], courseid: int) -> list[dict[str, Any]]:
    """The course's question-bank modules (mod_qbank), oldest first."""
    return sorted((cm for cm in state["cms"].values() if cm["course"] == courseid and cm["modname"] == "qbank"),
                  key=lambda cm: cm["id"])


def default_qbank(state: dict[str, Any], course: dict[str, Any]) -> dict[str, Any]:
    """question_bank_helper::get_default_open_instance_system_type($course, true): made when missing."""
    banks = course_qbanks(state, course["id"])
    if banks:
        return banks[0]
    cm = _new_cm(state, course["id"], "qbank", 1 + sum(1 for c in state["cms"].values() if c["modname"] == "qbank"))
    cm["name"] = f"{course.get('shortname', '')} shared question bank"
    return cm


def transfer_course_categories(state: dict[str, Any], courseid: int) -> dict[str, Any]:
    """What transfer_question_categories does to one course's question bank."""
    course = state["courses"][str(courseid)]
    ctx = course["contextid"]
    cats = [c for c in state["qcats"].values() if c["contextid"] == ctx]
    moved: list[int] = []
    bank = None
    if any(c.get("parent") for c in cats):
        bank = default_qbank(state, course)
        top = _new_qcat(state, "top", bank["contextid"])
        old_tops = {c["id"] for c in cats if not c.get("parent")}
        for c in cats:
            if c["id"] in old_tops:
                continue
            c["contextid"] = bank["contextid"]
            if c["parent"] in old_tops:
                c["parent"] = top["id"]
            moved.append(c["id"])
    # Tops without subcategories go, in the course and in its modules (the quiz's, emptied above).
    module_ctxs = {cm["contextid"] for cm in state["cms"].values() if cm["course"] == courseid}
    for c in list(state["qcats"].values()):
        if c["contextid"] in module_ctxs | {ctx} and not c.get("parent") and not any(
                o.get("parent") == c["id"] for o in state["qcats"].values()):
            del state["qcats"][str(c["id"])]
    return {"qbankcmid": bank["id"] if bank else None, "contextid": bank["contextid"] if bank else None,
            "moved": moved}


def tickets_category(state: dict[str, Any], quiz: dict[str, Any]) -> dict[str, Any] | None:
    """The plugin's tickets::find_category: the Tickets category the quiz's random slots draw from, else the
    one in the quiz's context, the course's context (4.5), or a question bank of the course (5.x)."""
    by_id = state["qcats"]
    for slot in quiz["slots"]:
        cat = by_id.get(str(slot.get("categoryid")))
        if slot.get("type") == "random" and cat is not None and cat.get("idnumber") == TICKETS_IDNUMBER:
            return cat
    course = state["courses"][str(quiz["course"])]
    places = [state["cms"][str(quiz["coursemodule"])]["contextid"], course["contextid"],
              *(cm["contextid"] for cm in course_qbanks(state, course["id"]))]
    for ctx in places:
        cat = next((c for c in sorted(by_id.values(), key=lambda c: c["id"])
                    if c["contextid"] == ctx and c.get("idnumber") == TICKETS_IDNUMBER), None)
        if cat is not None:
            return cat
    return None


def ticket_slot(state: dict[str, Any], quiz: dict[str, Any], category: dict[str, Any]) -> dict[str, Any] | None:
    """The plugin's tickets::ticket_slots: a random slot drawing from any Tickets category, ``category``'s first."""
    slots = [s for s in quiz["slots"] if s.get("type") == "random"]
    mine = [s for s in slots if s.get("categoryid") == category["id"]]
    others = [s for s in slots
              if (state["qcats"].get(str(s.get("categoryid"))) or {}).get("idnumber") == TICKETS_IDNUMBER]
    return (mine or others or [None])[0]


def category_options(state: dict[str, Any], contexts: list[tuple[int, str]]) -> str:
    """The "Parent category" select of mod_quiz's add_random_question_form, as 4.5 and 5.1 render it
    (captured core_get_fragment): one optgroup per context, every non-top category as
    ``<option value="id,contextid">name [idnumber] (questions)</option>`` (question/bank/managecategories
    helper::question_category_options with the strings categorynamewith{idnumber,count,idnumberandcount})."""
    import html

    groups = []
    for ctx, label in contexts:
        options = []
        for c in sorted(state["qcats"].values(), key=lambda c: c["id"]):
            if c["contextid"] != ctx or not c.get("parent"):
                continue
            count = sum(1 for q in state["questions"].values() if q["category"] == c["id"] and not q.get("hidden"))
            name = html.escape(c["name"])
            if c.get("idnumber"):
                name += f" [{html.escape(c['idnumber'])}]"
            if count:
                name += f" ({count})"
            options.append(f'<option value="{c["id"]},{ctx}">{name}</option>')
        if options:
            groups.append(f'<optgroup label="{html.escape(label)}">{"".join(options)}</optgroup>')
    return f'<select id="parentcategory" name="parentcategory" class="form-control">{"".join(groups)}</select>'
