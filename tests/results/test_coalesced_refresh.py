"""Pushes for one form arriving together are served by one or two refreshes, not one each.

The product's job runs against the Google sandbox over loopback (80 ms per call, as measured from
this machine to Google); the sandbox's request log counts the ``responses.list`` calls."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.sandbox import start_server
from lms_bridge.store.models import BallotRecord, DecisionRecord, JournalEntry, WebhookDelivery

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "sample-session.yaml"
CHAIR = "e.zhumabekov@univ.edu.kz"
MEMBERS = ["g.seitkaliyeva@univ.edu.kz", "d.omarov@univ.edu.kz", "a.baizhanova@univ.edu.kz"]
PUSHES = 15


@dataclass
class Provisioned:
    url: str
    queue: Any
    sessions: Any
    spec: Any
    log: Path

    def responses_list_calls(self) -> int:
        lines = [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]
        return sum(1 for line in lines
                   if line["method"] == "GET"
                   and str(line["path"]).split("?")[0].rstrip("/").endswith("/responses"))


@pytest.fixture
def provisioned(tmp_path: Path) -> Iterator[Provisioned]:
    from lms_bridge.provisioning.service import run_now
    from lms_bridge.sandbox import create_app as sandbox_app
    from lms_bridge.sandbox import effective_settings
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store.db import make_engine, make_sessionmaker
    from lms_bridge.store.repo import import_session
    from lms_bridge.store.schema import ensure_schema

    log = tmp_path / "google-requests.jsonl"
    # The queue's SQLite storage holds the marks and locks, shared as between worker processes.
    base = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                         queue_url=f"sqlite:///{tmp_path / 'queue.sqlite3'}")
    url, stop = start_server(sandbox_app(base.data_dir / "sandbox", push_endpoint=None, webhook_url=None,
                                         request_log=log, faults={"latency_ms": 80}))
    settings = effective_settings(replace(base, sandbox_url=url))
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    queue = jobqueue.configure(settings, engine=engine)
    sessions = make_sessionmaker(engine)
    try:
        spec = load_session(SAMPLE)
        with sessions() as db:
            import_session(db, spec, source_name=SAMPLE.name, actor="secretary")
            db.commit()
        assert run_now(settings, spec.code, sessions=sessions).status == "succeeded"
        yield Provisioned(url, queue, sessions, spec, log)
    finally:
        stop()
        jobqueue.reset()
        from lms_bridge import backends

        backends._backends_for.cache_clear()
        engine.dispose()


def test_fifteen_pushes_for_one_form_cost_at_most_two_listings_and_every_ballot_counts(
        provisioned: Provisioned) -> None:
    from lms_bridge.google.steps import degree_options
    from lms_bridge.results import jobs

    p = provisioned
    student = p.spec.admitted[0]
    with p.sessions() as db:
        form = db.scalar(select(JournalEntry).where(JournalEntry.key == f"forms.form:{student.id}"))
        assert form is not None
    for email in (CHAIR, *MEMBERS):
        answers = {form.data["questions"]["grade"]: "B",
                   form.data["questions"]["degree"]: degree_options(p.spec.language)[0]}
        res = requests.post(f"{p.url}/google/_actor/forms/{form.external_id}/responses",
                            json={"email": email, "answers": answers}, timeout=10)
        assert res.status_code == 200, res.text
    # Fifteen pushes about the form, recorded as the webhook records them (Pub/Sub redelivers, and
    # every submission sends its own).
    with p.sessions() as db:
        deliveries = [WebhookDelivery(source="google", delivery_id=f"m-{i}", kind="forms.responses",
                                      payload={"attributes": {"formId": form.external_id,
                                                              "eventType": "RESPONSES"}})
                      for i in range(PUSHES)]
        db.add_all(deliveries)
        db.commit()
        pks = [d.id for d in deliveries]
    before = p.responses_list_calls()
    gate = threading.Barrier(PUSHES)
    errors: list[BaseException] = []

    def worker(pk: int) -> None:
        gate.wait()
        try:
            jobs.process_delivery.run(p.queue, pk)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(pk,)) for pk in pks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert 1 <= p.responses_list_calls() - before <= 2
    with p.sessions() as db:
        assert {d.status for d in db.scalars(select(WebhookDelivery))} == {"processed"}
        ballots = list(db.scalars(select(BallotRecord).where(BallotRecord.form_id == form.external_id)))
        assert sorted(b.voter_email for b in ballots) == sorted((CHAIR, *MEMBERS))
        assert {b.status for b in ballots} == {"counted"}
        decision = db.scalar(select(DecisionRecord))
        assert decision is not None
        assert decision.letter == "B"
        assert decision.votes["votes_cast"] == 4
        form = db.get(JournalEntry, form.id)
        assert form is not None
        assert not form.data.get("closed")  # not in the refresh's transaction: a job of its own
    pending = [t.name for t in p.queue.huey.pending()]
    assert pending.count("results.close_form") == 1
    jobs.close_form.run(p.queue, form.id)
    state = requests.get(f"{p.url}/google/_actor/state", timeout=10).json()
    published = next(f for f in state["form"] if f["formId"] == form.external_id)["publishSettings"]
    assert published["publishState"] == {"isPublished": True, "isAcceptingResponses": False}
    with p.sessions() as db:
        closed = db.get(JournalEntry, form.id)
        assert closed is not None
        assert closed.data["closed"] is True
