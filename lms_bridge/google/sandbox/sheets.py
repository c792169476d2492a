"""Sheets v4: spreadsheets, sheets (tabs), values in A1 notation and the batchUpdate requests gspread sends."""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

from .common import Ctx, Handler, token_id
from .errors import ApiError, bad_request
from .files import SHEET_MIME, create_file, role_of

HANDLERS: dict[str, Handler] = {}

# Requests that change only presentation; they are recorded on the sheet and otherwise have no effect.
FORMAT_ONLY = {"repeatCell", "updateBorders", "mergeCells", "unmergeCells", "updateDimensionProperties",
               "autoResizeDimensions", "setDataValidation", "addConditionalFormatRule", "setBasicFilter",
               "clearBasicFilter", "addProtectedRange", "addBanding"}


def handler(method_id: str):  # type: ignore[no-untyped-def]
    def deco(fn: Handler) -> Handler:
        HANDLERS[method_id] = fn
        return fn
    return deco


def _sheet(sheet_id: int, title: str, index: int, rows: int = 1000, cols: int = 26) -> dict[str, Any]:
    return {"properties": {"sheetId": sheet_id, "title": title, "index": index, "sheetType": "GRID",
                           "gridProperties": {"rowCount": rows, "columnCount": cols}}, "_cells": {}, "_formats": []}


def new_spreadsheet(ctx: Ctx, sid: str, title: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    body = body or {}
    props = {"title": title, "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Etc/GMT",
             "defaultFormat": {"backgroundColor": {"red": 1, "green": 1, "blue": 1}, "verticalAlignment": "BOTTOM",
                               "wrapStrategy": "OVERFLOW_CELL", "textFormat": {"fontFamily": "arial",
                                                                               "fontSize": 10}}}
    for key in ("locale", "timeZone", "autoRecalc"):
        if (body.get("properties") or {}).get(key):
            props[key] = body["properties"][key]
    sheets = []
    for i, s in enumerate(body.get("sheets") or [{}]):
        p = s.get("properties") or {}
        grid = p.get("gridProperties") or {}
        sheet = _sheet(int(p.get("sheetId", 0 if i == 0 else secrets.randbelow(2**31))), p.get("title") or
                       f"Sheet{i + 1}", i, int(grid.get("rowCount", 1000)), int(grid.get("columnCount", 26)))
        sheets.append(sheet)
    doc = {"spreadsheetId": sid, "properties": props, "sheets": sheets,
           "spreadsheetUrl": f"{ctx.base_url}/sheets.googleapis.com/view/{sid}"}
    ctx.store.put("spreadsheet", sid, doc)
    return doc


def get_book(ctx: Ctx, sid: str, *, write: bool = False) -> dict[str, Any]:
    doc = ctx.store.get("spreadsheet", sid)
    file = ctx.store.get("file", sid)
    role = role_of(file, ctx.me) if file else None
    if doc is None or file is None or file.get("trashed"):
        raise ApiError(404, "Requested entity was not found.")
    if role is None:
        # A spreadsheet that exists but is not shared with the caller: 403, not 404 (recorded real
        # traffic, gspread's cassette test_access_private_spreadsheet).
        raise ApiError(403, "The caller does not have permission")
    if write and role not in ("owner", "writer"):
        raise ApiError(403, "The caller does not have permission")
    return doc


def _view(ctx: Ctx, doc: dict[str, Any], *, grid: bool = False) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k != "sheets"}
    out["spreadsheetUrl"] = f"{ctx.base_url}/sheets.googleapis.com/view/{doc['spreadsheetId']}"
    out["sheets"] = []
    for s in doc["sheets"]:
        view: dict[str, Any] = {"properties": copy.deepcopy(s["properties"])}
        if grid:
            rows = grid_rows(s)
            view["data"] = [{"startRow": 0, "startColumn": 0, "rowData": [
                {"values": [_cell_data(c) for c in row]} for row in rows]}]
        out["sheets"].append(view)
    return out


# -- A1 notation ----------------------------------------------------------------------------------------
def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def col_letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_title(title: str) -> str:
    return title if re.fullmatch(r"[A-Za-z0-9_]+", title) else "'" + title.replace("'", "''") + "'"


_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


def parse_a1(doc: dict[str, Any], text: str) -> tuple[dict[str, Any], int, int, int | None, int | None]:
    """-> (sheet, row0, col0, row1 exclusive or None, col1 exclusive or None)."""
    sheet_part, bang, cells = text.rpartition("!")
    if not bang:
        sheet_part, cells = "", text
        for s in doc["sheets"]:  # "Sheet1" alone names a whole sheet
            if s["properties"]["title"] == text.strip("'").replace("''", "'"):
                sheet_part, cells = text, ""
    title = sheet_part
    if title.startswith("'") and title.endswith("'"):
        title = title[1:-1].replace("''", "'")
    if title:
        sheet = next((s for s in doc["sheets"] if s["properties"]["title"] == title), None)
    else:
        sheet = doc["sheets"][0] if doc["sheets"] else None
    if sheet is None:
        raise bad_request(f"Unable to parse range: {text}")
    if not cells:
        return sheet, 0, 0, None, None
    start, _, end = cells.partition(":")
    m1, m2 = _CELL.match(start), _CELL.match(end or start)
    if not m1 or not m2 or not (start and (m1.group(1) or m1.group(2))):
        raise bad_request(f"Unable to parse range: {text}")
    c0 = col_index(m1.group(1)) if m1.group(1) else 0
    r0 = int(m1.group(2)) - 1 if m1.group(2) else 0
    c1 = col_index(m2.group(1)) + 1 if m2.group(1) else None
    r1 = int(m2.group(2)) if m2.group(2) else None
    if not end:  # single cell, whole column "A" or whole row "3"
        c1 = c0 + 1 if m1.group(1) else None
        r1 = r0 + 1 if m1.group(2) else None
    if r0 < 0 or (r1 is not None and r1 <= r0) or (c1 is not None and c1 <= c0):
        raise bad_request(f"Unable to parse range: {text}")
    return sheet, r0, c0, r1, c1


def a1(sheet: dict[str, Any], r0: int, c0: int, r1: int, c1: int) -> str:
    return f"{quote_title(sheet['properties']['title'])}!{col_letters(c0)}{r0 + 1}:{col_letters(c1 - 1)}{r1}"


# -- cell values ----------------------------------------------------------------------------------------
def _parse_input(value: Any, option: str) -> dict[str, Any] | None:
    if value is None:
        return None  # null leaves the cell as it is
    if option == "RAW" or not isinstance(value, str):
        return {"v": value}
    # USER_ENTERED parses text as if a person typed it into the UI (ValueInputOption reference):
    # "=…" becomes a formula, "007" the number 7, "TRUE" a boolean; a leading apostrophe keeps
    # the rest as text and is not shown.
    if value == "":
        return {"v": ""}
    if value.startswith("'"):
        return {"v": value[1:]}
    if value.startswith("="):
        return {"f": value, "v": _eval(value)}
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value.strip()):
        num = float(value)
        return {"v": int(num) if num.is_integer() and "." not in value and "e" not in value.lower() else num}
    if value.upper() in ("TRUE", "FALSE"):
        return {"v": value.upper() == "TRUE"}
    return {"v": value}


def _eval(formula: str) -> Any:
    m = re.fullmatch(r'=HYPERLINK\(\s*"([^"]*)"\s*(?:[;,]\s*"([^"]*)"\s*)?\)', formula, re.I)
    if m:
        return m.group(2) if m.group(2) is not None else m.group(1)
    # Other formulas are not computed by the sandbox; the cell shows the formula text.
    return formula


def _formatted(v: Any) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return "" if v is None else str(v)


def _render(cell: dict[str, Any] | None, option: str) -> Any:
    if not cell:
        return ""
    if option == "FORMULA" and "f" in cell:
        return cell["f"]
    if option in ("UNFORMATTED_VALUE", "FORMULA"):
        return cell["v"]
    return _formatted(cell["v"])


def _cell_data(cell: dict[str, Any] | None) -> dict[str, Any]:
    if not cell:
        return {}
    v = cell["v"]
    kind = "boolValue" if isinstance(v, bool) else "numberValue" if isinstance(v, int | float) else "stringValue"
    user = {"formulaValue": cell["f"]} if "f" in cell else {kind: v}
    return {"userEnteredValue": user, "effectiveValue": {kind: v}, "formattedValue": _formatted(v)}


def grid_rows(sheet: dict[str, Any], option: str | None = None) -> list[list[Any]]:
    cells = sheet["_cells"]
    if not cells:
        return []
    keys = [tuple(map(int, k.split(","))) for k in cells]
    nrows = max(r for r, _ in keys) + 1
    ncols = max(c for _, c in keys) + 1
    if option is None:
        return [[cells.get(f"{r},{c}") for c in range(ncols)] for r in range(nrows)]
    return [[_render(cells.get(f"{r},{c}"), option) for c in range(ncols)] for r in range(nrows)]


def _read(sheet: dict[str, Any], r0: int, c0: int, r1: int, c1: int, option: str, major: str) -> list[list[Any]]:
    cells = sheet["_cells"]
    rows = []
    for r in range(r0, r1):
        row = [_render(cells.get(f"{r},{c}"), option) for c in range(c0, c1)]
        while row and row[-1] == "":
            row.pop()
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    if major == "COLUMNS":
        width = max((len(r) for r in rows), default=0)
        cols = [[(r[c] if c < len(r) else "") for r in rows] for c in range(width)]
        for col in cols:
            while col and col[-1] == "":
                col.pop()
        return cols
    return rows


def _bounds(sheet: dict[str, Any], r0: int, c0: int, r1: int | None, c1: int | None) -> tuple[int, int]:
    grid = sheet["properties"]["gridProperties"]
    return (r1 if r1 is not None else grid["rowCount"]), (c1 if c1 is not None else grid["columnCount"])


def _write(ctx: Ctx, doc: dict[str, Any], vr: dict[str, Any], option: str, *, range_text: str,
           grow: bool = False) -> dict[str, Any]:
    if option not in ("RAW", "USER_ENTERED"):
        raise bad_request("'valueInputOption' is required but not specified", field="value_input_option")
    sheet, r0, c0, r1, c1 = parse_a1(doc, range_text)
    if ":" not in range_text.rpartition("!")[2]:
        r1 = c1 = None  # a single cell (or a whole sheet) is where writing starts, not a bound
    values = vr.get("values") or []
    if vr.get("majorDimension") == "COLUMNS":
        width = max((len(c) for c in values), default=0)
        values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
    nrows = len(values)
    ncols = max((len(r) for r in values), default=0)
    grid = sheet["properties"]["gridProperties"]
    if (r1 is not None and r0 + nrows > r1) or (c1 is not None and c0 + ncols > c1):
        raise bad_request(f"Requested writing within range [{range_text}], but tried writing "
                          f"{nrows} rows and {ncols} columns.")
    if r0 + nrows > grid["rowCount"] or c0 + ncols > grid["columnCount"]:
        if not grow:
            raise bad_request(f"Range ({range_text}) exceeds grid limits. Max rows: {grid['rowCount']}, "
                              f"max columns: {grid['columnCount']}")
        grid["rowCount"] = max(grid["rowCount"], r0 + nrows)
        grid["columnCount"] = max(grid["columnCount"], c0 + ncols)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            cell = _parse_input(value, option)
            if cell is None:
                continue
            key = f"{r0 + i},{c0 + j}"
            if cell.get("v") == "" and "f" not in cell:
                sheet["_cells"].pop(key, None)
            else:
                sheet["_cells"][key] = cell
    rng = a1(sheet, r0, c0, r0 + max(nrows, 1), c0 + max(ncols, 1))
    return {"spreadsheetId": doc["spreadsheetId"], "updatedRange": rng, "updatedRows": nrows,
            "updatedColumns": ncols, "updatedCells": sum(len(r) for r in values)}


@handler("sheets.spreadsheets.create")
def spreadsheets_create(ctx: Ctx) -> dict[str, Any]:
    title = ((ctx.body.get("properties") or {}).get("title")) or "Untitled spreadsheet"
    file = create_file(ctx, name=title, mime=SHEET_MIME, owner=ctx.me, file_id=token_id(44))
    doc = new_spreadsheet(ctx, file["id"], title, ctx.body)
    return _view(ctx, doc)


@handler("sheets.spreadsheets.get")
def spreadsheets_get(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"])
    return _view(ctx, doc, grid=bool(ctx.params.get("includeGridData")))


@handler("sheets.spreadsheets.values.get")
def values_get(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"])
    return _get_range(doc, ctx.params["range"], ctx.params)


def _get_range(doc: dict[str, Any], text: str, params: dict[str, Any]) -> dict[str, Any]:
    sheet, r0, c0, r1, c1 = parse_a1(doc, text)
    grid = sheet["properties"]["gridProperties"]
    if r0 >= grid["rowCount"] or c0 >= grid["columnCount"]:
        raise bad_request(f"Range ({text}) exceeds grid limits. Max rows: {grid['rowCount']}, "
                          f"max columns: {grid['columnCount']}")
    rb, cb = _bounds(sheet, r0, c0, r1, c1)
    rb, cb = min(rb, grid["rowCount"]), min(cb, grid["columnCount"])
    major = params.get("majorDimension") or "ROWS"
    values = _read(sheet, r0, c0, rb, cb, params.get("valueRenderOption") or "FORMATTED_VALUE", major)
    out: dict[str, Any] = {"range": a1(sheet, r0, c0, rb, cb), "majorDimension": major}
    if values:
        out["values"] = values
    return out


@handler("sheets.spreadsheets.values.batchGet")
def values_batch_get(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"])
    ranges = ctx.params.get("ranges") or []
    return {"spreadsheetId": doc["spreadsheetId"], "valueRanges": [_get_range(doc, r, ctx.params) for r in ranges]}


@handler("sheets.spreadsheets.values.update")
def values_update(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"], write=True)
    result = _write(ctx, doc, ctx.body, ctx.params.get("valueInputOption", ""), range_text=ctx.params["range"])
    ctx.store.put("spreadsheet", doc["spreadsheetId"], doc)
    return result


@handler("sheets.spreadsheets.values.batchUpdate")
def values_batch_update(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"], write=True)
    option = ctx.body.get("valueInputOption") or ""
    responses = [_write(ctx, doc, vr, option, range_text=vr.get("range") or "") for vr in ctx.body.get("data") or []]
    ctx.store.put("spreadsheet", doc["spreadsheetId"], doc)  # atomic: nothing is stored if any range failed
    return {"spreadsheetId": doc["spreadsheetId"], "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rpartition("!")[0] for r in responses}),
            "responses": responses}


@handler("sheets.spreadsheets.values.append")
def values_append(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"], write=True)
    sheet, r0, c0, _r1, c1 = parse_a1(doc, ctx.params["range"])
    rows = grid_rows(sheet)
    last = r0 - 1
    for r in range(r0, len(rows)):
        if any(rows[r][c] for c in range(c0, len(rows[r]) if c1 is None else min(c1, len(rows[r])))):
            last = r
    start = f"{quote_title(sheet['properties']['title'])}!{col_letters(c0)}{last + 2}"
    result = _write(ctx, doc, ctx.body, ctx.params.get("valueInputOption", ""), range_text=start, grow=True)
    ctx.store.put("spreadsheet", doc["spreadsheetId"], doc)
    table = a1(sheet, r0, c0, max(last + 1, r0 + 1), c0 + max(1, result["updatedColumns"]))
    return {"spreadsheetId": doc["spreadsheetId"], "tableRange": table,
            "updates": {k: v for k, v in result.items()}}


def _clear(doc: dict[str, Any], text: str) -> str:
    sheet, r0, c0, r1, c1 = parse_a1(doc, text)
    rb, cb = _bounds(sheet, r0, c0, r1, c1)
    for key in list(sheet["_cells"]):
        r, c = map(int, key.split(","))
        if r0 <= r < rb and c0 <= c < cb:
            del sheet["_cells"][key]
    return a1(sheet, r0, c0, rb, cb)


@handler("sheets.spreadsheets.values.clear")
def values_clear(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"], write=True)
    rng = _clear(doc, ctx.params["range"])
    ctx.store.put("spreadsheet", doc["spreadsheetId"], doc)
    return {"spreadsheetId": doc["spreadsheetId"], "clearedRange": rng}


@handler("sheets.spreadsheets.values.batchClear")
def values_batch_clear(ctx: Ctx) -> dict[str, Any]:
    doc = get_book(ctx, ctx.params["spreadsheetId"], write=True)
    ranges = [_clear(doc, r) for r in ctx.body.get("ranges") or []]
    ctx.store.put("spreadsheet", doc["spreadsheetId"], doc)
    return {"spreadsheetId": doc["spreadsheetId"], "clearedRanges": ranges}


def _sheet_by_id(doc: dict[str, Any], sheet_id: Any, where: str) -> dict[str, Any]:
    for s in doc["sheets"]:
        if s["properties"]["sheetId"] == int(sheet_id or 0):
            return s
    raise bad_request(f"{where}: No grid with id: {sheet_id}")


def _apply_props(target: dict[str, Any], source: dict[str, Any], fields: str, where: str) -> None:
    if not fields:
        raise bad_request(f"{where}: fields is required", field=where)
    for path in fields.split(","):
        path = path.strip()
        if path == "*":
            target.update(copy.deepcopy({k: v for k, v in source.items() if k != "sheetId"}))
            continue
        parts = path.split(".")
        t, s = target, source
        for p in parts[:-1]:
            t = t.setdefault(p, {})
            s = s.get(p) or {}
        if parts[-1] in s:
            t[parts[-1]] = copy.deepcopy(s[parts[-1]])
        else:
            t.pop(parts[-1], None)


@handler("sheets.spreadsheets.batchUpdate")
def spreadsheets_batch_update(ctx: Ctx) -> dict[str, Any]:
    stored = get_book(ctx, ctx.params["spreadsheetId"], write=True)
    doc = copy.deepcopy(stored)  # atomic, like Sheets
    replies: list[dict[str, Any]] = []
    for n, req in enumerate(ctx.body.get("requests") or []):
        kinds = [k for k, v in req.items() if v is not None]
        where = f"requests[{n}]"
        if len(kinds) != 1:
            raise bad_request(f"Invalid {where}: exactly one kind of request must be set.")
        kind, arg = kinds[0], req[kinds[0]]
        if kind == "addSheet":
            p = arg.get("properties") or {}
            title = p.get("title") or f"Sheet{len(doc['sheets']) + 1}"
            if any(s["properties"]["title"] == title for s in doc["sheets"]):
                raise bad_request(f"Invalid {where}.addSheet: A sheet with the name \"{title}\" already exists. "
                                  "Please enter another name.")
            sid = int(p.get("sheetId", secrets.randbelow(2**31 - 1) + 1))
            grid = p.get("gridProperties") or {}
            index = int(p.get("index", len(doc["sheets"])))
            sheet = _sheet(sid, title, index, int(grid.get("rowCount", 1000)), int(grid.get("columnCount", 26)))
            for k in ("frozenRowCount", "frozenColumnCount"):
                if k in grid:
                    sheet["properties"]["gridProperties"][k] = grid[k]
            if "tabColor" in p:
                sheet["properties"]["tabColor"] = p["tabColor"]
            doc["sheets"].insert(index, sheet)
            for i, s in enumerate(doc["sheets"]):
                s["properties"]["index"] = i
            replies.append({"addSheet": {"properties": copy.deepcopy(sheet["properties"])}})
        elif kind == "deleteSheet":
            sheet = _sheet_by_id(doc, arg.get("sheetId"), where)
            if len(doc["sheets"]) == 1:
                raise bad_request(f"Invalid {where}.deleteSheet: You can't remove all the sheets in a document.")
            doc["sheets"].remove(sheet)
            for i, s in enumerate(doc["sheets"]):
                s["properties"]["index"] = i
            replies.append({})
        elif kind == "updateSheetProperties":
            p = arg.get("properties") or {}
            sheet = _sheet_by_id(doc, p.get("sheetId"), where)
            _apply_props(sheet["properties"], p, arg.get("fields") or "", f"{where}.updateSheetProperties")
            replies.append({})
        elif kind == "updateSpreadsheetProperties":
            _apply_props(doc["properties"], arg.get("properties") or {}, arg.get("fields") or "",
                         f"{where}.updateSpreadsheetProperties")
            replies.append({})
        elif kind == "appendDimension":
            sheet = _sheet_by_id(doc, arg.get("sheetId"), where)
            grid = sheet["properties"]["gridProperties"]
            grid["rowCount" if arg.get("dimension") == "ROWS" else "columnCount"] += int(arg.get("length") or 0)
            replies.append({})
        elif kind in FORMAT_ONLY:
            rng = arg.get("range") or {}
            if rng:
                _sheet_by_id(doc, rng.get("sheetId"), where)
            target = _sheet_by_id(doc, (rng or arg).get("sheetId", 0), where) if (rng or "sheetId" in arg) \
                else doc["sheets"][0]
            target["_formats"].append({kind: arg})
            del target["_formats"][:-200]
            replies.append({})
        else:
            raise ApiError(501, f"{kind} is not implemented by the lms_bridge Google sandbox.")
    ctx.store.put("spreadsheet", doc["spreadsheetId"], doc)
    out: dict[str, Any] = {"spreadsheetId": doc["spreadsheetId"], "replies": replies}
    if ctx.body.get("includeSpreadsheetInResponse"):
        out["updatedSpreadsheet"] = _view(ctx, doc)
    return out
