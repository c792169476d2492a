"""``lms-bridge verify-draw RECORD.json``: recompute every ticket of a revealed draw record.

Prints one line per draw (student, recorded ticket, recomputed ticket, OK/MISMATCH) and exits 1
on any mismatch, on a seed that does not match the commitment, or on an unreadable record.
"""

from __future__ import annotations

from pathlib import Path

import click

from lms_bridge.domain.draw import DrawError, DrawRecord, commitment, recompute, verify
from lms_bridge.i18n import gettext


@click.command("verify-draw")
@click.argument("record_file", metavar="RECORD.json", type=click.Path(dir_okay=False, path_type=Path))
def verify_draw_cmd(record_file: Path) -> None:
    """Recompute every ticket of a draw record from its revealed seed (see docs/draw.md)."""
    try:
        text = record_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(gettext("%(file)s: cannot read the draw record (%(error)s)",
                           file=str(record_file), error=getattr(exc, "strerror", None) or str(exc)), err=True)
        raise SystemExit(1) from None
    try:
        record = DrawRecord.from_json(text, source=str(record_file))
    except DrawError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None

    click.echo(gettext("Session %(code)s, %(n)s draws, tickets %(tickets)s",
                       code=record.session_code, n=len(record.draws),
                       tickets=", ".join(str(t) for t in record.tickets)))
    if not record.seed:
        click.echo(gettext("The seed has not been revealed yet; the draw cannot be checked."), err=True)
        raise SystemExit(1)
    failed = False
    if commitment(record.seed) != record.commitment:
        failed = True
        click.echo(gettext("MISMATCH: the revealed seed does not match the commitment %(commitment)s",
                           commitment=record.commitment))
    else:
        click.echo(gettext("OK: the revealed seed matches the commitment %(commitment)s",
                           commitment=record.commitment))

    for entry, again in zip(record.draws, recompute(record), strict=True):
        ok = entry.ticket == again.ticket
        failed |= not ok
        verdict = gettext("OK") if ok else gettext("MISMATCH")
        click.echo(gettext("%(k)s. %(student)s: recorded ticket %(recorded)s, recomputed %(expected)s — "
                           "%(verdict)s", k=entry.k, student=entry.student_id, recorded=entry.ticket,
                           expected=again.ticket, verdict=verdict))
    for problem in verify(record):
        if problem.kind in ("sequence", "duplicate_student"):
            failed = True
            click.echo(gettext("MISMATCH: %(problem)s", problem=problem.describe()))
    if failed:
        click.echo(gettext("The draw does NOT check out."))
        raise SystemExit(1)
    click.echo(gettext("The draw checks out: every ticket matches."))
