"""Model folders: round trip, integrity check, clear errors."""
from __future__ import annotations

import json

import pytest
import torch

from sijscan import modelfolder as mf
from sijscan.errors import ModelError
from sijscan.files import file_digest


@mf.register_arch("test-tiny-linear")
def _tiny(in_features: int = 3, out_features: int = 2) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(in_features, out_features), torch.nn.BatchNorm1d(out_features))


def _save(tmp_path, **kw):
    torch.manual_seed(0)
    net = _tiny(4, 2)
    folder = mf.save_model(
        tmp_path / "m", network=net, kind="classifier", arch="test-tiny-linear",
        init_args={"in_features": 4, "out_features": 2}, labels={0: "negative", 1: "positive"},
        recipe={"input_size": [8, 8]}, provenance={"seed": 0}, cutoff=0.59, **kw,
    )
    return net, folder


def test_round_trip_restores_weights_and_card(tmp_path):
    net, folder = _save(tmp_path, temperature=1.3)
    loaded, card = mf.load_model(folder)
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)
    assert card.cutoff == pytest.approx(0.59) and card.temperature == pytest.approx(1.3)
    assert card.labels == {"0": "negative", "1": "positive"}
    assert not loaded.training
    data = json.loads((folder / "model.json").read_text())
    assert data["sha256"] == file_digest(folder / "weights.safetensors")


def test_tampered_weights_are_refused(tmp_path):
    _, folder = _save(tmp_path)
    w = folder / "weights.safetensors"
    blob = bytearray(w.read_bytes())
    blob[-1] ^= 0xFF
    w.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="sha256"):
        mf.load_model(folder)


def test_unknown_arch_and_missing_folder(tmp_path):
    _, folder = _save(tmp_path)
    mf.update_card(folder, arch="no-such-net")
    with pytest.raises(ModelError, match="unknown architecture"):
        mf.load_model(folder)
    with pytest.raises(ModelError, match="not found"):
        mf.read_card(tmp_path / "nope")


def test_update_card_changes_cutoff_only(tmp_path):
    _, folder = _save(tmp_path)
    before = mf.read_card(folder)
    mf.update_card(folder, cutoff=0.7)
    after = mf.read_card(folder)
    assert after.cutoff == 0.7 and after.sha256 == before.sha256 and after.recipe == before.recipe
    with pytest.raises(ValueError):
        mf.update_card(folder, sha256="x")
