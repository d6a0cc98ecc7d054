"""The allow-list loader refuses code-carrying pickles and loads plain checkpoints."""
from __future__ import annotations

import collections
import os

import pytest
import torch

from sijscan.errors import InputError, ModelError, UnsafeCheckpointError
from sijscan.safeload import safe_torch_load


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_plain_checkpoint_loads(tmp_path):
    sd = collections.OrderedDict(w=torch.arange(4.0))
    torch.save({"network": sd, "epoch": 3}, tmp_path / "a.pt")
    obj, refused = safe_torch_load(tmp_path / "a.pt")
    assert refused == []
    assert torch.equal(obj["network"]["w"], torch.arange(4.0)) and obj["epoch"] == 3


def test_lightning_attributedict_is_allowed(tmp_path):
    from lightning.fabric.utilities.data import AttributeDict

    torch.save({"state_dict": {"model.w": torch.ones(2)}, "hyper_parameters": AttributeDict(lr=1e-3)}, tmp_path / "c.ckpt")
    obj, refused = safe_torch_load(tmp_path / "c.ckpt")
    assert refused == []
    assert obj["hyper_parameters"]["lr"] == 1e-3


def test_code_carrying_pickle_is_refused_by_name(tmp_path, monkeypatch):
    torch.save({"x": _Evil()}, tmp_path / "evil.pt")
    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
    with pytest.raises(UnsafeCheckpointError, match="refused to load") as info:
        safe_torch_load(tmp_path / "evil.pt")
    assert "system" in str(info.value) and "\n" not in str(info.value)
    assert calls == []
    obj, refused = safe_torch_load(tmp_path / "evil.pt", strict=False)
    assert refused == ["posix.system"] or refused == ["os.system"]
    assert calls == [] and "refused" in repr(obj["x"])


def test_missing_empty_and_garbage(tmp_path):
    with pytest.raises(InputError):
        safe_torch_load(tmp_path / "none.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(InputError):
        safe_torch_load(tmp_path / "empty.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises((ModelError, UnsafeCheckpointError)):
        safe_torch_load(tmp_path / "junk.pt")
