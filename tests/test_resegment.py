"""Recognition-driven segmentation of free writing: merge candidates and the choice."""

from __future__ import annotations

import numpy as np

from segmentation.glyphs import Glyph, merge_candidates
from worker import resegment


def glyph(x: int, w: int, h: int = 40, run: int = 0, line: int = 1, index: int = 1) -> Glyph:
    return Glyph((x, 100, w, h), np.full((h, w), 255, np.uint8), region=0, run=run, line=line, index=index)


def test_merge_candidates_join_close_neighbours_of_one_run_only():
    gs = [glyph(0, 8, index=1), glyph(12, 8, index=2), glyph(24, 8, index=3), glyph(90, 20, index=4),
          glyph(114, 20, run=1, index=5)]
    spans = {(c.first, c.last) for c in merge_candidates(gs)}
    assert spans == {(0, 1), (0, 2), (1, 2)}  # not across the 58 px gap, not into another run
    c = next(c for c in merge_candidates(gs) if (c.first, c.last) == (0, 2))
    assert c.rect == (0, 100, 32, 40) and c.mask.shape == (40, 32)
    assert c.mask[:, 8:12].max() == 0 and c.mask[:, :8].min() == 255  # the pieces' ink, not the gaps


def test_merge_candidates_refuse_a_merge_wider_than_a_character():
    gs = [glyph(0, 30, index=1), glyph(32, 30, index=2)]
    assert merge_candidates(gs) == []


def test_comb_cell_glyphs_are_never_merged():
    gs = [glyph(0, 8, run=-1, index=1), glyph(10, 8, run=-1, index=2)]
    assert merge_candidates(gs) == []


def probs_for(rows: list[dict[int, float]], n: int = 4) -> np.ndarray:
    p = np.full((len(rows), n), 1e-6)
    for i, r in enumerate(rows):
        for k, v in r.items():
            p[i, k] = v
    return p


def test_choice_takes_a_confident_merge_over_doubtful_pieces():
    gs = [glyph(0, 8, index=1), glyph(12, 8, index=2), glyph(40, 10, index=3)]
    cands = merge_candidates(gs)
    rows = [{0: 0.4}, {1: 0.3}, {2: 0.99}] + [{3: 0.95} if (c.first, c.last) == (0, 1) else {3: 0.1} for c in cands]
    mask = np.ones(4, bool)
    out, probs = resegment.choose(gs, cands, probs_for(rows), [mask] * 3)
    assert [g.rect for g in out] == [(0, 100, 20, 40), (40, 100, 10, 40)]
    assert [g.index for g in out] == [1, 2]  # renumbered within the line
    assert probs.argmax(1).tolist() == [3, 2]


def test_choice_keeps_confident_pieces_apart():
    gs = [glyph(0, 8, index=1), glyph(12, 8, index=2)]
    cands = merge_candidates(gs)
    rows = [{0: 0.99}, {1: 0.98}, {3: 0.9}]
    out, _ = resegment.choose(gs, cands, probs_for(rows), [np.ones(4, bool)] * 2)
    assert len(out) == 2


def test_choice_scores_within_the_field_charset():
    gs = [glyph(0, 8, index=1), glyph(12, 8, index=2)]
    cands = merge_candidates(gs)
    # the merge looks like class 3 (outside this field's charset); within the charset it is weak
    rows = [{0: 0.9}, {1: 0.9}, {3: 0.97, 0: 0.02}]
    mask = np.array([True, True, True, False])
    out, _ = resegment.choose(gs, cands, probs_for(rows), [mask] * 2)
    assert len(out) == 2


def broken_strokes_page() -> np.ndarray:
    """A free box holding H, T and L; H and T drawn with pen lifts, so no stroke touches another."""
    import cv2

    page = np.full((1200, 1800), 255, np.uint8)  # page-sized, so no stroke is as long as a form line
    cv2.rectangle(page, (60, 60), (840, 260), 0, 3)
    ink = {"thickness": 7, "lineType": cv2.LINE_AA}
    cv2.line(page, (120, 100), (120, 220), 0, **ink)  # H: the crossbar touches neither stem
    cv2.line(page, (200, 100), (200, 220), 0, **ink)
    cv2.line(page, (134, 160), (186, 160), 0, **ink)
    cv2.line(page, (300, 100), (370, 100), 0, **ink)  # T: the stem starts below the bar
    cv2.line(page, (335, 114), (335, 220), 0, **ink)
    cv2.line(page, (460, 100), (460, 220), 0, **ink)  # L, in one stroke
    cv2.line(page, (460, 220), (520, 220), 0, **ink)
    return page


def test_characters_drawn_with_pen_lifts_are_read_whole():
    from segmentation.decode import PageImage
    from segmentation.template import parse_template
    from worker.pipeline import PageReader, ReadOptions

    tpl = parse_template({"name": "t", "page_size": [1800, 1200],
                          "fields": [{"name": "code", "box": [60, 60, 780, 200], "charset": "letters"}]})
    page = PageImage(broken_strokes_page(), "pen-lifts.png", 1, None)
    on = PageReader(ReadOptions(template=tpl))
    off = PageReader(ReadOptions(template=tpl, resegment=False), classifier=on.classifier)
    assert on.read_page(page).fields[0].text.replace(" ", "") == "HTL"
    assert len(off.read_page(page).fields[0].text.replace(" ", "")) > 3  # H's pieces, read one by one


def test_a_cut_through_ink_must_pay_for_itself():
    from dataclasses import replace

    whole = [{0: 0.9}, {1: 0.9}, {3: 0.85}]  # two fair pieces, a fair merge
    gs = [glyph(0, 8, index=1), glyph(18, 8, index=2)]
    cands = merge_candidates(gs)
    masks = [np.ones(4, bool)] * 2
    out_gap, _ = resegment.choose(gs, cands, probs_for(whole), masks)
    assert len(out_gap) == 2  # separate components a character's gap apart: each piece earns the bonus
    cut = [gs[0], replace(gs[1], cut=True)]  # one blob split in two by the reader
    out_cut, _ = resegment.choose(cut, merge_candidates(cut), probs_for(whole), masks)
    assert len(out_cut) == 1


def split_blob(width: int, cuts: tuple, h: int = 40) -> list[Glyph]:
    """A solid blob cut at the first option of each of ``cuts``, as the reader splits it."""
    from segmentation.glyphs import Blob

    blob = Blob((0, 100, width, h), np.full((h, width), 255, np.uint8), cuts)
    bounds = [None, *(c[0] for c in cuts), None]
    out = []
    for k, (left, right) in enumerate(zip(bounds, bounds[1:], strict=False)):
        rect, mask = blob.piece(left, right)
        out.append(Glyph(rect, mask, region=0, run=0, line=1, index=k + 1, cut=k > 0, blob=blob))
    return out


def reads_by_width(confident: set[int], p: float = 0.99, doubt: float = 0.4):
    """A stand-in classifier: sure of class 1 for pieces of the given widths, doubtful otherwise."""
    return lambda masks: probs_for([{1: p if m.shape[1] in confident else doubt} for m in masks])


def test_a_cut_moves_to_where_the_classifier_reads_both_pieces():
    gs = split_blob(80, (((40.0, 0.0), (30.0, 0.0), (50.0, 0.0)),))
    out = resegment.choose_cuts(gs, reads_by_width({30, 50}), lambda g: np.ones(4, bool))
    assert [g.rect[2] for g in out] == [30, 50]
    assert [g.cut for g in out] == [False, True]


def test_a_cut_stays_at_the_least_ink_when_the_classifier_has_no_preference():
    gs = split_blob(80, (((40.0, 0.0), (30.0, 0.0), (50.0, 0.0)),))
    out = resegment.choose_cuts(gs, reads_by_width(set(), doubt=0.9), lambda g: np.ones(4, bool))
    assert [g.rect for g in out] == [g.rect for g in gs]


def test_a_blob_split_where_it_should_not_be_is_read_whole():
    gs = [glyph(-60, 20, index=1), *split_blob(50, (((25.0, 0.0), (15.0, 0.0)),))]
    out = resegment.choose_cuts(gs, reads_by_width({50}), lambda g: np.ones(4, bool))
    assert [g.rect for g in out] == [gs[0].rect, (0, 100, 50, 40)]
    assert not out[1].cut


def test_slanted_cut_options_leave_no_ink_behind():
    from segmentation.glyphs import _split_wide

    rng = np.random.default_rng(0)
    mask = ((rng.random((40, 120)) < 0.3) * 255).astype(np.uint8)
    pieces = _split_wide((0, 0, 120, 40), mask, 30.0)
    blob = pieces[0][3]
    assert blob is not None and all(p[3] is blob for p in pieces)
    assert len(blob.cuts) == 3 and all(1 <= len(c) <= 4 for c in blob.cuts)
    for k in range(len(blob.cuts)):  # any choice at one cut, the others where the reader put them
        for option in blob.cuts[k]:
            cuts = [c[0] for c in blob.cuts]
            cuts[k] = option
            bounds = [None, *cuts, None]
            parts = [blob.piece(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
            if all(r[2] for r, _ in parts):  # else the choice is refused: a piece is empty, or cuts cross
                assert sum(int((m > 0).sum()) for _, m in parts) == int((mask > 0).sum())


def test_a_whole_O_shared_with_its_twin_zero_beats_two_sure_fragments():
    from worker.classifier import Classifier

    clf = Classifier()
    col = {c: i for i, c in enumerate(clf.labels)}
    gs = [glyph(0, 8, index=1), glyph(18, 8, index=2)]
    cands = merge_candidates(gs)
    # an O broken at the top reads as C and a doubtful D; whole, it is O or 0, half each
    probs = probs_for([{col["C"]: 0.99}, {col["D"]: 0.3}, {col["O"]: 0.49, col["0"]: 0.49}], n=len(clf.labels))
    mask = [clf.mask(None)] * 2
    assert len(resegment.choose(gs, cands, probs, mask)[0]) == 2  # scored by raw probability: cut
    out, rows = resegment.choose(gs, cands, probs, mask, clf.pooled(probs))
    assert len(out) == 1 and clf.labels[rows[0].argmax()] in "O0"
    # a bare stroke is what fragments look like: I/1 is not pooled
    assert clf.pooled(probs_for([{col["I"]: 0.5, col["1"]: 0.5}], n=len(clf.labels))).max() == 0.5


def test_a_piece_after_a_hairline_gap_earns_less_for_starting_a_character():
    """A pen lifted inside a character (an H's first stem) leaves a hair's gap; between
    characters the gap is wider. The same reads, with the pieces apart by 1 px or by 12 px."""
    rows = [{0: 0.7}, {1: 0.7}, {2: 0.9}]  # pieces middling, the merge sure
    near = [glyph(0, 8, index=1), glyph(9, 8, index=2)]
    far = [glyph(0, 8, index=1), glyph(20, 8, index=2)]
    mask = [np.ones(4, bool)] * 2
    assert len(resegment.choose(near, merge_candidates(near), probs_for(rows), mask)[0]) == 1
    assert len(resegment.choose(far, merge_candidates(far), probs_for(rows), mask)[0]) == 2


def test_a_tiny_piece_is_no_character_on_its_own_but_may_complete_a_neighbour():
    """A speck or a caption's letter beside the writing (under TINY of the run's height both
    ways) is left out however surely it reads; merged where the merge reads better; and kept
    in a comb cell, where each cell holds one character."""
    gs = [glyph(0, 8, h=10, index=1), glyph(12, 20, index=2), glyph(40, 20, index=3)]
    cands = merge_candidates(gs)
    assert (0, 1) in {(c.first, c.last) for c in cands}
    mask = np.ones(4, bool)

    def rows(merged: float, alone: float):
        return probs_for([{0: 0.97}, {1: alone}, {2: 0.99}] +
                         [{3: merged} if (c.first, c.last) == (0, 1) else {3: 0.01} for c in cands])

    out, probs = resegment.choose(gs, cands, rows(merged=0.2, alone=0.99), [mask] * 3)
    assert [g.rect[0] for g in out] == [12, 40] and [g.index for g in out] == [1, 2]
    assert probs.argmax(1).tolist() == [1, 2]
    out, probs = resegment.choose(gs, cands, rows(merged=0.99, alone=0.3), [mask] * 3)
    assert [g.rect[:3] for g in out] == [(0, 100, 32), (40, 100, 20)] and probs.argmax(1).tolist() == [3, 2]
    cells = [glyph(0, 8, h=10, run=-1, index=1), glyph(30, 20, run=-1, index=2)]
    out, _ = resegment.choose(cells, [], probs_for([{0: 0.97}, {1: 0.99}]), [mask] * 2)
    assert len(out) == 2


def test_a_flat_piece_is_no_character_on_its_own_however_wide():
    """A small printed caption's letter that the writing runs over (an m, wide but under FLAT of
    the run's height) read as a sure M between two written 2s; it is left out, while a piece as
    wide and a little taller stays a character."""
    def kept(h: int) -> int:
        gs = [glyph(0, 20, index=1), glyph(30, 18, h=h, index=2), glyph(60, 20, index=3)]
        rows = probs_for([{0: 0.99}, {1: 0.99}, {2: 0.99}])
        return len(resegment.choose(gs, [], rows, [np.ones(4, bool)] * 3)[0])

    assert kept(h=7) == 2
    assert kept(h=12) == 3


def test_a_flag_lifted_off_a_character_earns_nothing_for_starting_one():
    """A 5's flag written apart reads as a sure 1 on its own. Under SHORT of the run's height
    it earns no gap bonus, so the merged 5 wins; a full-height stroke in the same place, a
    real 1, stays a character of its own."""
    def run(flag_h: int) -> int:
        gs = [glyph(0, 20, index=1), glyph(26, 8, h=flag_h, index=2), glyph(90, 20, index=3)]
        cands = merge_candidates(gs)
        assert (0, 1) in {(c.first, c.last) for c in cands}
        rows = probs_for([{0: 0.99}, {1: 0.95}, {2: 0.99}] +
                         [{0: 0.99} if (c.first, c.last) == (0, 1) else {3: 0.01} for c in cands])
        return len(resegment.choose(gs, cands, rows, [np.ones(4, bool)] * 3)[0])

    assert run(flag_h=15) == 2
    assert run(flag_h=40) == 3
