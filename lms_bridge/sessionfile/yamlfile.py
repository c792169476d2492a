"""Reading the YAML form of a session file, keeping the line of every value.

PyYAML's safe loader does the parsing and the scalar conversion; we walk its node tree ourselves
rather than taking ``safe_load``'s plain dicts, because the nodes carry the line numbers the
secretary needs, and because a repeated key (which ``safe_load`` silently overwrites) is a mistake
worth naming.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lms_bridge.config import LimitsSettings
from lms_bridge.sessionfile.problems import Location, Problem, _l
from lms_bridge.sessionfile.raw import (
    COMMISSION_FIELDS,
    OPTIONAL_SECTIONS,
    SESSION_KEYS,
    STAFF_FIELDS,
    STUDENT_FIELDS,
    TICKET_FIELDS,
    Cell,
    RawRecord,
    RawSession,
)

SECTIONS = ("session", "commission", "students", "tickets")


class _TooBig(yaml.YAMLError):
    """The document nests deeper, or expands into more values, than a session file can."""

    def __init__(self, msgid: str, line: int, path: str, params: dict[str, Any]) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.line = line
        self.path = path
        self.params = params


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document too deep or too large *while* it is composed.

    ``safe_load`` alone is not enough: the composer recurses once per nesting level, so 100,000
    opening brackets end in a ``RecursionError``, and aliases let a few hundred bytes stand for
    billions of values ("billion laughs", also through ``<<`` merge keys).  Every node's expanded
    size and height (aliases followed) is computed from its children as they are composed, so the
    limits hold without ever expanding anything.
    """

    def __init__(self, text: str, limits: LimitsSettings) -> None:
        super().__init__(text)
        self.limits = limits
        self._depth = 0
        self._path: list[str] = []
        self._size: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, height)
        self._total = 0  # values so far, aliases expanded: stops a long flat list as early as a bomb

    def _refuse(self, mark: Any, msgid: str, **params: Any) -> _TooBig:
        # The first levels say where the trouble starts; twenty more "[1]" would say nothing more.
        parts = self._path if len(self._path) <= 6 else [*self._path[:6], "…"]
        return _TooBig(msgid, mark.line + 1, "".join(parts).lstrip("."), params)

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        if isinstance(index, ScalarNode):
            self._path.append(f".{index.value}")
        elif isinstance(index, int):
            self._path.append(f"[{index + 1}]")
        else:
            self._path.append("")
        try:
            mark = self.peek_event().start_mark
            if self.check_event(AliasEvent):
                node = super().compose_node(parent, index)
                # An alias is its anchor again, wherever it is used.
                size, height = self._size.get(id(node), (1, 1))
                self._total += size
                self._check(mark, self._total, height, depth=self._depth)
                return node
            self._total += 1
            if self._total > self.limits.yaml_nodes:
                raise self._too_many(mark)
            self._depth += 1
            if self._depth > self.limits.yaml_depth:
                raise self._refuse(mark, _l("Values are nested more than %(max)s levels deep here."),
                                   max=self.limits.yaml_depth)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            size, height = 1, 1
            for child in self._children(node):
                c_size, c_height = self._size.get(id(child), (1, 1))
                size += c_size
                height = max(height, c_height + 1)
            self._check(mark, size, height, depth=self._depth)
            self._size[id(node)] = (size, height)
            return node
        finally:
            self._path.pop()

    @staticmethod
    def _children(node: Node) -> list[Node]:
        if isinstance(node, MappingNode):
            return [n for pair in node.value for n in pair]
        if isinstance(node, SequenceNode):
            return list(node.value)
        return []

    def _check(self, mark: Any, size: int, height: int, *, depth: int) -> None:
        if depth + height > self.limits.yaml_depth:
            raise self._refuse(mark, _l("Values are nested more than %(max)s levels deep here."),
                               max=self.limits.yaml_depth)
        if size > self.limits.yaml_nodes:
            raise self._too_many(mark)

    def _too_many(self, mark: Any) -> _TooBig:
        return self._refuse(mark, _l("The file holds more than %(max)s values once its aliases (*name) "
                                     "are expanded."), max=self.limits.yaml_nodes)


def decode(data: bytes, file: str) -> tuple[str | None, list[Problem]]:
    """The file as text, or the problem with its encoding (it must be UTF-8)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [Problem(file, Location(), "", _l("The file is saved as UTF-16; save it as UTF-8."))]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark, as Windows Notepad writes it
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(file, Location(line=line), "",
                              _l("The file is not UTF-8 text (a byte at line %(line)s cannot be read); "
                              "save it with the UTF-8 encoding."), {"line": line})]


def _control_character(file: str, text: str, exc: yaml.reader.ReaderError) -> list[Problem]:
    line = text[: exc.position].count("\n") + 1
    # The reader stops before any structure is known; the key written on that line names the field.
    key = re.match(r"\s*(?:-\s+)?([A-Za-z_][\w.]*)\s*:", text.splitlines()[line - 1] if text else "")
    return [Problem(file, Location(line=line), key[1] if key else "",
                    _l("Line %(line)s holds the control character %(char)s, which a session file cannot "
                       "contain."), {"line": line, "char": f"U+{exc.character:04X}"})]


def read_yaml(data: bytes, file: str,
              limits: LimitsSettings | None = None) -> tuple[RawSession | None, list[Problem]]:
    limits = limits or LimitsSettings()
    if len(data) > limits.yaml_bytes:
        # PyYAML reads character by character (seconds per megabyte); a workbook of the same size
        # is mostly compressed, hence a limit of its own.
        return None, [Problem(file, Location(), "",
                              _l("The YAML file is larger than %(mb)s MB; is it the right file?"),
                              {"mb": f"{limits.yaml_bytes / (1024 * 1024):g}"})]
    text, problems = decode(data, file)
    if text is None:
        return None, problems
    try:
        # The reader refuses control characters as soon as it is built, hence inside the try.
        loader = _BoundedLoader(text, limits)
    except yaml.reader.ReaderError as exc:
        return None, _control_character(file, text, exc)
    try:
        root = loader.get_single_node()
    except _TooBig as exc:
        field = exc.path.rsplit(".", 1)[-1].split("[", 1)[0] if exc.path else ""
        return None, [Problem(file, Location(path=exc.path, line=exc.line), field, exc.msgid, exc.params)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(x for x in (exc.context, exc.problem) if x)
        return None, [Problem(file, Location(line=mark.line + 1 if mark is not None else None), "",
                              _l("This is not valid YAML: %(detail)s."), {"detail": detail})]
    except yaml.reader.ReaderError as exc:
        return None, _control_character(file, text, exc)
    except yaml.YAMLError as exc:
        return None, [Problem(file, Location(), "", _l("This is not valid YAML: %(detail)s."),
                              {"detail": str(exc)})]
    finally:
        loader.dispose()
    if root is None:
        return None, [Problem(file, Location(), "", _l("The file is empty."))]
    return _Walker(loader, file).session(root)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, loc: Location, field: str, msgid: str, **params: Any) -> None:
        self.problems.append(Problem(self.file, loc, field, msgid, params))

    def mapping(self, node: Node, path: str, field: str) -> dict[str, tuple[Node, Node]] | None:
        """Key -> (key node, value node); reports a non-mapping, and repeated or non-text keys."""
        if not isinstance(node, MappingNode):
            self.problem(Location(path=path, line=_line(node)), field,
                         _l("Expected a set of \"key: value\" lines here."))
            return None
        self.loader.flatten_mapping(node)  # resolves "<<: *anchor" merges
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str) or not key:
                self.problem(Location(path=path, line=_line(key_node)), field, _l("A key here is not a name."))
                continue
            if key in out:
                self.problem(Location(path=_join(path, key), line=_line(key_node)), key,
                             _l("The key %(key)s is given twice (first at line %(first)s)."),
                             key=key, first=_line(out[key][0]))
                continue
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: Node, path: str, field: str) -> Cell:
        loc = Location(path=path, line=_line(node))
        if not isinstance(node, ScalarNode):
            self.problem(loc, field, _l("Expected a single value here, not a list or a set of keys."))
            return Cell(None, loc)
        try:
            value = self.loader.construct_object(node, deep=True)
        except Exception:
            # e.g. 2026-02-30 09:00:00, which YAML reads as a timestamp and datetime refuses; an
            # explicit tag (!!timestamp, !!binary, !!python/...) can fail inside PyYAML in any way.
            value_text = node.value
            self.problem(loc, field, _l("%(value)s is not a possible value here."), value=f'"{value_text}"')
            return Cell(None, loc)
        return Cell(value, loc, source=None if isinstance(value, str) else node.value)

    def session(self, root: Node) -> tuple[RawSession | None, list[Problem]]:
        top = self.mapping(root, "", "")
        if top is None:
            return None, self.problems
        raw = RawSession(file=self.file)
        for key, (key_node, _value) in top.items():
            if key not in SECTIONS and key not in OPTIONAL_SECTIONS:
                self.problem(Location(path=key, line=_line(key_node)), key,
                             _l("Unknown section %(key)s: the file has the sections %(known)s."),
                             key=key, known=", ".join(SECTIONS + OPTIONAL_SECTIONS))
        for section in SECTIONS:
            if section not in top:
                self.problem(Location(), section, _l("The section %(section)s is missing."),
                             section=section)
        if "session" in top:
            node = top["session"][1]
            raw.session_loc = Location(path="session", line=_line(top["session"][0]))
            self.flatten(node, "session", "", raw.session)
        if "commission" in top:
            raw.commission, raw.commission_loc = self.records(top["commission"], "commission",
                                                              COMMISSION_FIELDS)
        if "students" in top:
            raw.students, raw.students_loc = self.records(top["students"], "students", STUDENT_FIELDS)
        if "tickets" in top:
            raw.tickets, raw.tickets_loc = self.records(top["tickets"], "tickets", TICKET_FIELDS)
        if "appeal_commission" in top:
            raw.appeal_commission, raw.appeal_commission_loc = self.records(
                top["appeal_commission"], "appeal_commission", COMMISSION_FIELDS)
        if "administrative_staff" in top:
            raw.administrative_staff, raw.administrative_staff_loc = self.records(
                top["administrative_staff"], "administrative_staff", STAFF_FIELDS)
        return raw, self.problems

    def flatten(self, node: Node, path: str, prefix: str, out: dict[str, Cell]) -> None:
        items = self.mapping(node, path, prefix.rstrip(".") or "session")
        for key, (key_node, value_node) in (items or {}).items():
            dotted = prefix + key
            if isinstance(value_node, MappingNode) and any(k.startswith(dotted + ".") for k in SESSION_KEYS):
                self.flatten(value_node, _join(path, key), dotted + ".", out)
            elif dotted not in SESSION_KEYS:
                self.problem(Location(path=_join(path, key), line=_line(key_node)), dotted,
                             _l("Unknown field %(key)s."), key=dotted)
            elif dotted in out:
                self.problem(Location(path=_join(path, key), line=_line(key_node)), dotted,
                             _l("The key %(key)s is given twice (first at line %(first)s)."),
                             key=dotted, first=out[dotted].loc.line)
            else:
                out[dotted] = self.scalar(value_node, _join(path, key), dotted)

    def records(self, pair: tuple[Node, Node], section: str,
                known: tuple[str, ...]) -> tuple[list[RawRecord] | None, Location]:
        key_node, node = pair
        section_loc = Location(path=section, line=_line(key_node))
        if isinstance(node, ScalarNode) and node.value in ("", "~", "null"):
            return [], section_loc  # "students:" with nothing under it: an empty list
        if not isinstance(node, SequenceNode):
            self.problem(section_loc, section, _l("Expected a list (lines starting with \"- \") here."))
            return None, section_loc
        out: list[RawRecord] = []
        for index, item in enumerate(node.value, start=1):
            path = f"{section}[{index}]"
            rec = RawRecord(loc=Location(path=path, line=_line(item)))
            fields = self.mapping(item, path, section)
            if fields is None:
                continue
            for key, (k_node, v_node) in fields.items():
                if key not in known:
                    self.problem(Location(path=_join(path, key), line=_line(k_node)), key,
                                 _l("Unknown field %(key)s."), key=key)
                elif key == "questions":
                    rec.fields[key] = self.question_list(v_node, _join(path, key))
                else:
                    rec.fields[key] = self.scalar(v_node, _join(path, key), key)
            out.append(rec)
        return out, section_loc

    def question_list(self, node: Node, path: str) -> Cell:
        loc = Location(path=path, line=_line(node))
        if not isinstance(node, SequenceNode):
            self.problem(loc, "questions", _l("Expected a list (lines starting with \"- \") here."))
            return Cell([], loc)
        return Cell([self.scalar(q, f"{path}[{i}]", "questions") for i, q in enumerate(node.value, start=1)],
                    loc)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
