"""Google Sheets through gspread, on the transport's counted, rate-limited, rewritten session.

gspread gives the sheet calls; the choke point still owns the policy: every gspread call here runs
inside :meth:`Transport.call` (typed errors, bounded jittered retries, told whether the call is safe
to repeat), and every HTTP request goes through :class:`~lms_bridge.google.transport.CountingSession`
(counted, limited to the Sheets per-minute quota, a timeout, the sandbox prefix).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gspread
from gspread.urls import DRIVE_FILES_API_V3_URL
from gspread.utils import ValueInputOption, rowcol_to_a1

from lms_bridge.google.drive import SHEET_MIME
from lms_bridge.google.transport import CountingSession, Transport

API = "sheets"
Cell = str | int | float | None


class SheetsClient:
    def __init__(self, transport: Transport, credentials: Any) -> None:
        self.t = transport
        self.session = CountingSession(credentials, transport)
        # auth=None + our session: gspread uses the session as is (facts §5).
        self.gc = gspread.Client(auth=None, session=self.session)  # type: ignore[arg-type]

    def _call(self, fn: Callable[[], Any], *, idempotent: bool = True,
              recover: Callable[[], Any] | None = None, api: str = API) -> Any:
        # The Sheets quota is taken per HTTP request by the session, so no bucket here.
        return self.t.call(fn, api=api, bucket="-", idempotent=idempotent, recover=recover)

    def create(self, title: str, app_properties: Mapping[str, str], *,
               recover: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """Create a spreadsheet carrying ``app_properties`` in the same request.

        gspread's ``Client.create`` posts the same Drive request without appProperties; sending them
        with the create makes the sheet findable even if we crash right after, so a rerun never
        makes a second one.

        :calls: POST /drive/v3/files (mimeType spreadsheet)
        """
        payload = {"name": title, "mimeType": SHEET_MIME, "appProperties": dict(app_properties)}

        def send() -> dict[str, Any]:
            r = self.gc.http_client.request("post", DRIVE_FILES_API_V3_URL, json=payload,
                                            params={"supportsAllDrives": True, "fields": "id,name"})
            return dict(r.json())

        return self._call(send, idempotent=False, recover=recover, api="drive")

    def open(self, spreadsheet_id: str) -> gspread.Spreadsheet:
        """A gspread Spreadsheet (for callers that want gspread's object API).

        :calls: GET /v4/spreadsheets/{spreadsheetId} (metadata)
        """
        return self._call(lambda: self.gc.open_by_key(spreadsheet_id))

    def first_sheet(self, spreadsheet_id: str) -> tuple[int, str]:
        """(sheetId of the first tab, spreadsheet URL) in one metadata read.

        gspread's ``Spreadsheet.sheet1`` would fetch the metadata again outside our retry policy.

        :calls: GET /v4/spreadsheets/{spreadsheetId}
        """
        meta = self._call(lambda: self.gc.http_client.fetch_sheet_metadata(spreadsheet_id))
        first = meta["sheets"][0]["properties"]
        return int(first["sheetId"]), str(meta.get("spreadsheetUrl", ""))

    def format_header(self, spreadsheet_id: str, sheet_id: int, *, title: str, columns: int) -> None:
        """Rename the first tab, freeze and bold the header row, in one atomic request.

        :calls: POST /v4/spreadsheets/{spreadsheetId}:batchUpdate
        """
        body = {"requests": [
            {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "title": title,
                                                      "gridProperties": {"frozenRowCount": 1}},
                                       "fields": "title,gridProperties.frozenRowCount"}},
            {"repeatCell": {"range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1,
                                      "startColumnIndex": 0, "endColumnIndex": columns},
                            "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                            "fields": "userEnteredFormat.textFormat.bold"}},
        ]}
        self._call(lambda: self.gc.http_client.batch_update(spreadsheet_id, body))

    def write_ranges(self, spreadsheet_id: str, blocks: Sequence[tuple[int, int, Sequence[Sequence[Cell]]]],
                     *, tab: str | None = None) -> dict[str, Any]:
        """Write blocks (1-based top row, 1-based left column, rows of cells) in ONE values:batchUpdate,
        as RAW values: text from people is never parsed into a formula or a number.

        Sheets counts a batchUpdate as one request however many ranges it holds (facts §5), and
        writing the same values twice is harmless, so it is retried freely.

        :calls: POST /v4/spreadsheets/{spreadsheetId}/values:batchUpdate
        """
        prefix = f"'{tab}'!" if tab else ""
        # Full A1 ranges (top-left:bottom-right) rather than an anchor cell: exact, and accepted everywhere.
        data = [{"range": prefix + rowcol_to_a1(row, col) + ":"
                 + rowcol_to_a1(row + len(rows) - 1, col + max(len(r) for r in rows) - 1),
                 "values": [list(r) for r in rows]}
                for row, col, rows in blocks if rows]
        # RAW: cells hold exactly what is sent.  USER_ENTERED would parse them as if typed, so an id
        # "007" would lose its zeros and a name starting with "=" would become a formula (Sheets
        # reference, ValueInputOption); numbers sent as JSON numbers stay numbers either way.
        body = {"valueInputOption": ValueInputOption.raw, "data": data}
        return dict(self._call(lambda: self.gc.http_client.values_batch_update(spreadsheet_id, body)))

    def read_values(self, spreadsheet_id: str, a1_range: str) -> list[list[str]]:
        """:calls: GET /v4/spreadsheets/{spreadsheetId}/values/{range}"""
        got = self._call(lambda: self.gc.http_client.values_get(spreadsheet_id, a1_range))
        return [list(map(str, row)) for row in got.get("values", [])]
