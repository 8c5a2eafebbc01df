"""What every command of the project does alike: `--version`, a quiet end when the reader
of its output goes away (`wmsXMLView | head`), and one line instead of a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence

from glideinwms_factory import __version__
from glideinwms_factory.lib.pool import one_line

EXIT_BROKEN_PIPE = 141  # what a shell reports for a C tool killed by SIGPIPE
EXIT_INTERRUPTED = 130
VERSION_FLAGS = ("--version", "-version")

Main = Callable[[list[str]], int]


def version_line(prog: str) -> str:
    return f"{prog} (glideinwms-factory) {__version__}"


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run(prog: str, main: Main, argv: Sequence[str] | None = None) -> int:
    """`main(argv)` with the shared behaviour; its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] and args[0] in VERSION_FLAGS:
            print(version_line(prog))
            status = 0
        else:
            status = main(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last resort: a line, not a traceback
        print(f"{prog}: unexpected {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return 1


def command(prog: str) -> Callable[[Main], Callable[..., int]]:
    """Decorate `main(argv: list[str]) -> int` as the console-script entry point `prog`."""

    def wrap(main: Main) -> Callable[..., int]:
        @functools.wraps(main)
        def entry(argv: Sequence[str] | None = None) -> int:
            return run(prog, main, argv)

        return entry

    return wrap
