"""Routing and request validation from the discovery documents shipped with google-api-python-client.

The same documents drive the real client, so a request the client can build but Google would refuse
(unknown body field, bad enum, missing required parameter, wrong scope) is refused here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import googleapiclient

from .errors import ApiError, bad_request

DOCUMENTS_DIR = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"

# host -> discovery document name
SERVICES: dict[str, str] = {
    "classroom.googleapis.com": "classroom.v1",
    "forms.googleapis.com": "forms.v1",
    "www.googleapis.com": "drive.v3",
    "sheets.googleapis.com": "sheets.v4",
}


@dataclass(frozen=True)
class Method:
    id: str
    api: str  # "classroom" | "forms" | "drive" | "sheets"
    host: str
    http_method: str
    path: str  # relative to the host, e.g. "drive/v3/files/{fileId}"
    regex: re.Pattern[str]
    parameters: dict[str, dict[str, Any]]
    request_ref: str | None
    scopes: tuple[str, ...]


@dataclass
class Service:
    host: str
    name: str
    doc: dict[str, Any]
    methods: list[Method] = field(default_factory=list)

    @property
    def schemas(self) -> dict[str, Any]:
        return self.doc["schemas"]


def _walk(resources: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for res in resources.values():
        yield from res.get("methods", {}).values()
        yield from _walk(res.get("resources", {}))


def _path_regex(template: str) -> re.Pattern[str]:
    out = []
    pos = 0
    for m in re.finditer(r"\{(\+?)([^}]+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        name = m.group(2).replace(".", "_")
        # "{+name}" is reserved expansion (may hold slashes); plain parameters stop at "/".
        out.append(f"(?P<{name}>.+)" if m.group(1) else f"(?P<{name}>[^/]+?)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


@cache
def load_service(host: str) -> Service:
    return service_from(host, DOCUMENTS_DIR)


def service_from(host: str, documents: Path) -> Service:
    """The service of ``host`` as described by the discovery document in ``documents`` (the installed
    client's by default; an older client's to check what that version knows)."""
    name = SERVICES[host]
    doc = json.loads((documents / f"{name}.json").read_text(encoding="utf-8"))
    svc = Service(host=host, name=name, doc=doc)
    for m in _walk(doc.get("resources", {})):
        template = doc["servicePath"] + m.get("flatPath", m["path"])
        params = dict(m.get("parameters", {}))
        svc.methods.append(Method(
            id=m["id"], api=name.split(".")[0], host=host, http_method=m["httpMethod"], path=template,
            regex=_path_regex(template), parameters=params,
            request_ref=(m.get("request") or {}).get("$ref"), scopes=tuple(m.get("scopes", ())),
        ))
    # More literal text first, so "values:batchUpdate" wins over "values/{range}".
    svc.methods.sort(key=lambda mm: -len(re.sub(r"\{[^}]+\}", "", mm.path)))
    return svc


def match(host: str, http_method: str, path: str) -> tuple[Method, dict[str, str]]:
    """Find the discovery method for ``path`` (relative to the host, no leading slash, still
    percent-encoded as sent, so an encoded "/" inside a parameter stays inside it)."""
    if host not in SERVICES:
        raise ApiError(404, f"The requested URL /{path} was not found on this server.")
    try:
        return _match(host, http_method, path)
    except ApiError:
        if unquote(path) == path:
            raise
        # Some clients percent-encode literal parts too ("values%3AbatchUpdate").
        return _match(host, http_method, unquote(path))


def _match(host: str, http_method: str, path: str) -> tuple[Method, dict[str, str]]:
    svc = load_service(host)
    path_matched = False
    for m in svc.methods:
        found = m.regex.match(path)
        if not found:
            continue
        path_matched = True
        if m.http_method != http_method:
            continue
        # flatPath uses the parameter names; restore dotted names where the regex had to mangle them.
        values = {}
        for k, v in found.groupdict().items():
            real = next((p for p in m.parameters if p.replace(".", "_") == k), k)
            values[real] = unquote(v)
        return m, values
    if path_matched:
        raise ApiError(405, f"Method {http_method} is not allowed for /{path}.", status="INVALID_ARGUMENT",
                       reason="methodNotAllowed")
    raise ApiError(404, f"The requested URL /{path} was not found on this server.", reason="notFound")


def _check_scalar(value: str, spec: dict[str, Any], name: str, location: str) -> Any:
    typ = spec.get("type", "string")
    if typ == "integer":
        try:
            out: Any = int(value)
        except ValueError:
            raise bad_request(f"Invalid value at '{name}' (TYPE_INT32), \"{value}\"", field=name,
                              location=location) from None
        if "minimum" in spec and out < int(spec["minimum"]):
            raise bad_request(f"Invalid value at '{name}', {value} is below the minimum", field=name,
                              location=location)
        return out
    if typ == "number":
        try:
            return float(value)
        except ValueError:
            raise bad_request(f"Invalid value at '{name}' (TYPE_DOUBLE), \"{value}\"", field=name,
                              location=location) from None
    if typ == "boolean":
        if value.lower() not in ("true", "false", "1", "0"):
            raise bad_request(f"Invalid value at '{name}' (TYPE_BOOL), \"{value}\"", field=name,
                              location=location)
        return value.lower() in ("true", "1")
    if "enum" in spec and value not in spec["enum"]:
        raise bad_request(f"Invalid value at '{name}' (TYPE_ENUM), \"{value}\"", field=name, location=location)
    return value


def validate_params(method: Method, path_values: dict[str, str], query: dict[str, list[str]],
                    global_params: dict[str, Any]) -> dict[str, Any]:
    """Type-check path and query parameters; return them converted (repeated ones as lists)."""
    out: dict[str, Any] = {}
    for name, value in path_values.items():
        spec = method.parameters.get(name, {"type": "string"})
        out[name] = _check_scalar(value, spec, name, name)
    for name, values in query.items():
        qspec = method.parameters.get(name) or global_params.get(name)
        if qspec is None:
            raise bad_request(f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query "
                              "parameter. Field '" + name + "' could not be found in request message.",
                              field=name, location=name)
        if qspec.get("location") == "path":
            raise bad_request(f"Parameter {name} belongs in the path", location=name)
        conv = [_check_scalar(v, qspec, name, name) for v in values]
        out[name] = conv if qspec.get("repeated") else conv[-1]
    for name, spec in method.parameters.items():
        if spec.get("required") and name not in out:
            raise bad_request(f"Required parameter: {name}", location=name)
    return out


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def validate_body(svc: Service, ref: str, body: Any) -> None:
    """Check ``body`` against schema ``ref`` recursively, with Google's wording for the first problem."""
    # A body bound to one request field (courses.create -> "course") is named in messages; a whole
    # request message ("...Request") is not.
    root = "" if ref.endswith("Request") else _snake(_lower_first(ref))
    if not isinstance(body, dict):
        raise bad_request(f"Invalid JSON payload received. Expected an object at '{root}'.")
    _validate(svc, {"$ref": ref}, body, root)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _validate(svc: Service, spec: dict[str, Any], value: Any, path: str) -> None:
    if "$ref" in spec:
        spec = dict(svc.schemas[spec["$ref"]])
    if value is None:
        return  # JSON null is accepted by Google for any field and means "unset".
    typ = spec.get("type", "object" if "properties" in spec else "any")
    where = f" at '{path}'" if path else ""
    if typ == "object":
        if not isinstance(value, dict):
            raise bad_request(f"Invalid JSON payload received. Expected an object{where}.", field=path)
        if "properties" in spec:
            props = spec["properties"]
            for key, item in value.items():
                if key not in props:
                    snake = next((p for p in props if _snake(p) == key), None)
                    if snake is None:
                        raise bad_request(
                            f"Invalid JSON payload received. Unknown name \"{key}\"{where}: Cannot find field.",
                            field=path or key)
                    key = snake
                _validate(svc, props[key], item, _join(path, _snake(key)))
        elif "additionalProperties" in spec:
            for key, item in value.items():
                _validate(svc, spec["additionalProperties"], item, f"{path}[{key}]")
        return
    if typ == "array":
        if not isinstance(value, list):
            raise bad_request(f"Invalid value{where} (TYPE_LIST), {json.dumps(value)}", field=path)
        for i, item in enumerate(value):
            _validate(svc, spec.get("items", {}), item, f"{path}[{i}]")
        return
    if typ == "string":
        if not isinstance(value, str):
            # Like Google's JSON parser, numbers are accepted for int64/double strings.
            if spec.get("format") in ("int64", "uint64", "google-duration") and isinstance(value, int | float):
                return
            raise bad_request(f"Invalid value{where} (TYPE_STRING), {json.dumps(value)}", field=path)
        if "enum" in spec and value not in spec["enum"]:
            raise bad_request(f"Invalid value{where} (TYPE_ENUM), \"{value}\"", field=path)
        return
    if typ == "integer":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and
                                                                       re.fullmatch(r"-?\d+", value))):
            raise bad_request(f"Invalid value{where} (TYPE_INT32), {json.dumps(value)}", field=path)
        return
    if typ == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"Invalid value{where} (TYPE_DOUBLE), {json.dumps(value)}", field=path)
        return
    if typ == "boolean":
        if not isinstance(value, bool):
            raise bad_request(f"Invalid value{where} (TYPE_BOOL), {json.dumps(value)}", field=path)
        return
    # "any": free-form (e.g. Sheets cell values)
