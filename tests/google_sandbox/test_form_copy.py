"""A Drive copy of a prepared form (the session's ballot template), as the sandbox models it.

Google documents duplicating a form with Drive's files.copy "to reuse content", and files.copy as
creating a copy and applying the body's fields with patch semantics.  It does not say whether item
and question IDs, the publish state, responses, watches or sharing carry over; the sandbox takes
the strict reading of each (docs/google-fidelity.md), and these tests hold it to that."""

from __future__ import annotations

from .conftest import Google
from .test_forms_drive import MEMBER, make_form, publish, vote


def _ids(form: dict) -> set[str]:
    return {i["itemId"] for i in form["items"]} | {i["questionItem"]["question"]["questionId"] for i in form["items"]}


def test_a_copy_keeps_the_questions_with_new_ids_and_starts_unpublished_unshared_and_empty(google: Google) -> None:
    forms, template_id, _questions = make_form(google)
    drive = google.service("drive", "drive.file")
    drive.files().update(fileId=template_id, body={"appProperties": {"kind": "template", "session": "S1"}}).execute()
    publish(forms, template_id)
    drive.permissions().create(fileId=template_id, body={"role": "reader", "type": "user", "emailAddress": MEMBER,
                                                         "view": "published"}, sendNotificationEmail=False).execute()
    assert vote(google, template_id, MEMBER, {"Grade": "5"}).status_code == 200
    forms.forms().watches().create(formId=template_id, body={"watch": {
        "target": {"topic": {"topicName": "projects/p/topics/t"}}, "eventType": "RESPONSES"}}).execute()

    copied = drive.files().copy(fileId=template_id, fields="id,name,mimeType,appProperties", body={
        "name": "S1 · 2101 · Асанов", "appProperties": {"kind": "form", "student": "2101"}}).execute()
    assert copied["name"] == "S1 · 2101 · Асанов"
    assert copied["mimeType"] == "application/vnd.google-apps.form"
    # Patch semantics: the body's keys over the source's.
    assert copied["appProperties"] == {"kind": "form", "session": "S1", "student": "2101"}

    form = forms.forms().get(formId=copied["id"]).execute()
    source = forms.forms().get(formId=template_id).execute()
    assert form["info"]["title"] == source["info"]["title"]
    assert form["info"]["documentTitle"] == "S1 · 2101 · Асанов"
    assert form["settings"] == source["settings"]
    assert [i["title"] for i in form["items"]] == [i["title"] for i in source["items"]]
    assert [i["questionItem"]["question"]["choiceQuestion"] for i in form["items"][:1]] == \
        [i["questionItem"]["question"]["choiceQuestion"] for i in source["items"][:1]]
    assert not _ids(form) & _ids(source)  # the copy's own IDs: read them, never assume the template's
    assert form["publishSettings"]["publishState"] == {"isPublished": False, "isAcceptingResponses": False}
    assert forms.forms().responses().list(formId=copied["id"]).execute().get("responses", []) == []
    assert forms.forms().watches().list(formId=copied["id"]).execute().get("watches", []) == []
    perms = drive.permissions().list(fileId=copied["id"], fields="permissions(emailAddress,role,view)").execute()
    assert [p["role"] for p in perms["permissions"]] == ["owner"]
    assert vote(google, copied["id"], MEMBER, {"Grade": "5"}).status_code in (400, 403)


def test_a_copy_made_a_ballot_takes_votes_on_its_own_question_ids(google: Google) -> None:
    forms, template_id, _ = make_form(google)
    drive = google.service("drive", "drive.file")
    copied = drive.files().copy(fileId=template_id, body={"name": "ballot 2"}).execute()
    reply = forms.forms().batchUpdate(formId=copied["id"], body={"includeFormInResponse": True, "requests": [
        {"updateFormInfo": {"info": {"title": "Vote: Асанов", "description": "Ballot for Асанов"},
                            "updateMask": "title,description"}}]}).execute()
    grade_q = reply["form"]["items"][0]["questionItem"]["question"]["questionId"]
    assert reply["form"]["info"]["title"] == "Vote: Асанов"
    publish(forms, copied["id"])
    drive.permissions().create(fileId=copied["id"], body={"role": "reader", "type": "user", "emailAddress": MEMBER,
                                                          "view": "published"}, sendNotificationEmail=False).execute()
    assert vote(google, copied["id"], MEMBER, {grade_q: "4"}).status_code == 200
    listed = forms.forms().responses().list(formId=copied["id"]).execute()["responses"]
    assert [r["answers"][grade_q]["textAnswers"]["answers"][0]["value"] for r in listed] == ["4"]
    # The template itself got nothing.
    assert forms.forms().responses().list(formId=template_id).execute().get("responses", []) == []
