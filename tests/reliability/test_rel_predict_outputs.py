"""Issue 14, rows 1-7 and the retry rule: predict's output folder loses nothing and never crashes.

Each test names the row of the issue's table it keeps fixed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rel_helpers import rows, write_png
from sijscan.cli.main import main


def _predict(models: Path, out: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> int:
    return main(["predict", *map(str, inputs), "--model", str(models), "--out", str(out), "--device", "cpu", *extra])


def test_row1_non_utf8_file_name_gets_a_row_and_a_report(models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_png(folder / "ok.png")
    odd = Path(os.fsdecode(bytes(folder) + b"/c\xff\xfe.png"))
    write_png(odd, seed=1)
    out = tmp_path / "out"
    assert _predict(models, out, folder, extra=("--report",)) == 0
    got = rows(out)
    assert set(got) == {"ok.png", "c\\xff\\xfe.png"} and all(not r["error"] for r in got.values())
    jsons = sorted(p.name for p in (out / "images").glob("*.json"))
    assert len(jsons) == 2 and "c\\xff\\xfe.png" in (out / "report.html").read_text(encoding="utf-8")
    assert _predict(models, out, folder) == 0 and len(rows(out)) == 2  # the rerun does not crash either


def test_row2_symlink_loop_and_dangling_links_are_error_rows(models: Path, tmp_path: Path, capsys) -> None:
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    out = tmp_path / "out"
    assert _predict(models, out, loop) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken symbolic link" in err[0] and "Traceback" not in err[0]
    folder = tmp_path / "in"
    write_png(folder / "ok.png")
    (folder / "self.png").symlink_to(folder / "self.png")
    (folder / "gone.dcm").symlink_to(tmp_path / "nowhere.dcm")
    out2 = tmp_path / "out2"
    assert _predict(models, out2, folder) == 1
    got = rows(out2)
    assert set(got) == {"ok.png", "self.png", "gone.dcm"}
    assert "broken symbolic link" in got["self.png"]["error"] and "broken symbolic link" in got["gone.dcm"]["error"]


def test_row3_overwrite_redoes_only_the_named_images(models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    files = [write_png(folder / f"case{i}.png", seed=i) for i in range(3)]
    out = tmp_path / "out"
    assert _predict(models, out, folder) == 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "images").glob("*.json")}
    assert _predict(models, out, files[1], extra=("--overwrite",)) == 0
    got = rows(out)
    assert set(got) == {"case0.png", "case1.png", "case2.png"} and all(r["probability"] for r in got.values())
    after = {p.name: p.stat().st_mtime_ns for p in (out / "images").glob("*.json")}
    assert after["case0.png.json"] == before["case0.png.json"] and after["case2.png.json"] == before["case2.png.json"]
    assert after["case1.png.json"] != before["case1.png.json"]


def test_row4_second_run_into_a_locked_folder_is_refused_naming_the_holder(models: Path, tmp_path: Path,
                                                                           capsys) -> None:
    img = write_png(tmp_path / "x.png")
    out = tmp_path / "out"
    out.mkdir()
    src = Path(__file__).resolve().parents[2] / "src"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from sijscan.predict.outdir import out_lock
            with out_lock(Path({str(out)!r})):
                print("locked", flush=True)
                sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(src)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert _predict(models, out, img) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another sijscan run" in err[0] and f"pid {holder.pid}" in err[0]
        assert not (out / "predictions.csv").exists()
    finally:
        holder.communicate("\n", timeout=30)
    assert _predict(models, out, img) == 0 and set(rows(out)) == {"x.png"}  # released: the next run proceeds


def test_row4_scaleout_path_is_refused_too(pipeline, tmp_path: Path) -> None:
    from sijscan.predict.options import PredictOptions
    from sijscan.predict.outdir import OutputLockedError
    from sijscan.predict.runner import run_prediction

    img = write_png(tmp_path / "x.png")
    out = tmp_path / "out"
    src = Path(__file__).resolve().parents[2] / "src"
    holder = subprocess.Popen([sys.executable, "-c", "import sys\nfrom pathlib import Path\n"
                               "from sijscan.predict.outdir import out_lock\n"
                               f"Path({str(out)!r}).mkdir()\n"
                               f"with out_lock(Path({str(out)!r})):\n print('locked', flush=True); sys.stdin.readline()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(src)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLockedError, match=f"pid {holder.pid}"):
            run_prediction(pipeline, inputs=[img], out_dir=out, options=PredictOptions(accelerator="cpu", loader_workers=0))
    finally:
        holder.communicate("\n", timeout=30)


def test_row4_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    from sijscan.predict.outdir import out_lock

    src = Path(__file__).resolve().parents[2] / "src"
    holder = subprocess.Popen([sys.executable, "-c", "import sys,time\nfrom pathlib import Path\n"
                               "from sijscan.predict.outdir import out_lock\n"
                               f"with out_lock(Path({str(tmp_path)!r})):\n print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(src)})
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=30)
    with out_lock(tmp_path):  # a SIGKILLed holder leaves no stale lock
        pass


def test_row5_names_that_sanitise_alike_get_separate_outputs(models: Path, tmp_path: Path) -> None:
    from sijscan.predict.many_files import safe_stem

    folder = tmp_path / "in"
    write_png(folder / "a" / "x.png", seed=0)
    write_png(folder / "a_x.png", seed=1)
    write_png(folder / "A_X.png", seed=2)  # apart on a case-insensitive file system too
    out = tmp_path / "out"
    assert _predict(models, out, folder) == 0
    assert set(rows(out)) == {"a/x.png", "a_x.png", "A_X.png"}
    jsons = list((out / "images").glob("*.json"))
    assert len(jsons) == 3 and len({p.name.lower() for p in jsons}) == 3
    assert {json.loads(p.read_text())["image"] for p in jsons} == {"a/x.png", "a_x.png", "A_X.png"}
    names = ["a/x.png", "a_x.png", "a x.png", "a+x.png", "x" * 200, "x" * 201, "", ".x", "#2", "a_x.png#2"]
    assert len({safe_stem(n).lower() for n in names}) == len(names)


def test_row6_a_file_replaced_under_the_same_name_is_redone(pipeline, tmp_path: Path) -> None:
    from sijscan.predict.runner import run_prediction as run_batch  # the default path: one process, threads

    pipe = pipeline
    img = write_png(tmp_path / "x.png", seed=0)
    out = tmp_path / "out"
    first = run_batch(pipe, inputs=[img], out_dir=out)
    assert first.done == 1 and rows(out)["x.png"]["source_stamp"]
    assert run_batch(pipe, inputs=[img], out_dir=out).skipped == 1  # unchanged: skipped
    write_png(img, seed=5)  # other content, same name
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = run_batch(pipe, inputs=[img], out_dir=out)
    assert again.done == 1 and again.skipped == 0
    assert rows(out)["x.png"]["source_stamp"] == f"{img.stat().st_size}:{img.stat().st_mtime_ns}"


@pytest.mark.parametrize("case", ["file", "under_a_file", "garbage_csv", "foreign_csv"])
def test_row7_bad_out_is_one_line_and_nothing_is_overwritten(models: Path, tmp_path: Path, capsys,
                                                             case: str) -> None:
    img = write_png(tmp_path / "x.png")
    target = tmp_path / "target"
    if case == "file":
        target.write_text("I am a file\n")
        out = target
    elif case == "under_a_file":
        target.write_text("I am a file\n")
        out = target / "sub"
    else:
        target.mkdir()
        out = target
        data = b"\xff\xfe\x00garbage\x81" if case == "garbage_csv" else b"name,score\nfoo,1\n"
        (target / "predictions.csv").write_bytes(data)
    before = target.read_bytes() if target.is_file() else (target / "predictions.csv").read_bytes()
    assert _predict(models, out, img) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sijscan predict: error:") and "Traceback" not in err[0]
    assert {"file": "exists and is not a folder", "under_a_file": "cannot create or write the output folder",
            "garbage_csv": "not UTF-8 text", "foreign_csv": "no 'image' column"}[case] in err[0]
    after = target.read_bytes() if target.is_file() else (target / "predictions.csv").read_bytes()
    assert after == before


def test_failed_rows_are_retried_on_rerun_in_the_default_path(pipeline, tmp_path: Path, monkeypatch) -> None:
    """A transient read failure (the file itself unchanged) is an error row; the next run retries it."""
    import sijscan.predict.pipeline as pipeline_mod
    from sijscan.errors import FileUnreadableError
    from sijscan.predict.runner import run_prediction as run_batch  # the default path: one process, threads

    pipe = pipeline
    good, flaky = write_png(tmp_path / "in" / "good.png"), write_png(tmp_path / "in" / "flaky.png", seed=1)
    real = pipeline_mod.to_radiograph

    def failing(source, *, name=None):
        if isinstance(source, (str, os.PathLike)) and Path(source).name == "flaky.png":
            raise FileUnreadableError(f"{source}: cannot read file (Input/output error)")
        return real(source, name=name)

    monkeypatch.setattr(pipeline_mod, "to_radiograph", failing)
    out = tmp_path / "out"
    first = run_batch(pipe, inputs=[tmp_path / "in"], out_dir=out)
    assert first.failed == 1 and "Input/output error" in rows(out)["flaky.png"]["error"]
    monkeypatch.setattr(pipeline_mod, "to_radiograph", real)
    second = run_batch(pipe, inputs=[tmp_path / "in"], out_dir=out)
    assert second.done == 1 and second.skipped == 1 and second.failed == 0
    got = rows(out)
    assert got["flaky.png"]["error"] == "" and got["flaky.png"]["probability"] and good.is_file()


def test_scaleout_overwrite_and_changed_files_follow_the_same_rules(tmp_path: Path) -> None:
    """The scale-out copy of the rules (no Lightning run: its to-do list and leftover handling)."""
    from sijscan.predict.many_files import collect_inputs
    from sijscan.predict.table import RowWriter, prediction_row
    from sijscan.predict.options import PredictOptions
    from sijscan.predict.runner import Job, absorb_leftovers, todo_indices
    from sijscan.predict.pipeline import Prediction

    folder = tmp_path / "in"
    for i in range(3):
        write_png(folder / f"c{i}.png", seed=i)
    out = tmp_path / "out"
    out.mkdir()
    items = collect_inputs([folder])
    w = RowWriter(out / "predictions.csv", {}, stamps={it.image: it.stamp for it in items})
    for it in items:
        w.add(prediction_row(Prediction(image=it.image, probability=0.5, qc_passed=True)))
    w.finalize(order=[it.image for it in items])
    job = Job(items=items, out=out, options=PredictOptions(batch_size=2, loader_workers=0, outputs=False))
    assert todo_indices(job) == []
    write_png(folder / "c1.png", seed=9)
    os.utime(folder / "c1.png", ns=(0, 10**18))
    job.items = collect_inputs([folder])
    assert todo_indices(job) == [1]
    one = Job(items=collect_inputs([folder / "c2.png"]), out=out,
              options=PredictOptions(overwrite=True, batch_size=2, loader_workers=0, outputs=False))
    absorb_leftovers(one)
    assert todo_indices(one) == [0] and len(rows(out)) == 3  # --overwrite keeps the rows of images not named


def test_html_in_a_file_name_is_escaped_in_the_report(models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_png(folder / "<img src=x onerror=alert(1)>.png")
    out = tmp_path / "out"
    assert _predict(models, out, folder, extra=("--report",)) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.png" in page


@pytest.mark.parametrize("env,first", [({}, True), ({"LOCAL_RANK": "1", "NODE_RANK": "0"}, False),
                                       ({"RANK": "0", "LOCAL_RANK": "0"}, True), ({"SLURM_PROCID": "3"}, False),
                                       ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False)])
def test_scaleout_lock_is_taken_by_one_process_only(monkeypatch, env: dict, first: bool) -> None:
    from sijscan.predict.runner import LAUNCHED_ENV, is_first_process

    for key in LAUNCHED_ENV:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert is_first_process() is first


def test_out_folder_with_non_utf8_bytes_and_a_report(models: Path, tmp_path: Path) -> None:
    """cv2.imread crashes the process on such a path: the report reads its thumbnails from bytes."""
    img = write_png(tmp_path / "x.png")
    out = Path(os.fsdecode(bytes(tmp_path) + b"/out\xff"))
    assert _predict(models, out, img, extra=("--report",)) == 0
    assert "data:image/jpeg;base64," in (out / "report.html").read_text(encoding="utf-8")
