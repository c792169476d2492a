"""Typed Moodle web-service errors.

Moodle answers almost every failure with HTTP 200 and a JSON body
``{"exception", "errorcode", "message"[, "debuginfo"]}``; :func:`error_from_body` turns that body
into one of the classes below by ``errorcode``.  Every error carries a ``user_message`` (translated at
the moment it is read) that names what the secretary or the Moodle administrator has to fix.  The
errors pickle (they cross the job queue) and never hold the token.
"""

from __future__ import annotations

import re
from typing import Any

from lms_bridge.i18n import gettext as _


class MoodleError(Exception):
    """Base of every Moodle failure: ``errorcode``, ``function`` and Moodle's ``message``."""

    retryable = False

    def __init__(
        self,
        message: str = "",
        *,
        errorcode: str = "",
        function: str = "",
        debuginfo: str = "",
        exception: str = "",
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errorcode = errorcode
        self.function = function
        self.debuginfo = debuginfo
        self.exception = exception
        self.extra = dict(extra)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields would be lost by Exception's default pickling (it replays args only).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))

    def __str__(self) -> str:
        where = f"{self.function}: " if self.function else ""
        code = f" [{self.errorcode}]" if self.errorcode else ""
        return f"{where}{self.message}{code}"

    @property
    def detail(self) -> str:
        """Moodle's own explanation: debuginfo when the site shows it (the real reason), else message."""
        text = (self.debuginfo or self.message or "").strip()
        return re.sub(r"\s+", " ", text)[:300]

    @property
    def user_message(self) -> str:
        return _(
            "Moodle returned an error for %(function)s: %(message)s (%(errorcode)s).",
            function=self.function or "?",
            message=self.detail or "?",
            errorcode=self.errorcode or "?",
        )


def _rebuild(cls: type[MoodleError], message: str, state: dict[str, Any]) -> MoodleError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class InvalidToken(MoodleError):
    @property
    def user_message(self) -> str:
        return _(
            "Moodle does not accept the web-service token. Create a token for the exam commission "
            "service (Site administration > Server > Web services > Manage tokens) and set "
            "moodle.token (LMS_BRIDGE_MOODLE_TOKEN)."
        )


class RestProtocolDisabled(MoodleError):
    @property
    def user_message(self) -> str:
        return _(
            "Moodle refused the request (HTTP 403): web services or the REST protocol are disabled. "
            "Enable web services and the REST protocol in Site administration > Server > Web services."
        )


class AccessDenied(MoodleError):
    @property
    def user_message(self) -> str:
        return _(
            "Moodle denied access to %(function)s: %(detail)s Check that the token's service is enabled, "
            "lists the web-service user and has no IP or time restriction.",
            function=self.function or "?",
            detail=self.detail,
        )


class MissingCapability(AccessDenied):
    @property
    def user_message(self) -> str:
        return _(
            "The Moodle user of the token lacks a permission needed by %(function)s (%(detail)s). "
            "Give that capability to the web-service user's role.",
            function=self.function or "?",
            detail=self.detail,
        )


class FunctionsMissing(AccessDenied):
    """The token's service lacks functions the configured features need (``missing`` names them)."""

    def __init__(self, message: str = "", *, missing: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.missing = tuple(missing)

    @property
    def user_message(self) -> str:
        names = ", ".join(self.missing) or self.function or "?"
        return _(
            "The Moodle web service of the token lacks these functions: %(functions)s. Add them to the "
            "service in Site administration > Server > Web services > External services, or install the "
            "local_lmsbridge plugin whose service has them all.",
            functions=names,
        )


class InvalidParameter(MoodleError):
    @property
    def user_message(self) -> str:
        return _(
            "Moodle rejected the parameters of %(function)s: %(detail)s",
            function=self.function or "?",
            detail=self.detail,
        )


class MissingRecord(MoodleError):
    @property
    def user_message(self) -> str:
        return _(
            "Moodle could not find a record needed by %(function)s (%(detail)s). Check the course, "
            "category and role ids in the moodle settings.",
            function=self.function or "?",
            detail=self.detail,
        )


class MoodleUnavailable(MoodleError):
    """Network failure, timeout or a PHP crash (5xx): worth retrying later."""

    retryable = True

    @property
    def user_message(self) -> str:
        return _(
            "Moodle did not answer %(function)s (%(detail)s). Check moodle.url and that the site is up, "
            "then run again.",
            function=self.function or "?",
            detail=self.detail,
        )


class BadResponse(MoodleError):
    """Something that is not a Moodle REST answer (HTML login page, wrong URL, XML)."""

    @property
    def user_message(self) -> str:
        return _(
            "The answer to %(function)s is not a Moodle web-service response (%(detail)s). Check that "
            "moodle.url is the site's address, without /webservice/...",
            function=self.function or "?",
            detail=self.detail,
        )


class UserConflict(MoodleError):
    """A person's email is taken in Moodle by a user with a different idnumber, or the idnumber by a
    user with another email."""

    @property
    def user_message(self) -> str:
        x = self.extra
        if self.errorcode == "idnumbertaken":
            return _(
                'The Moodle user %(username)s has the ID number "%(idnumber)s" but the e-mail %(other)s, not '
                "%(email)s. lms_bridge does not enrol that account: correct the e-mail in the session file or "
                "in Moodle, then run the provisioning again.",
                username=x.get("username", "?"), idnumber=x.get("idnumber", ""),
                other=x.get("other_email", "?"), email=x.get("email", "?"))
        return _(
            "The email %(email)s already belongs to the Moodle user %(username)s with ID number "
            '"%(other)s", not "%(idnumber)s". Correct the email or the student ID in the session file, '
            "or the user's ID number in Moodle.",
            email=x.get("email", "?"),
            username=x.get("username", "?"),
            other=x.get("other_idnumber", ""),
            idnumber=x.get("idnumber", ""),
        )


class GradeOutOfRange(MoodleError):
    """The grade lies outside the item's range, where Moodle would silently keep the old grade."""

    @property
    def user_message(self) -> str:
        x = self.extra
        return _(
            'The grade %(grade)s is outside the range %(min)s to %(max)s of "%(item)s" in Moodle. Change '
            "the maximum grade of that assignment in Moodle or correct the grade.",
            grade=x.get("grade", "?"),
            min=x.get("grademin", 0),
            max=x.get("grademax", "?"),
            item=x.get("item", "?"),
        )


class GradeNotSaved(MoodleError):
    """Moodle accepted the call but the grade read back differs (workflow state, locked item)."""

    @property
    def user_message(self) -> str:
        x = self.extra
        return _(
            "Moodle accepted the grade for %(user)s but did not store it (read back: %(found)s). Check "
            "that the result assignment is not locked and that the web-service user may release grades.",
            user=x.get("userid", "?"),
            found=x.get("found", "-"),
        )


class PhpError(MoodleError):
    """PHP failed inside Moodle (``TypeError``, ``Error``…): the body has ``exception`` and no ``errorcode``.

    Moodle 4.5 answers ``enrol_manual_enrol_users`` with an unknown user id this way (with the course
    welcome message on; with it off, a ``coding_exception``, ``codingerror``, mapped here too); nothing
    was done reliably, so it is an error, never a success.
    """

    @property
    def user_message(self) -> str:
        return _(
            "Moodle failed with an internal error in %(function)s (%(exception)s: %(detail)s). Usually a "
            "user, course or role it was given does not exist in Moodle; check them, then run again.",
            function=self.function or "?",
            exception=self.exception or "?",
            detail=self.detail or "?",
        )


class TemplateCopyFailed(MoodleError):
    """``core_course_duplicate_course`` refused the template (backup pre-check, unknown option)."""

    @property
    def user_message(self) -> str:
        return _(
            "Moodle could not copy the template course %(template)s (%(errorcode)s). Its backup pre-check "
            "failed: open the template in Moodle, fix what Site administration > Courses > Backups reports "
            "for it (for example a question bank with two top categories), then run again.",
            template=self.extra.get("template", "?"),
            errorcode=self.errorcode or "?",
        )


class LeftoverCourse(MoodleError):
    """An empty course with the session's short name and no ID number: the remains of a failed copy."""

    @property
    def user_message(self) -> str:
        x = self.extra
        return _(
            'Moodle has an empty course "%(shortname)s" (id %(courseid)s) without an ID number, probably left '
            "behind by a template copy that failed. Delete that course in Moodle, then run again.",
            shortname=x.get("shortname", "?"),
            courseid=x.get("courseid", "?"),
        )


class UsersRefused(MoodleError):
    """Some new accounts were refused (taken e-mail or username); the others were created.

    ``created`` maps e-mail to the new user id, ``refused`` lists the refused e-mails.
    """

    def __init__(self, message: str = "", *, created: dict[str, int] | None = None,
                 refused: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.created = dict(created or {})
        self.refused = tuple(refused)

    @property
    def user_message(self) -> str:
        return _(
            "Moodle refused to create the accounts of %(emails)s: the e-mail address or the user name is "
            "already used by another Moodle account (perhaps written with other capital letters). Correct "
            "the address in the session file or in that Moodle account, then run again.",
            emails=", ".join(self.refused) or "?",
        )


class TicketCategoryUnknown(MoodleError):
    """Without the companion plugin: the quiz has no questions and no imported Tickets category was found."""

    @property
    def user_message(self) -> str:
        return _(
            'The ticket quiz "%(quiz)s" has no questions yet. Import %(path)s into the quiz\'s question bank '
            "(Moodle XML format, category taken from the file), then run again: lms_bridge then adds the random "
            'question drawing from the imported category "Tickets". If the web service does not offer '
            "core_get_fragment, add that random question to the quiz by hand instead, or install the "
            "local_lmsbridge plugin.",
            quiz=self.extra.get("quiz", "?"),
            path=self.extra.get("path", "?"),
        )


_BY_CODE: dict[str, type[MoodleError]] = {
    "invalidtoken": InvalidToken,
    "accessexception": AccessDenied,
    "nopermissions": MissingCapability,
    "requireloginerror": MissingCapability,
    "invalidparameter": InvalidParameter,
    "invalidrecord": MissingRecord,
    "invalidrecordunknown": MissingRecord,
    # A coding_exception: on 4.5 with the course welcome message off, an unknown user id in
    # enrol_manual_enrol_users ends in role_assign(): "User ID does not exist or is deleted!"
    # (moodle-live-check.md §13).  Like a PHP error, nothing reliable was done.
    "codingerror": PhpError,
    "backupprecheckerrors": TemplateCopyFailed,
    "setting_by_name_not_found": TemplateCopyFailed,
}


def error_from_body(body: dict[str, Any], function: str) -> MoodleError:
    """The typed error for a Moodle exception body."""
    code = str(body.get("errorcode") or "")
    exc = str(body.get("exception") or "")
    message = str(body.get("message") or "")
    debuginfo = str(body.get("debuginfo") or "")
    cls = _BY_CODE.get(code)
    if cls is None and not code:
        # A PHP error (TypeError, ValueError…) escapes Moodle's handler with no errorcode.
        cls = PhpError
    if cls is None and exc == "dml_missing_record_exception":
        cls = MissingRecord
    if cls is None and exc == "required_capability_exception":
        cls = MissingCapability
    return (cls or MoodleError)(
        message, errorcode=code, function=function, debuginfo=debuginfo, exception=exc
    )
