"""A template field's pattern settling its reading (worker.patterns)."""

from __future__ import annotations

import pytest

from worker.patterns import fit_pattern

POSTCODE = "[A-Z][0-9][A-Z][0-9][A-Z][0-9]"


def _sure(ch: str) -> tuple[str, float, tuple]:
    return ch, 0.97, (("Q", 0.02),)


def test_the_pattern_settles_a_twin_and_makes_it_sure_without_overruling():
    # the second cell must be a digit: an O read at 0.55 against 0 at 0.44 is the 0, and sure
    readings = [_sure("K"), ("O", 0.55, (("0", 0.44), ("Q", 0.005))), _sure("B"),
                _sure("2"), ("5", 0.6, (("S", 0.39), ("3", 0.005))), _sure("7")]
    fit = fit_pattern(readings, POSTCODE)
    assert "".join(fit.chars) == "K0B2S7"
    assert fit.confidences[1] > 0.95 and fit.confidences[4] > 0.95
    assert not fit.overruled
    assert fit.alternatives[1] == () or all(ch.isdigit() for ch, _ in fit.alternatives[1])


def test_a_reading_the_pattern_forbids_is_changed_to_the_likeliest_allowed_and_overruled():
    # a month read 17: the 7's next candidate 1 makes 11, the likeliest month the pattern allows
    readings = [("1", 0.99, (("7", 0.005),)), ("7", 0.6, (("1", 0.3), ("2", 0.09)))]
    fit = fit_pattern(readings, "(0[1-9]|1[0-2])")
    assert "".join(fit.chars) == "11"
    assert fit.overruled
    # the 1 against the 2, and the 0.01 no candidate names (a 0 would fit)
    assert fit.confidences[1] == pytest.approx(0.3 / (0.3 + 0.09 + 0.01))


def test_a_text_that_fits_and_whose_candidates_all_fit_keeps_its_reading_unchanged():
    readings = [("A", 0.7, (("R", 0.2), ("H", 0.05))), _sure("B")]
    fit = fit_pattern(readings, "[A-Z]{2}")
    assert fit.chars == ("A", "B")
    assert fit.confidences == (0.7, 0.97)
    assert fit.alternatives == ((("R", 0.2), ("H", 0.05)), (("Q", 0.02),))


def test_a_kept_reading_is_never_made_less_sure_by_the_pattern():
    # the reader's doubts need not sum to one: a second reading of the same ink added at 0.5
    readings = [("8", 0.5, (("B", 0.5), ("3", 0.3)))]
    fit = fit_pattern(readings, "[0-9]")
    assert fit.chars == ("8",) and fit.confidences[0] >= 0.5


def test_no_fit_among_the_candidates_leaves_the_field_as_read():
    assert fit_pattern([_sure("A"), _sure("B")], "[0-9]{2}") is None
    assert fit_pattern([], POSTCODE) is None


def test_the_likeliest_fitting_text_wins_over_fewer_changes():
    # one change (X -> 1) costs more than two likelier ones (O -> 0 and I -> 1)
    readings = [("O", 0.5, (("0", 0.49),)), ("I", 0.5, (("1", 0.49),)), ("X", 0.98, (("1", 0.001),))]
    fit = fit_pattern(readings, "(01X|O11)")
    assert "".join(fit.chars) == "01X"


def test_a_coded_forms_patterns_settle_every_letter_digit_twin_on_the_page(reader):
    # a postcode and an insurance-style reference written only in twins (O/0, I/1, S/5, Z/2):
    # the alnum charset cannot tell them apart, the patterns (letter here, digit there) can
    from segmentation.decode import PageImage
    from segmentation.template import parse_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.forms import Scan, render_form, scan, template_dict

    codes = {"postcode": "O0I1S5", "reference": "ZS012525I"}
    page, truth = render_form(5, texts=codes, coded=True)
    img, truth = scan(page, truth, Scan(dpi=200, angle=0.4), 5)
    tpl = parse_template(template_dict(coded=True))
    result = PageReader(ReadOptions(template=tpl), classifier=reader.classifier).read_page(
        PageImage(img, "coded.png", 1, None))
    read = {f.name: f for f in result.fields}
    for name, code in codes.items():
        assert read[name].text.replace(" ", "") == code, (name, read[name].text)
        assert not read[name].needs_review, (name, [(c.char, c.confidence) for c in read[name].characters])


def test_a_text_that_fits_keeps_the_readers_labels_over_likelier_doubts():
    # a 7 whose foot may hide in the box line: the reader keeps the 7, doubted, the 2 first
    # among its alternatives; both fit, so the pattern does not pick the 2
    readings = [("2", 0.99, (("7", 0.005),)), ("7", 0.21, (("2", 0.79), ("1", 0.001)))]
    fit = fit_pattern(readings, "[0-9]{2}")
    assert fit.chars == ("2", "7") and fit.confidences[1] == 0.21


def test_a_characters_confidence_counts_every_fitting_text_not_only_its_neighbours_as_read():
    # a day read 31, its 3 at 0.9 (else 2), its 1 at 0.5 (else 7): 37 does not fit, but 27
    # does, so the 1 is not made sure by the 3 as read: 0.45 of 0.55 fits with a 1 there
    readings = [("3", 0.9, (("2", 0.1),)), ("1", 0.5, (("7", 0.5),))]
    fit = fit_pattern(readings, "(0[1-9]|[12][0-9]|3[01])")
    assert fit.chars == ("3", "1")
    assert fit.confidences[1] == pytest.approx(0.5 / 0.55)
    assert fit.alternatives[1] == (("7", pytest.approx(0.05 / 0.55)),)


def test_a_sure_reading_forced_to_an_unlikely_twin_stays_doubtful():
    # a T whose bar hid in the comb's top line reads 1, sure; the cell must be a letter, but
    # the I the pattern leaves holds little more than the letters no candidate names
    readings = [("1", 0.993, (("I", 0.005), ("7", 0.0002))), _sure("7")]
    fit = fit_pattern(readings, "[A-Z][0-9]")
    assert fit.chars == ("I", "7") and not fit.overruled
    assert fit.confidences[0] == pytest.approx(0.005 / (0.005 + 0.0018), rel=1e-3)


def test_a_fitting_text_of_unlikely_doubted_labels_stands_though_the_search_stops_before_it():
    # the reader kept a 7 it doubted at 0.001: likelier fitting texts end the search first
    readings = [("1", 0.6, (("7", 0.4),)), ("7", 0.001, (("2", 0.99), ("9", 0.009)))]
    fit = fit_pattern(readings, "1[27]")
    assert fit.chars == ("1", "7") and fit.confidences[1] == pytest.approx(0.001, rel=0.05)
