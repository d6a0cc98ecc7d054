"""One place that turns the user's device words into what torch and Lightning take.

``resolve_device`` (torch devices: auto, cpu, cuda, cuda:N) serves prediction; ``resolve_accelerator``
(Lightning accelerators: auto, cpu, gpu) serves training and scale-out; ``study_device`` maps a
study config's ``device`` (auto, cpu, gpu) onto either. Requests the machine cannot serve are one
line (:class:`DeviceError`), never a crash inside torch.
"""
from __future__ import annotations

from typing import Literal

from sijscan.errors import InputError

ACCELERATORS = ("auto", "cpu", "gpu")


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
