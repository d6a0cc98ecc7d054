"""One place that turns the user's device words into what torch and Lightning take.

``resolve_device`` (torch devices: auto, cpu, cuda, cuda:N) serves prediction; ``resolve_accelerator``
(Lightning accelerators: auto, cpu, gpu) serves training and scale-out; ``study_device`` maps a
study config's ``device`` (auto, cpu, gpu) onto either; ``training_precision`` turns a training's
``precision`` (auto, 32, bf16) into Lightning's precision. Requests the machine cannot serve are one
line (:class:`DeviceError`), never a crash inside torch.
"""
from __future__ import annotations

import argparse
import functools
import logging
from typing import TYPE_CHECKING, Any, Literal

from sijscan.errors import InputError

if TYPE_CHECKING:
    import torch

ACCELERATORS = ("auto", "cpu", "gpu")
PRECISIONS = ("auto", "32", "bf16")
"""A training's arithmetic: ``auto`` (bfloat16 mixed precision on a GPU, float32 on a CPU: what sijscan
always did), ``32`` (float32 everywhere) or ``bf16`` (bfloat16 mixed precision, on a CPU only where it has
bfloat16 arithmetic: AVX512-BF16 or AMX; elsewhere float32, said in the log and in the model card)."""
log = logging.getLogger(__name__)


class DeviceError(InputError):
    """An unknown device/accelerator name, or CUDA asked for where there is none."""


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when CUDA is visible else 'cpu'; 'cuda' / 'cuda:N' without CUDA is an error."""
    if device == "auto":
        return "cuda" if _cuda() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise DeviceError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device != "cpu" and not _cuda():
        raise DeviceError(f"--device {device} requested but no CUDA device is available; use 'auto' or 'cpu'")
    return device


def resolve_accelerator(accelerator: str) -> Literal["cpu", "gpu"]:
    """'auto' -> 'gpu' when CUDA is visible else 'cpu'; 'gpu' without CUDA is an error."""
    if accelerator not in ACCELERATORS:
        raise DeviceError(f"--accelerator must be one of {', '.join(ACCELERATORS)}, got {accelerator!r}")
    if accelerator == "auto":
        return "gpu" if _cuda() else "cpu"
    if accelerator == "gpu" and not _cuda():
        raise DeviceError("--accelerator gpu but no CUDA device is visible; use 'auto' or 'cpu'")
    return accelerator  # type: ignore[return-value]


def study_device(device: str, *, for_: Literal["torch", "lightning"]) -> str:
    """A study config's device (auto, cpu, gpu) as a torch device word or a Lightning accelerator."""
    if device not in ACCELERATORS:
        raise DeviceError(f"study.device must be one of {', '.join(ACCELERATORS)}, got {device!r}")
    return {"gpu": "cuda"}.get(device, device) if for_ == "torch" else device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware (x86 AVX512-BF16 or AMX tiles).

    Elsewhere torch emulates it, and bfloat16 autocast is slower than float32 (not faster): never used there.
    """
    import torch

    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def training_precision(precision: str, *, gpu: bool) -> str:
    """Lightning's ``precision`` for a training on a GPU (``gpu``) or the CPU: '32-true' or 'bf16-mixed'.

    ``bf16`` on a CPU without bfloat16 hardware trains in float32 and logs why (the model card records the
    precision used). Measured on the classifier's and segmenter's training steps: benchmarks/bench_precision.py.
    """
    if precision not in PRECISIONS:
        raise DeviceError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "32" or (precision == "auto" and not gpu):
        return "32-true"
    if gpu or cpu_has_native_bf16():
        return "bf16-mixed"
    _log_bf16_fallback()
    return "32-true"


@functools.cache
def _log_bf16_fallback() -> None:
    """Said once per process: a study trains up to seven models and said it seven times."""
    log.warning("precision bf16: this CPU has no bfloat16 arithmetic (AVX512-BF16 or AMX), where it would be "
                "slower than float32: training in float32 (each model card records its precision)")


def add_precision_flag(parser: argparse.ArgumentParser) -> None:
    """``--precision`` for a training command (one help text for the segmenter's and classifiers')."""
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="training arithmetic: auto (bfloat16 mixed on a GPU, float32 on a CPU), 32, or bf16 "
                             "(bfloat16 mixed also on a CPU with AVX512-BF16/AMX, about 1.4-2x faster there; float32 "
                             "on other CPUs)")


FUSED_OPTIMIZER_DEVICES = ("cpu", "cuda")


def adamw(params: Any, *, lr: float, weight_decay: float) -> "torch.optim.AdamW":
    """AdamW for sijscan's trainings: the fused kernel where every parameter lives on a CPU or a CUDA GPU.

    Fused AdamW is the same update in one kernel per step instead of a loop over the parameter tensors:
    measured 14.7 -> 4.1 ms per step for the demo's ResNet-10-sized classifier on the 2-core CPU (its
    forward and backward take ~70 ms), 3 of the demo classifiers' 10 minutes; the results equal the
    loop's to float rounding (tests/classify/test_optimizer.py).
    """
    import torch

    groups = list(params)
    tensors = [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]
    fused = bool(tensors) and all(p.device.type in FUSED_OPTIMIZER_DEVICES and p.is_floating_point() for p in tensors)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=fused or None)
