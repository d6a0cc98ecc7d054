"""Issue 26 items 9 and 10: a full disk, a read-only or unwritable output folder, a file where the
folder should be: for every command one line, exit 2, no traceback; a failed first predict leaves no
``--out`` holding only ``.sijscan.lock``.

This machine's tests run as root, which ignores permission bits, and cannot mount a read-only or a
tiny file system; so a read-only (EROFS) or permission-denied (EACCES) folder is simulated as the
kernel would answer: ``os.access`` says no for writing under it, ``os.statvfs`` reports it read-only
(EROFS only), and ``mkdir``/``open``-for-writing under it fail with that errno. A full disk is
``ENOSPC`` from the write that fills it (the lock's ``pwrite``; the atomic writer), or every write
beyond 0 bytes failing (``RLIMIT_FSIZE``, EFBIG).
"""
from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
from pathlib import Path

import pytest

from rel_helpers import rows, write_png
from sijscan.cli.main import main


@pytest.fixture
def unwritable(monkeypatch):
    """``make(root, code)``: every write under ``root`` fails with ``code`` (EROFS or EACCES)."""

    def make(root: Path, code: int) -> Path:
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)

        def under(p) -> bool:
            try:
                return Path(os.fsdecode(p)).resolve().is_relative_to(root)
            except (TypeError, ValueError):
                return False

        def fail(p):
            raise OSError(code, os.strerror(code), os.fsdecode(p))

        real_access, real_statvfs, real_mkdir, real_open = os.access, os.statvfs, os.mkdir, os.open
        real_io_open = io.open

        def access(p, mode, *a, **k):
            return False if (mode & os.W_OK and under(p)) else real_access(p, mode, *a, **k)

        def statvfs(p):
            st = real_statvfs(p)
            if under(p) and code == errno.EROFS:
                return os.statvfs_result((*st[:8], st.f_flag | os.ST_RDONLY, st.f_namemax))
            return st

        def mkdir(p, *a, **k):
            return fail(p) if under(p) else real_mkdir(p, *a, **k)

        def os_open(p, flags, *a, **k):
            return fail(p) if (flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(p)) else real_open(p, flags, *a, **k)

        def io_open(p, mode="r", *a, **k):
            return fail(p) if (not isinstance(p, int) and set(mode) & set("wax+") and under(p)) \
                else real_io_open(p, mode, *a, **k)

        monkeypatch.setattr(os, "access", access)
        monkeypatch.setattr(os, "statvfs", statvfs)
        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(io, "open", io_open)
        monkeypatch.setattr(builtins, "open", io_open)
        return root

    return make


def _commands(tmp: Path, models: Path, out: Path) -> dict[str, list[str]]:
    img = str(write_png(tmp / "in" / "a.png"))
    m = str(tmp / "manifest.csv")
    Path(m).write_text("image,label\nin/a.png,1\n")
    return {
        "predict": ["predict", img, "--model", str(models), "--out", str(out), "--device", "cpu"],
        "segment": ["segment", img, "--model", str(models / "segmenter"), "--out", str(out)],
        "train-segmenter": ["train-segmenter", "--manifest", m, "--out", str(out), "--epochs", "1"],
        "train-classifier": ["train-classifier", "--manifest", m, "--view", "full", "--out", str(out)],
        "evaluate": ["evaluate", "--predictions", m, "--manifest", m, "--out", str(out)],
        "compare": ["compare", "--a", m, "--b", m, "--manifest", m, "--out", str(out)],
        "progression": ["progression", "--predictions", m, "--manifest", m, "--out", str(out)],
        "simulate": ["simulate", "--cohort", "proof", "--n", "2", "--size", "64", "--out", str(out)],
        "study": ["study", m, "--out", str(out)],
        "demo": ["demo", "--out", str(out)],
        "export-onnx": ["export-onnx", "--model", str(models / "classifier"), "--out", str(out)],
        "import-published": ["import-published", "--out", str(out), "--segmentation", m],
        "fetch-published": ["fetch-published", "--out", str(out), "--offline"],
    }


COMMANDS = ["predict", "segment", "train-segmenter", "train-classifier", "evaluate", "compare", "progression",
            "simulate", "study", "demo", "export-onnx", "import-published", "fetch-published"]


@pytest.mark.parametrize("kind", ["read-only", "no permission", "a file", "below a file"])
@pytest.mark.parametrize("command", COMMANDS)
def test_row10_every_commands_output_folder(models, tmp_path, capsys, unwritable, command, kind) -> None:
    out = tmp_path / "target" / "out"
    if kind == "a file":
        out.parent.mkdir(parents=True)
        out.write_text("a file\n")
    elif kind == "below a file":
        out.parent.mkdir(parents=True)
        out.parent.joinpath("f").write_text("a file\n")
        out = out.parent / "f" / "out"
    args = _commands(tmp_path, models, out)[command]
    if command == "fetch-published" and "--offline" not in _help(command):
        args.remove("--offline")
    if kind in ("read-only", "no permission"):
        unwritable(tmp_path / "target", errno.EROFS if kind == "read-only" else errno.EACCES)
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"sijscan {command}: error: --out"), err
    want = {"read-only": "Read-only file system, errno 30, EROFS", "no permission": "Permission denied, errno 13",
            "a file": "exists and is not a folder", "below a file": "is a file: Not a directory, errno 20"}[kind]
    assert want in err[0] and "Traceback" not in err[0], err


def _help(command: str) -> str:
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main([command, "--help"])
    return buf.getvalue()


def test_row10_export_onnx_into_a_read_only_model_folder(models, tmp_path, capsys, unwritable) -> None:
    """No --out: the ONNX file goes to MODEL/onnx, and the card records it: a read-only model folder."""
    folder = tmp_path / "ro" / "classifier"
    shutil.copytree(models / "classifier", folder)
    unwritable(tmp_path / "ro", errno.EROFS)
    code = main(["export-onnx", "--model", str(folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "errno 30, EROFS" in err[0] and "ONNX folder" in err[0], err


# --- a full disk ------------------------------------------------------------------------------------
def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_row9_full_disk_at_the_lock_leaves_no_out_folder(models, tmp_path, capsys, monkeypatch) -> None:
    """The issue's case: the lock file is created (no data blocks needed), writing its holder fails."""
    img = write_png(tmp_path / "a.png")
    out = tmp_path / "new-out"
    monkeypatch.setattr(os, "pwrite", _enospc)
    code = main(["predict", str(img), "--model", str(models), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot write the lock file .sijscan.lock (No space left on device)" in err[0]
    assert not out.exists()


def test_row9_full_disk_at_run_json_leaves_no_out_folder(models, tmp_path, capsys, monkeypatch) -> None:
    import sijscan.files

    img = write_png(tmp_path / "a.png")
    out = tmp_path / "new-out"
    real = sijscan.files._create_beside  # every atomic write starts here

    def full(target):
        if Path(target).name == "run.json":
            _enospc()
        return real(target)

    monkeypatch.setattr(sijscan.files, "_create_beside", full)
    code = main(["predict", str(img), "--model", str(models), "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device (errno 28, ENOSPC)" in err[0], err
    assert not out.exists()


def test_row9_full_disk_at_the_lock_keeps_an_earlier_runs_rows(models, tmp_path, capsys, monkeypatch) -> None:
    img = write_png(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["predict", str(img), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 0
    before = (out / "predictions.csv").read_bytes()
    monkeypatch.setattr(os, "pwrite", _enospc)
    code = main(["predict", str(img), "--model", str(models), "--out", str(out), "--device", "cpu", "--overwrite"])
    assert code == 2 and (out / "predictions.csv").read_bytes() == before and set(rows(out)) == {"a.png"}
    assert "No space left on device" in capsys.readouterr().err


def test_row9_every_write_failing_is_one_line_for_simulate(tmp_path, capsys) -> None:
    """A disk with no room at all (RLIMIT_FSIZE 0: every write of a byte fails, EFBIG): one line."""
    from test_rel2_mutants import file_size_limit

    with file_size_limit(0):
        code = main(["simulate", "--cohort", "proof", "--n", "2", "--size", "64", "--out", str(tmp_path / "o"),
                     "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("sijscan simulate: error:") and "File too large" in err[0], err


def test_manifest_out_is_a_file_checked_as_one(tmp_path, capsys) -> None:
    """``sijscan manifest --out`` names a CSV: an existing CSV may be replaced, a folder there is refused."""
    from sijscan.outfolder import OutputFolderError, check_out_file

    (tmp_path / "m.csv").write_text("old\n")
    assert check_out_file(tmp_path / "m.csv") == tmp_path / "m.csv"
    assert check_out_file(tmp_path / "new" / "m.csv") == tmp_path / "new" / "m.csv"
    with pytest.raises(OutputFolderError, match="is a folder; give a file name"):
        check_out_file(tmp_path)
    code = main(["manifest", str(tmp_path), "--grades", str(tmp_path / "none.csv"), "--out", str(tmp_path)])
    assert code == 2 and "is a folder; give a file name" in capsys.readouterr().err
