"""User-facing errors: one-line messages that name the file and the problem.

The CLI prints a `FacetalkError` without a traceback and exits with code 2. Any other exception is a
bug in facetalk.
"""

from __future__ import annotations


class FacetalkError(Exception):
    """Base class of every error a user can cause and fix."""


class InvalidInputError(FacetalkError, ValueError):
    """Input data or an input file is malformed: wrong shape, non-finite values, bad header."""


class UnsupportedFormatError(FacetalkError, ValueError):
    """A file format, model or option name that facetalk does not know."""


class OutputError(FacetalkError, OSError):
    """An output path that cannot be written."""


class MissingDependencyError(FacetalkError, RuntimeError):
    """A system library, package or asset that the requested work needs is not installed."""
