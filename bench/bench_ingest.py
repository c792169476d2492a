"""Signed webhook ingest beside a bare Flask endpoint answering 202: same server, same load, one run.

A server process (waitress, 8 threads, loopback) serves the product and, under ``/bare``, a
one-route Flask app that answers 202 with a small JSON body and does nothing else.  The bench
process then drives both with the same load (``--clients`` keep-alive connections posting as fast
as the answers come, for ``--seconds`` per round), alternating bare and ingest rounds so that a
machine busy with other work slows both alike.  Each ingest request is a companion-plugin post
(``/webhooks/moodle``) with a fresh delivery id, signed with HMAC-SHA256: the product verifies it,
records the delivery, enqueues its job (no worker runs) and answers 202.

The store and the queue are the embedded SQLite defaults unless ``--database-url`` and
``--queue-url`` name PostgreSQL and Redis.  ``--src DIR`` serves the product from another source
tree (e.g. ``git archive`` of an older commit) to compare commits with the same bench.

    .venv/bin/python bench/bench_ingest.py [--clients 8] [--seconds 5] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-moodle-webhook-secret"

SERVER = r"""
import json, os, sys
from flask import Flask
from waitress import create_server
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from lms_bridge.app import create_app, state
from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
import lms_bridge, logging
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

cfg = json.loads(sys.argv[1])
settings = load_settings(environ={}, data_dir=cfg["data_dir"], public_url="https://bridge.example.edu",
                         sandbox_url="http://127.0.0.1:9", database_url=cfg["database_url"],
                         queue_url=cfg["queue_url"], google={"mode": "sandbox"},
                         moodle={"mode": "live", "webhook_secret": cfg["secret"], "url": "https://moodle.example.edu",
                                 "token": "t"})
product = create_app(settings)
jobqueue.configure(settings, engine=state(product).engine)

bare = Flask("bare")

@bare.post("/")
def accept():
    return {"status": "accepted"}, 202

app = DispatcherMiddleware(product, {"/bare": bare})
server = create_server(app, host="127.0.0.1", port=0, threads=8)
print(json.dumps({"port": server.effective_port, "source": os.path.dirname(lms_bridge.__file__)}), flush=True)
server.run()
"""


def _body(delivery: str) -> bytes:
    return json.dumps({"delivery_id": delivery, "event": "quiz_attempt_submitted",
                       "courseid": 42, "userid": 7, "attemptid": 99, "cmid": 9,
                       "time": int(time.time())}).encode()


def _signed(delivery: str) -> tuple[bytes, dict[str, str]]:
    body = _body(delivery)
    stamp = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-LmsBridge-Delivery": delivery,
                  "X-LmsBridge-Timestamp": stamp, "X-LmsBridge-Signature": "sha256=" + mac}


def _round(base: str, target: str, clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        mine: list[float] = []
        with requests.Session() as http:
            while time.perf_counter() < stop_at:
                delivery = uuid.uuid4().hex
                if target == "ingest":
                    body, headers = _signed(delivery)
                    url = base + "/webhooks/moodle"
                else:
                    body, headers = _body(delivery), {"Content-Type": "application/json"}
                    url = base + "/bare/"
                started = time.perf_counter()
                res = http.post(url, data=body, headers=headers, timeout=30)
                mine.append(time.perf_counter() - started)
                if res.status_code != 202:
                    with lock:
                        failures.append(f"{res.status_code} {res.text[:120]}")
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))], "failures": len(failures),
            "first_failure": failures[0] if failures else ""}


def measure(*, clients: int = 8, seconds: float = 5.0, rounds: int = 3, database_url: str = "",
            queue_url: str = "", src: Path | None = None) -> dict[str, Any]:
    """Serve the product and the bare endpoint in one server process; alternate the rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = str(src.resolve())
        cfg = {"data_dir": str(Path(tmp) / "data"), "database_url": database_url,
               "queue_url": queue_url, "secret": SECRET}
        server = subprocess.Popen([sys.executable, "-c", SERVER, json.dumps(cfg)], stdout=subprocess.PIPE,
                                  env=env, cwd=str(src or REPO), text=True)
        try:
            assert server.stdout is not None
            hello = json.loads(server.stdout.readline())
            base = f"http://127.0.0.1:{hello['port']}"
            for target in ("bare", "ingest"):  # warm up: imports, first connections, table pages
                _round(base, target, clients, min(1.0, seconds))
            results: dict[str, list[dict[str, Any]]] = {"bare": [], "ingest": []}
            for _ in range(rounds):
                for target in ("bare", "ingest"):
                    results[target].append(_round(base, target, clients, seconds))
        finally:
            server.terminate()
            server.wait(timeout=10)
    summary: dict[str, Any] = {"source": hello["source"], "clients": clients, "seconds": seconds,
                               "store": database_url.split("+")[0].split(":")[0] or "sqlite (embedded)",
                               "queue": queue_url.split(":")[0] or "sqlite (embedded)"}
    for target, runs in results.items():
        summary[target] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p95_ms": statistics.median(r["p95_ms"] for r in runs),
            "failures": sum(r["failures"] for r in runs),
            "first_failure": next((r["first_failure"] for r in runs if r["first_failure"]), ""),
            "rounds_rps": [round(r["rps"], 1) for r in runs]}
    summary["ratio"] = summary["ingest"]["rps"] / summary["bare"]["rps"]
    summary["rounds"] = rounds
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--queue-url", default="")
    parser.add_argument("--src", type=Path, help="serve the product from this source tree")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    summary = measure(clients=args.clients, seconds=args.seconds, rounds=args.rounds,
                      database_url=args.database_url, queue_url=args.queue_url, src=args.src)
    print(f"product from {summary['source']}; store {summary['store']}, queue {summary['queue']}; "
          f"{args.clients} clients, {args.rounds} x {args.seconds:g} s per target")
    for target in ("bare", "ingest"):
        s = summary[target]
        print(f"  {target:6s} {s['rps']:8.1f} req/s  p50 {s['p50_ms']:6.1f} ms  p95 {s['p95_ms']:6.1f} ms  "
              f"failures {s['failures']}  rounds {s['rounds_rps']}")
        if s["first_failure"]:
            print(f"         first failure: {s['first_failure']}")
    print(f"  ingest / bare = {summary['ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
