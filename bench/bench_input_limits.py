"""How long hostile inputs take to be refused, and the memory they cost, with the default limits.

Each case is built in memory, then read once by a fresh child process (so peak memory is that of
the refusal alone); prints seconds and peak Python memory (tracemalloc) per case, next to the valid sample
session read the same way, and the ratio to it.

    .venv/bin/python bench/bench_input_limits.py
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, tracemalloc
from pathlib import Path
from lms_bridge.sessionfile import read_session
path = Path(sys.argv[1])
data = path.read_bytes()
# Timed without tracing (tracemalloc slows every allocation), then traced for the peak.
started = time.perf_counter()
spec, problems = read_session(data, path.name)
seconds = time.perf_counter() - started
tracemalloc.start()
read_session(data, path.name)
peak = tracemalloc.get_traced_memory()[1] / 1e6
print(json.dumps({"seconds": seconds, "peak_mb": peak, "valid": spec is not None,
                  "first": str(problems[0]) if problems else ""}))
"""


def _sheet(rows: int, *, cell: str = '<c r="A{r}"><v>{r}</v></c>') -> bytes:
    header = "".join(f'<c r="{col}1" t="inlineStr"><is><t>{title}</t></is></c>'
                     for col, title in zip("ABC", ("id", "name", "email"), strict=True))
    body = "".join(f'<row r="{r}">{cell.format(r=r)}</row>' for r in range(2, rows + 2))
    return ('<?xml version="1.0" encoding="UTF-8"?><worksheet '
            'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            f'<row r="1">{header}</row>{body}</sheetData></worksheet>').encode()


def _replace_students_sheet(sheet: bytes) -> bytes:
    data = (REPO / "config" / "sample-session.xlsx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            target = info.filename == "xl/worksheets/sheet4.xml"
            dst.writestr(info, sheet if target else src.read(info.filename))
    return out.getvalue()


def cases() -> dict[str, bytes]:
    sample = (REPO / "config" / "sample-session.yaml").read_bytes()
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        laughs.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9)}]")
    head, rest = sample.decode().split("students:\n", 1)
    tail = rest[rest.index("tickets:"):]
    many = "".join(f'  - id: "{i}"\n    name: "S {i}"\n    email: s{i}@stud.univ.edu.kz\n' for i in range(60_000))
    return {
        "sample.yaml (valid)": sample,
        "sample.xlsx (valid)": (REPO / "config" / "sample-session.xlsx").read_bytes(),
        "nested 100000 deep.yaml": sample.replace(b"session:\n", b"session:\n  x: " + b"[" * 100_000 +
                                                  b"]" * 100_000 + b"\n", 1),
        "billion laughs.yaml": "\n".join(laughs).encode(),
        "60000 students.yaml": (head + "students:\n" + many + tail).encode(),
        "1.5M rows (8 MB) .xlsx": _replace_students_sheet(_sheet(1_500_000, cell="")),
        "2 MB of YAML, one long title.yaml": sample.replace(b"session:\n", b"session:\n  x: " +
                                                            b"a" * (2 * 1024 * 1024 - len(sample) - 20) +
                                                            b"\n", 1),
        "100k rows, 5.1 MB unpacked, no dimension .xlsx": _replace_students_sheet(_sheet(100_000)),
    }


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in cases().items():
            suffix = ".xlsx" if ".xlsx" in name else ".yaml"
            path = Path(tmp) / f"case{suffix}"
            path.write_bytes(data)
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                                 check=True, cwd=REPO)
            results[name] = {"bytes": len(data), **json.loads(out.stdout)}
    base = results["sample.xlsx (valid)"]
    for name, r in results.items():
        print(f"{name:48s} {r['bytes'] / 1e6:7.2f} MB  {r['seconds']:6.2f} s "
              f"({r['seconds'] / base['seconds']:6.1f}x sample.xlsx)  peak {r['peak_mb']:6.1f} MB  "
              f"{'valid' if r['valid'] else 'refused: ' + r['first'][:90]}")


if __name__ == "__main__":
    main()
