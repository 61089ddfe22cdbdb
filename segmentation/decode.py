"""Decode input files into greyscale pages: PNG, JPEG, JPEG 2000, BMP, WebP, (multi-page, G4)
TIFF, (multi-frame) GIF, PDF.

Every failure raises an :class:`InputError` subclass naming the file and what is wrong."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from segmentation.errors import (
    CorruptInputError,
    ImageTooLargeError,
    InputError,
    TransientError,
    UnsupportedFormatError,
)

MAX_PIXELS = 80_000_000  # per page: an A3 page at 600 DPI is ~70 MP
MAX_PAGES = 500  # per file
PDF_DPI = 300
EXTENSIONS = (".png", ".jpg", ".jpeg", ".jp2", ".j2k", ".jpf", ".jpx", ".tif", ".tiff", ".bmp", ".webp", ".gif",
              ".pdf")
FORMATS = "PNG, JPEG, JPEG 2000, TIFF, BMP, WebP, GIF or PDF"

# OpenCV logs its own warnings (a truncated PNG, a JPEG 2000 file without a colour space) to
# stderr; the errors raised here say what is wrong, once, naming the file
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@dataclass
class PageImage:
    """One decoded page: 8-bit greyscale, dark ink on light paper."""

    image: np.ndarray
    source: str
    page: int  # 1-based
    dpi: float | None  # from the file's metadata, if any (informational only)


def sniff(head: bytes) -> str | None:
    """The format from the file's magic bytes (extensions lie)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):  # JP2 box, bare codestream
        return "jpeg2000"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def to_grey8(img: np.ndarray) -> np.ndarray:
    """Any pixel type (bilevel, grey, colour, alpha, 16-bit, float) to 8-bit grey."""
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype == np.uint16:  # by the bits in use: 12-bit scanner data fills 0-4095, not 0-65535
        img = (img >> max(int(img.max()).bit_length() - 8, 0)).astype(np.uint8)
    elif img.dtype != np.uint8:
        f = img.astype(np.float32)
        lo, hi = float(f.min()), float(f.max())
        img = ((f - lo) * (255.0 / max(hi - lo, 1e-6))).astype(np.uint8)
    if img.ndim == 3:
        if img.shape[2] == 4:  # composite alpha onto white paper
            a = img[:, :, 3:4].astype(np.float32) / 255.0
            img = (img[:, :, :3].astype(np.float32) * a + 255.0 * (1 - a)).astype(np.uint8)
        img = ink_grey(img) if img.shape[2] == 3 else img[:, :, 0]
    return np.ascontiguousarray(img)


PAPER_PCT = 90  # per channel: the paper's colour, which white balance makes neutral
PAPER_CAST = 6  # grey levels: a paper whose channels differ less than this is left as it is
COLOUR_GAIN = 1.15  # grey levels of darkness per level of colour (max channel less min channel)
# Hues from orange through yellow to lime (blue the least channel, and the lesser of red and
# green at least this share of the way from blue to the greater) count as no colour: a
# highlighter, a coffee ring, rust or foxed paper. Between the two shares colour fades out.
WARM_FROM, WARM_NONE = 0.2, 1 / 3  # fading out at hues 12 to 20 degrees, in at 100 to 108 (red 0, yellow 60)
WARM_SHRINK = 2  # halvings of the page its hue is judged on
WARM_MIN = 8  # levels of colour (on the page shrunk) under which a hue is not judged


def ink_grey(bgr: np.ndarray) -> np.ndarray:
    """A colour page (8-bit BGR) to grey by how much ink each pixel holds: its luminance,
    darker by ``COLOUR_GAIN`` times the strength of its colour (max channel less min channel).

    Luminance alone leaves print in a pale dropout colour (pink ~187, pale blue ~174) paler
    than a black form showing through from the back (~205), and the reader takes the back's
    boxes for the form's; with its colour counted, such print is as dark as a form's lines
    (pink ~89, pale blue ~42), while a pale tint printed under the fields stays pale (a blue
    one ~167: a tint is far lighter for its colour) and neutral greys keep their grey. Both
    terms grow in step with how much of a pixel a stroke covers, so anti-aliased edges keep
    their profile until the sum reaches black. The page is first white-balanced on its paper
    (under a warm lamp, or on tinted paper, every pixel has colour). Warm hues, orange to yellow
    to lime (``WARM_FROM``, ``WARM_NONE``), keep their luminance: what is light and strongly
    coloured there is a highlighter's stroke, a coffee ring, rust or foxing, and came out as
    dark as ink; dropout print is red, pink, blue or green."""
    paper = np.percentile(bgr[::16, ::16].reshape(-1, 3), PAPER_PCT, axis=0)
    if float(np.ptp(paper)) >= PAPER_CAST:
        gain = float(paper.max()) / np.maximum(paper, 1.0)
        table = np.clip(np.arange(256.0)[:, None] * gain, 0, 255).astype(np.uint8)  # a table per channel
        bgr = cv2.LUT(bgr, table.reshape(256, 1, 3))
    # in place where it can be: each new page-sized array costs more than the arithmetic on it
    b, g, r = (cv2.extractChannel(bgr, i) for i in range(3))  # (cv2.split is slower)
    gr = cv2.min(g, r)
    lo = cv2.min(gr, b)
    warm = _shrunk(gr).astype(np.float32) - _shrunk(b)  # before b is written over
    hi = cv2.max(b, g, dst=b)
    cv2.max(hi, r, dst=hi)
    colour = cv2.subtract(hi, lo, dst=hi)
    # warmth: the lesser of red and green above blue, as a share of the colour: 1 at yellow, 0 at
    # red and at green, under 0 for pink, blue and grey. It is judged on the page shrunk (on the
    # sum of each over a patch): a pale pixel's hue is mostly scan and JPEG noise
    c = _shrunk(colour).astype(np.float32)
    lost = np.clip((warm - WARM_FROM * c) / (WARM_NONE - WARM_FROM), 0.0, c) * (255.0 / np.maximum(c, 1.0))
    lost[c < WARM_MIN] = 0  # the paper's noise
    lost = lost.astype(np.uint8)
    if lost.any():  # (most pages hold nothing warm)
        lost = cv2.resize(lost, (colour.shape[1], colour.shape[0]), interpolation=cv2.INTER_LINEAR)
        cv2.subtract(colour, cv2.multiply(colour, lost, dst=lost, scale=1 / 255), dst=colour)
    return cv2.addWeighted(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 1.0, colour, -COLOUR_GAIN, 0.0, dst=lo)


def _shrunk(channel: np.ndarray) -> np.ndarray:
    """``channel`` halved ``WARM_SHRINK`` times (Gaussian pyramid)."""
    for _ in range(WARM_SHRINK):
        channel = cv2.pyrDown(channel)
    return channel


EXIF_ORIENTATION = 0x0112  # the EXIF/TIFF tag of how the stored pixels are to be turned for display
_UPRIGHT = {  # orientation value -> the turn that shows the page as the camera saw it
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a[::-1].swapaxes(0, 1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: a[:, ::-1].swapaxes(0, 1),
}


def exif_orientation(im) -> int:
    """The EXIF orientation (1-8) of a Pillow image; 1 (as stored) when absent or unreadable."""
    try:
        value = int(im.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block is not a broken page
        return 1
    return value if value in _UPRIGHT else 1


def upright(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn decoded pixels as their EXIF orientation says (phone photos are stored sideways)."""
    turn = _UPRIGHT.get(orientation)
    return img if turn is None else np.ascontiguousarray(turn(img))


def square_shape(w: int, h: int, dpi) -> tuple[int, int, float | None]:
    """(width, height, DPI) of the page with square pixels, from the file's (x, y) DPI. A fax
    in standard mode is 204x98 DPI: its pixels are twice as tall as wide, and read as they
    are its writing is squashed to half height. The coarser axis is stretched to the finer."""
    try:
        x, y = (float(v) for v in dpi[:2])
    except (TypeError, ValueError):
        return w, h, None
    if x <= 0 or y <= 0:  # one axis unstated: trust the other, if any
        return w, h, max(x, y) if max(x, y) > 0 else None
    if abs(x / y - 1) <= 0.05:
        return w, h, x
    return (w, round(h * x / y), x) if x > y else (round(w * y / x), h, y)


def _square(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


def _check_size(path: str, w: int, h: int, page: int, max_pixels: int) -> None:
    if w <= 0 or h <= 0:
        raise CorruptInputError(f"{path}: page {page} has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"{path}: page {page} is {w}x{h} = {w * h / 1e6:.0f} MP, over the {max_pixels / 1e6:.0f} MP limit")


def _pil_pixels(im) -> np.ndarray:
    """A Pillow image's pixels as OpenCV decodes them, for ``to_grey8``: grey, 16-bit grey, or
    BGR(A) colour; any other mode (palette, CMYK, grey with alpha) converted to 8-bit grey."""
    if im.mode not in ("1", "L", "I;16", "I;16B", "RGB", "RGBA"):
        im = im.convert("L")
    arr = np.array(im)
    if im.mode == "RGB":
        arr = arr[:, :, ::-1]
    elif im.mode == "RGBA":
        arr = arr[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(arr)


def _decode_raster(path: str, data: bytes, fmt: str, max_pixels: int) -> Iterator[PageImage]:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we enforce our own cap before decoding
    try:
        header = Image.open(io.BytesIO(data))
        w, h, dpi = square_shape(*header.size, header.info.get("dpi"))
        orientation = exif_orientation(header)
    except Exception as exc:
        raise CorruptInputError(f"{path}: corrupt {fmt.upper()} header ({exc})") from exc
    _check_size(path, w, h, 1, max_pixels)
    if fmt == "jpeg" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise CorruptInputError(f"{path}: truncated JPEG (no end-of-image marker)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        try:  # OpenCV refuses some valid variants (e.g. palette BMPs); Pillow is stricter on truncation
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                img = _pil_pixels(im)
        except Exception as exc:
            raise CorruptInputError(f"{path}: corrupt or truncated {fmt.upper()} data ({exc})") from exc
    yield PageImage(upright(_square(to_grey8(img), w, h), orientation), path, 1, dpi)


def _decode_frames(path: str, data: bytes, fmt: str, max_pixels: int, max_pages: int) -> Iterator[PageImage]:
    """Every page of a multi-page TIFF, every frame of a GIF."""
    from PIL import Image, ImageSequence

    Image.MAX_IMAGE_PIXELS = None
    name = fmt.upper()
    try:
        im = Image.open(io.BytesIO(data))
    except Exception as exc:
        raise CorruptInputError(f"{path}: corrupt {name} header ({exc})") from exc
    for i, frame in enumerate(ImageSequence.Iterator(im), start=1):
        if i > max_pages:
            raise ImageTooLargeError(f"{path}: more than {max_pages} pages")
        w, h, dpi = square_shape(*frame.size, frame.info.get("dpi"))
        _check_size(path, w, h, i, max_pixels)
        try:
            frame.load()
            arr = _pil_pixels(frame)
        except Exception as exc:
            raise CorruptInputError(f"{path}: page {i}: corrupt or truncated {name} data ({exc})") from exc
        yield PageImage(upright(_square(to_grey8(arr), w, h), exif_orientation(frame)), path, i, dpi)


def _decode_pdf(path: str, data: bytes, max_pixels: int, max_pages: int) -> Iterator[PageImage]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as exc:
        raise CorruptInputError(f"{path}: corrupt PDF ({exc})") from exc
    try:
        n = len(pdf)
        if n == 0:
            raise CorruptInputError(f"{path}: PDF has no pages")
        if n > max_pages:
            raise ImageTooLargeError(f"{path}: {n} pages, over the {max_pages}-page limit")
        for i in range(n):
            page = pdf[i]
            w, h = page.get_size()
            scale = PDF_DPI / 72.0
            _check_size(path, int(w * scale), int(h * scale), i + 1, max_pixels)
            bitmap = page.render(scale=scale)  # in colour (BGR), for ink_grey, as an image file is
            yield PageImage(to_grey8(bitmap.to_numpy().copy()), path, i + 1, float(PDF_DPI))
    finally:
        pdf.close()


def decode(path: str | Path, *, max_pixels: int = MAX_PIXELS, max_pages: int = MAX_PAGES) -> Iterator[PageImage]:
    """Yield the pages of one input file. Raises InputError subclasses on bad input, and
    TransientError when storage fails in a way another try may not (EIO, a stale handle)."""
    src = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{src}: no such file") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{src}: is a directory") from exc
    except PermissionError as exc:
        raise InputError(f"{src}: permission denied") from exc
    except OSError as exc:
        raise TransientError(f"{src}: storage unreadable ({exc})") from exc
    if not data:
        raise CorruptInputError(f"{src}: file is empty (0 bytes)")
    fmt = sniff(data[:16])
    if fmt is None:
        raise UnsupportedFormatError(
            f"{src}: unknown format (not {FORMATS}; first bytes {data[:8]!r})")
    if fmt in ("tiff", "gif"):
        yield from _decode_frames(src, data, fmt, max_pixels, max_pages)
    elif fmt == "pdf":
        yield from _decode_pdf(src, data, max_pixels, max_pages)
    else:
        yield from _decode_raster(src, data, fmt, max_pixels)
