"""The ``mnas-pred`` command line.

:func:`main` is the console-script entry point. It runs the typer app without click's own
error handling so that every user error, from click or from the library, ends as one line on
stderr and exit code 2, without a traceback; Ctrl-C ends with exit code 130.
"""

from __future__ import annotations

import importlib
import sys

import typer

from mnas_pred.cli._app import CommandInterrupted, app, err_console
from mnas_pred.errors import DeviceError, MnasPredError, from_os_error

# Command modules register themselves on `app` when imported (each imports its stage lazily,
# inside its commands, so `mnas-pred --help` stays fast).
for _module in ("core", "profiling", "checking", "predicting", "searching"):
    importlib.import_module(f"mnas_pred.cli.{_module}")


INTERRUPTED = (
    "interrupted; everything finished so far is saved: re-run the same command to continue "
    "(search: add --resume)"
)


def _fail(message: str, code: int = 2) -> int:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return code


def main(argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, prog_name="mnas-pred", standalone_mode=False)
    except (MnasPredError, DeviceError) as e:  # DeviceError: not found, unauthorized, lost (fix included)
        return _fail(str(e))
    except typer.TyperException as e:  # usage errors: unknown option, bad value, missing argument
        ctx = getattr(e, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        return _fail(f"{e.format_message()}{where}")
    except CommandInterrupted as e:
        return _fail(str(e), 130)
    except OSError as e:  # permissions, a full disk: one line; anything else is a bug and keeps its traceback
        error = from_os_error(e)
        if error is None:
            raise
        return _fail(str(error))
    except (KeyboardInterrupt, typer.Abort):
        return _fail(INTERRUPTED, 130)
    except typer.Exit as e:
        return e.exit_code
    if result == 130:  # typer turns Ctrl-C inside a command into a silent return of 130
        return _fail(INTERRUPTED, 130)
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


__all__ = ["app", "main", "run"]
