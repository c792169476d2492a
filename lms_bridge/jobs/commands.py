"""``lms-bridge worker``: the background job consumer (Huey, thread workers)."""

from __future__ import annotations

import logging

import click

from lms_bridge.i18n import gettext as _
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.store.commands import settings_or_exit


@click.command("worker")
# Four threads: a job spends most of its time waiting on Google or Moodle (a call is 0.1 to 0.5 s),
# so the threads overlap their waits; on the 2-core reference machine a commission voting on 15
# students at once had every decision within 3.1 s (p95) with four, 5.2 s with two (bench/README.md).
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 32),
              help="Worker threads.")
@click.option("--periodic/--no-periodic", default=True, show_default=True,
              help="Also schedule the periodic jobs (watch renewal, reconciliation). Each runs once per tick "
                   "however many workers schedule it.")
def worker_cmd(workers: int, periodic: bool) -> None:
    """Run the background jobs (provisioning, webhook processing, periodic checks)."""
    settings = settings_or_exit(service=True)
    queue = jobqueue.configure(settings)
    if queue.immediate:
        raise click.ClickException(_("The queue is memory:// (jobs run inline); there is nothing for a "
                                     "worker to consume. Set LMS_BRIDGE_QUEUE_URL to redis://… or leave "
                                     "it empty for the SQLite queue."))
    try:
        queue.check()
    except jobqueue.QueueUnavailable as exc:
        raise click.ClickException(_("Cannot reach the job queue %(queue)s: %(reason)s", queue=exc.where,
                                     reason=exc.reason)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(_("Worker started: %(workers)s threads, jobs: %(jobs)s", workers=workers,
                 jobs=", ".join(queue.job_names())))
    try:
        queue.consumer(workers=workers, periodic=periodic).run()
    finally:
        queue.close()
