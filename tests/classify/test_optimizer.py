"""sijscan.devices.adamw: the fused AdamW kernel on CPU parameters, the same updates as the per-tensor loop."""
from __future__ import annotations

import torch

from sijscan.devices import adamw


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*shape, generator=g)) for shape in ((8, 3, 3, 3), (8,), (4, 8))]


def _run(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], steps: int = 5) -> None:
    g = torch.Generator().manual_seed(7)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()


def test_adamw_is_fused_on_cpu_parameters_and_groups() -> None:
    assert adamw(_params(0), lr=1e-3, weight_decay=1e-2).defaults["fused"] is True
    groups = [{"params": _params(0)[:2], "lr": 1e-4}, {"params": _params(1), "lr": 1e-3}]
    opt = adamw(groups, lr=1e-3, weight_decay=1e-2)
    assert opt.defaults["fused"] is True and [g["lr"] for g in opt.param_groups] == [1e-4, 1e-3]


def test_fused_adamw_equals_the_loop_to_float_rounding() -> None:
    fused, loop = _params(0), _params(0)
    _run(adamw(fused, lr=1e-2, weight_decay=1e-2), fused)
    _run(torch.optim.AdamW(loop, lr=1e-2, weight_decay=1e-2, foreach=False), loop)
    assert not torch.equal(fused[0], _params(0)[0])  # it did update
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
