"""Forms and Drive through the real client: the per-student voting form's whole life."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from googleapiclient.errors import HttpError

from .conftest import SECRETARY, Clock, Google, start

MEMBER = "member1@uni.edu.kz"


def make_form(google: Google) -> tuple[object, str, list[str]]:
    # With drive.file on the creating token the form is this app's own file, which drive.file may share.
    forms = google.service("forms", "forms.body", "drive.file")
    form = forms.forms().create(body={"info": {"title": "Оценка: Асанов", "documentTitle": "Асанов"}}).execute()
    assert form["publishSettings"]["publishState"] == {"isPublished": False, "isAcceptingResponses": False}
    res = forms.forms().batchUpdate(formId=form["formId"], body={"requests": [
        {"updateSettings": {"settings": {"emailCollectionType": "VERIFIED"}, "updateMask": "emailCollectionType"}},
        {"createItem": {"location": {"index": 0}, "item": {"title": "Grade", "questionItem": {"question": {
            "required": True, "choiceQuestion": {"type": "RADIO", "options": [{"value": "5"}, {"value": "4"}]}}}}}},
        {"createItem": {"location": {"index": 1}, "item": {"title": "Comment", "questionItem": {"question": {
            "textQuestion": {"paragraph": True}}}}}},
    ]}).execute()
    qids = [r["createItem"]["questionId"][0] for r in res["replies"][1:]]
    return forms, form["formId"], qids


def publish(forms: object, form_id: str, accepting: bool = True) -> dict:
    return forms.forms().setPublishSettings(formId=form_id, body={  # type: ignore[attr-defined]
        "publishSettings": {"publishState": {"isPublished": True, "isAcceptingResponses": accepting}},
        "updateMask": "publishState"}).execute()


def vote(google: Google, form_id: str, email: str, answers: dict) -> requests.Response:
    return requests.post(f"{google.url}/_actor/forms/{form_id}/responses", json={"email": email, "answers": answers},
                         timeout=10)


def test_create_update_publish_share_and_vote(google: Google) -> None:
    forms, form_id, (grade_q, comment_q) = make_form(google)
    got = forms.forms().get(formId=form_id).execute()
    assert got["settings"]["emailCollectionType"] == "VERIFIED"
    assert [i["title"] for i in got["items"]] == ["Grade", "Comment"]
    assert got["items"][0]["questionItem"]["question"]["questionId"] == grade_q

    drive = google.service("drive", "drive.file")
    # Responders can be added only once the form is published.
    with pytest.raises(HttpError) as exc:
        drive.permissions().create(fileId=form_id, body={"role": "reader", "type": "user", "emailAddress": MEMBER,
                                                         "view": "published"}, sendNotificationEmail=False).execute()
    assert exc.value.status_code == 400
    with pytest.raises(HttpError):
        # accepting without published is an error
        forms.forms().setPublishSettings(formId=form_id, body={"publishSettings": {"publishState": {
            "isPublished": False, "isAcceptingResponses": True}}, "updateMask": "publishState"}).execute()
    assert vote(google, form_id, SECRETARY, {"Grade": "5"}).status_code == 400  # not accepting yet
    publish(forms, form_id)
    perm = drive.permissions().create(fileId=form_id, body={"role": "reader", "type": "user", "emailAddress": MEMBER,
                                                            "view": "published"}, sendNotificationEmail=False,
                                      fields="id,role,view,emailAddress").execute()
    assert perm["view"] == "published"
    perms = drive.permissions().list(fileId=form_id, fields="permissions(emailAddress,role,view)").execute()
    assert {"emailAddress": MEMBER, "role": "reader", "view": "published"} in perms["permissions"]

    assert vote(google, form_id, "stranger@uni.edu.kz", {"Grade": "5"}).status_code == 403
    assert vote(google, form_id, MEMBER, {"Grade": "7"}).status_code == 400  # not an option
    assert vote(google, form_id, MEMBER, {"Comment": "x"}).status_code == 400  # required grade missing
    r = vote(google, form_id, MEMBER, {grade_q: "4", "Comment": "Жақсы"})
    assert r.status_code == 200, r.text
    reader = google.service("forms", "forms.responses.readonly")
    responses = reader.forms().responses().list(formId=form_id).execute()["responses"]
    assert len(responses) == 1
    assert responses[0]["respondentEmail"] == MEMBER
    assert responses[0]["answers"][grade_q]["textAnswers"]["answers"] == [{"value": "4"}]
    one = reader.forms().responses().get(formId=form_id, responseId=responses[0]["responseId"]).execute()
    assert one["answers"][comment_q]["textAnswers"]["answers"][0]["value"] == "Жақсы"

    # Closing the form stops voting.
    publish(forms, form_id, accepting=False)
    assert vote(google, form_id, MEMBER, {"Grade": "5"}).status_code == 400


def test_create_accepts_only_the_title(google: Google) -> None:
    forms = google.service("forms", "forms.body")
    with pytest.raises(HttpError) as exc:
        forms.forms().create(body={"info": {"title": "T", "description": "d"}}).execute()
    assert exc.value.status_code == 400
    with pytest.raises(HttpError):
        forms.forms().create(body={"info": {"title": "T"}, "items": [{"title": "Q"}]}).execute()


def test_batch_update_is_all_or_nothing(google: Google) -> None:
    forms, form_id, _ = make_form(google)
    before = forms.forms().get(formId=form_id).execute()
    with pytest.raises(HttpError):
        forms.forms().batchUpdate(formId=form_id, body={"requests": [
            {"updateFormInfo": {"info": {"title": "Changed"}, "updateMask": "title"}},
            {"createItem": {"location": {"index": 99}, "item": {"title": "Late", "textItem": {}}}},
        ]}).execute()
    after = forms.forms().get(formId=form_id).execute()
    assert after == before


def test_responses_filter_by_timestamp_and_pagination(tmp_path) -> None:
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp())
    google, server = start(tmp_path, clock=clock)
    try:
        forms, form_id, _ = make_form(google)
        publish(forms, form_id)
        google.service("drive", "drive.file").permissions().create(
            fileId=form_id, body={"role": "reader", "type": "user", "emailAddress": MEMBER, "view": "published"},
        ).execute()
        for _minute in range(3):
            clock.now += 60
            assert vote(google, form_id, MEMBER, {"Grade": "5"}).status_code == 200
        reader = google.service("forms", "forms.responses.readonly")
        cut = (datetime.fromtimestamp(clock.now - 60, UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        later = reader.forms().responses().list(formId=form_id, filter=f"timestamp > {cut}").execute()
        assert len(later["responses"]) == 1
        same = reader.forms().responses().list(formId=form_id, filter=f"timestamp >= {cut}").execute()
        assert len(same["responses"]) == 2
        first = reader.forms().responses().list(formId=form_id, pageSize=2).execute()
        rest = reader.forms().responses().list(formId=form_id, pageSize=2, pageToken=first["nextPageToken"]).execute()
        assert len(first["responses"]) + len(rest["responses"]) == 3
        assert "nextPageToken" not in rest
        with pytest.raises(HttpError) as exc:
            reader.forms().responses().list(formId=form_id, filter="createTime > 2026-01-01T00:00:00Z").execute()
        assert exc.value.status_code == 400
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_watches_one_per_event_type_renew_and_expiry(tmp_path) -> None:
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp())
    google, server = start(tmp_path, clock=clock)
    try:
        _, form_id, _ = make_form(google)
        watcher = google.service("forms", "forms.responses.readonly")
        body = {"watch": {"target": {"topic": {"topicName": "projects/lms/topics/attestation"}},
                          "eventType": "RESPONSES"}}
        w = watcher.forms().watches().create(formId=form_id, body=body).execute()
        expire = datetime.fromisoformat(w["expireTime"].replace("Z", "+00:00"))
        assert expire - datetime.fromtimestamp(clock.now, UTC) == timedelta(days=7)
        with pytest.raises(HttpError) as exc:
            watcher.forms().watches().create(formId=form_id, body=body).execute()
        assert exc.value.status_code == 409
        clock.now += 6 * 86400
        renewed = watcher.forms().watches().renew(formId=form_id, watchId=w["id"]).execute()
        assert renewed["expireTime"] > w["expireTime"]
        clock.now += 8 * 86400
        with pytest.raises(HttpError) as exc:
            watcher.forms().watches().renew(formId=form_id, watchId=w["id"]).execute()
        assert exc.value.status_code == 404
        assert watcher.forms().watches().list(formId=form_id).execute() == {"watches": []}
        assert watcher.forms().watches().create(formId=form_id, body=body).execute()["state"] == "ACTIVE"
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_drive_app_properties_query(google: Google) -> None:
    _, form_id, _ = make_form(google)
    _, other_id, _ = make_form(google)
    drive = google.service("drive", "drive.file")
    drive.files().update(fileId=form_id, body={"appProperties": {"lmsBridgeSession": "GAK-2026",
                                                                 "lmsBridgeStudent": "s1"}}).execute()
    q = ("appProperties has { key='lmsBridgeSession' and value='GAK-2026' } and "
         "mimeType = 'application/vnd.google-apps.form' and trashed = false")
    found = drive.files().list(q=q, fields="files(id,name,appProperties)").execute()["files"]
    assert [f["id"] for f in found] == [form_id]
    assert found[0]["appProperties"]["lmsBridgeStudent"] == "s1"
    # Without `fields`, Drive answers only kind, id, name and mimeType.
    plain = drive.files().get(fileId=other_id).execute()
    assert set(plain) == {"kind", "id", "name", "mimeType"}
    with pytest.raises(HttpError) as exc:
        drive.files().list(q="appProperties hsa {").execute()
    assert exc.value.status_code == 400
    # Another user sees nothing of the secretary's files.
    assert google.as_user("drive", "student@uni.edu.kz", "drive.file").files().list(q=q).execute()["files"] == []


def test_people_form_page_lists_accounts_and_takes_a_vote(google: Google) -> None:
    forms, form_id, (grade_q, _) = make_form(google)
    publish(forms, form_id)
    google.service("drive", "drive.file").permissions().create(
        fileId=form_id, body={"role": "reader", "type": "user", "emailAddress": MEMBER, "view": "published"}).execute()
    page = requests.get(f"{google.url}/forms.googleapis.com/view/{form_id}", params={"lang": "en"}, timeout=10)
    assert page.status_code == 200
    assert MEMBER in page.text
    assert "Оценка: Асанов" in page.text
    r = requests.post(f"{google.url}/forms.googleapis.com/view/{form_id}", data={"as": MEMBER, grade_q: "5"},
                      params={"lang": "en"}, timeout=10)
    assert r.status_code == 200
    assert "Your response has been recorded." in r.text
    again = requests.get(f"{google.url}/forms.googleapis.com/view/{form_id}", params={"as": MEMBER, "lang": "en"},
                         timeout=10)
    assert "You have already responded" in again.text
    kk = requests.get(f"{google.url}/forms.googleapis.com/view/{form_id}", params={"as": MEMBER, "lang": "kk"},
                      timeout=10)
    assert "Жіберу" in kk.text  # the submit button, in Kazakh
    ru = requests.get(f"{google.url}/forms.googleapis.com/view/nope", headers={"Accept-Language": "ru"}, timeout=10)
    assert ru.status_code == 404
    assert "Страница не найдена." in ru.text
    state = requests.get(f"{google.url}/_actor/state", timeout=10).json()
    assert len(state["response"]) == 1
    assert "token" not in state
    assert json.dumps(state).count("ya29.") == 0


def _share(google: Google, form_id: str, email: str) -> None:
    google.service("drive", "drive.file").permissions().create(
        fileId=form_id, body={"role": "reader", "type": "user", "emailAddress": email, "view": "published"},
    ).execute()


def test_response_times_have_googles_two_precisions_and_an_edit_moves_only_the_last(tmp_path) -> None:
    """Google's sample output for one never-edited response: "createTime": "2021-03-25T01:23:58.146Z",
    "lastSubmittedTime": "2021-03-25T01:23:58.146607Z" (Forms guide "Set up an Apps Script project")."""
    clock = Clock(datetime(2021, 3, 25, 1, 23, 58, 146607, tzinfo=UTC).timestamp())
    google, server = start(tmp_path, clock=clock)
    try:
        forms, form_id, (grade_q, _comment_q) = make_form(google)
        publish(forms, form_id)
        _share(google, form_id, MEMBER)
        first = vote(google, form_id, MEMBER, {"Grade": "5"}).json()
        assert first["createTime"] == "2021-03-25T01:23:58.146Z"
        assert first["lastSubmittedTime"] == "2021-03-25T01:23:58.146607Z"
        clock.now += 125.5
        edit = requests.post(f"{google.url}/_actor/forms/{form_id}/responses/{first['responseId']}",
                             json={"email": MEMBER, "answers": {"Grade": "4"}}, timeout=10)
        assert edit.status_code == 200, edit.text
        reader = google.service("forms", "forms.responses.readonly")
        listed = reader.forms().responses().list(formId=form_id).execute()["responses"]
        assert len(listed) == 1
        assert listed[0]["responseId"] == first["responseId"]
        assert listed[0]["createTime"] == first["createTime"]
        assert listed[0]["lastSubmittedTime"] == "2021-03-25T01:26:03.646607Z"
        assert listed[0]["answers"][grade_q]["textAnswers"]["answers"] == [{"value": "4"}]
        # Only the respondent edits their own response.
        _share(google, form_id, SECRETARY)
        other = requests.post(f"{google.url}/_actor/forms/{form_id}/responses/{first['responseId']}",
                              json={"email": SECRETARY, "answers": {"Grade": "5"}}, timeout=10)
        assert other.status_code == 404
    finally:
        google.sandbox.pusher.stop()
        server.shutdown()
        google.sandbox.store.close()


def test_overlapping_permission_writes_on_one_file_keep_one(tmp_path) -> None:
    """"Concurrent permissions operations on the same file are not supported; only the last update
    is applied" (drive v3 permissions.create).  Two requests in flight together: one grant survives,
    although both answer 200."""
    import threading

    google, server = start(tmp_path, faults={"quotas": False, "latency_ms": 400})
    try:
        forms, form_id, _ = make_form(google)
        publish(forms, form_id)
        emails = ["m1@uni.edu.kz", "m2@uni.edu.kz"]
        answers: list[dict] = []
        clients = [google.service("drive", "drive.file").permissions() for _ in emails]
        for c in clients:
            c.list(fileId=form_id).execute()  # tokens fetched now: the two writes start together
        threads = [threading.Thread(target=lambda c=c, e=e: answers.append(c.create(fileId=form_id, body={
                       "role": "reader", "type": "user", "emailAddress": e, "view": "published"}).execute()))
                   for c, e in zip(clients, emails, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(answers) == 2
        perms = google.service("drive", "drive.file").permissions().list(
            fileId=form_id, fields="permissions(emailAddress,view)").execute()["permissions"]
        assert len([p for p in perms if p.get("emailAddress") in emails]) == 1
        # One after the other, both stay.
        _share(google, form_id, "m3@uni.edu.kz")
        _share(google, form_id, "m4@uni.edu.kz")
        perms = google.service("drive", "drive.file").permissions().list(
            fileId=form_id, fields="permissions(emailAddress,view)").execute()["permissions"]
        assert {"m3@uni.edu.kz", "m4@uni.edu.kz"} <= {p.get("emailAddress") for p in perms}
    finally:
        google.sandbox.pusher.stop()
        server.shutdown()
        google.sandbox.store.close()


def test_drive_file_reaches_only_the_apps_own_files(google: Google) -> None:
    """drive.file reaches files the app created or opened (Drive guide "Choose Google Drive API
    scopes").  A form created with a token holding drive.file is the app's own; one created with
    forms.body alone is not documented to be, and the sandbox takes the strict reading."""
    own = google.service("forms", "forms.body", "drive.file").forms().create(
        body={"info": {"title": "own"}}).execute()["formId"]
    other = google.service("forms", "forms.body").forms().create(body={"info": {"title": "other"}}).execute()["formId"]
    drive = google.service("drive", "drive.file")
    assert drive.files().get(fileId=own).execute()["id"] == own
    with pytest.raises(HttpError) as exc:
        drive.files().get(fileId=other).execute()
    assert exc.value.status_code == 404
    listed = {f["id"] for f in drive.files().list().execute()["files"]}
    assert own in listed
    assert other not in listed
    # Whole-Drive access reaches both; Forms' own scope reaches the form through the Forms API.
    assert google.service("drive", "drive").files().get(fileId=other).execute()["id"] == other
    assert google.service("forms", "forms.body").forms().get(formId=own).execute()["formId"] == own
    with pytest.raises(HttpError) as exc:
        google.service("forms", "drive.file").forms().get(formId=other).execute()
    assert exc.value.status_code == 403  # it exists, but this token may not open it
    # A spreadsheet that exists but is not shared with the caller: 403 as well.
    sheets = google.service("sheets", "spreadsheets")
    sid = sheets.spreadsheets().create(body={"properties": {"title": "private"}}).execute()["spreadsheetId"]
    stranger = google.as_user("sheets", "stranger@uni.edu.kz", "spreadsheets")
    with pytest.raises(HttpError) as exc:
        stranger.spreadsheets().get(spreadsheetId=sid).execute()
    assert exc.value.status_code == 403
    with pytest.raises(HttpError) as exc:
        stranger.spreadsheets().get(spreadsheetId="no-such-spreadsheet").execute()
    assert exc.value.status_code == 404


def test_a_multipart_upload_makes_a_file_with_its_content_and_tags(google: Google) -> None:
    """Upload file data (https://developers.google.com/drive/api/guides/manage-uploads): a multipart
    upload carries metadata and "a small file (5 MB or less)" in one request to the /upload URI."""
    from googleapiclient.http import MediaInMemoryUpload

    drive = google.service("drive", "drive.file")
    data = b"%PDF-1.4 answer sheet"

    def upload(content: bytes) -> dict:
        req = drive.files().create(body={"name": "answer-01.pdf", "mimeType": "application/pdf",
                                         "appProperties": {"lmsBridgeAnswer": "s1/answer-01.pdf"}},
                                   media_body=MediaInMemoryUpload(content, mimetype="application/pdf"),
                                   fields="id,name,size,md5Checksum,webViewLink,appProperties")
        # The client keeps Google's scheme and path for uploads; the sandbox serves them under its own root.
        req.uri = google.url + "/www.googleapis.com/upload/" + req.uri.split("/upload/", 1)[1]
        return req.execute()

    made = upload(data)
    assert made["size"] == str(len(data))
    assert made["appProperties"] == {"lmsBridgeAnswer": "s1/answer-01.pdf"}
    assert made["webViewLink"].endswith("/view")
    assert drive.files().get(fileId=made["id"], fields="id,name").execute()["name"] == "answer-01.pdf"
    with pytest.raises(HttpError) as exc:
        upload(b"x" * (5 * 1024 * 1024 + 1))
    assert exc.value.status_code == 400


def test_a_group_responder_lets_its_members_respond_each_under_their_own_address(google: Google) -> None:
    # Forms lets "specific users, groups, or target audiences" respond (Workspace Updates, 3 Dec
    # 2024); responders are Drive permissions with view "published" (publish-form guide), and Drive
    # shares with type "group" (guide "Share files, folders, and drives").
    forms, form_id, (grade_q, _comment_q) = make_form(google)
    publish(forms, form_id)
    drive = google.service("drive", "drive.file")
    group = "commission-g1@uni.edu.kz"
    body = {"role": "reader", "type": "group", "emailAddress": group, "view": "published"}
    with pytest.raises(HttpError) as exc:  # the sandbox knows no such group yet: stricter reading
        drive.permissions().create(fileId=form_id, body=body, sendNotificationEmail=False).execute()
    assert exc.value.status_code == 400
    made = requests.post(f"{google.url}/_actor/groups", json={"email": group, "members": [MEMBER]}, timeout=10)
    assert made.status_code == 200, made.text
    perm = drive.permissions().create(fileId=form_id, body=body, sendNotificationEmail=False,
                                      fields="id,type,view,emailAddress").execute()
    assert (perm["type"], perm["view"], perm["emailAddress"]) == ("group", "published", group)
    assert vote(google, form_id, "stranger@uni.edu.kz", {grade_q: "5"}).status_code == 403
    assert vote(google, form_id, group, {grade_q: "5"}).status_code == 403  # a group is no account
    assert vote(google, form_id, MEMBER, {grade_q: "4"}).status_code == 200
    reader = google.service("forms", "forms.responses.readonly")
    responses = reader.forms().responses().list(formId=form_id).execute()["responses"]
    assert [r["respondentEmail"] for r in responses] == [MEMBER]
    # Membership counts when the person responds: someone added later may respond, someone removed may not.
    requests.post(f"{google.url}/_actor/groups", json={"email": group, "members": ["member2@uni.edu.kz"]},
                  timeout=10)
    assert vote(google, form_id, "member2@uni.edu.kz", {grade_q: "5"}).status_code == 200
    assert vote(google, form_id, MEMBER, {grade_q: "5"}).status_code == 403
