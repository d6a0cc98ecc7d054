"""sijscan.anatomy.inference: the exact sliding-window arithmetic equals MONAI's; --fast is one pass."""
from __future__ import annotations

import pytest
import torch
from monai.inferers import sliding_window_inference

from sijscan.anatomy.inference import infer_logits, sliding_window_logits, window_starts
from sijscan.anatomy.networks import PAPER_INIT
from sijscan.modelfolder import build_network

torch.set_num_threads(1)


def _net() -> torch.nn.Module:
    torch.manual_seed(3)
    return build_network("unet-paper", {**PAPER_INIT, "channels": [4, 8, 16], "strides": [2, 2],
                                        "num_res_units": 1}).eval()


@pytest.mark.parametrize(("size", "window", "overlap"), [(768, 512, 0.75), (100, 64, 0.5), (70, 32, 0.25), (64, 64, 0.75)])
def test_window_starts_like_monai(size: int, window: int, overlap: float) -> None:
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    interval = _get_scan_interval((size,), (window,), 1, (overlap,))
    monai_starts = [s[0].start for s in dense_patch_slices((size,), (window,), interval)]
    assert window_starts(size, window, overlap) == monai_starts


@pytest.mark.parametrize(("shape", "window", "chunk"), [((96, 96), 64, 16), ((96, 80), 64, 1), ((40, 72), 48, 3)])
def test_constant_blend_equals_monai(shape: tuple[int, int], window: int, chunk: int) -> None:
    net = _net()
    x = torch.randn(1, 1, *shape)
    with torch.no_grad():
        ref = sliding_window_inference(x, (window, window), 16, net, overlap=0.75, mode="constant")
    ours = sliding_window_logits(net, x, window=(window, window), overlap=0.75, chunk=chunk)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=5e-6)  # fp32 rounding: a few ulp of logits ~5
    assert torch.equal(ours.argmax(1), ref.argmax(1))
    if chunk == 16:  # all windows in one call, as MONAI does them: the very same numbers
        assert torch.equal(ours, ref)


def test_fast_is_one_pass_and_exact_is_windows() -> None:
    net = _net()
    x = torch.randn(2, 1, 96, 96)
    spec = {"mode": "sliding_window", "window": [64, 64], "overlap": 0.75, "sw_batch_size": 16, "blend": "constant"}
    with torch.no_grad():
        one_pass = net(x)
        ref = sliding_window_inference(x, (64, 64), 16, net, overlap=0.75, mode="constant")
    torch.testing.assert_close(infer_logits(net, x, spec, fast=True), one_pass, rtol=0, atol=0)
    torch.testing.assert_close(infer_logits(net, x, spec), ref, rtol=0, atol=5e-6)  # fp32 rounding
    assert not torch.allclose(one_pass, ref, atol=1e-3)  # so the two modes are told apart


def _swap_back(out: torch.Tensor, axis: int) -> torch.Tensor:
    """The output of a mirrored image brought back: mirrored, hip channels 2 and 3 exchanged."""
    return torch.flip(out, dims=(axis,))[:, [0, 1, 3, 2]]


@pytest.mark.parametrize("spec", [{"mode": "single", "mirror": True},
                                  {"mode": "sliding_window", "window": [32, 32], "overlap": 0.5, "mirror": True}])
@pytest.mark.parametrize("axis", [-1, -2])
def test_mirror_makes_the_segmenter_mirror_equivariant(spec: dict, axis: int) -> None:
    """With mirrored test-time augmentation a mirrored radiograph gets exactly the mirrored label map,
    hip bones exchanged; an untrained network on its own is far from that (so the test can fail)."""
    net = _net()
    x = torch.randn(1, 1, 48, 64)
    out = infer_logits(net, x, spec, mirror_axis=axis)
    out_of_mirror = infer_logits(net, torch.flip(x, dims=(axis,)), spec, mirror_axis=axis)
    torch.testing.assert_close(_swap_back(out_of_mirror, axis), out, rtol=0, atol=1e-5)
    plain = {**spec, "mirror": False}
    alone = infer_logits(net, x, plain)
    assert not torch.allclose(_swap_back(infer_logits(net, torch.flip(x, dims=(axis,)), plain), axis), alone, atol=1e-2)
    # the mean of the two passes, not one of them
    torch.testing.assert_close(out, (alone + _swap_back(infer_logits(net, torch.flip(x, dims=(axis,)), plain), axis)) / 2,
                               rtol=0, atol=1e-6)


def test_mirror_needs_the_hip_channels() -> None:
    from sijscan.errors import ModelError

    net = torch.nn.Conv2d(1, 2, 1)
    with pytest.raises(ModelError, match="hip-bone channels"):
        infer_logits(net, torch.randn(1, 1, 8, 8), {"mode": "single", "mirror": True})


def test_mirror_in_the_recipe() -> None:
    """sijscan's own recipe mirrors; the published one does not (its card stays byte-identical);
    the key round-trips and a non-boolean is refused."""
    from sijscan.anatomy.recipes import parse_segmenter_recipe, published_recipe, sijscan_recipe
    from sijscan.errors import ModelError

    ours = sijscan_recipe(size=64)
    assert ours["inference"] == {"mode": "single", "mirror": True}
    assert parse_segmenter_recipe(ours).inference.mirror is True
    assert parse_segmenter_recipe(ours).to_json() == ours
    assert sijscan_recipe(size=64, mirror=False)["inference"] == {"mode": "single"}
    pub = published_recipe()
    assert "mirror" not in pub["inference"] and parse_segmenter_recipe(pub).inference.mirror is False
    with pytest.raises(ModelError, match="mirror"):
        parse_segmenter_recipe({**ours, "inference": {"mode": "single", "mirror": "yes"}})
