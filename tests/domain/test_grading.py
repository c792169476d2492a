from __future__ import annotations

import copy

import pytest
import yaml

from lms_bridge.domain.grading import GradeScale, GradeScaleError, scales_from_yaml
from lms_bridge.i18n import use_locale

SCALE = GradeScale.load("kz_letter")
EXPECTED = [
    # letter, min, max, gpa, mark
    ("A", 95, 100, 4.0, 5), ("A-", 90, 94, 3.67, 5), ("B+", 85, 89, 3.33, 4), ("B", 80, 84, 3.0, 4),
    ("B-", 75, 79, 2.67, 4), ("C+", 70, 74, 2.33, 3), ("C", 65, 69, 2.0, 3), ("C-", 60, 64, 1.67, 3),
    ("D+", 55, 59, 1.33, 3), ("D", 50, 54, 1.0, 3), ("FX", 25, 49, 0.5, 2), ("F", 0, 24, 0.0, 2),
]


def _raw() -> dict:
    from importlib import resources

    text = resources.files("lms_bridge").joinpath("data/grade_scales.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def test_kz_letter_scale_matches_the_credit_system():
    got = [(b.letter, b.min_points, b.max_points, b.gpa, b.mark) for b in SCALE.bands]
    assert got == EXPECTED
    assert SCALE.letters() == tuple(row[0] for row in EXPECTED)


@pytest.mark.parametrize(("points", "letter"), [
    (100, "A"), (95, "A"), (94, "A-"), (94.99, "A-"), (90, "A-"), (89, "B+"), (50, "D"), (49.5, "FX"),
    (25, "FX"), (24, "F"), (0, "F"),
])
def test_points_map_to_their_band(points, letter):
    assert SCALE.band_for_points(points).letter == letter


@pytest.mark.parametrize("points", [-1, 100.5, 101, float("nan"), "90", True])
def test_points_off_the_scale_are_refused(points):
    with pytest.raises(GradeScaleError):
        SCALE.band_for_points(points)


def test_traditional_words_in_three_languages():
    assert (SCALE.band("A-").word("kk"), SCALE.band("A-").word("ru"), SCALE.band("A-").word("en")) == (
        "өте жақсы", "отлично", "excellent")
    assert SCALE.band("B-").word("ru") == "хорошо"
    assert SCALE.band("D").word("kk") == "қанағаттанарлық"
    assert SCALE.band("FX").word("ru") == "неудовлетворительно"
    assert SCALE.band("F").word("kk") == "қанағаттанарлықсыз"
    with use_locale("ru"):
        assert SCALE.band("C").word() == "удовлетворительно"


def test_fx_and_f_fail_and_d_passes():
    assert not SCALE.band("FX").passed
    assert not SCALE.band("F").passed
    assert SCALE.band("D").passed


def test_representative_points_default_to_the_band_midpoint():
    assert SCALE.band("A").points == 97.5
    assert SCALE.band("B").points == 82.0
    assert SCALE.band("F").points == 12.0


def test_letters_are_case_insensitive_and_unknown_ones_named():
    assert SCALE.band(" b+ ").letter == "B+"
    with pytest.raises(GradeScaleError, match="'E' is not a grade of the scale kz_letter"):
        SCALE.band("E")


def test_incomplete_is_a_status_not_a_letter():
    assert SCALE.status("I") is not None
    assert SCALE.status("I").word("en") == "incomplete"
    assert not SCALE.has_letter("I")


def test_unknown_scale_is_named():
    with pytest.raises(GradeScaleError, match="unknown grade scale 'ects'"):
        GradeScale.load("ects")


def test_bands_are_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        SCALE.band("A").gpa = 5.0  # type: ignore[misc]


def test_overlapping_bands_are_refused_with_the_band_named():
    raw = _raw()
    raw["kz_letter"]["bands"][1]["max"] = 96  # A- now overlaps A
    with pytest.raises(GradeScaleError, match=r"bands A \(95–100\) and A- \(90–96\) overlap"):
        scales_from_yaml(yaml.safe_dump(raw, allow_unicode=True), source="scales.yaml")


def test_a_gap_between_bands_is_refused():
    raw = _raw()
    raw["kz_letter"]["bands"][2]["max"] = 88  # B+ ends at 88, A- starts at 90
    with pytest.raises(GradeScaleError, match=r"scales\.yaml: scale 'kz_letter': gap between B\+"):
        scales_from_yaml(yaml.safe_dump(raw, allow_unicode=True), source="scales.yaml")


@pytest.mark.parametrize(("band", "field", "value", "message"), [
    (0, "gpa", "four", "band 1 \\(A\\): field 'gpa'"),
    (3, "mark", 7, "band 4 \\(B\\): field 'mark' must be 2, 3, 4 or 5"),
    (5, "word", "great", "band 6 \\(C\\+\\): field 'word' 'great' is not defined"),
    (11, "min", 1, "bottom band F must start at 0"),
    (0, "points", 50, "band 1 \\(A\\): field 'points' 50 is outside"),
])
def test_bad_band_fields_are_named(band, field, value, message):
    raw = copy.deepcopy(_raw())
    raw["kz_letter"]["bands"][band][field] = value
    with pytest.raises(GradeScaleError, match=message):
        scales_from_yaml(yaml.safe_dump(raw, allow_unicode=True))


def test_a_missing_translation_is_named():
    raw = _raw()
    del raw["kz_letter"]["words"]["good"]["kk"]
    with pytest.raises(GradeScaleError, match=r"words\.good: missing the word in kk"):
        scales_from_yaml(yaml.safe_dump(raw, allow_unicode=True))


def test_malformed_yaml_is_reported():
    with pytest.raises(GradeScaleError, match=r"x\.yaml: not valid YAML"):
        scales_from_yaml("kz_letter: [", source="x.yaml")
