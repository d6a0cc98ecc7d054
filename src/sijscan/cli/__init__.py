"""Command-line interface: a thin shell over the Python API.

Each module in this package that defines ``register(subparsers)`` adds one or more sub-commands.
A sub-command's handler takes the parsed ``argparse.Namespace`` and returns an exit code
(0 ok, 1 some inputs failed, 2 usage or input error). Heavy imports belong inside handlers.
"""
