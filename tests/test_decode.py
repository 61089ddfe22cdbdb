"""Decoding every format and pixel type, and every bad-input case."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from segmentation.clean import clean_page
from segmentation.decode import decode, to_grey8
from segmentation.errors import (
    BlankPageError,
    CorruptInputError,
    ImageTooLargeError,
    InputError,
    UnsupportedFormatError,
)


@pytest.fixture(scope="module")
def page(form_files) -> np.ndarray:
    return next(decode(form_files[0])).image


def same_page(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(np.mean(np.abs(a.astype(int) - b.astype(int)))) < 8


def test_png_grey_colour_alpha_and_16bit(tmp_path, page):
    cv2.imwrite(str(tmp_path / "g.png"), page)
    cv2.imwrite(str(tmp_path / "c.png"), cv2.cvtColor(page, cv2.COLOR_GRAY2BGR))
    bgra = cv2.cvtColor(page, cv2.COLOR_GRAY2BGRA)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    cv2.imwrite(str(tmp_path / "w.png"), page.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "w12.png"), page.astype(np.uint16) * 16)  # a 12-bit scanner's 16-bit file
    for name in ["g", "c", "a", "w", "w12"]:
        pages = list(decode(tmp_path / f"{name}.png"))
        assert len(pages) == 1 and pages[0].image.dtype == np.uint8
        assert same_page(pages[0].image, page), name


def test_jpeg_and_bmp(tmp_path, page):
    cv2.imwrite(str(tmp_path / "p.jpg"), page, [cv2.IMWRITE_JPEG_QUALITY, 80])
    cv2.imwrite(str(tmp_path / "p.bmp"), page)
    assert same_page(next(decode(tmp_path / "p.jpg")).image, page)
    assert same_page(next(decode(tmp_path / "p.bmp")).image, page)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_a_colour_page_opencv_refuses_is_read_in_the_same_grey_as_one_it_reads(tmp_path, monkeypatch, ext):
    bgr = np.full((400, 60, 3), 240, np.uint8)  # paper
    bgr[:8, :20] = (255, 0, 0)  # blue
    bgr[:8, 20:40] = (235, 190, 120)  # pale blue: luminance 174, less 1.15 times its colour (115)
    cv2.imwrite(str(tmp_path / f"c{ext}"), bgr)
    read = next(decode(tmp_path / f"c{ext}")).image
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: None)  # Pillow decodes it instead
    fallback = next(decode(tmp_path / f"c{ext}")).image
    assert int(read[0, 0]) == 0 and abs(int(read[0, 30]) - 42) <= 1 and int(read[-1, -1]) == 240
    assert np.array_equal(fallback, read)


def test_colour_reads_as_ink_so_pale_dropout_print_is_darker_than_a_grey_back_showing_through():
    page = np.full((50, 50, 3), 255, np.uint8)
    page[0, 0] = (170, 160, 245)  # pink print: luminance 187
    page[0, 1] = (212, 207, 250)  # its anti-aliased edge, half covered
    page[0, 2] = (204, 204, 204)  # black print on the back, showing through at 0.2
    page[0, 3] = (150, 70, 30)  # a blue pen
    page[0, 4] = (185, 245, 255)  # a pale yellow tint printed under a field
    grey = to_grey8(page)[0]
    assert int(grey[0]) < 100 and int(grey[2]) == 204 and int(grey[3]) == 0
    assert abs((255 - int(grey[1])) - (255 - int(grey[0])) / 2) <= 8  # the edge half as dark: strokes keep their width
    assert int(grey[4]) > 150  # a tint stays far paler than print


def _patches_to_grey(colours: list[tuple[int, int, int]]) -> np.ndarray:
    """Each BGR colour as a 16 px square on white paper, 16 px apart, to grey: the grey at
    each square's centre."""
    page = np.full((48, 32 * len(colours) + 16, 3), 255, np.uint8)
    for i, c in enumerate(colours):
        page[16:32, 16 + 32 * i : 32 + 32 * i] = c
    return to_grey8(page)[24, 24::32][: len(colours)]


def test_a_yellow_highlighter_stays_light_where_dropout_colours_read_dark():
    """A fluorescent yellow highlighter stroke (or a yellow sticker) is light and strongly
    coloured: counted as colour it came out black (about 0 to 34), and a highlighted row of
    fields read as solid ink. Blue absorbed alone is no ink; pink, pale blue, red and green
    print still reads dark."""
    grey = _patches_to_grey([(0, 255, 255),  # fluorescent yellow
                             (80, 255, 255),  # a paler highlighter
                             (170, 160, 245),  # pink print
                             (250, 200, 150),  # pale blue print
                             (60, 60, 230),  # red print
                             (90, 200, 90),  # green print
                             (0, 0, 0)])  # black
    assert int(grey[0]) >= 170 and int(grey[1]) >= 170, grey[:2]  # (print: under 100)
    assert all(int(v) < 100 for v in grey[2:6]) and int(grey[6]) == 0, grey[2:7]


def test_stains_in_warm_hues_keep_their_luminance_where_dropout_colours_read_dark():
    """A coffee ring's rim, rust and foxed paper are orange to brown, light and coloured enough
    that counting their colour as ink made them as dark as writing (a coffee rim ~160 for its
    luminance ~200), and a ring across the fields read as strokes. Orange to yellow hues keep
    their luminance; red, pink, blue and green print still reads dark."""
    import cv2

    colours = [(168, 192, 216),  # a coffee ring's rim
               (60, 110, 180),  # rust
               (170, 200, 225),  # foxing
               (120, 240, 250),  # yellow
               (170, 160, 245),  # pink print
               (160, 150, 245),  # pink print, its blue under its green (scan noise)
               (60, 70, 230),  # red print, a little warm
               (90, 200, 90),  # green print
               (250, 200, 150)]  # pale blue print
    grey = _patches_to_grey(colours).astype(int)
    luminance = cv2.cvtColor(np.array([colours], np.uint8), cv2.COLOR_BGR2GRAY)[0].astype(int)
    assert all(abs(grey[i] - luminance[i]) <= 2 for i in range(4)), (grey[:4], luminance[:4])
    assert all(grey[i] < 100 for i in range(4, 9)), grey[4:9]


def test_a_colour_cast_on_the_paper_is_balanced_away():
    page = np.full((50, 50, 3), 255, np.uint8)
    page[10:12, 5:45] = 0  # a black line
    page[20:22, 5:45] = (170, 160, 245)  # a pink one
    warm = np.clip(page * np.array([0.8, 0.9, 1.0]), 0, 255).astype(np.uint8)  # under a warm lamp
    balanced = to_grey8(warm)
    assert int(np.percentile(balanced, 50)) >= 250  # the paper reads as paper, not as a pale ink
    assert abs(int(balanced[21, 20]) - int(to_grey8(page)[21, 20])) <= 12 and int(balanced[11, 20]) == 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_page_stored_turned_is_decoded_upright_as_its_exif_orientation_says(tmp_path, page, orientation):
    from PIL import ImageOps

    stored = {1: page, 2: page[:, ::-1], 3: page[::-1, ::-1], 4: page[::-1], 5: page.T,
              6: np.rot90(page, 1), 7: page[::-1, ::-1].T, 8: np.rot90(page, -1)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation  # what a phone writes when it stores a photo as the sensor saw it
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "phone.jpg", exif=exif, quality=90)
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "scan.tif", exif=exif)
    for name in ("phone.jpg", "scan.tif"):
        assert same_page(next(decode(tmp_path / name)).image, page), (name, orientation)
    with Image.open(tmp_path / "phone.jpg") as im:  # Pillow's reading of the same tag agrees
        assert same_page(next(decode(tmp_path / "phone.jpg")).image, np.array(ImageOps.exif_transpose(im)))


@pytest.mark.parametrize("ext", [".jp2", ".j2k", ".webp"])
def test_jpeg2000_and_webp(tmp_path, page, ext):
    Image.fromarray(page).save(tmp_path / f"p{ext}", **({"quality": 90} if ext == ".webp" else {}))
    assert same_page(next(decode(tmp_path / f"p{ext}")).image, page)
    data = (tmp_path / f"p{ext}").read_bytes()
    (tmp_path / f"cut{ext}").write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptInputError, match="truncated|corrupt"):
        list(decode(tmp_path / f"cut{ext}"))


def test_every_frame_of_a_gif_is_a_page(tmp_path, page):
    im = Image.fromarray(page)
    im.save(tmp_path / "p.gif", save_all=True, append_images=[Image.fromarray(255 - page)])
    pages = list(decode(tmp_path / "p.gif"))
    assert [p.page for p in pages] == [1, 2]
    assert same_page(pages[0].image, page) and same_page(pages[1].image, 255 - page)


def test_multipage_g4_tiff_gives_every_page(tmp_path, page):
    bil = Image.fromarray(page > 128).convert("1")
    bil.save(tmp_path / "fax.tif", compression="group4", save_all=True, append_images=[bil, bil], dpi=(300, 300))
    pages = list(decode(tmp_path / "fax.tif"))
    assert [p.page for p in pages] == [1, 2, 3]
    assert set(np.unique(pages[0].image)) <= {0, 255}
    assert pages[0].dpi == 300


def test_a_fax_in_standard_mode_is_read_with_square_pixels(tmp_path, page, reader, form_files):
    from worker.synth.score import load_truth, score_free

    # 204x98 DPI: each stored row stands for two rows of paper
    squashed = cv2.resize(page, (page.shape[1], round(page.shape[0] * 98 / 204)), interpolation=cv2.INTER_AREA)
    Image.fromarray(squashed > 128).convert("1").save(tmp_path / "fax.tif", compression="group4", dpi=(204, 98))
    Image.fromarray(page > 128).convert("1").save(tmp_path / "fine.tif", compression="group4", dpi=(204, 204))
    fax, fine = next(decode(tmp_path / "fax.tif")), next(decode(tmp_path / "fine.tif"))
    assert abs(fax.image.shape[0] - page.shape[0]) <= 2 and fax.image.shape[1] == page.shape[1]
    assert fax.dpi == 204
    truth = load_truth(form_files[0])
    fine_cer = score_free(truth, reader.read_page(fine)).cer_free
    assert score_free(truth, reader.read_page(fax)).cer_free <= max(0.05, fine_cer + 0.02)  # 25-30% squashed


def test_pdf_pages_are_rendered(tmp_path, page):
    im = Image.fromarray(page)
    im.save(tmp_path / "two.pdf", save_all=True, append_images=[im], resolution=200)
    pages = list(decode(tmp_path / "two.pdf"))
    assert [p.page for p in pages] == [1, 2]
    assert pages[0].image.ndim == 2 and pages[0].image.mean() > 200


def test_a_colour_pdf_page_is_read_in_the_same_grey_as_the_same_page_as_an_image(tmp_path, page):
    bgr = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    bgr[page < 128] = (235, 190, 120)  # printed and written in pale blue
    Image.fromarray(bgr[:, :, ::-1]).save(tmp_path / "blue.pdf", resolution=200)
    cv2.imwrite(str(tmp_path / "blue.png"), bgr)
    pdf, png = next(decode(tmp_path / "blue.pdf")).image, next(decode(tmp_path / "blue.png")).image
    pdf = cv2.resize(pdf, png.shape[::-1], interpolation=cv2.INTER_AREA)
    ink = png < 128
    assert ink.mean() > 0.01 and abs(float(pdf[ink].mean()) - float(png[ink].mean())) < 25


def test_extension_does_not_decide_the_format(tmp_path, page):
    cv2.imwrite(str(tmp_path / "really_png.png"), page)
    (tmp_path / "misnamed.jpg").write_bytes((tmp_path / "really_png.png").read_bytes())
    assert same_page(next(decode(tmp_path / "misnamed.jpg")).image, page)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda p, d: d[: len(d) // 3], CorruptInputError, "truncated"),
        (lambda p, d: d[:8] + b"\0" * 200, CorruptInputError, "corrupt"),
        (lambda p, d: b"", CorruptInputError, "empty"),
        (lambda p, d: b"\0\0\0\x18ftypheic\0\0\0\0", UnsupportedFormatError, "unknown format"),
        (lambda p, d: b"hello, I am a text file", UnsupportedFormatError, "unknown format"),
    ],
    ids=["truncated-png", "corrupt-png", "empty-file", "heic", "text"],
)
def test_bad_files_raise_input_errors_naming_the_file(tmp_path, page, make, error, message):
    ok, buf = cv2.imencode(".png", page)
    path = tmp_path / "bad.png"
    path.write_bytes(make(path, buf.tobytes()))
    with pytest.raises(error, match=message) as exc:
        list(decode(path))
    assert str(path) in str(exc.value)


def test_truncated_jpeg_is_refused(tmp_path, page):
    ok, buf = cv2.imencode(".jpg", page)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(CorruptInputError, match="truncated JPEG"):
        list(decode(path))


def test_truncated_pdf_is_refused(tmp_path, page):
    Image.fromarray(page).save(tmp_path / "ok.pdf")
    cut = tmp_path / "cut.pdf"
    cut.write_bytes((tmp_path / "ok.pdf").read_bytes()[:300])
    with pytest.raises(CorruptInputError):
        list(decode(cut))


def test_too_large_is_refused_before_decoding(tmp_path, page):
    cv2.imwrite(str(tmp_path / "p.png"), page)
    with pytest.raises(ImageTooLargeError, match="MP limit"):
        list(decode(tmp_path / "p.png", max_pixels=1000))


def test_too_many_pages_is_refused(tmp_path, page):
    im = Image.fromarray(page[:200, :200])
    im.save(tmp_path / "many.tif", save_all=True, append_images=[im] * 4)
    with pytest.raises(ImageTooLargeError, match="more than 3 pages"):
        list(decode(tmp_path / "many.tif", max_pages=3))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(decode(tmp_path / "nope.png"))
    with pytest.raises(InputError, match="directory"):
        list(decode(tmp_path))


def test_blank_page_is_an_input_error(blank_page):
    with pytest.raises(BlankPageError):
        clean_page(blank_page)
    noisy = np.clip(blank_page + np.random.default_rng(0).normal(0, 3, blank_page.shape), 0, 255).astype(np.uint8)
    with pytest.raises(BlankPageError):
        clean_page(noisy)


def test_a_blank_page_punched_for_a_binder_is_still_blank():
    """An empty A4 sheet at 300 DPI with two 6 mm holes, the scanner's dark lid showing through
    them: the holes are no ink (they were read as a page of writing)."""
    page = np.clip(np.full((3508, 2480), 245.0) + np.random.default_rng(0).normal(0, 3, (3508, 2480)), 0, 255)
    page = page.astype(np.uint8)
    for cy in (1754 - 472, 1754 + 472):
        cv2.circle(page, (142, cy), 35, 40, -1, cv2.LINE_AA)
    with pytest.raises(BlankPageError):
        clean_page(page)


def test_storage_failure_is_transient_not_bad_input(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from segmentation.errors import TransientError

    path = tmp_path / "on-nfs.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")

    def eio(self):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "read_bytes", eio)
    with pytest.raises(TransientError, match="storage unreadable") as exc:
        list(decode(path))
    assert not isinstance(exc.value, InputError)  # retried by the queue, never an error row on first try
