"""One `lms-bridge provision` run of a large session against the sandbox served with Google's quotas.

Serves the sandboxes as their own process (`lms-bridge sandbox serve --latency-ms 80`, quotas on as
always, each batch part charged to its service), generates a session of N admitted students with a
commission of 7 (chair, 5 members, secretary), provisions it in ONE `lms-bridge provision --json`
run and reports:

* wall time, and the quota-bound minimum computed from the Google calls the sandbox saw: for each
  per-user quota bucket, calls / quota x 60 s (the rate bound) and 60 s x floor((calls-1)/quota)
  (what a moving window allows at best: the first window's worth at once, then one window per
  quota's worth); the largest over the buckets is the minimum;
* Google calls per student, each batch part counted, by bucket and by method;
* how many times a request waited for a quota refusal (the client's log) and whether any step failed.

    .venv/bin/python bench/bench_quota_provision.py --students 300 [--latency-ms 80] [--keep DIR]

It takes about as long as the Forms write quota dictates (150 per minute per user): ~10 minutes for
300 students.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("lms-bridge"))


def session_file(path: Path, students: int) -> None:
    sample = yaml.safe_load((REPO / "config" / "sample-session.yaml").read_text(encoding="utf-8"))
    sample["session"]["code"] = f"BENCH-Q{students}"
    domain = "univ.edu.kz"
    sample["commission"] = (
        [{"name": "Төраға Бірінші", "email": f"chair@{domain}", "role": "chair"}]
        + [{"name": f"Мүше {i}", "email": f"member{i}@{domain}", "role": "member"} for i in range(1, 6)]
        + [{"name": "Хатшы Техникалық", "email": f"secretary@{domain}", "role": "secretary"}])
    sample["students"] = [{"id": f"2101{i:05d}", "name": f"Білім алушы {i}",
                           "email": f"student{i}@stud.{domain}", "admitted": True}
                          for i in range(1, students + 1)]
    path.write_text(yaml.safe_dump(sample, allow_unicode=True, sort_keys=False), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the sandbox exited with {proc.returncode}")
        try:
            requests.get(url + "/google/", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit("the sandbox did not come up")


def google_calls(request_log: Path) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """(calls per quota bucket, calls per method) the sandbox saw; batch parts each count once."""
    from lms_bridge.google.sandbox.discovery import match
    from lms_bridge.google.sandbox.errors import ApiError
    from lms_bridge.google.sandbox.limits import quota_buckets

    buckets: collections.Counter[str] = collections.Counter()
    methods: collections.Counter[str] = collections.Counter()
    for line in request_log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if isinstance(entry.get("body"), str) and entry["body"].startswith("<multipart batch"):
            continue  # the batch envelope; its parts are logged one by one
        host, _, rest = entry["path"].lstrip("/").partition("/")
        try:
            method, _ = match(host, entry["method"], rest.partition("?")[0])
        except ApiError:
            continue  # token requests and the like are not API calls
        methods[method.id] += 1
        for bucket in quota_buckets(method):
            buckets[f"{method.api}.{bucket}"] += 1
    return buckets, methods


def quota_minimum(buckets: collections.Counter[str]) -> dict[str, tuple[float, float]]:
    from lms_bridge.google.sandbox.limits import USER_QUOTAS

    out = {}
    for name, calls in buckets.items():
        api, bucket = name.split(".", 1)
        quota = USER_QUOTAS[(api, bucket)][0]
        out[name] = (calls / quota * 60.0, 60.0 * math.floor((calls - 1) / quota))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--keep", type=Path, help="keep the data dir here (log, store, request log)")
    args = parser.parse_args()

    data = args.keep or Path(tempfile.mkdtemp(prefix="lms-bridge-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LMS_BRIDGE_DATA_DIR": str(data), "LMS_BRIDGE_LANGUAGE": "en"}
    env.pop("LMS_BRIDGE_SANDBOX_URL", None)
    request_log = data / "google-requests.jsonl"
    sandbox = subprocess.Popen([CLI, "sandbox", "serve", "--port", str(port), "--latency-ms", str(args.latency_ms),
                                "--request-log", str(request_log)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(url, sandbox)
        session = data / "session.yaml"
        session_file(session, args.students)
        started = time.monotonic()
        run = subprocess.run([CLI, "provision", str(session), "--json"], env={**env, "LMS_BRIDGE_SANDBOX_URL": url},
                             capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    summary = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else {}
    if not summary:
        print(run.stdout, run.stderr, sep="\n")
        raise SystemExit("no summary from lms-bridge provision")
    buckets, methods = google_calls(request_log)
    minimum = quota_minimum(buckets)
    binding = max(minimum, key=lambda k: minimum[k][0])
    log = (data / "lms-bridge.log").read_text(encoding="utf-8") if (data / "lms-bridge.log").exists() else ""
    waits = log.count("for the quota window")
    n = args.students
    total = sum(methods.values())
    failed = [s for s in summary["steps"] if s["status"] == "failed"]

    print(f"students: {n}   commission: 7 (6 voters)   sandbox latency: {args.latency_ms} ms   runs: 1")
    print(f"run status: {summary['status']}   failed steps: {len(failed)}   quota refusals waited out: {waits}")
    print(f"wall time: {wall:.1f} s   (the run's own clock: {summary['seconds']:.1f} s)")
    print(f"quota-bound minimum: {minimum[binding][0]:.1f} s by rate, {minimum[binding][1]:.1f} s by moving window "
          f"({binding}: {buckets[binding]} calls)")
    print(f"wall time / minimum (rate): {wall / minimum[binding][0]:.2f}")
    print(f"Google calls per student, batch parts counted: {total / n:.2f} ({total} calls)")
    print("calls by quota bucket (per student, minimum by rate / by window):")
    for name in sorted(buckets):
        print(f"  {name:<20} {buckets[name]:>6}  {buckets[name] / n:6.2f}  "
              f"{minimum[name][0]:7.1f} s / {minimum[name][1]:6.1f} s")
    print("calls by method (per student):")
    for name, count in methods.most_common():
        print(f"  {name:<55} {count:>6}  {count / n:6.2f}")
    print("steps:", ", ".join(f"{s['name']}={s['status']}" for s in summary["steps"]))
    if failed:
        print("failed:", json.dumps(failed, ensure_ascii=False))
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    if summary["status"] != "succeeded":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
