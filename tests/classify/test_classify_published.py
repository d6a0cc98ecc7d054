"""Importing the authors' Lightning checkpoint: same probability as an independent re-implementation
of their app's preprocessing + network (checkpoint generated here with the same structure)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.fabric.utilities.data import AttributeDict
from monai.transforms import Rotate90
from scipy import ndimage
from skimage.exposure import equalize_adapthist
from torch import nn
from torchvision.models import resnet50

from sijscan.classify.predict import classify_views, load_classifier
from sijscan.classify.published import import_published_classifier

torch.set_num_threads(1)


def authors_network() -> nn.Module:
    """Written from the published description, independently of sijscan.classify.networks."""
    net = resnet50()
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Sequential(nn.Linear(2048, 1024), nn.ReLU(), nn.BatchNorm1d(1024), nn.Dropout(0.5), nn.Linear(1024, 2))
    return net


def authors_preprocess(crop_display: np.ndarray) -> torch.Tensor:
    """Their app: PIL read is transposed, Rotate90(k=3, axes (0, 1)), (1, H, W) 3-D filters, CLAHE,
    longest side 628 bilinear align_corners=True, symmetric zero pad to 416 x 628."""
    arr = crop_display.T[None].astype(np.float64)  # MONAI LoadImage (PIL): axis 0 along columns
    arr = np.asarray(Rotate90(k=3, spatial_axes=(0, 1))(arr))
    x = (arr - arr.min()) / (arr.max() - arr.min())
    med = ndimage.median_filter(x, size=3, mode="reflect")
    x = med - 0.6 * ndimage.gaussian_filter(med, sigma=1, mode="reflect")
    x = (x - x.min()) / (x.max() - x.min())
    x = equalize_adapthist(x, clip_limit=0.01)
    t = torch.from_numpy(x.astype(np.float32))[None]  # (1, 1, H, W)
    h, w = t.shape[-2:]
    scale = 628 / max(h, w)
    t = F.interpolate(t, size=(int(round(h * scale)), int(round(w * scale))), mode="bilinear", align_corners=True)
    h, w = t.shape[-2:]
    ph, pw = max(416 - h, 0), max(628 - w, 0)
    t = F.pad(t, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    return t[..., (t.shape[-2] - 416) // 2:(t.shape[-2] - 416) // 2 + 416, :628]


def crop_like(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = (np.abs(xx - shape[1] * 0.3) < 12) * 0.5 + (xx > shape[1] * 0.6) * 0.3 + 0.2 * np.sin(yy / 13)
    return ndimage.gaussian_filter(img + 0.2 * rng.standard_normal(shape), 1.2).astype(np.float32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module]:
    torch.manual_seed(0)
    net = authors_network()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval mode matters
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.rand(2, 1, 64, 96)).sum().backward()
    opt.step()
    with torch.no_grad():  # a random net saturates (p ~ 1e-8); scale the last layer so p is mid-range
        net.fc[4].weight.mul_(0.05)
        net.fc[4].bias.zero_()
    ckpt = {
        "epoch": 24, "global_step": 1234, "pytorch-lightning_version": "1.9.0",
        "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
        "hyper_parameters": AttributeDict(lr=1e-3, dropout=0.5, data_dir=Path("/data/x")),
        "optimizer_states": [opt.state_dict()], "lr_schedulers": [],
    }
    path = tmp_path_factory.mktemp("ckpt") / "classification_model.ckpt"
    torch.save(ckpt, path)
    return path, net.eval()


@pytest.mark.slow
def test_import_matches_authors_pipeline(checkpoint: tuple[Path, nn.Module], tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    path, ref_net = checkpoint
    with caplog.at_level(logging.INFO):
        folder = import_published_classifier(path, tmp_path / "published")
    assert "pathlib.PosixPath" in caplog.text  # refused object named in the log
    card = json.loads((folder / "model.json").read_text())
    assert card["cutoff"] == 0.59 and card["recipe"]["preprocess"]["mirror"] is True
    assert card["recipe"]["input_size_hw"] == [416, 628] and card["provenance"]["placeholder_objects"]
    model = load_classifier(folder)
    crops = [crop_like((180, 330), 1), crop_like((260, 300), 2)]
    ours = classify_views(model, crops)
    with torch.no_grad():
        ref = [float(torch.softmax(ref_net(authors_preprocess(c)), 1)[0, 1]) for c in crops]
    assert all(0.05 < r < 0.95 for r in ref), ref  # not saturated: the comparison means something
    dp = [abs(o.probability - r) for o, r in zip(ours, ref)]
    assert max(dp) <= 0.005, dp
    # the network input itself: same tensor as the authors' (mirrored) one, not the unmirrored view
    from sijscan.classify.preprocess import preprocess_view

    for c in crops:
        mine, theirs = preprocess_view(c, model.spec), authors_preprocess(c)[0, 0].numpy()
        assert np.abs(mine - theirs).mean() < 1e-4 and np.abs(mine - theirs).max() < 0.02
        assert np.abs(preprocess_view(c[:, ::-1], model.spec) - theirs).mean() > 0.01
    assert all(o.decision == int(o.probability >= 0.59) for o in ours)


def test_authors_orientation_is_a_left_right_mirror() -> None:
    crop = np.arange(12, dtype=np.float64).reshape(3, 4)
    seen = np.asarray(Rotate90(k=3, spatial_axes=(0, 1))(crop.T[None]))[0]
    assert np.array_equal(seen, crop[:, ::-1])


def test_checkpoint_without_model_keys_is_refused(tmp_path: Path) -> None:
    from sijscan.classify.errors import PublishedCheckpointError

    torch.save({"state_dict": {"net.fc.weight": torch.zeros(2, 2)}}, tmp_path / "x.ckpt")
    with pytest.raises(PublishedCheckpointError):
        import_published_classifier(tmp_path / "x.ckpt", tmp_path / "out")
