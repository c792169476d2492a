"""Verifiable ticket draw (issue 3, Build §3.4).

Before the sitting the secretary's system makes a random *seed* and publishes only its
*commitment* (SHA-256 of the seed).  After the sitting the seed is revealed, and anyone holding the
public draw record can recompute every ticket and check that the seed matches the commitment.
See ``docs/draw.md`` for the full procedure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lms_bridge.i18n import gettext as _

SEED_BYTES = 32


def new_seed() -> str:
    """A fresh 256-bit seed as 64 lower-case hex characters (from :mod:`secrets`, not :mod:`random`)."""
    return secrets.token_hex(SEED_BYTES)


def commitment(seed: str) -> str:
    """The public commitment to ``seed``: lower-case hex SHA-256 of the seed's UTF-8 bytes.

    The seed string itself (the hex text, not the bytes it spells) is hashed, so that a person can
    check it with ``printf %s SEED | sha256sum``.
    """
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


# --- the draw ---------------------------------------------------------------------------------

RECORD_FORMAT = "lms-bridge-draw/1"


class DrawError(ValueError):
    """A draw that must not happen (second draw, student not admitted, wrong seed) or a malformed
    draw record; the message says which."""


@dataclass(frozen=True)
class DrawEntry:
    k: int  # 1-based position of the draw in the sitting
    student_id: str
    ticket: int
    drawn_at: datetime | None = None  # UTC; informational, not part of the derivation


@dataclass(frozen=True)
class DrawRecord:
    """The public record of a sitting's draw.  ``seed`` is ``None`` until it is revealed."""

    session_code: str
    commitment: str
    tickets: tuple[int, ...]  # every ticket number of the sitting
    draws: tuple[DrawEntry, ...] = ()
    seed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "session_code": self.session_code,
            "commitment": self.commitment,
            "seed": self.seed,
            "tickets": sorted(self.tickets),
            "draws": [
                {"k": d.k, "student_id": d.student_id, "ticket": d.ticket,
                 "drawn_at": d.drawn_at.astimezone(UTC).isoformat() if d.drawn_at else None}
                for d in self.draws
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def revealed(self, seed: str) -> DrawRecord:
        """The same record with its seed published (after the sitting)."""
        if commitment(seed) != self.commitment:
            raise DrawError(_("the seed does not match the published commitment"))
        return replace(self, seed=seed)

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "draw record") -> DrawRecord:
        if not isinstance(raw, dict):
            raise DrawError(_("%(source)s: expected a JSON object", source=source))
        if raw.get("format", RECORD_FORMAT) != RECORD_FORMAT:
            raise DrawError(_("%(source)s: field 'format' is %(value)s, expected %(expected)s",
                              source=source, value=repr(raw.get("format")), expected=repr(RECORD_FORMAT)))
        for key, kind in (("session_code", str), ("commitment", str), ("tickets", list), ("draws", list)):
            if not isinstance(raw.get(key), kind):
                what = _("text") if kind is str else _("list")
                raise DrawError(_("%(source)s: field %(field)s is missing or not a %(kind)s",
                                  source=source, field=repr(key), kind=what))
        seed = raw.get("seed")
        if seed is not None and not isinstance(seed, str):
            raise DrawError(_("%(source)s: field 'seed' must be text or null", source=source))
        tickets = raw["tickets"]
        if not tickets or not all(_is_int(t) for t in tickets):
            raise DrawError(_("%(source)s: field 'tickets' must be a non-empty list of ticket numbers",
                              source=source))
        if len(set(tickets)) != len(tickets):
            raise DrawError(_("%(source)s: field 'tickets' lists a ticket number twice", source=source))
        draws = []
        for i, d in enumerate(raw["draws"], start=1):
            where = f"{source}: draws[{i}]"  # a JSON path, the same in every language
            if not isinstance(d, dict):
                raise DrawError(_("%(where)s: expected an object with k, student_id, ticket", where=where))
            if not _is_int(d.get("k")):
                raise DrawError(_("%(where)s: field 'k' must be a whole number", where=where))
            if not isinstance(d.get("student_id"), str) or not d["student_id"]:
                raise DrawError(_("%(where)s: field 'student_id' must be non-empty text", where=where))
            if not _is_int(d.get("ticket")):
                raise DrawError(_("%(where)s: field 'ticket' must be a whole number", where=where))
            drawn_at = None
            if d.get("drawn_at"):
                try:
                    drawn_at = datetime.fromisoformat(str(d["drawn_at"]))
                except ValueError:
                    raise DrawError(_("%(where)s: field 'drawn_at' is not an ISO 8601 time",
                                      where=where)) from None
            draws.append(DrawEntry(k=d["k"], student_id=d["student_id"], ticket=d["ticket"],
                                   drawn_at=drawn_at))
        return cls(session_code=raw["session_code"], commitment=raw["commitment"].strip().lower(),
                   tickets=tuple(sorted(tickets)), draws=tuple(draws), seed=seed)

    @classmethod
    def from_json(cls, text: str, *, source: str = "draw record") -> DrawRecord:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DrawError(_("%(source)s: not valid JSON (line %(line)s: %(error)s)",
                              source=source, line=exc.lineno, error=exc.msg)) from None
        return cls.from_dict(raw, source=source)


@dataclass(frozen=True)
class Mismatch:
    kind: str  # commitment | seed_missing | ticket | sequence | duplicate_student
    k: int | None = None
    student_id: str | None = None
    recorded: int | str | None = None
    expected: int | str | None = None

    def describe(self) -> str:
        if self.kind == "commitment":
            return _("the revealed seed does not match the commitment")
        if self.kind == "seed_missing":
            return _("the seed has not been revealed yet")
        if self.kind == "sequence":
            return _("draw %(k)s is out of order (expected number %(expected)s)",
                           k=self.k, expected=self.expected)
        if self.kind == "duplicate_student":
            return _("student %(student)s drew more than once", student=self.student_id)
        return _("draw %(k)s (%(student)s): recorded ticket %(recorded)s, recomputed %(expected)s",
                       k=self.k, student=self.student_id, recorded=self.recorded, expected=self.expected)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def draw_index(seed: str, session_code: str, student_id: str, k: int, pool_size: int) -> int:
    """Position in the sorted remaining pool for the ``k``-th draw.

    HMAC-SHA256 keyed with the seed's UTF-8 bytes over ``"<session_code>|<student_id>|<k>"``,
    read as a big-endian integer, modulo the pool size.  (A 256-bit number modulo a pool of at
    most a few hundred tickets has a bias far below anything observable.)
    """
    if pool_size <= 0:
        raise DrawError("the ticket pool is empty")
    message = f"{session_code}|{student_id}|{k}".encode()
    digest = hmac.new(seed.encode("utf-8"), message, hashlib.sha256).digest()
    return int.from_bytes(digest, "big") % pool_size


def remaining_pool(tickets: Iterable[int], drawn: Sequence[int]) -> list[int]:
    """The tickets still in the pool after ``drawn`` (in draw order): a ticket comes back only once
    every ticket has been drawn (the pool refills)."""
    all_tickets = sorted(set(tickets))
    pool = list(all_tickets)
    for number in drawn:
        if not pool:
            pool = list(all_tickets)
        if number in pool:
            pool.remove(number)
    if not pool:
        pool = list(all_tickets)
    return pool


def draw_next(
    record: DrawRecord,
    seed: str,
    student_id: str,
    *,
    admitted: Collection[str] | None = None,
    drawn_at: datetime | None = None,
) -> tuple[DrawRecord, DrawEntry]:
    """Draw a ticket for ``student_id``; returns the extended record and the new entry.

    ``admitted``: the ids of the admitted students; anyone else is refused (R-ADMIT-1).
    """
    if commitment(seed) != record.commitment:
        # Drawing with another seed would make the published draw unverifiable.
        raise DrawError(_("the seed does not match the session's draw commitment"))
    if not student_id:
        raise DrawError(_("a draw needs the student's id"))
    if drawn_at is not None and drawn_at.utcoffset() is None:
        raise ValueError("drawn_at must be timezone-aware")  # a programming error, not a user's
    if admitted is not None and student_id not in admitted:
        raise DrawError(_("student %(student)s is not admitted and draws no ticket", student=student_id))
    if any(d.student_id == student_id for d in record.draws):
        raise DrawError(_("student %(student)s has already drawn a ticket", student=student_id))
    if not record.tickets:
        raise DrawError(_("session %(code)s has no tickets to draw", code=record.session_code))
    k = len(record.draws) + 1
    pool = remaining_pool(record.tickets, [d.ticket for d in record.draws])
    ticket = pool[draw_index(seed, record.session_code, student_id, k, len(pool))]
    entry = DrawEntry(k=k, student_id=student_id, ticket=ticket,
                      drawn_at=drawn_at.astimezone(UTC) if drawn_at else None)
    return replace(record, draws=(*record.draws, entry)), entry


def recompute(record: DrawRecord) -> list[DrawEntry]:
    """Every draw recomputed from the revealed seed, in the record's draw order."""
    if not record.seed:
        raise DrawError(_("the seed has not been revealed yet; the draw cannot be recomputed"))
    out: list[DrawEntry] = []
    for position, d in enumerate(record.draws, start=1):
        pool = remaining_pool(record.tickets, [e.ticket for e in out])
        ticket = pool[draw_index(record.seed, record.session_code, d.student_id, position, len(pool))]
        out.append(DrawEntry(k=position, student_id=d.student_id, ticket=ticket, drawn_at=d.drawn_at))
    return out


def verify(record: DrawRecord) -> list[Mismatch]:
    """Everything wrong with a revealed draw record; an empty list means the draw checks out."""
    if not record.seed:
        return [Mismatch("seed_missing")]
    problems: list[Mismatch] = []
    if commitment(record.seed) != record.commitment:
        problems.append(Mismatch("commitment", recorded=record.commitment, expected=commitment(record.seed)))
    seen: set[str] = set()
    for position, (d, again) in enumerate(zip(record.draws, recompute(record), strict=True), start=1):
        if d.k != position:
            problems.append(Mismatch("sequence", k=d.k, student_id=d.student_id, expected=position))
        if d.student_id in seen:
            problems.append(Mismatch("duplicate_student", k=d.k, student_id=d.student_id))
        seen.add(d.student_id)
        if d.ticket != again.ticket:
            problems.append(Mismatch("ticket", k=d.k, student_id=d.student_id, recorded=d.ticket,
                                     expected=again.ticket))
    return problems
