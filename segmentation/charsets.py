"""Charset names: the one place that knows which labels a field may hold."""

from __future__ import annotations

import string

LETTERS = tuple(string.ascii_uppercase)
DIGITS = tuple(string.digits)
ALNUM = LETTERS + DIGITS

CHARSETS: dict[str, tuple[str, ...]] = {"letters": LETTERS, "digits": DIGITS, "alnum": ALNUM}
# A tick box: read as marked (MARKED) or left empty (""), never as characters.
MARK = "mark"
MARKED = "X"
FIELD_CHARSETS = (*CHARSETS, MARK)

# Letter/digit pairs written alike: only the field class (or the word around them) tells them apart.
TWINS: dict[str, str] = {"O": "0", "I": "1", "S": "5", "Z": "2"}
TWIN_CHARS = frozenset(TWINS) | frozenset(TWINS.values())  # either class by shape alone


def charset_of(char: str) -> str:
    """The field class ('letters' or 'digits') a single character belongs to."""
    if char in DIGITS:
        return "digits"
    if char in LETTERS:
        return "letters"
    raise ValueError(f"not an A-Z/0-9 character: {char!r}")
