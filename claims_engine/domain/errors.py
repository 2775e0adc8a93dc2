"""Operational failures: exceptions under one root.

Problems in claim data are not exceptions (see :mod:`claims_engine.domain.issues`); these are for
conditions that stop an operation::

    ClaimsEngineError
    ├── X12FormatError        the bytes are not X12 at all (no usable ISA); nothing to acknowledge
    ├── ConfigurationError    bad settings, options or reference data
    ├── InputFileError        a file that cannot be opened or read
    ├── StoredDataError       a stored document that does not decode to what it should be
    └── DataKeyError          a sealed value the configured data keys do not open
"""

from __future__ import annotations


class ClaimsEngineError(Exception):
    """Root of every exception the engine raises on purpose."""


class X12FormatError(ClaimsEngineError):
    """The input cannot be read as X12: there is no interchange header to answer to.

    ``offset`` is the character offset in the file where the reader gave up.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.message} (at character {self.offset})"


class ConfigurationError(ClaimsEngineError):
    """A setting, option or reference file is unusable."""


class InputFileError(ClaimsEngineError):
    """An input file cannot be opened or read."""


class StoredDataError(ClaimsEngineError):
    """A stored document (a claim or decision as JSON) is corrupt: a required field missing,
    one of the wrong type, one the class does not have, or a value that does not parse. The
    message names the class, the field and where in the document it is."""


class DataKeyError(ClaimsEngineError):
    """A sealed column value (see :mod:`claims_engine.store.vault`) cannot be opened: the key it
    was sealed with is not configured, the configured key is the wrong one, or the value was
    altered. The message names the column and, where known, the row; never the value."""
