"""Typed readers of a study configuration's values; each raises :class:`StudyConfigError` naming the
dotted key (``segmenter.train.epochs: must be an integer >= 1, got 'ten'``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from sijscan.errors import InputError


class StudyConfigError(InputError):
    """The study configuration cannot be used; the message is one line naming the key."""


def as_mapping(value: Any, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise StudyConfigError(f"{key}: must be a mapping (key: value), got {type(value).__name__}")
    return value


def no_unknown(d: Mapping[str, Any], allowed: tuple[str, ...], key: str) -> None:
    for k in d:
        if k not in allowed:
            where = f"{key}.{k}" if key else str(k)
            raise StudyConfigError(f"{where}: unknown key (allowed: {', '.join(allowed)})")


def read_int(d: Mapping[str, Any], name: str, key: str, default: int | None, *, minimum: int | None = None) -> int | None:
    v = d.get(name, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise StudyConfigError(f"{key}.{name}: must be an integer{'' if minimum is None else f' >= {minimum}'}, "
                               f"got {v!r}")
    if minimum is not None and v < minimum:
        raise StudyConfigError(f"{key}.{name}: must be an integer >= {minimum}, got {v!r}")
    return int(v)


def read_float(d: Mapping[str, Any], name: str, key: str, default: float, *, low: float, high: float) -> float:
    v = d.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= float(v) <= high:
        raise StudyConfigError(f"{key}.{name}: must be a number in [{low}, {high}], got {v!r}")
    return float(v)


def read_choice(d: Mapping[str, Any], name: str, key: str, default: str | None, choices: tuple[str, ...]) -> str | None:
    v = d.get(name, default)
    if v is None:
        return None
    if v not in choices:
        raise StudyConfigError(f"{key}.{name}: must be one of {', '.join(choices)}, got {v!r}")
    return str(v)


def read_path(d: Mapping[str, Any], name: str, key: str, base: Path | None) -> str | None:
    v = d.get(name)
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise StudyConfigError(f"{key}.{name}: must be a path, got {v!r}")
    p = Path(str(v)).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)


def case_path(value: Any, key: str, base: Path | None) -> str:
    """A CT case folder: relative ones resolve against the config's folder, else the current directory.

    (So one config text serves both ``sijscan demo``, embedded, run from the repository, and
    ``sijscan study configs/demo.yaml``.) A folder found in neither place keeps the first reading.
    """
    first = str(read_path({"case": value}, "case", key, base))
    if Path(first).is_dir() or Path(str(value)).expanduser().is_absolute():
        return first
    here = Path.cwd() / Path(str(value)).expanduser()
    return str(here) if here.is_dir() else first


def read_seeds(d: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    v = d.get("seeds")
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or not v or any(isinstance(x, bool) or not isinstance(x, int) or x < 0
                                                         for x in v) or len(set(v)) != len(v):
        raise StudyConfigError(f"{key}.seeds: must be a list of distinct integers >= 0, got {v!r}")
    return tuple(int(x) for x in v)


def read_bool(d: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
    v = d.get(name, default)
    if not isinstance(v, bool):
        raise StudyConfigError(f"{key}.{name}: must be true or false, got {v!r}")
    return v
