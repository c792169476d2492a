"""Writing people's text into workbooks as text, never as a formula.

openpyxl turns any string that starts with "=" into a formula cell, so a student named
``=HYPERLINK("http://…")`` would become a live link in the grade sheet mailed to every member.
The workbooks the product writes hold no formulas at all, so every string cell is typed as text.
"""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet


def as_text(ws: Worksheet) -> None:
    """Type every string cell of ``ws`` as text (``data_type == "s"``), whatever it starts with."""
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
