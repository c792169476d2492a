"""Session files (YAML or Excel workbook) -> :class:`~lms_bridge.domain.session.SessionSpec`.

:func:`read_session` never raises for bad content: it returns every problem found, each naming the
file, the sheet/row (or YAML path/line) and the field.  :func:`load_session` raises
:class:`SessionFileError` with that list instead.
"""

from __future__ import annotations

from pathlib import Path

from lms_bridge.config import LimitsSettings
from lms_bridge.domain.session import SessionSpec
from lms_bridge.sessionfile.problems import Location, Problem, SessionFileError, _l
from lms_bridge.sessionfile.validate import build_spec
from lms_bridge.sessionfile.xlsxfile import OPTIONAL_SHEETS, SHEETS, read_xlsx
from lms_bridge.sessionfile.yamlfile import read_yaml

__all__ = ["Location", "Problem", "SessionFileError", "load_session", "read_session",
           "read_session_file"]

XLSX_SUFFIXES = (".xlsx", ".xlsm")
YAML_SUFFIXES = (".yaml", ".yml")
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"


def too_big(file: str, limits: LimitsSettings) -> Problem:
    """The refusal of a file over ``limits.file_bytes`` (also used by the upload page)."""
    # A session of a few hundred students is a few hundred kilobytes; anything far bigger is a wrong file.
    return Problem(file, Location(), "", _l("The file is larger than %(mb)s MB; is it the right file?"),
                   {"mb": f"{limits.file_bytes / (1024 * 1024):g}"})


def read_session(data: bytes, file: str, limits: LimitsSettings | None = None, *,
                 beside: Path | None = None) -> tuple[SessionSpec | None, list[Problem]]:
    """Parse and validate ``data`` read from ``file`` (the name decides YAML or workbook).

    A name with neither suffix (an upload without a name, say) is told apart by its first bytes.
    ``limits`` bound what is read (the defaults when None).  ``beside``: the folder the file was
    read from, where a test exam's question bank file named in the session is looked for.
    """
    limits = limits or LimitsSettings()
    if len(data) > limits.file_bytes:
        return None, [too_big(file, limits)]
    suffix = Path(file).suffix.lower()
    if suffix in XLSX_SUFFIXES or suffix == ".xls" or (
            suffix not in YAML_SUFFIXES and data.startswith((ZIP_MAGIC, OLE_MAGIC))):
        is_yaml = False
        raw, problems = read_xlsx(data, file, limits)
    else:
        is_yaml = True
        raw, problems = read_yaml(data, file, limits)
    if raw is None:
        return None, problems
    spec, more = build_spec(raw, limits, beside=beside)
    problems = problems + more
    # The reader and the validator each report in file order; merge the two the same way.  Problems
    # about a whole file, section or sheet (a missing section, no secretary) come after its rows.
    last = 1 << 30
    if is_yaml:
        problems.sort(key=lambda p: p.location.line if p.location.line is not None else last)
    else:
        order = SHEETS + OPTIONAL_SHEETS
        problems.sort(key=lambda p: (order.index(p.location.sheet) if p.location.sheet in order else last,
                                     p.location.row if p.location.row is not None else last))
    return (spec if not problems else None), problems


def read_session_file(path: Path,
                      limits: LimitsSettings | None = None) -> tuple[SessionSpec | None, list[Problem]]:
    limits = limits or LimitsSettings()
    try:
        size = path.stat().st_size
        if size > limits.file_bytes:
            return None, [too_big(str(path), limits)]
        with path.open("rb") as fh:
            # Read no more than the limit even if the file grows (or is a pipe such as /dev/zero).
            data = fh.read(limits.file_bytes + 1)
    except IsADirectoryError:
        return None, [Problem(str(path), Location(), "", _l("This is a folder, not a session file."))]
    except FileNotFoundError:
        return None, [Problem(str(path), Location(), "", _l("The file does not exist."))]
    except OSError as exc:
        return None, [Problem(str(path), Location(), "", _l("The file cannot be read (%(reason)s)."),
                              {"reason": exc.strerror or type(exc).__name__})]
    spec, problems = read_session(data, path.name, limits, beside=path.parent)
    # Name the file as the user typed it (a relative path stays relative); a problem of the question
    # bank file beside it keeps that file's name.
    return spec, [Problem(str(path) if p.file == path.name else str(path.parent / p.file), p.location, p.field,
                          p.msgid, p.params) for p in problems]


def load_session(path: Path, limits: LimitsSettings | None = None) -> SessionSpec:
    spec, problems = read_session_file(path, limits)
    if spec is None:
        raise SessionFileError(problems)
    return spec
