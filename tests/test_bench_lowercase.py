"""bench.lowercase's tally: what it counts as read right, flagged and wrong unflagged."""

import numpy as np

from bench.lowercase import tally


def test_a_lower_case_glyph_counts_as_read_right_only_as_its_own_capital_and_as_wrong_unflagged_only_when_sure():
    shares, by_letter = tally(["a", "a", "l", "e"], ["A", "Q", "I", "F"], np.array([0.99, 0.5, 0.95, 0.81]))
    assert shares == {"own capital": 0.25, "another, flagged": 0.25, "another, not flagged": 0.5}
    assert by_letter == {"a": 0.0, "e": 1.0, "l": 1.0}
