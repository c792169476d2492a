"""The admin page's forms.  Every one is a FlaskForm, so every POST carries the CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from lms_bridge.i18n import LANGUAGES

SESSION_FILE_EXTENSIONS = ("yaml", "yml", "xlsx")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=120)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class UploadForm(FlaskForm):
    file = FileField(_l("Session file (YAML or Excel workbook)"), validators=[
        FileRequired(_l("Choose a session file to upload.")),
        FileAllowed(SESSION_FILE_EXTENSIONS, _l("Upload a .yaml, .yml or .xlsx file.")),
    ], render_kw={"accept": ".yaml,.yml,.xlsx"})


class ActionForm(FlaskForm):
    """A button that changes something (Provision session, Retry, Sign out): only the CSRF token."""


class LanguageForm(FlaskForm):
    # The switch's buttons submit the code; a plain field with AnyOf keeps the check server-side.
    language = StringField(validators=[DataRequired(), AnyOf(LANGUAGES)])
    next = HiddenField()
