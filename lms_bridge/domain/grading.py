"""Grade scales as data (R-GRADE-1): letter, points band, GPA, traditional mark and word.

The scales live in ``lms_bridge/data/grade_scales.yaml`` so that a university can change a band
without touching code.  A scale is validated when it is loaded (bands contiguous, no overlap, the
whole range covered), and every problem names the file, the band and the field.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from lms_bridge.i18n import current_locale
from lms_bridge.i18n import gettext as _

DATA_FILE = "data/grade_scales.yaml"
WORD_LANGUAGES = ("kk", "ru", "en")


class GradeScaleError(ValueError):
    """The scale data is unusable, or a letter/points value is not on the scale.

    Problems in the data file are for whoever maintains it and, like configuration errors, are in
    English; problems with a letter or points given by a user are translated.
    """


def _words(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        raise GradeScaleError(f"{where}: expected a mapping of kk/ru/en words")
    missing = [lang for lang in WORD_LANGUAGES if not str(raw.get(lang) or "").strip()]
    if missing:
        raise GradeScaleError(f"{where}: missing the word in {', '.join(missing)}")
    return tuple((lang, str(raw[lang]).strip()) for lang in WORD_LANGUAGES)


def _pick(words: tuple[tuple[str, str], ...], lang: str | None) -> str:
    table = dict(words)
    return table.get(lang or current_locale()) or table["en"]


@dataclass(frozen=True)
class GradeBand:
    letter: str
    min_points: int
    max_points: int
    gpa: float
    mark: int  # traditional 5-point mark: 5, 4, 3 or 2
    points: float  # representative points for a member's letter vote
    word_key: str
    words: tuple[tuple[str, str], ...]  # (lang, word) for kk, ru, en

    @property
    def passed(self) -> bool:
        return self.mark > 2

    def word(self, lang: str | None = None) -> str:
        """The traditional word (``excellent``/``отлично``/``өте жақсы``) in ``lang`` or the locale."""
        return _pick(self.words, lang)

    def contains(self, points: float) -> bool:
        # Bands hold whole points; a fractional value belongs to the band of its whole part,
        # so 89.9 is still B+ (callers that want rounding round before asking).
        return self.min_points <= points < self.max_points + 1


@dataclass(frozen=True)
class NonScaleStatus:
    """A mark that is not a grade on the scale, e.g. "I" (incomplete) until a postponed exam."""

    code: str
    words: tuple[tuple[str, str], ...]

    def word(self, lang: str | None = None) -> str:
        return _pick(self.words, lang)


@dataclass(frozen=True)
class GradeScale:
    name: str
    max_points: int
    bands: tuple[GradeBand, ...]  # highest first
    statuses: tuple[NonScaleStatus, ...] = ()

    @classmethod
    def load(cls, name: str) -> GradeScale:
        """The scale ``name`` from the packaged ``grade_scales.yaml`` (validated, cached)."""
        return _load_packaged(name)

    @classmethod
    def from_mapping(cls, name: str, raw: Any, *, source: str = DATA_FILE) -> GradeScale:
        """Build and validate a scale from its YAML mapping; errors name ``source``, band and field."""
        where = f"{source}: scale {name!r}"
        if not isinstance(raw, Mapping):
            raise GradeScaleError(f"{where}: expected a mapping with max_points, bands and words")
        max_points = raw.get("max_points")
        if not isinstance(max_points, int) or isinstance(max_points, bool) or max_points <= 0:
            raise GradeScaleError(f"{where}: max_points must be a positive whole number")
        words_raw = raw.get("words") or {}
        if not isinstance(words_raw, Mapping):
            raise GradeScaleError(f"{where}: words must be a mapping")
        words = {str(k): _words(v, f"{where}, words.{k}") for k, v in words_raw.items()}
        bands_raw = raw.get("bands")
        if not isinstance(bands_raw, list) or not bands_raw:
            raise GradeScaleError(f"{where}: bands must be a non-empty list")
        bands = [cls._band(b, f"{where}, band {i + 1}", words) for i, b in enumerate(bands_raw)]
        cls._check_bands(bands, max_points, where)
        statuses_raw = raw.get("statuses") or {}
        if not isinstance(statuses_raw, Mapping):
            raise GradeScaleError(f"{where}: statuses must be a mapping")
        statuses = tuple(
            NonScaleStatus(str(code), _words(v, f"{where}, statuses.{code}"))
            for code, v in statuses_raw.items()
        )
        clash = {s.code for s in statuses} & {b.letter for b in bands}
        if clash:
            raise GradeScaleError(f"{where}: status {sorted(clash)[0]!r} is also a letter of the scale")
        return cls(name=name, max_points=max_points, bands=tuple(bands), statuses=statuses)

    @staticmethod
    def _band(raw: Any, where: str, words: Mapping[str, tuple[tuple[str, str], ...]]) -> GradeBand:
        if not isinstance(raw, Mapping):
            raise GradeScaleError(f"{where}: expected a mapping with letter, min, max, gpa, mark, word")
        letter = str(raw.get("letter") or "").strip()
        if not letter:
            raise GradeScaleError(f"{where}: field 'letter' is missing")
        where = f"{where} ({letter})"
        values: dict[str, int] = {}
        for key in ("min", "max", "mark"):
            value = raw.get(key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise GradeScaleError(f"{where}: field {key!r} must be a whole number, not {value!r}")
            values[key] = value
        gpa = raw.get("gpa")
        if not isinstance(gpa, int | float) or isinstance(gpa, bool) or not 0 <= gpa <= 4.0:
            raise GradeScaleError(f"{where}: field 'gpa' must be a number from 0 to 4, not {gpa!r}")
        if values["min"] > values["max"]:
            raise GradeScaleError(f"{where}: min {values['min']} is above max {values['max']}")
        if values["mark"] not in (2, 3, 4, 5):
            raise GradeScaleError(f"{where}: field 'mark' must be 2, 3, 4 or 5, not {values['mark']}")
        word_key = str(raw.get("word") or "")
        if word_key not in words:
            raise GradeScaleError(f"{where}: field 'word' {word_key!r} is not defined under 'words'")
        # The midpoint stands for "a member chose this letter" unless the data says otherwise.
        points = raw.get("points", (values["min"] + values["max"]) / 2)
        if not isinstance(points, int | float) or isinstance(points, bool):
            raise GradeScaleError(f"{where}: field 'points' must be a number, not {points!r}")
        if not values["min"] <= points <= values["max"]:
            raise GradeScaleError(
                f"{where}: field 'points' {points} is outside the band {values['min']}–{values['max']}")
        return GradeBand(letter=letter, min_points=values["min"], max_points=values["max"], gpa=float(gpa),
                         mark=values["mark"], points=float(points), word_key=word_key, words=words[word_key])

    @staticmethod
    def _check_bands(bands: list[GradeBand], max_points: int, where: str) -> None:
        seen: set[str] = set()
        for band in bands:
            if band.letter in seen:
                raise GradeScaleError(f"{where}: letter {band.letter!r} appears twice")
            seen.add(band.letter)
        if bands[0].max_points != max_points:
            raise GradeScaleError(
                f"{where}: the top band {bands[0].letter} ends at {bands[0].max_points}, not at max_points "
                f"{max_points}")
        if bands[-1].min_points != 0:
            raise GradeScaleError(f"{where}: the bottom band {bands[-1].letter} must start at 0")
        for upper, lower in itertools.pairwise(bands):
            if lower.max_points >= upper.min_points:
                raise GradeScaleError(
                    f"{where}: bands {upper.letter} ({upper.min_points}–{upper.max_points}) and "
                    f"{lower.letter} ({lower.min_points}–{lower.max_points}) overlap "
                    "(bands are listed highest first)")
            if lower.max_points + 1 != upper.min_points:
                raise GradeScaleError(
                    f"{where}: gap between {lower.letter} (ends {lower.max_points}) and {upper.letter} "
                    f"(starts {upper.min_points})")
            if lower.gpa > upper.gpa:
                raise GradeScaleError(f"{where}: {lower.letter} has a higher GPA than {upper.letter}")

    def letters(self) -> tuple[str, ...]:
        return tuple(b.letter for b in self.bands)

    def band(self, letter: str) -> GradeBand:
        wanted = letter.strip().upper()
        for b in self.bands:
            if b.letter.upper() == wanted:
                return b
        raise GradeScaleError(_("%(letter)s is not a grade of the scale %(scale)s (%(letters)s)",
                                letter=repr(letter), scale=self.name, letters=", ".join(self.letters())))

    def has_letter(self, letter: str) -> bool:
        wanted = letter.strip().upper()
        return any(b.letter.upper() == wanted for b in self.bands)

    def band_for_points(self, points: float) -> GradeBand:
        if isinstance(points, bool) or not isinstance(points, int | float) or math.isnan(points):
            raise GradeScaleError(_("points must be a number, not %(value)s", value=repr(points)))
        if not 0 <= points <= self.max_points:
            raise GradeScaleError(_("%(points)s points are outside 0–%(max)s of the scale %(scale)s",
                                    points=points, max=self.max_points, scale=self.name))
        for b in self.bands:
            if b.contains(points):
                return b
        raise AssertionError("validated bands cover the whole range")  # pragma: no cover

    def status(self, code: str) -> NonScaleStatus | None:
        return next((s for s in self.statuses if s.code.upper() == code.strip().upper()), None)


def scales_from_yaml(text: str, *, source: str = DATA_FILE) -> dict[str, GradeScale]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GradeScaleError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(raw, Mapping) or not raw:
        raise GradeScaleError(f"{source}: expected a mapping of scale names")
    return {str(name): GradeScale.from_mapping(str(name), body, source=source) for name, body in raw.items()}


@cache
def _packaged_scales() -> dict[str, GradeScale]:
    text = resources.files("lms_bridge").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return scales_from_yaml(text, source=f"lms_bridge/{DATA_FILE}")


def _load_packaged(name: str) -> GradeScale:
    scales = _packaged_scales()
    if name not in scales:
        raise GradeScaleError(_("unknown grade scale %(name)s; known: %(known)s",
                                name=repr(name), known=", ".join(sorted(scales))))
    return scales[name]


def available_scales() -> Iterable[str]:
    return sorted(_packaged_scales())
