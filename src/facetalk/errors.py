"""User-facing errors: one-line messages that name the file and the problem.

The CLI prints a `FacetalkError` without a traceback and exits with code 2. Any other exception is a
bug in facetalk. Warnings, likewise, are one line each on the command line (`show_warning`).
"""

from __future__ import annotations

import sys
from typing import TextIO


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


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:  # fmt: skip
    """A `warnings.showwarning` printing one `warning: <message>` line, without the source line.

    The CLI installs it; worker processes a command starts install it too when their parent has it.
    """
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr if file is None else file, flush=True)
