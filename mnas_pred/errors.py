"""User-facing errors.

Every problem a user can fix by changing their input is raised as a :class:`MnasPredError`.
The CLI turns it into one line on stderr and exit code 2; library callers get an ordinary
exception (it also subclasses :class:`ValueError`, so ``except ValueError`` keeps working).
"""

from __future__ import annotations


class MnasPredError(ValueError):
    """A problem with the user's input: the message names it, ``fix`` says what to do."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}; {fix}")


class ArchitectureError(MnasPredError):
    """An architecture string or object that is malformed or outside the search space."""


class SearchSpaceError(MnasPredError):
    """A search-space configuration file that cannot be used."""
