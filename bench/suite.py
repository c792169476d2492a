"""The benchmark suite: provisioning at Google's quotas, vote -> decision latency, webhook ingest and
the session page, measured in one run, printed as one table and written as JSON.

Every part runs the product the way it is deployed, each piece as its own process:

* ``lms-bridge sandbox serve --latency-ms 80`` (Google's per-user quotas on, counted as Google counts
  them: each batch part is charged to its service), with its request log;
* ``lms-bridge provision`` (one run per session size);
* for the votes: ``lms-bridge serve`` (waitress) receiving the sandbox's pushes and
  ``lms-bridge worker`` processing them.

Provisioning, per size (``--sizes``, default 40,150,300; 600 is optional, about 20 minutes): wall
time; the quota-bound minimum computed from the Google calls the sandbox saw (for each per-user
bucket, calls / quota x 60 s; the largest bucket binds); their ratio; Google calls per student by
method, each batch part counted; peak RSS of every process (``wait4``'s ``ru_maxrss``).

Votes, on the smallest provisioned session: the six voters of the commission vote through the
sandbox's actor API; the latency is from the moment the last ballot of a student was accepted to
the decision recorded by the worker (``decided_at``).  Three patterns: paced (one student at a
time, a few seconds apart), burst (every voter on ``--burst`` students within about a second) and
burst during the reconcile sweep (enqueued just before the burst).  The decision reaches the grade
sheet only after the chair's release (the rules keep decisions drafts until then); the bench then
releases and measures release -> every decision written to the sheet.

Ingest: ``bench_ingest`` (signed Moodle webhook vs a bare Flask 202 endpoint, same server, same
load, alternating rounds).  Session page: ``bench_session_page`` at 600 students.

    .venv/bin/python bench/suite.py [--sizes 40,150,300] [--database-url postgresql+psycopg://…]
        [--queue-url redis://…/7] [--json bench-results.json] [--skip ingest,page]

The whole suite is not part of the tests (``tests/bench`` runs its code at tiny sizes).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
CLI = str(Path(sys.executable).with_name("lms-bridge"))
DOMAIN = "univ.edu.kz"
VOTERS = [f"chair@{DOMAIN}"] + [f"member{i}@{DOMAIN}" for i in range(1, 6)]
LETTERS = ["A", "A-", "B+", "B", "B-", "C+", "C"]


# -- processes -------------------------------------------------------------------------------------

@dataclass
class Proc:
    """A child process whose peak RSS is read from ``wait4`` when it ends."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    peak_rss_mib: float = 0.0

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> float:
        if self.popen.returncode is None:
            if self.popen.poll() is None:
                self.popen.send_signal(sig)
            self.reap(timeout)
        return self.peak_rss_mib

    def reap(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.popen.pid, os.WNOHANG if deadline else 0)
            if pid:
                self.popen.returncode = os.waitstatus_to_exitcode(status)
                self.peak_rss_mib = usage.ru_maxrss / 1024  # kilobytes on Linux
                return self.popen.returncode
            if deadline is not None and time.monotonic() > deadline:
                self.popen.kill()
                deadline = None
            time.sleep(0.05)


def start(name: str, args: list[str], env: dict[str, str], data: Path) -> Proc:
    log = data / f"{name}.out"
    with log.open("wb") as out:
        popen = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise SystemExit(f"{proc.name} exited with {proc.popen.returncode}: "
                             f"{proc.log.read_text(errors='replace')[-2000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{proc.name} did not come up at {url}")


GROUP = f"attestation-commission@{DOMAIN}"


def session_file(path: Path, students: int, voters_group: str = "") -> None:
    sample = yaml.safe_load((REPO / "config" / "sample-session.yaml").read_text(encoding="utf-8"))
    sample["session"]["code"] = f"BENCH-{students}"
    if voters_group:
        sample["session"]["voters_group"] = voters_group
    sample["commission"] = (
        [{"name": "Төраға Бірінші", "email": VOTERS[0], "role": "chair"}]
        + [{"name": f"Мүше {i}", "email": f"member{i}@{DOMAIN}", "role": "member"} for i in range(1, 6)]
        + [{"name": "Хатшы Техникалық", "email": f"secretary@{DOMAIN}", "role": "secretary"}])
    sample["students"] = [{"id": f"2101{i:05d}", "name": f"Білім алушы {i}",
                           "email": f"student{i}@stud.{DOMAIN}", "admitted": True}
                          for i in range(1, students + 1)]
    path.write_text(yaml.safe_dump(sample, allow_unicode=True, sort_keys=False), encoding="utf-8")


# -- Google calls as Google counts them ----------------------------------------------------------------

def google_calls(request_log: Path, since: float = 0.0) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """(calls per quota bucket, calls per method) the sandbox saw; each batch part counts once."""
    from lms_bridge.google.sandbox.discovery import match
    from lms_bridge.google.sandbox.errors import ApiError
    from lms_bridge.google.sandbox.limits import quota_buckets

    buckets: collections.Counter[str] = collections.Counter()
    methods: collections.Counter[str] = collections.Counter()
    if not request_log.exists():
        return buckets, methods
    for line in request_log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if isinstance(entry.get("body"), str) and entry["body"].startswith("<multipart batch"):
            continue  # the batch envelope; its parts are logged one by one
        host, _, rest = entry["path"].lstrip("/").partition("/")
        try:
            method, _ = match(host, entry["method"], rest.partition("?")[0])
        except ApiError:
            continue  # token requests, the actor API and the people's pages are not API calls
        methods[method.id] += 1
        for bucket in quota_buckets(method):
            buckets[f"{method.api}.{bucket}"] += 1
    return buckets, methods


def quota_minimum(buckets: collections.Counter[str]) -> dict[str, float]:
    """Seconds each bucket needs at least at its per-minute quota (calls / quota x 60 s)."""
    from lms_bridge.google.sandbox.limits import USER_QUOTAS

    out = {}
    for name, calls in buckets.items():
        api, bucket = name.split(".", 1)
        quota = USER_QUOTAS[(api, bucket)][0]
        out[name] = calls / quota * 60.0
    return out


# -- one world: a data dir, a sandbox process and (for votes) the web server and a worker ----------

@dataclass
class World:
    data: Path
    env: dict[str, str]
    web_port: int
    sandbox_url: str
    request_log: Path
    procs: dict[str, Proc] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            self.rss[name] = round(proc.stop(), 1)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def make_world(root: Path, students: int, args: argparse.Namespace) -> World:
    data = root / f"world-{students}"
    data.mkdir(parents=True)
    sandbox_port, web_port = free_port(), free_port()
    env = {**os.environ, "LMS_BRIDGE_DATA_DIR": str(data), "LMS_BRIDGE_LANGUAGE": "en",
           "LMS_BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
           # On purpose: a PostgreSQL store counts as production, which asks for the modes by name.
           "LMS_BRIDGE_GOOGLE_MODE": "sandbox", "LMS_BRIDGE_MOODLE_MODE": "sandbox"}
    if args.database_url:
        env["LMS_BRIDGE_DATABASE_URL"] = args.database_url
    if args.queue_url:
        env["LMS_BRIDGE_QUEUE_URL"] = args.queue_url
    env.pop("LMS_BRIDGE_SANDBOX_URL", None)
    request_log = data / "google-requests.jsonl"
    world = World(data, env, web_port, f"http://127.0.0.1:{sandbox_port}", request_log)
    world.procs["sandbox"] = start("sandbox", [
        CLI, "sandbox", "serve", "--port", str(sandbox_port), "--latency-ms", str(args.latency_ms),
        "--request-log", str(request_log)], env, data)
    wait_http(world.sandbox_url + "/google/", world.procs["sandbox"])
    world.env = {**env, "LMS_BRIDGE_SANDBOX_URL": world.sandbox_url}
    return world


def reset_store(args: argparse.Namespace) -> None:
    """A PostgreSQL store and a Redis queue are shared by the sizes: empty them between worlds."""
    if args.database_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(args.database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    if args.queue_url:
        import redis

        redis.Redis.from_url(args.queue_url).flushdb()


def provision(world: World, students: int, voters_group: str = "") -> dict[str, Any]:
    session = world.data / "session.yaml"
    session_file(session, students, voters_group)
    if voters_group:
        # The university's Workspace admin keeps the group; in the sandbox the actor API makes it
        # (not a Google API call: the count below leaves it out).
        requests.post(f"{world.sandbox_url}/google/_actor/groups", json={"email": voters_group, "members": VOTERS},
                      timeout=30).raise_for_status()
    started = time.monotonic()
    proc = start("provision", [CLI, "provision", str(session), "--json"], world.env, world.data)
    code = proc.reap()
    wall = time.monotonic() - started
    world.rss["provision"] = round(proc.peak_rss_mib, 1)
    out = proc.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    summary = next((json.loads(line) for line in reversed(out) if line.startswith("{")), None)
    if summary is None:
        raise SystemExit(f"no summary from lms-bridge provision (exit {code}):\n" + "\n".join(out[-30:]))
    buckets, methods = google_calls(world.request_log)
    minimum = quota_minimum(buckets)
    binding = max(minimum, key=lambda k: minimum[k])
    log = world.data / "lms-bridge.log"
    waits = log.read_text(encoding="utf-8").count("for the quota window") if log.exists() else 0
    total = sum(methods.values())
    return {
        "students": students, "status": summary["status"],
        "failed_steps": [s["name"] for s in summary["steps"] if s["status"] == "failed"],
        "wall_s": round(wall, 1), "minimum_s": round(minimum[binding], 1), "binding_bucket": binding,
        "wall_over_minimum": round(wall / minimum[binding], 3), "quota_refusals_waited": waits,
        "google_calls": total, "google_calls_per_student": round(total / students, 2),
        "forms_writes_per_student": round(buckets.get("forms.write", 0) / students, 2),
        "buckets": {k: {"calls": v, "minimum_s": round(minimum[k], 1)} for k, v in sorted(buckets.items())},
        "methods_per_student": {k: round(v / students, 3) for k, v in methods.most_common()},
    }


# -- votes --------------------------------------------------------------------------------------------

def _store(world: World) -> Any:
    from lms_bridge.config import load_settings
    from lms_bridge.store.db import make_engine, make_sessionmaker

    settings = load_settings(environ={k: v for k, v in world.env.items() if k.startswith("LMS_BRIDGE_")})
    return make_sessionmaker(make_engine(settings.effective_database_url))


def _forms(sessions: Any) -> list[tuple[int, str, dict[str, Any]]]:
    """(student id, form id, questions) of every published form, in student order."""
    from sqlalchemy import select

    from lms_bridge.store.models import JournalEntry, StudentRecord

    with sessions() as db:
        refs = {s.student_ref: s.id for s in db.scalars(select(StudentRecord))}
        return [(refs[e.key.split(":", 1)[1]], e.external_id, e.data["questions"])
                for e in db.scalars(select(JournalEntry).where(JournalEntry.key.startswith("forms.form:"))
                                    .order_by(JournalEntry.id))]


def _ballots(world: World, form: tuple[int, str, dict[str, Any]], http: requests.Session, seed: int,
             ) -> float:
    """Every voter votes on one form; returns when (UTC epoch) the last ballot was accepted."""
    return max(_one_vote(world, http, form[1], form[2], email, seed + k) for k, email in enumerate(VOTERS))


def _decided(sessions: Any, student_ids: list[int], timeout: float,
             sheet: dict[int, float] | None = None) -> dict[int, float]:
    """When each student's decision was recorded (UTC epoch), waiting up to ``timeout``.  With
    ``sheet``, also waits for and fills in when its (provisional) row was written to the grade sheet:
    the sheet write-back's last update, as the issue counts "decision in the grade sheet"."""
    from sqlalchemy import select

    from lms_bridge.store.models import DecisionRecord, WritebackRecord

    def epoch(at: datetime) -> float:
        return at.replace(tzinfo=at.tzinfo or UTC).timestamp()

    deadline = time.monotonic() + timeout
    found: dict[int, float] = {}
    while time.monotonic() < deadline and (len(found) < len(student_ids)
                                           or (sheet is not None and len(sheet) < len(student_ids))):
        with sessions() as db:
            for d in db.scalars(select(DecisionRecord).where(DecisionRecord.student_id.in_(student_ids))):
                found[d.student_id] = epoch(d.decided_at)
            if sheet is not None:
                for student_id, at in db.execute(
                        select(DecisionRecord.student_id, WritebackRecord.updated_at).join(
                            WritebackRecord, WritebackRecord.decision_id == DecisionRecord.id).where(
                            DecisionRecord.student_id.in_(student_ids), WritebackRecord.target == "sheet",
                            WritebackRecord.status.in_(("draft", "done")))):
                    sheet.setdefault(student_id, epoch(at))
        time.sleep(0.1)
    return found


def _latencies(sent: dict[int, float], decided: dict[int, float]) -> dict[str, Any]:
    values = sorted(decided[s] - sent[s] for s in sent if s in decided)
    missing = len(sent) - len(values)
    if not values:
        return {"n": 0, "missing": missing}
    return {"n": len(values), "missing": missing, "p50_s": round(statistics.median(values), 2),
            "p95_s": round(values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)], 2),
            "max_s": round(values[-1], 2)}


def _both(sent: dict[int, float], timeout: float, sessions: Any) -> dict[str, Any]:
    """Latencies to the decision recorded and to its provisional row in the grade sheet."""
    sheet: dict[int, float] = {}
    decided = _decided(sessions, list(sent), timeout, sheet)
    return {**_latencies(sent, decided), "sheet": _latencies(sent, sheet)}


def votes(world: World, args: argparse.Namespace) -> dict[str, Any]:
    """Serve the webhooks and run a worker, then vote paced, in a burst, and in a burst during reconcile."""
    from concurrent.futures import ThreadPoolExecutor

    world.procs["web"] = start("web", [CLI, "serve", "--port", str(world.web_port), "--threads", "8"],
                               world.env, world.data)
    world.procs["worker"] = start("worker", [CLI, "worker", "--workers", str(args.workers)], world.env, world.data)
    wait_http(f"http://127.0.0.1:{world.web_port}/", world.procs["web"])
    sessions = _store(world)
    forms = _forms(sessions)
    # A sitting starts well after provisioning: let the last minute's Forms writes (the quota a
    # decision's form closing needs) leave the moving window first.
    time.sleep(args.settle_s)
    paced, burst, recon = forms[:args.paced], forms[args.paced:args.paced + args.burst], \
        forms[args.paced + args.burst:args.paced + 2 * args.burst]
    out: dict[str, Any] = {"voters_per_form": len(VOTERS), "worker_threads": args.workers,
                           "settle_s": args.settle_s}
    with requests.Session() as http:
        sent: dict[int, float] = {}
        for i, form in enumerate(paced):
            sent[form[0]] = _ballots(world, form, http, i)
            time.sleep(args.pace_s)
        out["paced"] = {**_both(sent, 120, sessions), "students": len(paced),
                        "pause_s": args.pace_s}

    def burst_of(group: list[tuple[int, str, dict[str, Any]]]) -> dict[int, float]:
        # One thread per voter, each voting on every form of the group as fast as the sandbox answers.
        def voter(k: int) -> dict[int, float]:
            with requests.Session() as http:
                times = {}
                for i, (sid, form_id, questions) in enumerate(group):
                    times[sid] = _one_vote(world, http, form_id, questions, VOTERS[k], i + k)
                return times

        with ThreadPoolExecutor(len(VOTERS)) as pool:
            per_voter = list(pool.map(voter, range(len(VOTERS))))
        return {sid: max(t[sid] for t in per_voter) for sid, _f, _q in group}

    started = time.time()
    sent = burst_of(burst)
    out["burst"] = {**_both(sent, 300, sessions), "students": len(burst),
                    "ballots_within_s": round(max(sent.values()) - started, 2)}
    if recon:
        enqueue_reconcile(world)
        started = time.time()
        sent = burst_of(recon)
        out["during_reconcile"] = {**_both(sent, 600, sessions),
                                   "students": len(recon), "ballots_within_s": round(max(sent.values()) - started, 2)}
    _buckets, methods = google_calls(world.request_log)
    out["responses_list_calls"] = methods.get("forms.forms.responses.list", 0)
    used = {f[0] for f in paced + burst + recon}
    settle_rest(world, sessions, used)
    _decided(sessions, [f[0] for f in forms], 300)
    out["release_to_sheet"] = release_and_sheet(world, sessions)
    return out


def _one_vote(world: World, http: requests.Session, form_id: str, questions: dict[str, str], email: str,
              seed: int) -> float:
    from lms_bridge.google.steps import degree_options

    answers = {questions["grade"]: LETTERS[seed % 3]}
    if "degree" in questions:
        answers[questions["degree"]] = degree_options("kk")[0]
    res = http.post(f"{world.sandbox_url}/google/_actor/forms/{form_id}/responses",
                    json={"email": email, "answers": answers}, timeout=60)
    if res.status_code != 200:
        raise SystemExit(f"vote refused: {res.status_code} {res.text[:300]}")
    return time.time()


def enqueue_reconcile(world: World) -> None:
    """Enqueue the periodic reconcile sweep now, as the scheduler does every ten minutes."""
    code = ("from lms_bridge.config import load_settings; from lms_bridge.jobs import queue as q; "
            "q.configure(load_settings()).enqueue('results.reconcile')")
    subprocess.run([sys.executable, "-c", code], env=world.env, check=True)


def release_and_sheet(world: World, sessions: Any) -> dict[str, Any]:
    """Settle every other student (a commission decision is not needed: the bench closes nothing),
    release, and time until every decision's sheet write-back is done."""
    from sqlalchemy import func, select

    from lms_bridge.store.models import DecisionRecord, ExamSession, WritebackRecord

    with sessions() as db:
        decided = db.scalar(select(func.count()).select_from(DecisionRecord))
        session = db.scalar(select(ExamSession))
        assert session is not None
        code = session.code
    release = ("import sys; from lms_bridge.config import load_settings; from lms_bridge.jobs import queue as q; "
               "from lms_bridge.results.jobs import release_now; "
               "print(release_now(q.configure(load_settings()), sys.argv[1], 'bench'))")
    started = time.time()
    res = subprocess.run([sys.executable, "-c", release, code], env=world.env, capture_output=True, text=True)
    if res.returncode != 0:
        return {"skipped": "release refused: " + res.stderr.strip().splitlines()[-1][:200]}
    deadline = time.monotonic() + 300
    done = 0
    while time.monotonic() < deadline:
        with sessions() as db:
            done = db.scalar(select(func.count()).select_from(WritebackRecord).where(
                WritebackRecord.target == "sheet", WritebackRecord.status == "done")) or 0
        if done >= decided:
            break
        time.sleep(0.2)
    return {"decisions": decided, "sheet_done": done, "seconds": round(time.time() - started, 2)}


def settle_rest(world: World, sessions: Any, keep: set[int]) -> None:
    """Vote on every form the patterns did not use, so that the chair may release."""
    with requests.Session() as http:
        for i, form in enumerate(_forms(sessions)):
            if form[0] not in keep:
                _ballots(world, form, http, i)


# -- the suite -----------------------------------------------------------------------------------------

def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    skip = set(args.skip.split(",")) if args.skip else set()
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "host": platform.node(),
        "cpus": os.cpu_count(), "commit": _commit(), "latency_ms": args.latency_ms,
        "store": "postgresql" if args.database_url else "sqlite", "queue": "redis" if args.queue_url else "sqlite",
        "load_before": load_average(), "provision": [], "votes": None,
        "sharing": "voters_group" if args.voters_group else "per voter"}
    root = Path(tempfile.mkdtemp(prefix="lms-bridge-suite-"))
    vote_size = min(sizes) if sizes else 0
    for n in sizes:
        reset_store(args)
        world = make_world(root, n, args)
        try:
            row = provision(world, n, GROUP if args.voters_group else "")
            row["load_after"] = load_average()
            if n == vote_size and "votes" not in skip:
                world.request_log.write_text("", encoding="utf-8")  # count the votes' calls alone
                result["votes"] = votes(world, args)
        finally:
            world.stop_all()
        row["peak_rss_mib"] = dict(world.rss)
        result["provision"].append(row)
        print(f"provisioned {n}: {row['wall_s']} s, {row['wall_over_minimum']} x minimum", file=sys.stderr)
    if "ingest" not in skip:
        import bench_ingest

        result["ingest"] = bench_ingest.measure(clients=args.clients, seconds=args.ingest_seconds,
                                                rounds=args.ingest_rounds, database_url=args.database_url,
                                                queue_url=args.queue_url)
    if "page" not in skip:
        import bench_session_page

        result["session_page"] = bench_session_page.measure(args.page_students)
    result["load_after"] = load_average()
    if args.keep:
        print(f"data kept in {root}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return result


def _commit() -> str:
    res = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return res.stdout.strip()


def table(result: dict[str, Any]) -> str:
    lines = [f"commit {result['commit']}  {result['when']}  {result['cpus']} cpus  store {result['store']}, "
             f"queue {result['queue']}  sandbox latency {result['latency_ms']} ms  "
             f"load average before {result['load_before']}, after {result['load_after']}  "
             f"ballots shared {result.get('sharing', 'per voter')}", ""]
    lines.append("| measure | value | goal |")
    lines.append("|---|---|---|")
    for row in result["provision"]:
        n = row["students"]
        rss = ", ".join(f"{k} {v:.0f}" for k, v in row["peak_rss_mib"].items())
        lines.append(f"| {n} students: provisioning wall ÷ quota-bound minimum | {row['wall_s']:.1f} s ÷ "
                     f"{row['minimum_s']:.1f} s ({row['binding_bucket']}) = **{row['wall_over_minimum']:.2f}**; "
                     f"{row['status']}, {len(row['failed_steps'])} failed steps, "
                     f"{row['quota_refusals_waited']} quota refusals waited out | ≤ 1.05 |")
        lines.append(f"| {n} students: Forms writes / Google calls per student (batch parts counted) | "
                     f"**{row['forms_writes_per_student']:.2f}** / **{row['google_calls_per_student']:.2f}** | "
                     f"≤ 3 / ≤ 10 |")
        lines.append(f"| {n} students: peak RSS (MiB) | {rss} | |")
    v = result.get("votes")
    if v:
        for key, label in (("paced", "paced"), ("burst", "burst"), ("during_reconcile", "burst during reconcile")):
            if key in v:
                p = v[key]
                extra = f", ballots of {p['students']} students within {p['ballots_within_s']} s" \
                    if "ballots_within_s" in p else f", {p['students']} students {p['pause_s']} s apart"
                lines.append(f"| last ballot → decision recorded, {label} | p50 {p.get('p50_s')} s, "
                             f"**p95 {p.get('p95_s')} s**, max {p.get('max_s')} s ({p['n']} decided, "
                             f"{p['missing']} missing{extra}) | p95 < 5 s |")
                q = p.get("sheet") or {}
                if q.get("n"):
                    lines.append(f"| last ballot → provisional decision in the grade sheet, {label} | "
                                 f"p50 {q.get('p50_s')} s, **p95 {q.get('p95_s')} s**, max {q.get('max_s')} s "
                                 f"({q['n']} written, {q['missing']} missing) | p95 < 5 s |")
        r = v.get("release_to_sheet", {})
        if "seconds" in r:
            lines.append(f"| chair's release → every decision in the grade sheet | {r['seconds']} s for "
                         f"{r['sheet_done']}/{r['decisions']} decisions | |")
        elif r:
            lines.append(f"| chair's release → grade sheet | {r.get('skipped')} | |")
        lines.append(f"| `responses.list` calls during the votes | {v['responses_list_calls']} | |")
    ing = result.get("ingest")
    if ing:
        lines.append(f"| signed webhook ingest ÷ bare Flask 202 ({ing['store']} + {ing['queue']}) | "
                     f"{ing['ingest']['rps']:.0f} ÷ {ing['bare']['rps']:.0f} req/s = **{ing['ratio']:.2f}** "
                     f"(ingest p95 {ing['ingest']['p95_ms']:.1f} ms) | ≥ 0.5 |")
    page = result.get("session_page")
    if page:
        sp = page["session_page"]
        lines.append(f"| session page, {page['students']} students | **{sp['kb']:.1f} KB**, "
                     f"{sp['queries']} queries | < 300 KB, ~12 queries |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="40,150,300", help="students per provisioned session (600 is optional)")
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--queue-url", default="")
    parser.add_argument("--workers", type=int, default=4,
                        help="worker threads for the votes (the worker command's default)")
    parser.add_argument("--paced", type=int, default=8, help="students voted on one at a time")
    parser.add_argument("--pace-s", type=float, default=3.0)
    parser.add_argument("--burst", type=int, default=15, help="students voted on at once")
    parser.add_argument("--settle-s", type=float, default=65.0,
                        help="pause between provisioning and the votes (the quota windows empty)")
    parser.add_argument("--voters-group", action="store_true",
                        help="the session names a Google Group of the voting members: one grant per ballot")
    parser.add_argument("--keep", action="store_true", help="keep the worlds' data dirs (logs, stores)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--ingest-seconds", type=float, default=5.0)
    parser.add_argument("--ingest-rounds", type=int, default=3)
    parser.add_argument("--page-students", type=int, default=600)
    parser.add_argument("--skip", default="", help="comma-separated: votes, ingest, page")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args(argv)
    result = run(args)
    print(table(result))
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwritten to {args.json}")
    return result


if __name__ == "__main__":
    main()
