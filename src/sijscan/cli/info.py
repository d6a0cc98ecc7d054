"""``sijscan info FILE... [--json]``: what ``read_radiograph`` sees in each file."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sijscan import jsonio
from sijscan.errors import InputError

EXIT_OK, EXIT_SOME_FAILED = 0, 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe radiograph files as sijscan reads them",
        description=(
            "Read each file as sijscan does (DICOM, PNG, JPEG, TIFF, NIfTI) and print one line per file: "
            "format, size, bits, photometric interpretation, pixel spacing, window, and the min/max of the "
            "[0, 1] pixels. Exit code 0 when every file was read, 1 when some failed."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="radiograph files or folders (searched recursively)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    parser.set_defaults(handler=run)


def _window_text(windowing: dict[str, Any]) -> str:
    method = windowing.get("method", "?")
    if method == "window":
        text = f"window C={windowing['center']:g} W={windowing['width']:g}"
    elif method == "full_range":
        text = f"full range [{windowing['low']:g}, {windowing['high']:g}]"
    else:
        text = method.replace("_", " ")
    return text + (" inverted" if windowing.get("inverted") else "")


def _text_line(info: dict[str, Any]) -> str:
    spacing = f"{info['spacing_mm']:g} mm" if info["spacing_mm"] is not None else "spacing unknown"
    return (
        f"{info['path']}: {info['format']} {info['width']}x{info['height']} {info['bits_stored']}-bit "
        f"{info['photometric']}, {spacing}, {_window_text(info['windowing'])}, "
        f"min {info['min']:.3f} max {info['max']:.3f}"
    )


def run(args: argparse.Namespace) -> int:
    try:
        failed = _describe_all(args.files, as_json=args.json)
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_SOME_FAILED
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _describe_all(files: list[str], *, as_json: bool) -> int:
    """Print one line per file; return how many failed."""
    from sijscan.io.reader import read_radiograph  # lazy: cli

    from sijscan.anatomy.outputs import expand_folders  # lazy: cli

    failed = 0
    for name in map(str, expand_folders(files)):
        try:
            info = read_radiograph(name).summary()
        except InputError as exc:
            failed += 1
            message = " ".join(str(exc).split())
            if as_json:
                print(jsonio.dumps({"path": name, "error": message, "error_type": type(exc).__name__}), flush=True)
            else:
                print(f"sijscan info: error: {message}", file=sys.stderr, flush=True)
            continue
        info["path"] = name
        print(jsonio.dumps(info) if as_json else _text_line(info), flush=True)
    return failed
