"""The one exception hierarchy of formicr.

Every class carries an ``exit_code`` (used by the CLI) and a short ``kind`` (used in
``errors.csv``). Bad input never raises past the page that caused it: the drivers catch
``FormicrError`` per file/page and turn it into an error row.
"""

from __future__ import annotations


class FormicrError(Exception):
    """Root of all formicr errors."""

    exit_code = 70  # EX_SOFTWARE
    kind = "error"


class UsageError(FormicrError):
    """Bad command-line arguments or options."""

    exit_code = 2
    kind = "usage"


class InputError(FormicrError):
    """A bad input file: corrupt, unknown format, blank, too large, outside the input root."""

    exit_code = 3
    kind = "input"


class CorruptInputError(InputError):
    kind = "corrupt"


class UnsupportedFormatError(InputError):
    kind = "format"


class BlankPageError(InputError):
    kind = "blank"


class ImageTooLargeError(InputError):
    kind = "too-large"


class PathOutsideRootError(InputError):
    kind = "outside-root"


class TemplateError(FormicrError):
    """A template that fails validation or cannot be registered to a page."""

    exit_code = 4
    kind = "template"


class ModelError(FormicrError):
    """The model file or its metadata is missing or violates the contract."""

    exit_code = 5
    kind = "model"


class DataError(FormicrError):
    """Bad training data (wrong columns, non-numeric or out-of-range values, unknown labels)."""

    exit_code = 6
    kind = "data"


class BrokerError(FormicrError):
    """Redis/Celery broker unreachable or misconfigured."""

    exit_code = 7
    kind = "broker"


class TransientError(FormicrError):
    """Something that may succeed on retry (storage briefly unreadable, broker reconnecting)."""

    exit_code = 75  # EX_TEMPFAIL
    kind = "transient"
