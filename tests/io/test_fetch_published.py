"""``sijscan fetch-published`` end to end against a local 127.0.0.1 server holding files of the published
structure (random weights); no test touches any other network."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Iterator

import pytest
import torch
from local_http import FileServer, refused_url

import sijscan.classify.networks  # noqa: F401 - registers 'resnet50-sij' (this file must pass on its own too)
from sijscan.anatomy.networks import PAPER_INIT
from sijscan.cli.main import main
from sijscan.modelfolder import build_network
from sijscan.predict.fetch import published_urls

torch.set_num_threads(1)


def _published_files() -> dict[str, bytes]:
    """The two files as the authors ship them: {"network": state_dict} and a Lightning-style checkpoint."""
    torch.manual_seed(0)
    seg, clf = io.BytesIO(), io.BytesIO()
    torch.save({"network": build_network("unet-paper", PAPER_INIT).state_dict()}, seg)
    net = build_network("resnet50-sij", {"grade_head": False, "dropout": 0.5})
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}}, clf)
    return {"segmentation_model.pt": seg.getvalue(), "classification_model.ckpt": clf.getvalue()}


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    with FileServer(_published_files()) as srv:
        yield srv


def test_default_urls_are_the_zenodo_record() -> None:
    assert published_urls() == {
        "segmentation": "https://zenodo.org/records/11116990/files/segmentation_model.pt?download=1",
        "classification": "https://zenodo.org/records/11116990/files/classification_model.ckpt?download=1"}


@pytest.mark.slow
def test_fetch_imports_a_pipeline_folder_with_provenance(server: FileServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    assert main(["fetch-published", "--base-url", server.url(), "--cache", str(cache)]) == 0
    out = cache / "published-11116990"
    assert f"--model {out}" in capsys.readouterr().out
    assert (out / "pipeline.json").is_file()
    for role, sub, name in (("segmentation", "segmenter", "segmentation_model.pt"),
                            ("classification", "classifier", "classification_model.ckpt")):
        data = server.files[name]
        assert (cache / "zenodo-11116990" / name).read_bytes() == data
        rec = json.loads((out / sub / "model.json").read_text())["provenance"]["download"]
        assert rec["url"] == server.url(name) and rec["size"] == len(data)
        assert rec["sha256"] == hashlib.sha256(data).hexdigest() and rec["record"] == "zenodo:11116990"
    # cache from the environment variable; the files are found there, nothing is fetched again
    n = len(server.requests)
    monkeypatch.setenv("SIJSCAN_CACHE", str(cache))
    assert main(["fetch-published", "--base-url", server.url(), "--out", str(tmp_path / "pub")]) == 0
    assert len(server.requests) == n and (tmp_path / "pub" / "pipeline.json").is_file()


@pytest.mark.slow
def test_wrong_pinned_sha256_refuses(server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch-published", "--base-url", server.url(), "--cache", str(tmp_path),
                 "--sha256-segmentation", "ab" * 32]) == 2
    assert "differs from the expected" in capsys.readouterr().err
    assert not (tmp_path / "published-11116990").exists()


def test_offline_is_one_line_naming_both_urls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = refused_url("files")
    assert main(["fetch-published", "--base-url", base, "--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for name in ("segmentation_model.pt", "classification_model.ckpt"):
        assert f"{base}/{name}" in err
    assert "by hand" in err and "sijscan import-published --segmentation" in err and "--classification" in err


def test_http_404_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FileServer({}) as empty:
        assert main(["fetch-published", "--base-url", empty.url(), "--cache", str(tmp_path)]) == 2
    assert "HTTP 404" in capsys.readouterr().err
