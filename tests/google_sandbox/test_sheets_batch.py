"""gspread and HTTP batch against the sandbox; the request log."""

from __future__ import annotations

import json
from typing import Any

import gspread
import pytest
import requests
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest
from gspread.utils import ValueInputOption

from .conftest import SECRETARY, Google


class SandboxSession(requests.Session):
    """gspread has no base-URL option: rewrite Google's hosts to the sandbox and send a bearer token."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__()
        self.base = base
        self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(url)
        for host in ("https://sheets.googleapis.com/", "https://www.googleapis.com/"):
            if url.startswith(host):
                url = f"{self.base}/{host[len('https://'):]}{url[len(host):]}"
        return super().request(method, url, *args, **kwargs)


def gspread_client(google: Google, email: str = SECRETARY) -> gspread.Client:
    token = google.token_for(email, ["spreadsheets", "drive.file"])
    return gspread.Client(None, session=SandboxSession(google.url, token))  # type: ignore[arg-type]


def test_gspread_grade_sheet(google: Google) -> None:
    gc = gspread_client(google)
    book = gc.create("ГАК 2026 — бағалар")
    again = gc.open_by_key(book.id)
    ws = again.sheet1
    ws.update([["Студент", "Билет", "Баға"], ["Асанов А.", 7, "=HYPERLINK(\"https://x/f\",\"форма\")"]], "A1",
              value_input_option=ValueInputOption.user_entered)
    ws.batch_update([{"range": "C2", "values": [["A-"]]}, {"range": "D1:D2", "values": [["Балл"], [91]]}],
                    value_input_option=ValueInputOption.user_entered)
    ws.format("A1:D1", {"textFormat": {"bold": True}})
    ws.freeze(rows=1)
    assert ws.get_all_values() == [["Студент", "Билет", "Баға", "Балл"], ["Асанов А.", "7", "A-", "91"]]
    assert ws.acell("B2", value_render_option="UNFORMATTED_VALUE").value == 7
    ws.append_row(["Бекетова Б.", 3, "B+", 85], value_input_option=ValueInputOption.user_entered)
    assert ws.row_values(3) == ["Бекетова Б.", "3", "B+", "85"]
    extra = again.add_worksheet("Хаттама", rows=50, cols=10)
    assert [w.title for w in gc.open_by_key(book.id).worksheets()] == ["Sheet1", "Хаттама"]
    with pytest.raises(gspread.exceptions.APIError):
        extra.update([["x"]], "A51")  # beyond the grid
    page = requests.get(f"{google.url}/sheets.googleapis.com/view/{book.id}", params={"lang": "en"}, timeout=10)
    assert page.status_code == 200
    assert "Бекетова Б." in page.text
    # The spreadsheet is a Drive file of the right type.
    drive = google.service("drive", "drive.file")
    assert drive.files().get(fileId=book.id).execute()["mimeType"] == "application/vnd.google-apps.spreadsheet"


def test_values_batch_update_is_atomic(google: Google) -> None:
    gc = gspread_client(google)
    ws = gc.create("atomic").sheet1
    with pytest.raises(gspread.exceptions.APIError):
        ws.batch_update([{"range": "A1", "values": [["ok"]]}, {"range": "Nope!A1", "values": [["bad"]]}])
    assert ws.acell("A1").value is None  # nothing of the failed batch was written


def _classroom_batch(google: Google, count: int) -> tuple[list[Any], list[Any]]:
    classroom = google.service("classroom", "classroom.courses", "classroom.rosters")
    classroom.courses().create(body={"id": "p:batch", "name": "Batch", "ownerId": "me"}).execute()
    results: list[Any] = []
    errors: list[Any] = []

    def callback(request_id: str, response: Any, exception: Any) -> None:
        (errors if exception else results).append(exception or response)

    batch = BatchHttpRequest(callback=callback, batch_uri=google.url + "/classroom.googleapis.com/batch")
    for i in range(count):
        batch.add(classroom.courses().students().create(courseId="p:batch", body={"userId": f"s{i}@uni.edu.kz"}))
    batch.execute(http=google.http(google.sa_creds(["https://www.googleapis.com/auth/classroom.rosters"])))
    return results, errors


def test_classroom_batch_parts_are_validated_and_logged(google: Google) -> None:
    results, errors = _classroom_batch(google, 3)
    assert len(results) == 3
    assert not errors
    # No classroom.profile.emails scope on this token: the profiles come without e-mail.
    assert all("emailAddress" not in r["profile"] and r["profile"]["id"] for r in results)
    lines = google.log_lines()
    parts = [line for line in lines if line.get("batch") == "classroom.googleapis.com/batch"]
    assert len(parts) == 3
    assert parts[0]["method"] == "POST"
    assert parts[0]["path"] == "/classroom.googleapis.com/v1/courses/p%3Abatch/students?alt=json"  # as sent
    assert parts[0]["body"]["userId"].endswith("@uni.edu.kz")
    assert all("Authorization" not in json.dumps(line) for line in lines)


def test_classroom_batch_over_50_is_refused(google: Google) -> None:
    with pytest.raises(HttpError) as exc:
        _classroom_batch(google, 51)
    assert exc.value.status_code == 400
    token = google.token_for(SECRETARY, ["classroom.rosters"])
    assert requests.get(f"{google.url}/classroom.googleapis.com/v1/courses/p:batch/students", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).json() == {}


def test_drive_batch_parts_fail_individually(google: Google) -> None:
    drive = google.service("drive", "drive.file")
    f = drive.files().create(body={"name": "a", "mimeType": "application/vnd.google-apps.folder"}).execute()
    out: dict[str, Any] = {}
    batch = BatchHttpRequest(callback=lambda rid, resp, exc: out.__setitem__(rid, exc or resp),
                             batch_uri=google.url + "/www.googleapis.com/batch/drive/v3")
    batch.add(drive.files().update(fileId=f["id"], body={"appProperties": {"k": "v"}}), request_id="ok")
    batch.add(drive.files().update(fileId="missing", body={"appProperties": {"k": "v"}}), request_id="missing")
    batch.add(drive.files().update(fileId=f["id"], body={"bogus": 1}), request_id="bogus")
    batch.execute(http=google.http(google.sa_creds(["https://www.googleapis.com/auth/drive.file"])))
    assert out["ok"]["id"] == f["id"]
    assert out["missing"].status_code == 404
    assert out["bogus"].status_code == 400


def test_sheet_names_with_a_slash_stay_one_parameter(google: Google) -> None:
    sheets = google.service("sheets", "spreadsheets")
    book = sheets.spreadsheets().create(body={"properties": {"title": "g"}}).execute()
    sid = book["spreadsheetId"]
    sheets.spreadsheets().batchUpdate(spreadsheetId=sid, body={"requests": [
        {"addSheet": {"properties": {"title": "ГАК 2026/27"}}}]}).execute()
    values = sheets.spreadsheets().values()
    done = values.update(spreadsheetId=sid, range="'ГАК 2026/27'!B2", valueInputOption="RAW",
                         body={"values": [["5", 4]]}).execute()
    assert done["updatedRange"] == "'ГАК 2026/27'!B2:C2"
    got = values.get(spreadsheetId=sid, range="'ГАК 2026/27'!A1:C2", valueRenderOption="UNFORMATTED_VALUE").execute()
    assert got["values"] == [[], ["", "5", 4]]
    with pytest.raises(HttpError) as exc:
        values.update(spreadsheetId=sid, range="'ГАК 2026/27'!A1", body={"values": [["x"]]}).execute()
    assert "valueInputOption" in json.loads(exc.value.content)["error"]["message"]


def test_user_entered_parses_text_as_if_typed_and_raw_keeps_it(google: Google) -> None:
    """ValueInputOption: USER_ENTERED parses input "exactly as if the user typed it into the UI"
    (numbers, formulas), RAW stores it as given.  A leading apostrophe keeps typed text as text."""
    sheets = google.service("sheets", "spreadsheets")
    sid = sheets.spreadsheets().create(body={"properties": {"title": "g"}}).execute()["spreadsheetId"]
    values = sheets.spreadsheets().values()
    row = ["007", '=HYPERLINK("http://x")', "'0123", "TRUE"]
    values.update(spreadsheetId=sid, range="A1", valueInputOption="USER_ENTERED", body={"values": [row]}).execute()
    values.update(spreadsheetId=sid, range="A2", valueInputOption="RAW", body={"values": [row]}).execute()
    shown = values.get(spreadsheetId=sid, range="A1:D2").execute()["values"]
    assert shown[0] == ["7", "http://x", "0123", "TRUE"]
    assert shown[1] == row
    typed = values.get(spreadsheetId=sid, range="A1:D2", valueRenderOption="FORMULA").execute()["values"]
    assert typed[0][:2] == [7, '=HYPERLINK("http://x")']
    assert typed[1][:2] == ["007", '=HYPERLINK("http://x")']  # the same text, but not a formula
    unformatted = values.get(spreadsheetId=sid, range="A1:D2", valueRenderOption="UNFORMATTED_VALUE").execute()
    assert unformatted["values"][0][3] is True
    assert unformatted["values"][1][3] == "TRUE"
