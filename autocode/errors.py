"""The kinds of domain error every layer raises; the HTTP service maps each kind to one status, in one place.

A module's own error (CodebookError, RecordError, IndexFormatError...) subclasses one of these kinds, so
callers may catch the precise class or the kind, and `autocode.service.api.errors` never reads a message to
decide a status. Importing this module imports nothing else of autocode.
"""

from __future__ import annotations


class AutocodeError(Exception):
    """Any error autocode raises on purpose: its message is written for a person and names what and where."""

    code = "error"


class NotFoundError(AutocodeError, LookupError):
    """The thing asked for (codebook, model, record, job, file, column) does not exist."""

    code = "not_found"


class ConflictError(AutocodeError):
    """The request clashes with what exists: a name already taken, a result not ready, a run already going."""

    code = "conflict"


class InvalidError(AutocodeError, ValueError):
    """The input is malformed or breaks a rule (a bad codebook, record, table, model folder or setting)."""

    code = "invalid"


class LimitError(AutocodeError, ValueError):
    """The input is over a configured limit (size, count, length)."""

    code = "limit"
