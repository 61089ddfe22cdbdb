"""bench.sweep's table: what it prints and how it counts a change against a saved run."""

from bench.sweep import table


def _numbers(**over) -> dict:
    n = {"cer_template": 0.01, "cer_free": 0.02, "free_fields_right": 170, "free_fields": 180,
         "wrong_unflagged_free": 4, "wrong_unflagged_template": 1, "right_flagged_free": 9,
         "right_flagged_template": 12, "marks": 0, "marks_right_template": 0, "marks_right_free": 0}
    return n | over


def test_a_sweep_counts_fewer_fields_flagged_for_nothing_as_better_and_more_wrong_unflagged_as_worse():
    text, better, worse = table({"": _numbers(right_flagged_free=7, wrong_unflagged_template=2)}, {"": _numbers()})
    assert (better, worse) == (1, 1)
    assert "7 (9)+" in text and "2 (1)-" in text


def test_a_run_saved_before_the_flag_columns_existed_is_compared_on_the_rest():
    old = _numbers(cer_free=0.03)
    del old["right_flagged_free"], old["right_flagged_template"]
    text, better, worse = table({"--dpi 150": _numbers()}, {"--dpi 150": old})
    assert (better, worse) == (1, 0) and "2.00% (3.00%)+" in text
    assert "-" in table({"": old})[0].splitlines()[1].split()  # an old run's missing numbers print as -
