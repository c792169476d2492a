"""The job that sends the sealed documents' e-mails from the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from lms_bridge.jobs.queue import JobQueue, job
from lms_bridge.remote import describe_error


@job(retries=6, retry_delay=120.0, name="results.send_email")
def send_email(queue: JobQueue, email_id: int) -> None:
    """Send one outbox e-mail when SMTP is configured; without SMTP it stays on the outbox page."""
    from lms_bridge.results.seal import send_email as deliver
    from lms_bridge.store.models import OutboxEmail

    smtp = queue.settings.smtp
    if not smtp.host:
        return
    with queue.transaction() as db:
        email = db.get(OutboxEmail, email_id)
        if email is None or email.sent_at is not None:
            return
        try:
            deliver(smtp, email, queue.settings.data_dir)
        except Exception as exc:
            email.error = describe_error(exc)
            db.commit()
            raise
        email.sent_at, email.error = datetime.now(UTC), ""
