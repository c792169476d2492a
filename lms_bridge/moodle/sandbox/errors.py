"""Moodle's exceptions as its web services return them (HTTP 200 with an exception body)."""

from __future__ import annotations

from typing import Any

EXC_MOODLE = "core\\exception\\moodle_exception"
EXC_PARAM = "core\\exception\\invalid_parameter_exception"
EXC_CAP = "core\\exception\\required_capability_exception"
EXC_ACCESS = "webservice_access_exception"
EXC_MISSING = "dml_missing_record_exception"
EXC_LOGIN = "core\\exception\\require_login_exception"


class MoodleException(Exception):
    def __init__(self, exception: str, errorcode: str, message: str, debuginfo: str | None = None) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"exception": exception, "errorcode": errorcode, "message": message}
        if debuginfo is not None:
            self.body["debuginfo"] = debuginfo


def php_error(exception: str, message: str) -> MoodleException:
    """A PHP error that escaped Moodle's handler: ``exception`` and ``message``, no ``errorcode`` (captured)."""
    exc = MoodleException(exception, "", message)
    exc.body = {"exception": exception, "message": message}
    return exc


def invalid_parameter(debuginfo: str) -> MoodleException:
    return MoodleException(EXC_PARAM, "invalidparameter", "Invalid parameter value detected", debuginfo)


def missing_record(table: str, sql: str = "") -> MoodleException:
    return MoodleException(
        EXC_MISSING, "invalidrecord", f"Can't find data record in database table {table}.", sql or None
    )
