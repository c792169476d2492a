"""Writing session workbooks: the empty template the secretary fills in, and a spec as a workbook.

``scripts/make_workbooks.py`` uses this to produce ``config/session-template.xlsx`` and
``config/sample-session.xlsx``; the admin page can hand out the same template.  The layout is the
one :mod:`lms_bridge.sessionfile.xlsxfile` reads.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from lms_bridge.documents.cells import as_text
from lms_bridge.domain.session import LANGUAGES, DecisionRule, DegreeVote, ExamKind, Role, SessionSpec
from lms_bridge.sessionfile.validate import SCALES

# A fixed timestamp in the document properties keeps regenerated workbooks identical in content.
FIXED_CREATED = datetime(2026, 1, 5, 9, 0, 0)
QUESTION_COLUMNS = 3
TEMPLATE_ROWS = 300  # rows covered by the drop-down lists

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

# (key, hint in kk / ru) in the order the session sheet lists them.
SESSION_ROWS: tuple[tuple[str, str], ...] = (
    ("code", "Бірегей код: A-Z a-z 0-9 - _ / Уникальный код: A-Z a-z 0-9 - _"),
    ("title", "Атауы / Название"),
    ("kind", "oral_exam | written_exam | open_book | test_exam | creative_exam | defense"),
    ("programme", "Білім беру бағдарламасы / Образовательная программа"),
    ("group", "Топ / Группа"),
    ("university", "Университет атауы / Название университета"),
    ("commission_name", "Комиссия атауы / Название комиссии"),
    ("platform", "Өткізу орны (онлайн платформа) / Место проведения (онлайн-платформа)"),
    ("department", "Кафедра / Кафедра"),
    ("head_of_department", "Кафедра меңгерушісінің e-mail / E-mail заведующего кафедрой"),
    ("registrar", "Тіркеу кеңсесінің e-mail / E-mail офиса регистратора"),
    ("department_email", "Кафедра, мөрленген құжаттар үшін / Кафедра, для запечатанных документов"),
    ("language", "kk | ru | en"),
    ("timezone", "Asia/Almaty"),
    ("starts_at", "2026-06-10T09:00 (жергілікті уақыт / местное время)"),
    ("preparation_minutes", "Бос болса: түріне қарай / Пусто: по виду (oral 50, written 100, test 40)"),
    ("answer_minutes", "15"),
    ("grading.scale", "kz_letter"),
    ("grading.decision", "mean | majority"),
    ("grading.quorum", "2/3 (мәтін / текст)"),
    ("degree_vote", "none | open | secret"),
    ("commission_vote", "test_exam: yes | no (бос: жоқ / пусто: нет)"),
    ("question_bank", "test_exam: bank.gift (GIFT)"),
    ("voters_group", "Дауыс берушілердің Google тобы (бос болуы мүмкін) / Google-группа голосующих (необязательно)"),
)

CHOICES: dict[str, tuple[str, ...]] = {
    "kind": tuple(k.value for k in ExamKind),
    "language": LANGUAGES,
    "grading.scale": SCALES,
    "grading.decision": tuple(d.value for d in DecisionRule),
    "degree_vote": tuple(d.value for d in DegreeVote),
}
ROLES = tuple(r.value for r in Role)
YES_NO = ("yes", "no")

INSTRUCTIONS: tuple[str, ...] = (
    "Сессия файлы / Файл сессии (lms_bridge)",
    "",
    "ҚАЗАҚША",
    "1. «session» парағында B бағанына мәндерді жазыңыз (A бағанындағы кілттерді өзгертпеңіз).",
    "2. «commission»: бір төраға (chair), бір хатшы (secretary) және мүшелер (member).",
    "3. «students»: id — университеттің ақпараттық жүйесіндегі студент идентификаторы; "
    "admitted — yes/no; жіберілмесе, admission_note бағанына себебін жазыңыз.",
    "4. «tickets»: билет нөмірі және сұрақтар (question 1, question 2, ...).",
    "5. Тексеру: lms-bridge check ФАЙЛ; жүктеу: lms-bridge import ФАЙЛ немесе әкімші беті.",
    "6. «appeal_commission» (міндетті емес): апелляциялық комиссия — төраға, мүшелер (дауыс берушілер саны тақ), "
    "хатшы; аттестаттау комиссиясының мүшелері мен «administrative_staff» парағындағылар кірмейді.",
    "",
    "ПО-РУССКИ",
    "1. На листе «session» заполните столбец B (ключи в столбце A не меняйте).",
    "2. «commission»: один председатель (chair), один секретарь (secretary) и члены (member).",
    "3. «students»: id — идентификатор студента в информационной системе университета; "
    "admitted — yes/no; если не допущен, укажите причину в столбце admission_note.",
    "4. «tickets»: номер билета и вопросы (question 1, question 2, ...).",
    "5. Проверка: lms-bridge check ФАЙЛ; загрузка: lms-bridge import ФАЙЛ или страница администратора.",
    "6. «appeal_commission» (необязательно): апелляционная комиссия — председатель, члены (нечётное число "
    "голосующих), секретарь; без членов аттестационной комиссии и лиц с листа «administrative_staff».",
    "",
    "Электрондық пошта әр адамға бір рет қана / Каждый e-mail только один раз; "
    "комиссия мүшесі студент бола алмайды / член комиссии не может быть студентом.",
)


def _header(ws: Worksheet, titles: list[str], widths: list[int]) -> None:
    ws.append(titles)
    for index, width in enumerate(widths, start=1):
        cell = ws.cell(row=1, column=index)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        ws.column_dimensions[cell.column_letter].width = width
    ws.freeze_panes = "A2"


def _list_validation(ws: Worksheet, values: tuple[str, ...], cells: str) -> None:
    dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                        showErrorMessage=True)
    ws.add_data_validation(dv)
    dv.add(cells)


def build_workbook(spec: SessionSpec | None = None) -> Workbook:
    """The template (``spec`` None) or ``spec`` laid out as a session workbook."""
    wb = Workbook()
    wb.properties.created = FIXED_CREATED
    wb.properties.creator = "lms_bridge"
    info = wb.active
    assert info is not None
    info.title = "instructions"
    for line in INSTRUCTIONS:
        info.append([line])
    info["A1"].font = Font(bold=True, size=13)
    info.column_dimensions["A"].width = 130

    # The template comes with the usual choices filled in; the secretary changes what differs.
    values: dict[str, object] = {
        "language": "kk", "timezone": "Asia/Almaty", "answer_minutes": 15, "grading.scale": "kz_letter",
        "grading.decision": "mean", "grading.quorum": "2/3", "degree_vote": "none",
    }
    if spec is not None:
        values = {
            "code": spec.code, "title": spec.title, "kind": spec.kind.value, "programme": spec.programme,
            "group": spec.group, "university": spec.university, "commission_name": spec.commission_name,
            "platform": spec.platform, "department": spec.department,
            "head_of_department": spec.head_of_department, "registrar": spec.registrar,
            "department_email": spec.department_email or None, "voters_group": spec.voters_group or None,
            "language": spec.language, "timezone": spec.timezone,
            # Excel shows and edits local date-times; the time zone is its own row.
            "starts_at": spec.starts_at.replace(tzinfo=None),
            "preparation_minutes": spec.preparation_minutes, "answer_minutes": spec.answer_minutes,
            "grading.scale": spec.grading.scale, "grading.decision": spec.grading.decision.value,
            "grading.quorum": f"{spec.grading.quorum_num}/{spec.grading.quorum_den}",
            "degree_vote": spec.degree_vote.value,
            "commission_vote": None if spec.commission_vote is None else ("yes" if spec.commission_vote else "no"),
        }
    ws = wb.create_sheet("session")
    _header(ws, ["key", "value", "note"], [24, 52, 70])
    for row, (key, hint) in enumerate(SESSION_ROWS, start=2):
        ws.cell(row=row, column=1, value=key)
        value = ws.cell(row=row, column=2, value=values.get(key))  # type: ignore[arg-type]
        if key == "starts_at":
            value.number_format = "yyyy-mm-dd hh:mm"
        if key == "grading.quorum":
            value.number_format = "@"  # typed "2/3" must stay text, not become a date
        ws.cell(row=row, column=3, value=hint).alignment = Alignment(wrap_text=True)
        if key in CHOICES:
            _list_validation(ws, CHOICES[key], f"B{row}")

    ws = wb.create_sheet("commission")
    _header(ws, ["name", "email", "role"], [40, 34, 14])
    for m in spec.commission if spec else ():
        ws.append([m.name, m.email, m.role.value])
    _list_validation(ws, ROLES, f"C2:C{TEMPLATE_ROWS}")

    ws = wb.create_sheet("students")
    _header(ws, ["id", "name", "email", "admitted", "admission_note", "admission_rating", "plagiarism",
                 "current_score", "midterm_score"], [14, 40, 36, 11, 50, 17, 30, 15, 15])
    for s in spec.students if spec else ():
        ws.append([s.id, s.name, s.email, "yes" if s.admitted else "no", s.admission_note or None,
                   s.admission_rating, s.plagiarism or None, s.current_score, s.midterm_score])
    for row in range(2, TEMPLATE_ROWS + 1):
        ws.cell(row=row, column=1).number_format = "@"  # ids with leading zeros stay text
    _list_validation(ws, YES_NO, f"D2:D{TEMPLATE_ROWS}")

    ws = wb.create_sheet("tickets")
    width = max([QUESTION_COLUMNS, *(len(t.questions) for t in (spec.tickets if spec else ()))])
    _header(ws, ["number", *(f"question {i}" for i in range(1, width + 1))], [9, *([60] * width)])
    for t in spec.tickets if spec else ():
        ws.append([t.number, *t.questions])
    for row in ws.iter_rows(min_row=2):
        for cell in row[1:]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    # The appeal commission and the staff it may not include (optional: empty sheets mean none).
    ws = wb.create_sheet("appeal_commission")
    _header(ws, ["name", "email", "role"], [40, 34, 14])
    for m in spec.appeal_commission if spec else ():
        ws.append([m.name, m.email, m.role.value])
    _list_validation(ws, ROLES, f"C2:C{TEMPLATE_ROWS}")
    ws = wb.create_sheet("administrative_staff")
    _header(ws, ["name", "email"], [40, 34])
    for email in spec.administrative_staff if spec else ():
        ws.append([None, email])
    for sheet in wb.worksheets:
        as_text(sheet)  # names, titles and questions stay text even when they start with "="
    return wb


def workbook_bytes(spec: SessionSpec | None = None) -> bytes:
    """The workbook as bytes, identical on every run (so regenerating it leaves git clean)."""
    buf = io.BytesIO()
    build_workbook(spec).save(buf)
    return _deterministic(buf.getvalue())


def _deterministic(data: bytes) -> bytes:
    # openpyxl stamps the save time into docProps/core.xml and every zip entry; pin both.
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + FIXED_CREATED.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>",
                                 content)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_CREATED.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, content)
    return out.getvalue()


def write_workbook(path: Path, spec: SessionSpec | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(workbook_bytes(spec))
