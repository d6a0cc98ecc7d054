"""Issue 26 item 5: a test cohort sharing patients or images with the training cohort is refused
(exit 2, one line) before anything is trained."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sijscan.cli.main import main


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory) -> dict[str, Path]:
    from sijscan.phantom.simulate import simulate_cohort

    root = tmp_path_factory.mktemp("leak")
    train = simulate_cohort("proof", n=6, seed=1, out_dir=root / "train", size=64, followup=False, workers=1,
                            progress=False)
    other = simulate_cohort("optiref", n=4, seed=2, out_dir=root / "other", size=64, followup=False, workers=1,
                            progress=False)
    df = pd.read_csv(train)
    # the same images copied under other names, with new patient ids (content leak only)
    (root / "copies").mkdir()
    rows = []
    for i, r in df.head(3).iterrows():
        dst = root / "copies" / f"copy{i}.png"
        shutil.copy(train.parent / r["image"], dst)
        rows.append({**r.to_dict(), "image": dst.name, "patient_id": f"NEW-{i}", "mask": ""})
    pd.DataFrame(rows).to_csv(root / "copies" / "manifest.csv", index=False)
    # other images, but patient ids of the training cohort (a second visit filed as a test patient)
    o = pd.read_csv(other)
    o["patient_id"] = list(df["patient_id"].head(len(o)))
    o.to_csv(other.parent / "same_ids.csv", index=False)
    return {"train": train, "other": other, "copies": root / "copies" / "manifest.csv",
            "same_ids": other.parent / "same_ids.csv"}


def _study(tmp_path: Path, train: Path, test: Path) -> tuple[int, Path]:
    conf = {"study": {"name": "leak", "seed": 1, "device": "cpu", "workers": 1},
            "cohorts": {"mine": {"role": "train", "manifest": str(train)},
                        "external": {"role": "test", "manifest": str(test)}},
            "segmenter": {"train": {"epochs": 1, "size": 32}},
            "classifiers": {"recipe": "quick", "arch": "tiny-resnet", "init": "random"},
            "predict": {"batch_size": 4, "gradcam_examples": 0}, "evaluate": {"n_bootstrap": 10}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(conf))
    out = tmp_path / "s"
    return main(["study", str(path), "--out", str(out)]), out


@pytest.mark.parametrize("case,says", [("train", "patient id(s)"), ("copies", "identical content"),
                                       ("same_ids", "patient id(s)")])
def test_row5_leaky_test_cohort_is_refused_before_training(cohorts, tmp_path, capsys, case, says) -> None:
    code, out = _study(tmp_path, cohorts["train"], cohorts[case])
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("sijscan study")]
    assert code == 2 and len(err) == 1 and says in err[0] and "'external'" in err[0] and "'mine'" in err[0], err
    assert not (out / "segmenter").exists()  # nothing trained


def test_row5_the_same_manifest_as_train_and_test_names_both_kinds(cohorts, tmp_path, capsys) -> None:
    from sijscan.study.leakage import LeakageError, check_leakage

    with pytest.raises(LeakageError, match=r"6 patient id\(s\).*6 image\(s\) with identical content"):
        check_leakage({"mine": {"manifest": str(cohorts["train"]), "role": "train"},
                       "external": {"manifest": str(cohorts["train"]), "role": "test"}})


def test_row5_distinct_cohorts_and_overlapping_test_cohorts_pass(cohorts) -> None:
    from sijscan.study.leakage import check_leakage

    check_leakage({"mine": {"manifest": str(cohorts["train"]), "role": "train"},
                   "a": {"manifest": str(cohorts["other"]), "role": "test"},
                   "b": {"manifest": str(cohorts["other"]), "role": "test"}})  # test vs test: allowed
