"""A test exam's question bank in Moodle's GIFT format (docs.moodle.org/405/en/GIFT_format).

Only what a test exam of this kind uses is accepted: single-answer multiple choice
(``{=right ~wrong ~wrong}``) and true/false (``{T}``, ``{F}``, ``{TRUE}``, ``{FALSE}``), each with an
optional ``::name::`` and ``// comments``; answer feedback after ``#`` is dropped.  Every problem
names the line the question starts on, so the secretary finds it in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lms_bridge.domain.session import TestQuestion
from lms_bridge.sessionfile.problems import _l

# (first line of the question, msgid, params)
GiftProblem = tuple[int, str, dict[str, object]]

_ESCAPED = {"\\:": ":", "\\~": "~", "\\=": "=", "\\{": "{", "\\}": "}", "\\#": "#", "\\n": "\n"}
_TRUE = {"t", "true"}
_FALSE = {"f", "false"}


def _unescape(text: str) -> str:
    return re.sub(r"\\[:~={}#n]", lambda m: _ESCAPED[m.group(0)], text).strip()


def _split_unescaped(text: str, marks: str) -> list[tuple[str, str]]:
    """(mark, text) pieces of ``text`` cut before every unescaped character in ``marks``."""
    pieces: list[tuple[str, str]] = []
    mark, start, i = "", 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in marks:
            pieces.append((mark, text[start:i]))
            mark, start = text[i], i + 1
        i += 1
    pieces.append((mark, text[start:]))
    return pieces


def _find_unescaped(text: str, char: str, start: int = 0) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == char:
            return i
        i += 1
    return -1


def _blocks(text: str) -> list[tuple[int, str]]:
    """(first line, text) of each question: blocks separated by blank lines, comments removed."""
    blocks: list[tuple[int, str]] = []
    current: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("//"):
            continue
        if not line.strip():
            if current:
                blocks.append((first, "\n".join(current)))
                current = []
            continue
        if not current:
            first = number
        current.append(line)
    if current:
        blocks.append((first, "\n".join(current)))
    return blocks


def parse_gift(text: str) -> tuple[list[TestQuestion], list[GiftProblem]]:
    """The questions of a GIFT text, or the problems found (line, msgid, params), all of them."""
    questions: list[TestQuestion] = []
    problems: list[GiftProblem] = []
    for line, block in _blocks(text):
        def problem(msgid: str, line: int = line, **params: object) -> None:
            problems.append((line, msgid, params))

        question = _question(block, problem)
        if question is not None:
            questions.append(question)
    return questions, problems


def _question(block: str, problem: Callable[..., None]) -> TestQuestion | None:
    body = block.strip()
    name = ""
    if body.startswith("$CATEGORY:"):
        return None  # a category line places questions in Moodle; the quiz makes its own category
    if body.startswith("::"):
        end = body.find("::", 2)
        if end < 0:
            problem(_l("The question name opened with :: is not closed with ::."))
            return None
        name, body = _unescape(body[2:end]), body[end + 2:]
    body = re.sub(r"^\[(html|plain|markdown|moodle)\]", "", body.strip())
    open_at = _find_unescaped(body, "{")
    if open_at < 0:
        problem(_l("The question has no answers: write them in braces, like `{=right ~wrong}`."))
        return None
    close_at = _find_unescaped(body, "}", open_at)
    if close_at < 0:
        problem(_l("The answers opened with { are not closed with }."))
        return None
    # Text after the braces (a fill-in-the-blank layout) stays part of the question.
    text = _unescape(f"{body[:open_at]} {body[close_at + 1:]}")
    inside = body[open_at + 1:close_at].strip()
    if not text:
        problem(_l("The question has no text."))
        return None
    if inside.lower() in _TRUE | _FALSE:
        return TestQuestion(text=text, answers=("True", "False"), correct=0 if inside.lower() in _TRUE else 1,
                            name=name)
    if not inside or inside.startswith("#") or "->" in inside:
        problem(_l("Only single-answer multiple choice and true/false questions can be used in a test exam: "
                   "`{=right ~wrong}`, `{T}`, `{F}`."))
        return None
    answers: list[str] = []
    correct: list[int] = []
    for mark, piece in _split_unescaped(inside, "=~"):
        if not mark:
            if piece.strip():
                problem(_l("Every answer starts with = (the right one) or ~ (a wrong one)."))
                return None
            continue
        answer = _unescape(_split_unescaped(piece, "#")[0][1])
        if answer.startswith("%"):
            problem(_l("Answers with partial credit (%%) cannot be used: one answer is right, the others "
                       "wrong."))
            return None
        if not answer:
            problem(_l("An answer is empty."))
            return None
        if mark == "=":
            correct.append(len(answers))
        answers.append(answer)
    if len(correct) != 1:
        problem(_l("A question needs exactly one right answer (marked with =); this one has %(count)s."),
                count=len(correct))
        return None
    if len(answers) < 2:
        problem(_l("A question needs at least two answers."))
        return None
    return TestQuestion(text=text, answers=tuple(answers), correct=correct[0], name=name)
