"""Entry point of the ``sijscan`` console script."""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import pkgutil
import sys
from typing import Sequence

from sijscan import __version__
from sijscan.cli import _signals as signals
import sijscan.cli as cli_pkg
from sijscan.errors import SijscanError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sijscan",
        description="Anatomy-aware radiographic sacroiliitis detection (research software, not a medical device).",
    )
    parser.add_argument("--version", action="version", version=f"sijscan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"sijscan.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError``: the path(s), the system's reason and its errno (``... (errno 30, EROFS)``)."""
    where = ": ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = f" (errno {exc.errno}, {errno.errorcode.get(exc.errno, '?')})" if isinstance(exc.errno, int) else ""
    return " ".join(f"{where + ': ' if where else ''}{reason}{code}".split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if getattr(args, "out", None):  # every command's output (a folder, or a file: out_is_file), before any work
            from sijscan.outfolder import check_out_dir, check_out_file  # lazy: cli

            (check_out_file if getattr(args, "out_is_file", False) else check_out_dir)(args.out)
        with signals.handled():
            return int(handler(args))
    except SijscanError as exc:
        print(f"sijscan {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the file system refused (full disk, read-only, no permission, a file for a folder)
        logging.getLogger(__name__).debug("sijscan %s failed", args.command, exc_info=True)
        print(f"sijscan {args.command}: error: {os_error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, signals.Terminated, SystemExit) as exc:
        code = signals.exit_code(exc)
        if code is None:  # a SystemExit that no signal caused
            raise
        print(f"sijscan {args.command}: {signals.message(code)}; stopped (exit {code})", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
