"""Kazakh and Russian texts of the sandbox pages.

The product's catalog extraction skips ``lms_bridge/**/sandbox/**`` (babel.cfg), so the pages fall back
to this table when the catalogs do not carry a msgid; the same entries are in
``lms_bridge/translations/pending/google_sandbox.json`` for the catalogs.
"""

from __future__ import annotations

from lms_bridge.i18n import current_locale, gettext

TEXTS: dict[str, dict[str, str]] = {
    "Google sandbox": {
        "kk": "Google құмсалғышы",
        "ru": "Песочница Google",
    },
    "This form is not accepting responses.": {
        "kk": "Бұл форма жауап қабылдамайды.",
        "ru": "Эта форма не принимает ответы.",
    },
    "Account": {
        "kk": "Аккаунт",
        "ru": "Аккаунт",
    },
    "Choose an account": {
        "kk": "Аккаунтты таңдаңыз",
        "ru": "Выберите аккаунт",
    },
    "Continue": {
        "kk": "Жалғастыру",
        "ru": "Продолжить",
    },
    "Your response has been recorded.": {
        "kk": "Жауабыңыз жазылды.",
        "ru": "Ваш ответ записан.",
    },
    "You have already responded. Submitting again records a new response.": {
        "kk": "Сіз бұрын жауап бергенсіз. Қайта жіберсеңіз, жаңа жауап жазылады.",
        "ru": "Вы уже отвечали. Повторная отправка запишет новый ответ.",
    },
    "Submit": {
        "kk": "Жіберу",
        "ru": "Отправить",
    },
    "Course state": {
        "kk": "Курс күйі",
        "ru": "Состояние курса",
    },
    "Owner": {
        "kk": "Иесі",
        "ru": "Владелец",
    },
    "Teachers": {
        "kk": "Оқытушылар",
        "ru": "Преподаватели",
    },
    "Students": {
        "kk": "Студенттер",
        "ru": "Студенты",
    },
    "Announcements": {
        "kk": "Хабарландырулар",
        "ru": "Объявления",
    },
    "Assignments": {
        "kk": "Тапсырмалар",
        "ru": "Задания",
    },
    "Due": {
        "kk": "Мерзімі",
        "ru": "Срок",
    },
    "Student": {
        "kk": "Студент",
        "ru": "Студент",
    },
    "State": {
        "kk": "Күйі",
        "ru": "Состояние",
    },
    "Attachments": {
        "kk": "Тіркемелер",
        "ru": "Вложения",
    },
    "Grade": {
        "kk": "Баға",
        "ru": "Оценка",
    },
    "late": {
        "kk": "кешікті",
        "ru": "с опозданием",
    },
    "This sheet is empty.": {
        "kk": "Бұл парақ бос.",
        "ru": "Этот лист пуст.",
    },
    "Page not found.": {
        "kk": "Бет табылмады.",
        "ru": "Страница не найдена.",
    },
    "Courses": {
        "kk": "Курстар",
        "ru": "Курсы",
    },
    "Forms": {
        "kk": "Формалар",
        "ru": "Формы",
    },
    "Spreadsheets": {
        "kk": "Кестелер",
        "ru": "Таблицы",
    },
}


def translate(msgid: str) -> str:
    text = gettext(msgid)
    lang = current_locale()
    if text == msgid and lang != "en":
        return TEXTS.get(msgid, {}).get(lang, msgid)
    return text
