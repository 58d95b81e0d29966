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


class DeviceError(RuntimeError):
    """A device failed in a way the user must act on (not found, unauthorized, lost).
    ``fix`` says what to do; the CLI prints it on one line with exit code 2. ``transient``: the
    same call may succeed when tried again (a dropped connection, a busy device)."""

    def __init__(self, problem: str, fix: str | None = None, *, transient: bool = False):
        self.problem, self.fix, self.transient = problem, fix, transient
        super().__init__(problem if not fix else f"{problem}; {fix}")


def from_os_error(e: OSError) -> MnasPredError | None:
    """The one-line form of a file-system error the user can fix (permissions, a full disk, a
    read-only file system); None for any other, which stays a bug report with its traceback."""
    import errno

    where = f" '{e.filename}'" if e.filename else ""
    if e.errno in (errno.EACCES, errno.EPERM):
        return MnasPredError(f"permission denied:{where} cannot be written or read by this user",
                             "choose a location you may write (e.g. an --out or --db in your home folder)")
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return MnasPredError(f"disk full (or quota exceeded) while writing{where}; everything written before is kept",
                             "free space on that disk and re-run the same command (search: add --resume)")
    if e.errno == errno.EROFS:
        return MnasPredError(f"read-only file system:{where} cannot be written", "choose a location on a writable disk")
    if e.errno == errno.ENAMETOOLONG:
        return MnasPredError(f"file name too long:{where}", "choose a shorter path")
    return None
