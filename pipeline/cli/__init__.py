"""The `gelu-edge` command line: thin Click commands over the stage modules.

Exit codes: 0 built and within thresholds, 1 a graph check / runtime load / threshold failed,
2 bad usage or bad input (one line, no traceback), 70 an internal error (one line; the traceback
is in the build folder's error.log), 130 interrupted.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys

import click

from edge import exit_codes
from pipeline import interrupts, runstate
from pipeline.cli import failure, stages, tools
from pipeline.cli.group import cli
from pipeline.cli.options import ClickReporter
from pipeline.errors import CheckFailed, UserError

__all__ = ["cli", "main", "ClickReporter", "stages", "tools"]


def _exit_interrupted() -> None:
    """Exit with 130. CPython exits by killing itself with SIGINT (status -2, not 130) once a
    KeyboardInterrupt has passed through C code that ran Python (TensorFlow's import does), even
    when it was caught; every context manager has unwound by now, so the exit handlers run here
    and the process leaves with the documented code."""
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(exit_codes.INTERRUPTED)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: map errors to exit codes without tracebacks."""
    from pipeline.tempdirs import sweep_stale

    interrupts.reset()
    runstate.reset()
    previous = {s: signal.signal(s, interrupts.handler) for s in (signal.SIGTERM, signal.SIGINT)}
    sweep_stale()
    try:
        try:
            cli.main(args=argv, prog_name="gelu-edge", standalone_mode=False)
        except Exception as exc:
            # A library that catches the KeyboardInterrupt turns it into its own error (a
            # pybind11 module's init makes it an ImportError, which Keras then reports as
            # "optree is not installed"): after a signal, any error is the interruption.
            if interrupts.SIGNALLED:
                raise KeyboardInterrupt from exc
            raise
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx and exc.ctx.parent else ""
        click.echo(f"gelu-edge: error: {exc.format_message()}{hint}", err=True)
        sys.exit(exit_codes.BAD_INPUT)
    except click.ClickException as exc:
        click.echo(f"gelu-edge: error: {exc.format_message()}", err=True)
        sys.exit(exit_codes.BAD_INPUT)
    except UserError as exc:
        click.echo(f"gelu-edge: error: {exc}", err=True)
        sys.exit(exit_codes.BAD_INPUT)
    except CheckFailed as exc:
        click.echo(f"gelu-edge: failed: {exc}", err=True)
        sys.exit(exit_codes.CHECK_FAILED)
    except (KeyboardInterrupt, click.Abort):
        click.echo("gelu-edge: interrupted; finished artifacts are complete, nothing half-written",
                   err=True)
        if argv is None:  # the console script; called in-process (tests), exit normally
            _exit_interrupted()
        sys.exit(exit_codes.INTERRUPTED)
    except OSError as exc:  # disk full, read-only folder, permission: the path and the cause
        click.echo(f"gelu-edge: error: {failure.disk(exc)}", err=True)
        sys.exit(exit_codes.BAD_INPUT)
    except Exception as exc:  # a bug or a library's surprise: one line, the traceback in a file
        click.echo(f"gelu-edge: {failure.internal(exc)}", err=True)
        sys.exit(exit_codes.INTERNAL)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.exit(exit_codes.OK)
