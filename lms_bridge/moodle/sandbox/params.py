"""Moodle's parameter handling, as the sandbox needs it: PHP bracket decoding and external_api validation.

The validation mirrors ``core_external\\external_api::validate_parameters`` (Moodle 4.5): required and
defaulted keys, unknown keys rejected, booleans only as 0/1, the ``key => message: debuginfo`` path in
the error, so that a request the sandbox accepts is one a real Moodle accepts too.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

REQUIRED, DEFAULT, OPTIONAL = "required", "default", "optional"


class InvalidParameterError(Exception):
    def __init__(self, debuginfo: str) -> None:
        super().__init__(debuginfo)
        self.debuginfo = debuginfo


@dataclass(frozen=True)
class V:
    """external_value: type is int, float, bool, text, raw, alpha, alphaext, alphanumext, email."""

    type: str
    required: str = REQUIRED
    default: Any = None
    allownull: bool = True


@dataclass(frozen=True)
class S:
    """external_single_structure."""

    keys: dict[str, Any] = field(default_factory=dict)
    required: str = REQUIRED
    default: Any = None


@dataclass(frozen=True)
class M:
    """external_multiple_structure."""

    content: Any
    required: str = REQUIRED
    default: Any = None


def opt(spec: Any) -> Any:
    """The same spec, VALUE_OPTIONAL."""
    if isinstance(spec, V):
        return V(spec.type, OPTIONAL, None, spec.allownull)
    if isinstance(spec, S):
        return S(spec.keys, OPTIONAL)
    return M(spec.content, OPTIONAL)


def dflt(spec: Any, default: Any) -> Any:
    if isinstance(spec, V):
        return V(spec.type, DEFAULT, default, spec.allownull)
    if isinstance(spec, S):
        return S(spec.keys, DEFAULT, default)
    return M(spec.content, DEFAULT, default)


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """PHP's parse_str for ``a[0][b]=x``: nested dicts (numeric keys stay keys, as in PHP arrays)."""
    out: dict[str, Any] = {}
    for raw_key, value in pairs:
        m = _KEY.match(raw_key)
        if not m:
            out[raw_key] = value
            continue
        parts = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node: dict[str, Any] = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    return out


def _php_repr(value: Any) -> str:
    if isinstance(value, dict):
        return "Array"
    return str(value)


def _scalar(spec: V, value: Any) -> Any:
    if isinstance(value, dict):
        raise InvalidParameterError("Scalar type expected, array or object received.")
    if value is None and spec.allownull:
        return None
    if spec.type == "bool":
        if value in (True, False, 0, 1, "0", "1"):
            return bool(int(value))
        raise InvalidParameterError(
            f'Invalid external api parameter: the value is "{_php_repr(value)}", the server was expecting "bool" type'
        )
    text = "" if value is None else str(value)
    bad = InvalidParameterError(
        f'Invalid external api parameter: the value is "{text}", the server was expecting "{spec.type}" type'
    )
    if spec.type == "int":
        if isinstance(value, int) or re.fullmatch(r"-?\d+", text):
            return int(text)
        raise bad
    if spec.type == "float":
        try:
            return float(text)
        except ValueError:
            raise bad from None
    if spec.type == "alpha" and not re.fullmatch(r"[A-Za-z]*", text):
        raise bad
    if spec.type == "alphaext" and not re.fullmatch(r"[A-Za-z_\-/]*", text):
        raise bad
    if spec.type == "alphanumext" and not re.fullmatch(r"[A-Za-z0-9_\-]*", text):
        raise bad
    return text


def validate(spec: Any, value: Any) -> Any:
    if isinstance(spec, V):
        return _scalar(spec, value)
    if isinstance(spec, S):
        if not isinstance(value, dict):
            raise InvalidParameterError(f"Only arrays accepted. The bad value is: '{_php_repr(value)}'")
        params = dict(value)
        result: dict[str, Any] = {}
        for key, sub in spec.keys.items():
            if key not in params:
                if sub.required == REQUIRED:
                    raise InvalidParameterError(f"Missing required key in single structure: {key}")
                if sub.required == DEFAULT:
                    result[key] = copy.deepcopy(sub.default)
            else:
                try:
                    result[key] = validate(sub, params[key])
                except InvalidParameterError as exc:
                    raise InvalidParameterError(
                        f"{key} => Invalid parameter value detected: {exc.debuginfo}"
                    ) from None
            params.pop(key, None)
        if params:
            raise InvalidParameterError(f"Unexpected keys ({', '.join(params)}) detected in parameter array.")
        return result
    if isinstance(spec, M):
        if not isinstance(value, dict):
            raise InvalidParameterError(f"Only arrays accepted. The bad value is: '{_php_repr(value)}'")
        keys = sorted(value, key=lambda k: (0, int(k)) if str(k).lstrip("-").isdigit() else (1, str(k)))
        return [validate(spec.content, value[k]) for k in keys]
    raise InvalidParameterError("Invalid external api description")


def validate_function(keys: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Top level, as external_api::call_external_function does it."""
    return validate(S(keys), params)
