"""The page pipeline: decode -> clean -> lines -> template -> glyphs -> normalise -> classify.

``PageReader`` is the predictor object both drivers use (``formicr read`` in-process and
the Celery task); neither has a code path of its own."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from segmentation.charsets import MARK, MARKED, TWIN_CHARS
from segmentation.clean import PALE_LINE_GREY, CleanPage, clean_page, mask_grey, show_level
from segmentation.decode import MAX_PAGES, MAX_PIXELS, PageImage, decode
from segmentation.errors import FormicrError, InputError, TemplateError
from segmentation.glyphs import (
    caption_box,
    components,
    find_glyphs,
    merge_candidates,
    reading_places,
    run_heights,
    uncovered,
    unread_ink,
    unread_pieces,
)
from segmentation.lines import (
    HIDDEN_FOOT,
    HIDDEN_SIDE,
    HIDDEN_TOP,
    FormLines,
    caption_bars,
    creased,
    find_lines,
    hidden_bars,
    hidden_sides,
    impose_combs,
    reading_order,
    remove_lines,
)
from segmentation.marks import mark_ink, read_mark, snap_to_box, snap_to_squares, split_tick_boxes
from segmentation.normalize import normalize_batch, pen_width
from segmentation.rects import Rect, centre_in, label_pieces, overlap_areas, overlap_ious, union
from segmentation.stamps import stamp_frames
from segmentation.strike import find_strikes
from segmentation.template import Registration, Template, register, register_by_ink
from worker import resegment
from worker.classifier import Classifier, Prediction, word_class
from worker.patterns import fit_pattern
from worker.results import (
    FREE_PLACE,
    FREE_PRINT,
    FREE_TEXT,
    REVIEW_THRESHOLD,
    Character,
    ErrorRow,
    Field,
    Line,
    PageResult,
    Struck,
    annotation_path,
)

# A field is flagged when ink that no read character covers adds up to this times the field
# height squared: about half a hand-printed character (its ink is ~0.07 h^2 at 60% of h).
UNREAD_INK = 0.03
SPILL_RING = 0.25  # x a field's height: the ring round it where its writing may spill (_fits_writing)
ORPHAN_H = 0.5  # x the fields' median height: ink this tall outside every field is writing left out
PALE_PAD = 3  # px a read glyph's box is widened by before pale ink beside it counts as unread (its own halo)
# Pale ink left unread counts as a grey pen's only where its darkest 5% is within this many grey
# levels of the lightest 5% of Otsu's ink: a pen straddling the threshold measures 0 to 3 above it,
# the back of a sheet showing through the paper (black ink at grey ~205) 55 to 80 (_pen_level)
PALE_GAP = 25
# Pale writing where nothing else was read is kept only where it reads at least MIRROR_MARGIN surer
# (mean confidence) as it stands than flipped (_mirrored): pencil pages read 0.92 to 0.96 upright and
# 0.42 to 0.83 flipped, show-through from the back 0.48 to 0.74 upright and 0.53 to 0.79 flipped
MIRROR_MIN, MIRROR_MARGIN = 3, 0.05
# and judged only on the glyphs of which Otsu kept under MIRROR_PALE of the ink: the writing read
# before, kept with the pale ink, reads as surely either way up and is no evidence
MIRROR_PALE = 0.5
# Ink paler than a pale pen (_back_level) that lies outside the fields at least this share as densely
# as inside them is no pen's: the back of the sheet (0.2 to 0.5 on generated forms), not a pencil
# paler than grey boxes (0: it is all in the fields)
BACK_OUTSIDE = 0.1
# Writing whose median grey is paler than this is a pale pen's. The back of the sheet is cut
# away (_back_level) only where the fields' faint ink at or below its level is that pale
# (generated pencil, pale blue and pink pens over the back: 175 to 189). Under a dark pen that
# band is its strokes' edges and what the line finder missed of pale printed boxes (a black pen
# on pink combs: 6 to 35), and cut from the back those read as a grey pen's unread strokes
PALE_PEN_GREY = 120
# A field whose Otsu ink (off the lines) is under this share of the faint strokes it lies on, and
# a pale pen's (its median grey over PALE_PEN_GREY), holds a pen Otsu cut through and kept as
# specks along its strokes (_fragmented). Measured on 10 generated forms each: a pencil at grey
# 200 beside boxes at 170, 0.31 to 0.71 (its specks' median grey 199 to 202); a black pen 0.80 to
# 1.07, with the back of the sheet showing through at 0.25 0.81 to 1.09; a pen at grey 170 0.80
# to 1.01; a pen at 150 with the back showing through 0.53 to 0.91
FRAGMENT_SHARE = 0.6
# a pen at a bilevel scanner's threshold comes out as dots: where DOT_SHARE of the faint ink in the
# places to write lies in DOT_MIN pieces or more of DOT_AREA px or less (a pen's stroke is one piece of
# hundreds), its strokes are joined (closed by DOT_JOIN px: 5 left the sparser pages' dots apart, 9 read 5 to 16
# more of 180 fields right by place on four sets of 20 red-pen bilevel forms)
DOT_AREA, DOT_SHARE, DOT_MIN, DOT_JOIN = 60, 0.4, 100, 9
# On such a page a field holding this many dots outside its read characters has writing left unread
# (PageReader._unread; measured on 60 generated red-pen bilevel forms: blank fields hold 0 to 3, fields read
# right 0 to 8 beside their characters, fields read empty with writing in them 8 to 229)
DOT_LEFT = 10
FREE_CHARSET = "alnum"  # a template-free field's: its words settle letters or digits (word_charsets)
WIDENED_MARGIN = 2  # cells a bilevel page's widened lines must add to be used instead


@dataclass
class ReadOptions:
    template: Template | None = None
    annotate_dir: Path | None = None
    review_threshold: float = REVIEW_THRESHOLD
    deskew: bool = True
    perspective: bool = True  # photos whose form lines converge are squared (about 28 ms a page)
    max_pixels: int = MAX_PIXELS
    max_pages: int = MAX_PAGES
    top_k: int = 3
    word_context: bool = True  # template-free: settle O/0, I/1 ... by the rest of the word
    resegment: bool = True  # free writing: let the classifier choose between pieces and merges
    orient: bool = True  # pages fed upside down or sideways: try them turned 180/90/270 (template pages
    # that do not register upright; template-free pages read with little confidence)


@dataclass
class FileResult:
    source: str
    pages: list[PageResult] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
    seconds: float = 0.0


class PageReader:
    """Reads pages and files with one classifier (loaded once) and one set of options."""

    def __init__(self, options: ReadOptions | None = None, classifier: Classifier | None = None,
                 model: str | Path | None = None, threads: int | None = None):
        self.options = options or ReadOptions()
        self.classifier = classifier or (Classifier(model, threads=threads) if model else Classifier(threads=threads))

    def read_page(self, page: PageImage) -> PageResult:
        tpl = self.options.template
        if tpl is not None and tpl.pages > 1:  # a multi-page form: this page's fields
            sub = PageReader(replace(self.options, template=tpl.for_page(page.page)), classifier=self.classifier)
            return sub.read_page(page)
        t0 = time.perf_counter()
        opts = self.options
        clean = clean_page(page.image, deskew=opts.deskew, perspective=opts.perspective)
        lines, reg, warnings = self._lines_and_registration(clean)
        rotation = 0
        framing = len(tpl.framing) if tpl is not None else 0  # fields whose boxes can register (not tick boxes)
        if tpl is not None and opts.orient and (warnings or reg.matched < framing / 2):
            # a page fed upside down or sideways: keep the turn that registers the most fields
            for deg, turned, (t_lines, t_reg, t_warn) in self._turns(page):
                if not t_warn and t_reg.matched >= framing / 2 and (warnings or t_reg.matched > reg.matched):
                    rotation, clean, lines, reg, warnings = deg, turned, t_lines, t_reg, []
        if tpl is not None and not warnings and reg.matched < framing / 2:
            # a registration on a few boxes may have matched the wrong ones: say so, and review
            warnings = [f"template: only {reg.matched} of {framing} field boxes matched the page's "
                        "printed boxes; every field flagged for review"]
        result = self._read(page, clean, lines, reg, warnings, rotation)
        if tpl is None and (dashed := _dashed(clean, lines)) is not None:
            # dashed or dotted lines, where no solid box shows or few of its cells do: kept where
            # the page reads more writing surely with them (without them their dashes read as
            # doubtful characters, and writing in cells not found is lost or run together; a row
            # of writing taken for a dotted line reads worse)
            with_dashes = self._read(page, clean, dashed, None, [], rotation)
            if _net_confidence(with_dashes, clean) > _net_confidence(result, clean):
                result = with_dashes
        if tpl is None and opts.orient and result.lines and _mean_confidence(result) < ORIENT_GATE:
            # template-free, read with little confidence: perhaps fed upside down or sideways;
            # keep a turn only where it reads clearly surer
            # sideways only where the characters lie wide: an upright page's are taller than wide
            for deg, turned, (t_lines, _, _) in self._turns(page, sideways=_median_aspect(result) >= SIDEWAYS_ASPECT):
                t_result = self._read(page, turned, t_lines, None, [], deg)
                if _mean_confidence(t_result) >= _mean_confidence(result) + ORIENT_MARGIN:
                    result, clean = t_result, turned
                if _mean_confidence(result) >= ORIENT_GATE:  # read with confidence: no need to try more
                    break
        if not result.characters and not any(f.text for f in result.fields):
            # read, but nothing on it: a blank form fed by mistake, or a pencil the scan lost; its
            # fields are flagged too, so a form row of blanks is never taken as read (forms.csv)
            result.warnings.append(NOTHING_WRITTEN)
            for f in result.fields:
                f.needs_review = True
        result.seconds = time.perf_counter() - t0
        if opts.annotate_dir is not None:
            from worker.annotate import annotate_page

            annotate_page(clean.grey, result, annotation_path(opts.annotate_dir, page.source, page.page))
        return result

    def _turns(self, page: PageImage, sideways: bool = True) -> Iterator[tuple[int, CleanPage, tuple]]:
        """The page turned by 180, 90 and 270 degrees (only 180 without ``sideways``): (degrees,
        its CleanPage, its lines and registration), one turn at a time."""
        for deg, code in ROTATIONS if sideways else ROTATIONS[:1]:
            turned = _clean_turned(page.image, code, self.options.deskew, self.options.perspective)
            yield deg, turned, self._lines_and_registration(turned)

    def _read(self, page: PageImage, clean: CleanPage, lines: FormLines, reg: Registration | None,
              warnings: list[str], rotation: int) -> PageResult:
        """Characters and fields of one cleaned page, its lines found and registered."""
        opts = self.options
        tpl = opts.template
        regions = [reg.field_rect(f.box) for f in tpl.fields] if tpl is not None else None
        if tpl is not None:  # combs of a known number of cells: cut on their pitch, whatever the writing joins
            lines = impose_combs(lines, clean.binary, [(r, f.cells) for f, r in zip(tpl.fields, regions, strict=True)
                                                       if f.cells])
        ink = remove_lines(clean.binary, lines, clean.scale, clean.faint[1])
        if clean.sharp is not None:  # a soft scan: ink that only the blur joined is paper (a W's notches)
            ink = cv2.bitwise_and(ink, clean.sharp)

        # tick boxes are read by their ink (_fields), never as characters; without a template,
        # every tick box found on the page is (free_ticks), and its ink is kept from the glyphs
        tick = {i for i, f in enumerate(tpl.fields) if f.charset == MARK} if tpl is not None else set()
        free_ticks, char_boxes = split_tick_boxes(clean, lines.mask, lines.boxes) if tpl is None \
            else ([], lines.boxes)
        char_lines = replace(lines, boxes=char_boxes)

        def glyphs_in(ink):
            if tpl is None:
                return find_glyphs(_erase(ink, free_ticks), char_lines)
            return [g for g in find_glyphs(ink, lines, regions=regions, free_text=False) if g.region not in tick]

        glyphs = glyphs_in(ink)
        # fields (or, without a template, printed boxes) where nothing was read: a pen lighter
        # than the printed lines may have written there
        places = regions or [b.rect for b in char_lines.boxes]
        field_charset = (lambda g: tpl.fields[g.region].charset) if tpl is not None else (lambda g: None)
        clf = self.classifier
        faint = _faint_ink(clean, lines, ink, places)
        if (level := _back_level(clf, clean, faint, places, glyphs_in, field_charset)) is not None:
            faint = _no_paler(faint, clean.faint[1], level)  # the pale pen, not the back
        faint, dots = _joined_dots(faint, places)
        pale = _pale_ink(faint, clean.binary)
        pen = _pen_level(clean, ink)
        read = {g.region for g in glyphs}
        lighter, pale_marks = _light_pen_ink(faint, ink, places, read | tick)
        empty = set(range(len(places))) - read
        # fields where some writing was read and more lies just below paper white, clear of it: a
        # grey pen that Otsu kept only in part, read again with that writing added. Where the pen
        # is light (most fields came out empty) that is done beside the empty fields' writing;
        # else a pale mark in a field left empty is that pen's writing too, where as dark
        partly = _pale_unread(pale, ink, places, glyphs, tick | (empty - pale_marks), pen)
        # fields where Otsu kept a pale pen only in specks: read on its faint ink no paler than
        # the pen's (_pen_level; the back of the sheet showing through is paler)
        if specks := _fragmented(ink, faint, pen, places, tick | empty | partly):
            ink = _add_faint(ink, _no_paler(faint, *pen), [places[i] for i in specks])
            glyphs = glyphs_in(ink)
        grown = set()  # where a light pen's writing is added
        if lighter is not None:
            grown = empty | partly
            if partly:
                lighter = _add_faint(lighter, faint, [places[i] for i in partly])
        elif partly - pale_marks:
            grown = partly
            lighter = _add_faint(ink, faint, [places[i] for i in grown])
        if lighter is not None:
            added = glyphs_in(lighter)
            # the back of the sheet showing through the paper is pale too, but mirrored: the pale
            # writing is kept only where it reads surer as it stands than flipped (MIRROR_PALE)
            if _mirrored(clf, [g for g in added if g.region in grown and _dark_share(g, ink) < MIRROR_PALE],
                         field_charset):
                lighter = None
            else:
                ink, glyphs, pale_marks = lighter, added, pale_marks - grown
        # characters struck out (scribbled over, inked solid): taken off the ink the page is
        # read on (a pale pen's too), and the characters found again without them
        strike_places = [r for i, r in enumerate(regions) if i not in tick] if tpl is not None else \
            [b.rect for b in reading_places(char_lines, clean.binary.shape)]
        unstruck, strikes = find_strikes(ink, strike_places)
        if strikes:
            ink, glyphs = unstruck, glyphs_in(unstruck)
        # the page's pen, measured once on all its writing: every piece and merge is normalised
        # to it, so no reading depends on which others share its batch
        pen_px = pen_width([g.mask for g in glyphs])
        if opts.resegment:  # touching characters: the classifier chooses where to cut them
            glyphs = resegment.choose_cuts(
                glyphs, lambda ms: clf.pooled(clf.probabilities(normalize_batch(ms, stroke=True, width=pen_px))),
                lambda g: clf.mask(field_charset(g)))
        # free writing: the classifier chooses between pieces and their merges
        candidates = merge_candidates(glyphs) if opts.resegment else []
        x = normalize_batch([g.mask for g in glyphs] + [c.mask for c in candidates], stroke=True, width=pen_px)
        piece_probs = self.classifier.probabilities(x)  # the pieces' rows, then their merges'
        pooled = self.classifier.pooled(piece_probs)
        pieces = glyphs
        glyphs, probs = resegment.choose(glyphs, candidates, piece_probs,
                                         [self.classifier.mask(field_charset(g)) for g in glyphs], pooled)
        charsets = [field_charset(g) for g in glyphs] if tpl is not None else None
        doubted = [False] * len(glyphs)
        if charsets is None and opts.word_context:
            words = [(g.line, g.word, g.region) for g in glyphs]
            charsets = self.classifier.word_charsets(probs, words)
            doubted = self.classifier.twins_in_doubt(probs, words, charsets)
        preds = self.classifier.decode(probs, charsets, top_k=opts.top_k)
        preds = self._hidden_bars(clean.binary, ink, lines.thickness, glyphs, preds, charsets, pen_px)
        preds = self._unmerged(pieces, candidates, piece_probs, pooled, glyphs, preds, field_charset)
        if lines.creases is not None:
            preds = self._folded(clean.binary, ink, lines.creases, glyphs, preds, charsets, pen_px)
        if tpl is None:  # every place to write on the page is a field, named as formicr template drafts it
            spots = strike_places + free_ticks  # (the places to write, less the tick boxes)
            order = reading_order(spots)
            # a rubber stamp the line finder did not find as a box (pale on a grey scan, turned,
            # or broken into dashes): its print and its frame's pieces are named as print, not fields
            stamped = stamp_places(clean, char_lines, free_ticks, glyphs)
            place_names, run_names = free_field_names(order, glyphs, spots, stamped)
            field_of = lambda g: place_names[g.region] if g.region >= 0 else run_names[g.run]  # noqa: E731
        else:
            field_of = lambda g: tpl.fields[g.region].name  # noqa: E731
        chars = []
        for g, p in zip(glyphs, preds, strict=True):
            bx, by, bw, bh = clean.input_box(*g.rect)
            chars.append(Character(g.line, g.index, g.word, bx, by, bw, bh, p.char, p.confidence, p.alternatives,
                                   field_of(g), g.rect))
        names = [f.name for i, f in enumerate(tpl.fields) if i not in tick] if tpl is not None else \
            place_names[: len(strike_places)]
        struck = self._struck(clean, strikes, strike_places, names, chars)
        line_list = []
        for c in chars:
            if not line_list or line_list[-1].number != c.line:
                line_list.append(Line(c.line, []))
            line_list[-1].characters.append(c)
        fields = []
        if tpl is not None:
            # ink left in a field that no read character covers: writing the reader lost
            pale_left = pale_marks | _pale_unread(pale, ink, regions, glyphs, tick, pen)
            unread = [i not in tick and (i in pale_left or self._unread(ink, r, glyphs, i, dots))
                      for i, r in enumerate(regions)]
            # the tick boxes the page shows, for a registered box that lands beside its own
            squares = split_tick_boxes(clean, lines.mask, lines.boxes)[0] if tick else []
            ticks = self._ticks(clean, lines, [regions[i] if i in tick else None for i in range(len(regions))],
                                light_pen=lighter is not None, squares=squares)
            # placed by the writing alone (no printed box survived: a dropout form), the fields
            # are trusted only where they fit it: no field's writing crosses its edge and no
            # writing is left outside them (else the page's geometry is off, a photo's keystone,
            # and a field may sit on its neighbour's writing: every field is flagged)
            loose = bool(warnings) and (reg.matched > 0 or not _fits_writing(
                ink, [r for i, r in enumerate(regions) if i not in tick], regions))
            # read on dashes drawn whole, a field whose box they did not make is read where the
            # registration puts it, without its edges (a side the drawing missed reads as a 1)
            fields = self._fields(chars, unread, regions, ticks, unregistered=loose,
                                  boxed=reg.boxed if lines.drawn is not None else None)
        else:
            boxed = len(spots) - len(free_ticks)
            ticks = self._ticks(clean, lines, [None] * boxed + free_ticks, light_pen=lighter is not None)
            pale_left = pale_marks | _pale_unread(pale, ink, spots[:boxed], glyphs, set(), pen)
            fields = [self._mark_field(place_names[i], ticks[i], spots[i]) if i in ticks else
                      self._text_field(place_names[i], FREE_CHARSET, chars, spots[i],
                                       lost=i in pale_left or self._unread(ink, spots[i], glyphs, i, dots))
                      for i in order]
            for name in dict.fromkeys(run_names[g.run] for g in glyphs if g.region < 0):  # free writing
                rect = union([c.work_rect for c in chars if c.field == name])
                fields.append(self._text_field(name, FREE_CHARSET, chars, rect))
        # a twin its word made the other class, where the word is a code of both
        in_doubt = {c.field for c, d in zip(chars, doubted, strict=True) if d}
        for f in fields:  # a field with a character struck out is read for review
            f.needs_review |= any(s.field == f.name for s in struck)
            if tpl is None and opts.word_context and not f.name.startswith(FREE_PRINT):
                f.needs_review |= _letter_among_digits(f.characters) or f.name in in_doubt
        h, w = page.image.shape
        return PageResult(page.source, page.page, line_list, fields, (w, h), clean.angle,
                          warnings=[*warnings, *(s.warning for s in struck)], rotation=rotation, struck=struck)

    @staticmethod
    def _struck(clean: CleanPage, strikes: list[Rect], places: list[Rect], names: list[str],
                chars: list[Character]) -> list[Struck]:
        """Each struck-out character (``strikes``, working px) with the field whose place
        (``places``, named ``names``) holds its centre; the characters written either side of
        it there are kept one word (``_rejoin``)."""
        out = []
        for r in strikes:
            cx, cy = r[0] + r[2] / 2, r[1] + r[3] / 2
            name = next((n for (px, py, pw, ph), n in zip(places, names, strict=True)
                         if px <= cx < px + pw and py <= cy < py + ph), None)
            _rejoin([c for c in chars if c.field == name and c.work_rect is not None], chars, cx)
            out.append(Struck(name, clean.input_box(*r), r))
        return out

    def _hidden_bars(self, binary: np.ndarray, ink: np.ndarray, thickness: float, glyphs: list,
                     preds: list[Prediction], charsets: list[str | None] | None,
                     pen_px: float | None) -> list[Prediction]:
        """``preds`` with each character in a box that touches a box line, and reads as its bar
        twin (HIDDEN_FOOT, HIDDEN_TOP; HIDDEN_SIDE for an upright line beside it) at DOUBT_P or
        more with that line put back, made as doubtful as that reading is likely, the twin its
        first alternative (``hidden_bars``, ``hidden_sides``: a 2's foot on its box's bottom line
        reads 7, and nothing on the page says which it is)."""
        variants, owner = [], []
        for i, (g, p) in enumerate(zip(glyphs, preds, strict=True)):
            if g.region < 0:
                continue
            edges = (p.char in HIDDEN_TOP, p.char in HIDDEN_FOOT)
            if any(edges):
                for _, m, top in hidden_bars(binary, ink, g.rect, g.mask, thickness, edges):
                    variants.append(m)
                    owner.append((i, (HIDDEN_TOP if top else HIDDEN_FOOT)[p.char]))
            if p.char in HIDDEN_SIDE:
                for m in hidden_sides(binary, ink, g.rect, g.mask, thickness):
                    variants.append(m)
                    owner.append((i, HIDDEN_SIDE[p.char]))
        return self._doubted(preds, variants, owner, charsets, pen_px)

    def _folded(self, binary: np.ndarray, ink: np.ndarray, creases: np.ndarray, glyphs: list,
                preds: list[Prediction], charsets: list[str | None] | None, pen_px: float | None) -> list[Prediction]:
        """``preds`` with each character that a fold (``creases``) runs along, and that reads
        as another character at DOUBT_P or more with the fold put back (``creased``: a 4's bar
        on a horizontal fold was erased with it and read 1), made as doubtful as that reading
        is likely: nothing on the page says whether the pen drew along the fold there."""
        variants, owner = [], []
        for i, g in enumerate(glyphs):
            if (m := creased(binary, ink, creases, g.rect, g.mask)) is not None:
                variants.append(m)
                owner.append((i, None))
        return self._doubted(preds, variants, owner, charsets, pen_px)

    def _unmerged(self, pieces: list, candidates: list, probs: np.ndarray, pooled: np.ndarray, glyphs: list,
                  preds: list[Prediction], field_charset) -> list[Prediction]:
        """``preds`` with strokes read apart (each narrower than ``UNMERGED_NARROW`` of their run's
        height, less than a full gap, ``resegment.FULL_GAP``, apart) that merged read surer as one
        character than they do together made as doubtful as that reading, at HIDDEN_P or more, is
        likely: only their gap's part of the bonus kept them apart (an H whose bar the scan lost
        read 11). ``probs``: the rows of ``pieces``, then of ``candidates``; ``pooled``: the same,
        letter/digit twins pooled (``Classifier.pooled``), as ``resegment.choose`` scored them."""
        at = {g.rect: i for i, g in enumerate(glyphs)}
        clf, n, out = self.classifier, len(pieces), list(preds)
        heights = run_heights(pieces)
        for ci, c in enumerate(candidates):
            parts = pieces[c.first : c.last + 1]
            kept = [at.get(g.rect) for g in parts]
            h = heights[parts[0].run]
            if None in kept or max(g.rect[2] for g in parts) >= UNMERGED_NARROW * h or \
                    max(b.rect[0] - a.rect[0] - a.rect[2] for a, b in zip(parts, parts[1:], strict=False)) >= \
                    resegment.FULL_GAP * h:
                continue  # (two letters close together read one W or M; letters a gap apart, LI, read U)
            charset = field_charset(parts[0])
            mask = clf.mask(charset)
            merged = clf.decode(probs[n + ci : n + ci + 1], [charset], top_k=1)[0]
            apart = sum(resegment.log_best(pooled[k], mask) for k in range(c.first, c.last + 1))
            if merged.confidence >= HIDDEN_P and resegment.log_best(pooled[n + ci], mask) > apart:
                for i in kept:
                    out[i] = _doubtful(out[i], merged)
        return out

    def _doubted(self, preds: list[Prediction], variants: list[np.ndarray], owner: list[tuple[int, str | None]],
                 charsets: list[str | None] | None, pen_px: float | None) -> list[Prediction]:
        """``preds`` with character ``i`` made as doubtful as its ``variants``' reading (what the
        page cannot rule out it is) is likely, that reading its first alternative, where that
        reading is at least DOUBT_P likely and among ``maybe`` (``owner``'s (i, maybe) pairs;
        None: any other character)."""
        if not variants:
            return preds
        probs = self.classifier.probabilities(normalize_batch(variants, stroke=True, width=pen_px))
        alts = self.classifier.decode(probs, [charsets[i] for i, _ in owner] if charsets else None, top_k=1)
        out = list(preds)
        for (i, maybe), a in zip(owner, alts, strict=True):
            p = out[i]
            if a.char != p.char and (maybe is None or a.char in maybe) and a.confidence >= DOUBT_P:
                out[i] = _doubtful(p, a)
        return out

    def _lines_and_registration(self, clean: CleanPage) -> tuple[FormLines, Registration | None, list[str]]:
        """The page's form lines and, with a template, its registration (page geometry, with
        a warning, when no printed box matches)."""
        tpl = self.options.template
        lines, faint = _line_candidates(clean)
        if tpl is None:
            return _template_free_lines(clean, lines, faint), None, []
        reg, exc = _try_register(tpl, lines)
        if faint is not None:
            freg, _ = _try_register(tpl, faint)
            if freg is not None and (reg is None or (freg.matched, -_stray_cells(tpl, freg, faint), _cells(faint))
                                     >= (reg.matched, -_stray_cells(tpl, reg, lines), _cells(lines))):
                reg, lines = freg, faint
        framing = len(tpl.framing)
        if (reg is None or reg.matched < framing) and (dashed := _dashed(clean, lines, broken=True)) is not None:
            # printed dashed or dotted: taken where they register more of the form than the solid
            # lines, which did not register all of it (a bilevel scan runs some dots into pieces
            # of box, which can register half the form and misplace it); where both place the
            # fields alike, a comb the solid lines missed has no printed box to cut its cells
            # on, and its writing is read free
            dreg, _ = _try_register(tpl, dashed)
            if dreg is not None and dreg.matched >= framing / 2 and (reg is None or dreg.matched > reg.matched):
                reg, lines = dreg, dashed
        if reg is not None:
            return lines, reg, []
        # no usable printed boxes: the page's geometry, shifted to where the writing is
        return lines, register_by_ink(tpl, clean.binary.shape, cv2.bitwise_and(clean.binary, ~lines.mask)), [
            f"{error_message(exc, tpl.source)}; fields read at the template's positions scaled to the "
            "page and shifted onto the writing, all flagged for review unless the writing fits them"]

    @staticmethod
    def _ticks(clean: CleanPage, lines: FormLines, rects: list[tuple[int, int, int, int] | None],
               light_pen: bool, squares: list[tuple[int, int, int, int]] = ()) -> dict[int, tuple[float, bool]]:
        """Tick boxes (``rects``: the registered box of each tick-box field, None for the
        others; each moved onto the printed box or the tick box in ``squares`` it lands on or
        beside): field index -> (inked share of its inside, a pale mark Otsu left out). Read on
        the page as binarised, not less its lines: line removal would take a stroke struck
        through the box, or a box filled in. A light pen's page (pencil) is read on the
        binarisation just below paper white."""
        out = {}
        placed = iter(snap_to_squares([r for r in rects if r is not None], list(squares)))
        for i, rect in enumerate(rects):
            if rect is None:
                continue
            near = next(placed)
            box = snap_to_box(rect, lines.boxes)
            box = near if box == rect else box
            share, pale = mark_ink(clean.binary, box), False
            if light_pen or not read_mark(share)[0]:
                faint = mark_ink(clean.faint[0], box)
                share, pale = (faint, False) if light_pen else (share, read_mark(faint)[0])
            out[i] = (share, pale)
        return out

    def _mark_field(self, name: str, reading: tuple[float, bool], rect: tuple[int, int, int, int],
                    unregistered: bool = False) -> Field:
        """A tick box's field from its ``_ticks`` reading: MARKED or empty, flagged for review
        when doubtful, when a pale mark lies in an empty box, or on an unregistered page."""
        marked, conf = read_mark(reading[0])
        return Field(name, MARK, MARKED if marked else "", conf,
                     unregistered or reading[1] or conf < self.options.review_threshold, [], rect)

    def _fields(self, chars: list[Character], unread: list[bool], regions: list[tuple[int, int, int, int]],
                ticks: dict[int, tuple[float, bool]], unregistered: bool = False,
                boxed: frozenset[int] | None = None) -> list[Field]:
        """The template's fields: characters joined by word, or, for a tick box (``ticks``,
        from ``_ticks``), MARKED or empty; a pale mark in an empty box is flagged for review,
        and so is a text that does not match its field's pattern, or, given ``boxed`` (the
        fields whose printed boxes were found), a text field not among them."""
        out = []
        for i, (spec, lost, rect) in enumerate(zip(self.options.template.fields, unread, regions, strict=True)):
            if i in ticks:
                out.append(self._mark_field(spec.name, ticks[i], rect, unregistered))
                continue
            overruled = spec.pattern is not None and _fit_pattern(chars, spec.name, spec.pattern)
            f = self._text_field(spec.name, spec.charset, chars, rect)
            f.needs_review |= (unregistered or lost or (boxed is not None and i not in boxed) or overruled
                               or not spec.fits(f.text))
            out.append(f)
        return out

    @staticmethod
    def _unread(ink: np.ndarray, rect: tuple[int, int, int, int], glyphs: list, region: int,
                dots: np.ndarray | None = None) -> bool:
        """Whether ink is left in ``rect`` (the place or field ``region``) that none of its read
        glyphs covers: writing the reader lost. On a page whose pen is dotted (``dots``:
        ``_joined_dots``'), also where ``DOT_LEFT`` or more of its dots lie there outside the read
        glyphs and the caption (each dot is smaller than the speck ``_lost`` takes for the scanner's)."""
        read = [g.rect for g in glyphs if g.region == region]
        if _lost(ink, rect, read):
            return True
        return dots is not None and unread_pieces(dots, rect, read, [c for c in [caption_box(ink, rect)] if c]) >= DOT_LEFT

    def _text_field(self, name: str, charset: str, chars: list[Character],
                    rect: tuple[int, int, int, int], lost: bool = False) -> Field:
        """The field ``name`` from its characters (those whose ``field`` it is): joined in
        reading order with a space between words, as sure as its weakest character, flagged
        for review when that is below the threshold, when ink in it was left unread (``lost``),
        or when a character is over RUN_TOGETHER times as wide as tall (several read as one: a
        free box that took the back of the sheet's separators for cells, one cell to a word)."""
        mine = _field_chars(chars, name)
        text, prev = [], None
        for c in mine:
            if prev is not None and (c.line, c.word) != (prev.line, prev.word):
                text.append(" ")
            text.append(c.char)
            prev = c
        conf = min((c.confidence for c in mine), default=1.0)
        run_together = any(c.w > RUN_TOGETHER * c.h for c in mine)
        return Field(name, charset, "".join(text), conf,
                     lost or run_together or (bool(mine) and conf < self.options.review_threshold), mine, rect)

    def read_file(self, path: str | Path, display: str | None = None) -> FileResult:
        """Every page of one file; bad input becomes error rows. Only TransientError
        (storage trouble worth retrying) escapes, for the caller to decide."""
        source = display or str(path)
        res = FileResult(source)
        t0 = time.perf_counter()
        try:
            for page in decode(path, max_pixels=self.options.max_pixels, max_pages=self.options.max_pages):
                page.source = source
                try:
                    res.pages.append(self.read_page(page))
                    res.errors += [ErrorRow(source, page.page, w) for w in res.pages[-1].warnings]
                except FormicrError as exc:
                    res.errors.append(ErrorRow(source, page.page, error_message(exc, source)))
        except InputError as exc:
            res.errors.append(ErrorRow(source, None, error_message(exc, str(path), source)))
        res.seconds = time.perf_counter() - t0
        return res


def _doubtful(p: Prediction, a: Prediction) -> Prediction:
    """``p`` made as doubtful as ``a``, another reading of the same ink, is likely, ``a`` first
    among its alternatives."""
    others = tuple(c for c in p.alternatives if c[0] != a.char)
    return Prediction(p.char, min(p.confidence, 1.0 - a.confidence),
                      ((a.char, a.confidence), *others)[: max(1, len(p.alternatives))])


def _letter_among_digits(chars: list[Character]) -> bool:
    """Whether a word of ``chars`` is digits (``word_class`` of its characters that are no
    letter/digit twin), yet holds a letter that is no twin: ``Classifier.word_charsets`` keeps
    a letter the model is sure of, so the word and the glyph disagree, and one of them is
    wrong (a digit scribbled out to and fro, which ``find_strikes`` let pass, read M at 0.93 in
    a phone number). Without a template nothing else says what the field holds."""
    words: dict[tuple[int, int], list[str]] = {}
    for c in chars:
        if c.char not in TWIN_CHARS:
            words.setdefault((c.line, c.word), []).append(c.char)
    return any(any(ch.isalpha() for ch in w) and word_class([ch.isdigit() for ch in w]) == "digits"
               for w in words.values())


def _field_chars(chars: list[Character], name: str) -> list[Character]:
    """The characters of field ``name``, in reading order."""
    return sorted((c for c in chars if c.field == name), key=lambda c: (c.line, c.index))


def _fit_pattern(chars: list[Character], name: str, pattern: str) -> bool:
    """The characters of field ``name`` re-read as the likeliest text its ``pattern`` matches
    (``worker.patterns``), in place; whether that overruled a reading (other than its twin's)."""
    mine = _field_chars(chars, name)
    fit = fit_pattern([(c.char, c.confidence, c.alternatives) for c in mine], pattern)
    if fit is None:
        return False
    for c, ch, conf, alts in zip(mine, fit.chars, fit.confidences, fit.alternatives, strict=True):
        c.char, c.confidence, c.alternatives = ch, conf, alts
    return fit.overruled


def _rejoin(mine: list[Character], chars: list[Character], x: float) -> None:
    """The characters of one field (``mine``) either side of ``x``, where one was struck out,
    made one word again in ``chars``: the struck one's empty comb cell, or the gap it left in a
    free box, parted them."""
    before = [c for c in mine if c.work_rect[0] + c.work_rect[2] / 2 < x]
    after = [c for c in mine if c.work_rect[0] + c.work_rect[2] / 2 >= x]
    if not (before and after):
        return
    a = max(before, key=lambda c: c.work_rect[0])
    b = min(after, key=lambda c: c.work_rect[0])
    if a.line == b.line and a.word != b.word:
        parted = b.word
        for c in chars:
            if c.line == b.line and c.word == parted:
                c.word = a.word


PRINT_SHARE = 0.5  # print_places: of a box's characters, in rows of print, that make it print
STAMP_MARGIN = 0.0075  # stamp_places: of the page's long side (2 mm on A4), round a stamp's frame
NESTED = 0.8  # print_places: of the smaller of two boxes, inside the other, for a double frame
TICK_MARGIN = 0.15  # a tick box's ink is kept from the glyphs this share of its side beyond its edges (a tick overshoots)


def free_field_names(order: list[int], glyphs: list, places: list[Rect] | None = None,
                     stamped: set[int] | None = None) -> tuple[list[str], dict[int, str]]:
    """Template-free field names: each place on the page (its boxes, combs and underline bands
    as find_glyphs indexes them, then its tick boxes), ``order`` being their reading order on
    the deskewed page, ``field_01``... in that order, as ``formicr template`` drafts them; each
    run of free writing outside them (glyph ``run``, region -1) ``text_01``... in reading order,
    and each row of print there (a form's title: glyph ``printed``) ``print_01``..., apart, so the
    writing's names do not depend on whether a title was found. A box holding print rather than
    writing (``print_places``: a rubber stamp; ``places``, their rects, for its frame's other
    boxes; ``stamped``, the places whose lines lie in a stamp's frame that ``stamp_frames``
    found) is named as print, after the rows of print, and the fields' numbers pass it by."""
    printed_places = print_places(glyphs, places or [], stamped or set())
    fields = [i for i in order if i not in printed_places]
    width = max(2, len(str(len(fields))))
    names = [""] * len(order)
    for k, i in enumerate(fields, start=1):
        names[i] = f"{FREE_PLACE}_{k:0{width}d}"
    free = [g for g in sorted(glyphs, key=lambda g: (g.line, g.index)) if g.region < 0]
    out: dict[int, str] = {}
    for prefix, printed, boxes in ((FREE_TEXT, False, []), (FREE_PRINT, True, [i for i in order if i in printed_places])):
        runs = list(dict.fromkeys(g.run for g in free if g.printed == printed))
        width = max(2, len(str(len(runs) + len(boxes))))
        out |= {r: f"{prefix}_{k:0{width}d}" for k, r in enumerate(runs, start=1)}
        for k, i in enumerate(boxes, start=len(runs) + 1):
            names[i] = f"{prefix}_{k:0{width}d}"
    return names, out


def stamp_places(clean: CleanPage, lines: FormLines, ticks: list[Rect], glyphs: list) -> set[int]:
    """The places of a template-free read (``reading_places(lines)``, then ``ticks``) whose box,
    underline or tick box is centred in a rubber stamp's frame that the line finder did not find
    as a box (pale on a grey scan, turned, or broken into dashes on a bilevel one:
    ``stamp_frames``, told from the form's boxes by ``lines.boxes``); the ``glyphs`` centred there,
    and their free runs, are marked as print. A frame's rect is widened by ``STAMP_MARGIN`` of
    the page's long side: where only a double frame's inner one was found, its outer one's
    edges (found as underlines) lie just outside it."""
    stamps = stamp_frames(*clean.faint, lines.mask, [b.rect for b in lines.boxes])
    if not stamps:
        return set()
    margin = int(round(STAMP_MARGIN * max(clean.binary.shape)))
    stamps = [_pad(s, margin) for s in stamps]
    inside = [any(centre_in(g.rect, s) for s in stamps) for g in glyphs]
    runs = {g.run for g, i in zip(glyphs, inside, strict=True) if i and g.region < 0}
    for g, i in zip(glyphs, inside, strict=True):
        g.printed = g.printed or i or (g.region < 0 and g.run in runs)
    lines_of = [b.rect for b in lines.boxes] + lines.underlines + ticks
    return {i for i, r in enumerate(lines_of) if any(centre_in(r, s) for s in stamps)}


def print_places(glyphs: list, places: list[Rect], stamped: set[int]) -> set[int]:
    """Places (glyph regions) holding print rather than writing: at least ``PRINT_SHARE`` of
    their characters in rows of print (``printed_row``), as a rubber stamp's frame holds; those
    ``stamped`` (a stamp's frame's pieces); and of ``places`` (rects, by region) the empty ones
    round a place of print or inside it (a double frame: the smaller of the two mostly inside
    the other, ``NESTED``)."""
    count: Counter[int] = Counter(g.region for g in glyphs if g.region >= 0)
    printed: Counter[int] = Counter(g.region for g in glyphs if g.region >= 0 and g.printed)
    found = {r for r, n in printed.items() if n >= PRINT_SHARE * count[r]} | stamped
    if not found or not places:
        return found
    framed = sorted(found)
    area = np.array([w * h for _, _, w, h in places], float)
    nested = overlap_areas(places, [places[j] for j in framed]) >= \
        NESTED * np.minimum(area[:, None], area[framed][None])
    return found | {i for i in np.nonzero(nested.any(axis=1))[0].tolist() if i not in count}


def _erase(ink: np.ndarray, rects: list[tuple[int, int, int, int]]) -> np.ndarray:
    """``ink`` with every rect in ``rects`` (tick boxes), widened by ``TICK_MARGIN``, made paper."""
    if not rects:
        return ink
    out = ink.copy()
    for x, y, w, h in rects:
        m = int(round(TICK_MARGIN * max(w, h)))
        out[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m] = 0
    return out


def _light_pen_ink(faint: np.ndarray, ink: np.ndarray, regions: list[tuple[int, int, int, int]],
                   read: set[int]) -> tuple[np.ndarray | None, set[int]]:
    """Writing in a pen lighter than Otsu's threshold (pencil, a pale ballpoint beside black
    boxes), seen on ``faint`` (``_faint_ink``: the page just below paper white less its form lines), in regions
    where nothing was read. When most regions came out empty, the pen is light: returns the
    ink image with that writing added. When most were read, a pale mark in a blank field may
    as well be a printed hint: returns those regions, to be flagged rather than read."""
    empty = [i for i in range(len(regions)) if i not in read]
    if not empty:
        return None, set()
    marked = [i for i in empty if _lost(faint, regions[i], [])]
    if not marked or len(empty) < len(regions) / 2:
        return None, set(marked)
    return _add_faint(ink, faint, [regions[i] for i in marked]), set()


def _joined_dots(faint: np.ndarray, places: list[Rect]) -> tuple[np.ndarray, np.ndarray | None]:
    """``faint`` with its strokes joined (closed by ``DOT_JOIN``) where much of its ink in the
    ``places`` lies in dots (``DOT_*``): a pen at a bilevel scanner's threshold, its strokes
    kept as scattered dots; else ``faint`` as it is. And those dots as the scan kept them
    (``faint`` before the join; None on a page whose pen is not dotted)."""
    areas = [label_pieces(np.ascontiguousarray(faint[y : y + h, x : x + w]))[2][1:, cv2.CC_STAT_AREA]
             for x, y, w, h in ((max(0, v) for v in r) for r in places)]
    area = np.concatenate(areas) if areas else np.zeros(0, int)
    dots = area[area <= DOT_AREA]
    if len(dots) < DOT_MIN or dots.sum() < DOT_SHARE * area.sum():
        return faint, None
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (DOT_JOIN, DOT_JOIN))
    return cv2.morphologyEx(faint, cv2.MORPH_CLOSE, kernel), faint


def _add_faint(ink: np.ndarray, faint: np.ndarray, rects: list[tuple[int, int, int, int]]) -> np.ndarray:
    """``ink`` with the pale writing of ``faint`` (``_faint_ink``) added inside ``rects``."""
    out = ink.copy()
    for x, y, w, h in ((max(0, v) for v in r) for r in rects):
        out[y : y + h, x : x + w] |= faint[y : y + h, x : x + w]
    return out


def _fits_writing(ink: np.ndarray, text_rects: list[tuple[int, int, int, int]],
                  rects: list[tuple[int, int, int, int]]) -> bool:
    """Whether fields placed by the writing alone fit it: no text field's writing crosses its
    edge by half a character's worth (``UNREAD_INK``) within ``SPILL_RING`` of its height, and
    no character-tall piece of ink (``ORPHAN_H`` of the fields' median height) lies outside
    every field (``rects``, widened by ``SPILL_RING``). Printed captions and titles are
    smaller than the writing on the forms this was measured on (0.43 of the field height
    against 0.56 and over for writing a keystoned page left outside its fields); a form
    printed larger is flagged whole, as before."""
    if not rects:
        return False
    labels_all, comps = components(ink)
    h_med = float(np.median([r[3] for r in rects]))
    covered = np.zeros(ink.shape, bool)
    for x, y, w, h in rects:
        m = int(round(SPILL_RING * h))
        covered[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m] = True
    for c in comps:
        if c.h >= ORPHAN_H * h_med and c.area >= 12 and covered[c.y : c.y1, c.x : c.x1].mean() < 0.5:
            return False
    for x, y, w, h in text_rects:  # a field's own strokes outside it: cut by a misplaced edge
        m = int(round(SPILL_RING * h))
        ox, oy = max(0, x - m), max(0, y - m)
        outer = labels_all[oy : y + h + m, ox : x + w + m]
        inside = np.zeros(outer.shape, bool)
        inside[max(0, y) - oy : max(0, y) - oy + h, max(0, x) - ox : max(0, x) - ox + w] = True
        held = np.unique(outer[inside & (outer > 0)])
        if held.size and int((np.isin(outer, held) & ~inside).sum()) >= UNREAD_INK * h * h:
            return False
    return True


def _faint_ink(clean: CleanPage, lines: FormLines, ink: np.ndarray, places: list[Rect]) -> np.ndarray:
    """The page binarised just below paper white, less its form lines: a pale pen's strokes.
    Round the ``ink`` Otsu kept (of the writing, in the ``places`` to write) at a line, its
    faint strokes are kept there too."""
    band = cv2.dilate(lines.mask, np.ones((7, 7), np.uint8))
    seeds = np.zeros_like(band)
    for x, y, w, h in ((max(0, v) for v in r) for r in places):
        seeds[y : y + h, x : x + w] = band[y : y + h, x : x + w]
    off_line = ~lines.mask
    near = cv2.dilate(ink & seeds & off_line, np.ones((5, 5), np.uint8)) & off_line
    return clean.faint[0] & (~band | near)


def _no_paler(faint: np.ndarray, flat: np.ndarray, level: float) -> np.ndarray:
    """``faint`` where the page (``flat``) is no paler than ``level``."""
    return np.where(flat <= level, faint, 0).astype(np.uint8)


def _back_level(clf: Classifier, clean: CleanPage, faint: np.ndarray, places: list[tuple[int, int, int, int]],
                glyphs_in, charset) -> int | None:
    """The grey level that parts a pale pen from the back of the sheet showing through the paper
    (``show_level``), where the page's histogram shows one and the faint ink paler than it, away
    from darker ink (a pen's own edges), is not a pen's: it lies outside the ``places`` to write
    in at least ``BACK_OUTSIDE`` as densely as inside them, or it reads as mirrored writing
    (``_mirrored``). Else None: no such level, the pen is dark (the writing's median grey is
    under ``PALE_PEN_GREY``), or the paler ink is writing (a pencil paler than grey boxes).
    ``glyphs_in``: the read's glyph finder, on an ink image."""
    flat = clean.faint[1]
    level = show_level(flat)
    if level is None:
        return None
    inside = np.zeros(flat.shape, bool)
    for x, y, w, h in places:
        inside[max(0, y) : y + h, max(0, x) : x + w] = True
    writing = flat[inside & (faint > 0) & (flat <= level)]
    if not writing.size or np.median(writing) < PALE_PEN_GREY:
        return None
    darker = cv2.dilate((flat <= level).astype(np.uint8), np.ones((5, 5), np.uint8))
    paler = np.where((flat > level) & (darker == 0), faint, 0).astype(np.uint8)
    density = [np.count_nonzero(paler[m]) / max(np.count_nonzero(m), 1) for m in (inside, ~inside)]
    if density[1] >= BACK_OUTSIDE * density[0]:
        return level
    return level if _mirrored(clf, glyphs_in(paler), charset) else None


def _pale_ink(faint: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """``faint`` less what Otsu kept (``binary``), in runs at least 2 px wide: a pale pen's
    strokes, not the 1 px halo round black ink (a dotted line's dots). On a bilevel scan, none."""
    return cv2.morphologyEx(faint & ~binary, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))


PEN_KEPT = 500  # _pen_level: pixels of writing (at half scale) Otsu must keep to measure the pen on


def _pen_level(clean: CleanPage, ink: np.ndarray) -> tuple[np.ndarray, float]:
    """The flat-fielded page (``faint_binary``'s) and the palest grey a pen's unread strokes
    may have at their darkest: ``PALE_GAP`` above the lightest 5% of what Otsu kept, or of
    what it kept of the writing (``ink``, the page less its form lines) where that is darker:
    boxes printed in grey, which Otsu keeps, would let a black pen take their grey, and the
    back of the sheet showing through for its unread strokes. (The writing alone is not the
    measure everywhere: under a pen as grey as Otsu's threshold it holds what Otsu kept of the
    back, a few levels paler, and the back was taken for the pen.)"""
    flat = clean.faint[1]

    def level(mask: np.ndarray, least: int) -> float:
        kept = flat[::2, ::2][mask[::2, ::2] > 0]
        return float(np.percentile(kept, 95)) + PALE_GAP if kept.size >= least else 255.0

    return flat, min(level(clean.binary, 1), level(ink, PEN_KEPT))


def _lost(ink: np.ndarray, rect: tuple[int, int, int, int], read: list[tuple[int, int, int, int]],
          captions: list[tuple[int, int, int, int]] | None = None) -> bool:
    """Whether ``unread_ink`` in ``rect`` reaches ``UNREAD_INK`` (half a character's worth)."""
    floor = UNREAD_INK * rect[3] ** 2
    return unread_ink(ink, rect, read, floor=int(floor), captions=captions) >= floor


def _dark_share(g, ink: np.ndarray) -> float:
    """The share of glyph ``g``'s ink that ``ink`` (the page Otsu kept) holds."""
    x, y, w, h = g.rect
    mask = g.mask > 0
    return np.count_nonzero(mask & (ink[y : y + h, x : x + w] > 0)) / max(np.count_nonzero(mask), 1)


def _mirrored(clf: Classifier, glyphs: list, charset) -> bool:
    """Whether ``glyphs`` (pale writing) read no surer as they stand than flipped left to right
    (``MIRROR_MARGIN``): the back of the sheet showing through, not a pencil. Mean confidence
    within each glyph's ``charset(g)``; never with fewer than ``MIRROR_MIN`` glyphs."""
    if len(glyphs) < MIRROR_MIN:
        return False
    masks = [g.mask for g in glyphs]
    probs = clf.probabilities(normalize_batch(masks + [np.ascontiguousarray(m[:, ::-1]) for m in masks], stroke=True))
    allowed = np.array([clf.mask(charset(g)) for g in glyphs] * 2)
    conf = np.where(allowed, probs, 0.0).max(axis=1)
    n = len(glyphs)
    return float(conf[:n].mean()) < float(conf[n:].mean()) + MIRROR_MARGIN


def _pale_unread(pale: np.ndarray, ink: np.ndarray, rects: list[tuple[int, int, int, int]],
                 glyphs: list, skip: set[int], pen: tuple[np.ndarray, float]) -> set[int]:
    """Regions (indexes of ``rects``, less ``skip``) holding ``pale`` writing (``_pale_ink``)
    that no read glyph covers: strokes of a pale pen that Otsu left out beside ones it kept, a
    letter written more lightly than its neighbours. The glyphs' boxes and a caption's (found
    on ``ink``, where its letters stand apart; looked for only where the rest leaves enough)
    are widened by ``PALE_PAD`` first: the pale binarisation's halo round what was read.
    The unread pale ink's darkest 5% must reach ``pen`` (``_pen_level``): a pen that straddles
    Otsu's threshold does, the back of the sheet showing through the paper does not."""
    out = set()
    for i, r in enumerate(rects):
        if i in skip:
            continue
        read = [_pad(g.rect, PALE_PAD) for g in glyphs if g.region == i]
        if not _lost(pale, r, read, captions=[]):
            continue
        read += [_pad(c, PALE_PAD) for c in [caption_box(ink, r)] if c]
        if _lost(pale, r, read, captions=[]) and _darkest(pale, r, read, pen[0]) <= pen[1]:
            out.add(i)
    return out


def _fragmented(ink: np.ndarray, faint: np.ndarray, pen: tuple[np.ndarray, float],
                rects: list[tuple[int, int, int, int]], skip: set[int]) -> set[int]:
    """Regions (indexes of ``rects``, less ``skip``) where Otsu kept a pale pen only in specks:
    its ``ink`` there is under ``FRAGMENT_SHARE`` of the ``faint`` strokes it lies on, those no
    paler than the pen (``_pen_level``; other faint ink, the back of the sheet's, is not
    counted), which hold at least half a character's worth (``UNREAD_INK``), and has a median
    grey paler than ``PALE_PEN_GREY``. Read as they are, the specks make glyphs that cover
    every stroke, so no pale ink is left unread beside them (``_pale_unread``)."""
    flat, level = pen
    out = set()
    for i, r in enumerate(rects):
        if i in skip:
            continue
        x, y, w, h = (max(0, v) for v in r)
        kept = ink[y : y + h, x : x + w] > 0
        grey = flat[y : y + h, x : x + w]
        strokes = cv2.connectedComponents(_no_paler(faint[y : y + h, x : x + w], grey, level))[1]
        on = np.unique(strokes[kept])
        seen = np.count_nonzero(np.isin(strokes, on[on > 0]))
        if seen >= UNREAD_INK * h * h and np.count_nonzero(kept) < FRAGMENT_SHARE * seen \
                and np.median(grey[kept]) >= PALE_PEN_GREY:
            out.add(i)
    return out


def _darkest(pale: np.ndarray, rect: tuple[int, int, int, int], read: list[tuple[int, int, int, int]],
             flat: np.ndarray) -> float:
    """The grey of the darkest 5% of ``pale`` in ``rect`` outside the ``read`` boxes (255: none)."""
    x, y, w, h = (max(0, v) for v in rect)
    values = flat[y : y + h, x : x + w][uncovered(pale, rect, read) > 0]
    return float(np.percentile(values, 5)) if values.size else 255.0


def _pad(r: tuple[int, int, int, int], d: int) -> tuple[int, int, int, int]:
    return r[0] - d, r[1] - d, r[2] + 2 * d, r[3] + 2 * d


# Template-free pages read with a mean confidence under ORIENT_GATE are tried turned; a turn is
# kept where it reads at least ORIENT_MARGIN surer. Upright synthetic pages read at 0.98 to 1.00,
# the same pages turned at 0.66 to 0.85.
ORIENT_GATE = 0.9
ORIENT_MARGIN = 0.1
# Sideways turns are tried only when the characters' median width/height is at least this: hand
# capitals read upright at 0.52 to 0.78 (generated and real UNIPEN pages), turned 90 degrees at
# 0.91 to 1.05. It spares a low-confidence upright page two of its three extra reads.
SIDEWAYS_ASPECT = 0.85


def _median_aspect(result: PageResult) -> float:
    sides = [c.w / max(c.h, 1) for ln in result.lines for c in ln.characters]
    return float(np.median(sides)) if sides else 1.0


def _mean_confidence(result: PageResult) -> float:
    conf = [c.confidence for ln in result.lines for c in ln.characters]
    return float(np.mean(conf)) if conf else 0.0


DOT_SHARE = 0.5  # _net_confidence: a character with this share of its ink on the page's dashes is made of them


def _net_confidence(result: PageResult, clean: CleanPage) -> float:
    """Characters read, each counted by how much likelier it is right than wrong (2c - 1): a
    read that loses writing scores less, and so does one that reads a dotted line's dots as
    characters. Those mostly doubtful, but a close row of dots (a bilevel scan's comb at 400
    DPI) reads as hundreds of Ws and Is a little over even odds, so a character whose ink lies
    mostly on the page's dashes drawn whole (``CleanPage.dashes``) counts as wrong (-1)."""
    on_dots = None if clean.dashes is None else cv2.bitwise_and(clean.binary, clean.dashes)
    net = 0.0
    for c in (c for ln in result.lines for c in ln.characters):
        if on_dots is not None and c.work_rect is not None:
            x, y, w, h = c.work_rect
            ink = cv2.countNonZero(clean.binary[y : y + h, x : x + w])
            if cv2.countNonZero(on_dots[y : y + h, x : x + w]) >= DOT_SHARE * max(ink, 1):
                net -= 1.0
                continue
        net += 2 * c.confidence - 1
    return net


NOTHING_WRITTEN = ("blank: no writing found on the page (a blank form, or writing too pale for the scan "
                   "to keep: a pencil on a bilevel scan)")

RUN_TOGETHER = 2.0  # width over height: a character read this wide is several (written glyphs: up to 1.4)
HIDDEN_P = 0.5  # a merge (PageReader._unmerged) read this surely makes its pieces doubtful
# a second reading of a character's ink, with a bar put back along the box line it touches or the
# fold across it put back (PageReader._doubted), this likely makes it doubtful: under half, as the
# twin may lead the variant's reading without a majority (a 7 whose top is on the line, read 1,
# reads 7 at 0.47 and 1 at 0.33 with the line put back, on an AVX-512 host's int8 arithmetic)
DOUBT_P = 0.4
ROTATIONS = ((180, cv2.ROTATE_180), (90, cv2.ROTATE_90_CLOCKWISE), (270, cv2.ROTATE_90_COUNTERCLOCKWISE))


def _clean_turned(image: np.ndarray, code: int, deskew: bool, perspective: bool = True) -> CleanPage:
    """``clean_page`` of the image turned by ``code``, its ``to_input`` still mapping to the
    pixels of the page as given."""
    h, w = image.shape
    back = {cv2.ROTATE_180: [[-1, 0, w], [0, -1, h]],  # turned coords -> given coords
            cv2.ROTATE_90_CLOCKWISE: [[0, 1, 0], [-1, 0, h]],
            cv2.ROTATE_90_COUNTERCLOCKWISE: [[0, -1, w], [1, 0, 0]]}[code]
    c = clean_page(cv2.rotate(image, code), deskew=deskew, perspective=perspective)
    return replace(c, to_input=np.vstack([back, [0, 0, 1]]) @ c.to_input)


def _line_candidates(clean: CleanPage) -> tuple[FormLines, FormLines | None]:
    """The page's form lines, and, where they may be pale, those found just below paper white."""
    lines = find_lines(clean.binary)
    if clean.line_binary is not None:  # thin lines may have come out dashed, or been printed with fine gaps
        widened = find_lines(clean.line_binary)
        # clearly more cells: one more can be a caption joined to a box edge by the widening
        if _cells(widened) >= _cells(lines) + WIDENED_MARGIN:
            # a caption's letters the widening ran into a bar: no underline to write on
            lines = _without_captions(widened, clean, tall=True)
        elif widened.creases is not None:
            # a fold the scan broke up, found whole on the widened page: drawn whole, to be found as one
            lines = _with_folds(clean.binary, widened.creases)
    # box lines printed in grey or a pale colour come out of Otsu broken, or are left out
    # with the paper: find them again just below paper white
    faint = None
    if not lines.boxes or (mask_grey(clean, lines.mask) or 0) > PALE_LINE_GREY:
        faint = _faint_lines(clean, clean.faint[0])
        # the back of the sheet showing through (~205 at strength 0.2) crosses pale print's combs
        # with its own separators, off their pitch: cut closer to the print, its combs show whole
        if faint.boxes:
            tight = _faint_lines(clean, _no_paler(clean.faint[0], clean.faint[1], 255 - TIGHT_DELTA))
            if _cells(tight) >= _cells(faint) + WIDENED_MARGIN:
                faint = tight
    return lines, faint


def _with_folds(binary: np.ndarray, folds: np.ndarray) -> FormLines:
    """The lines of ``binary`` with ``folds`` (creases found on the page widened) drawn in, to be
    found whole. Where more than ``FOLD_LEFT`` of them is not found again (the widening ran a
    fold into print beside it, or bridged a gap the page has), drawn in it would stand as a line
    there: the lines are found with only the folds found again drawn in, and the rest is erased
    with them, as fold."""
    lines = find_lines(binary | folds)
    left = folds if lines.creases is None else cv2.bitwise_and(folds, cv2.bitwise_not(lines.creases))
    if cv2.countNonZero(left) <= FOLD_LEFT * cv2.countNonZero(folds):
        return lines
    lines = find_lines(binary | cv2.bitwise_and(folds, cv2.bitwise_not(left)))
    return replace(lines, mask=lines.mask | left, creases=left if lines.creases is None else lines.creases | left)


UNMERGED_NARROW = 0.4  # _unmerged: x the run's height, a piece this wide is a character, not a stroke of one
FOLD_LEFT = 0.1  # _with_folds: this share of the widened page's folds not found again is a fold drawn in wrong
TIGHT_DELTA = 45  # _line_candidates: grey levels below paper white of a second, tighter cut for pale lines
BACK_LINE = 50  # grey levels: a faint underline this much paler than the boxes' lines' core is the back's


def _faint_lines(clean: CleanPage, faint: np.ndarray) -> FormLines:
    """The form lines of a faint binarisation of the page (pale print), without the underlines
    that are a small printed caption (or a title's letters) blur ran together into a bar, or a
    line of the back of the sheet showing through beside the print (``BACK_LINE`` paler than
    the boxes' lines: a form prints its lines alike)."""
    found = _without_captions(find_lines(faint, clean.faint[1]), clean, faint)
    if not found.underlines or not found.boxes:
        return found
    boxed = np.zeros_like(found.mask)
    for x, y, w, h in (b.rect for b in found.boxes):
        boxed[y:y + h, x:x + w] = 255
    level = mask_grey(clean, found.mask & boxed, q=25)  # (the quartile: thin separators' edges are paler)
    if level is None:
        return found
    under = boxed  # reused, cleared, for one underline at a time

    def back(x: int, y: int, w: int, h: int) -> bool:
        under[:] = 0
        under[y:y + h, x:x + w] = faint[y:y + h, x:x + w]
        grey = mask_grey(clean, under)
        return grey is not None and grey >= level + BACK_LINE

    keep = [u for u in found.underlines if not back(*u)]
    return replace(found, underlines=keep) if len(keep) < len(found.underlines) else found


def _without_captions(found: FormLines, clean: CleanPage, faint: np.ndarray | None = None,
                      tall: bool = False) -> FormLines:
    """``found`` less the underlines that ``caption_bars`` (with ``faint`` and ``tall``) shows to
    be a printed caption, not a line to write on."""
    bars = caption_bars(found.underlines, clean.binary, faint, tall=tall)
    return replace(found, underlines=[u for u in found.underlines if u not in bars]) if bars else found


def _dashed(clean: CleanPage, lines: FormLines, broken: bool = False) -> FormLines | None:
    """The form lines with the page's dashed and dotted ones drawn whole, where those make some
    boxes and the page shows no solid box, or (``broken``) only boxes that failed to register
    the template, or boxes with fewer cells than the dashes drawn whole make (dots a scan ran
    together into a box's outline, its separators or a comb's ticks still dotted); else None.
    The caller decides whether they read better than the page as found (a row of writing can
    look like a dotted line). Lines already drawn from the dashes get nothing more."""
    if lines.drawn is not None or (dashed := clean.dashes) is None:
        return None
    # on a bilevel scan, drawn over the widened copy as well: the lines it shows whole are kept
    found = max((find_lines(b | dashed) for b in (clean.binary, clean.line_binary) if b is not None), key=_cells)
    if not found.boxes or (lines.boxes and not broken and _cells(found) <= _cells(lines)):
        return None
    # a small printed caption whose letters a bilevel scan left as a row of even specks, drawn
    # as a dashed line: no line to write on
    return replace(_without_captions(found, clean, tall=True), drawn=dashed)


HOLD_IOU = 0.8  # _holds: a box found again this closely (intersection over union) is the same box


def _holds(more: FormLines, lines: FormLines) -> bool:
    """Whether ``more`` shows at least twice as many boxes as ``lines`` and most of theirs among
    them (not every one: a title whose letters the faint binarisation ran together is a box)."""
    if len(more.boxes) < 2 * len(lines.boxes):
        return False
    held = overlap_ious([b.rect for b in lines.boxes], [b.rect for b in more.boxes]).max(axis=1) >= HOLD_IOU
    return bool(held.mean() >= 0.5)


def _template_free_lines(clean: CleanPage, lines: FormLines, faint: FormLines | None) -> FormLines:
    """The form lines a read without a template goes by: the faint ones where they show as many
    cells; where only they show boxes, a few (a dotted comb's dots run together), those the
    page's dashes make when drawn whole, if they hold most of them and as many again."""
    if faint is None or not faint.boxes or _cells(faint) < _cells(lines):
        return lines
    if not lines.boxes and (dashed := _dashed(clean, faint, broken=True)) is not None and _holds(dashed, faint):
        return dashed
    return faint


def page_lines(clean: CleanPage) -> FormLines:
    """The form lines of a cleaned page as a template-free read of a blank form finds them
    (dashed ones drawn whole where no solid box shows)."""
    lines = _template_free_lines(clean, *_line_candidates(clean))
    # a blank form holds no writing to take for dots: its dashes drawn whole wherever they show
    # as many cells (over lines found on a bridged copy too, whose tick boxes' dashes are too
    # far apart to bridge)
    dashed = _dashed(clean, lines, broken=True)
    return dashed if dashed is not None and _cells(dashed) >= _cells(lines) else lines


def _cells(lines: FormLines) -> int:
    """Cells bounded by separators found on the page (not put back on a comb's pitch)."""
    return sum(len(b.cells) - b.placed for b in lines.boxes)


def _stray_cells(tpl: Template, reg: Registration, lines: FormLines) -> int:
    """Cells beyond one that ``lines`` show inside the template's free text fields, where it
    gives its combs' ``cells`` (else 0: a comb is not told from a free box): a printed caption
    that blur ran into a bar on the faint binarisation, with the writing's strokes, makes boxes
    that split a field."""
    if not any(f.cells for f in tpl.fields):
        return 0
    stray = 0
    for f in tpl.fields:
        if f.cells or f.charset == MARK:
            continue
        fx, fy, fw, fh = reg.field_rect(f.box)
        held = [b for b in lines.boxes if fx - fh / 4 <= b.rect[0] + b.rect[2] / 2 <= fx + fw + fh / 4
                and fy <= b.rect[1] + b.rect[3] / 2 <= fy + fh]
        stray += max(0, sum(len(b.cells) for b in held) - 1)
    return stray


def _try_register(tpl: Template, lines: FormLines) -> tuple[Registration | None, TemplateError | None]:
    try:
        return register(tpl, lines.boxes, lines.mask.shape), None
    except TemplateError as exc:
        return None, exc


def error_message(exc: FormicrError, *prefixes: str) -> str:
    """The error column of an errors.csv row: 'kind: message', without a repeated path
    prefix (the row already names the source). Every driver builds its rows with this."""
    msg = str(exc)
    for p in prefixes:
        if msg.startswith(f"{p}: "):
            msg = msg[len(p) + 2 :]
            break
    return f"{exc.kind}: {msg}"


__all__ = ["PageReader", "ReadOptions", "FileResult", "annotation_path", "error_message"]
