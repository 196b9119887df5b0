"""The one error type a stage raises for a problem the user can fix."""

from __future__ import annotations


class StageError(RuntimeError):
    """A user-facing failure (bad input, missing earlier run, unreadable file).

    The message is one line a person can act on; the CLI prints it and exits with
    code 2, a library caller catches it. Anything else a stage raises is a bug.
    """
