"""``PredictOptions``: every setting of a prediction run, in one frozen dataclass.

The CLI fills it from its flags (:meth:`PredictOptions.from_namespace`), the Python API from keyword
arguments (:meth:`PredictOptions.from_fields`, ``sijscan.predict(..., batch_size=4)``) or takes it
whole (:func:`sijscan.predict.api.predict_files`), the runner reads it
(:func:`sijscan.predict.runner.run_prediction`). :meth:`PredictOptions.check` names the
combinations that cannot work; every other option works with one process or several.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from typing import Any

from sijscan.errors import InputError

PathLike = str | os.PathLike[str]


class PredictUsageError(InputError):
    """A combination of predict options that cannot work together (named in the message)."""


@dataclass(frozen=True)
class PredictOptions:
    """How to predict; the models and the inputs are given beside it."""

    device: str = "auto"
    """auto, cpu, cuda or cuda:N (one process); with several processes: auto, cpu or cuda."""
    backend: str = "torch"
    """torch, or onnx (the folders' exported ONNX files in onnxruntime; no Grad-CAM)."""
    fast: bool = False
    """The segmenter runs one pass instead of its recipe's sliding windows."""
    gradcam: bool = False
    masks: PathLike | None = None
    """A folder of the user's own label maps; images with one skip the segmenter."""
    manifest_masks: bool = True
    """False: a manifest's ``mask`` column is ignored and every such image is segmented."""
    batch_size: int = 8
    workers: int = 1
    """Threads reading (and preparing) files ahead, when no DataLoader is used."""
    loader_workers: int | None = None
    """DataLoader processes reading files (0: in the main process); None: ``workers`` threads."""
    devices: int = 1
    """Processes (GPUs) per node."""
    num_nodes: int = 1
    accelerator: str | None = None
    """cpu, gpu or auto for several processes; default from ``device``."""
    report: bool = False
    overwrite: bool = False
    progress: bool | None = None
    hash_names: bool = False
    """Name images by the first 16 hex digits of their content's SHA-256 and leave out their path and
    DICOM UIDs (``sijscan evaluate`` matches such rows to a manifest by content)."""
    threads: int | None = None
    """Threads per process for the per-image CPU work after the networks (default min(8, cores / devices))."""
    outputs: bool = True
    """False: rows only, no per-image JSON or pictures (throughput measurements)."""

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> "PredictOptions":
        """The options from ``sijscan predict``'s parsed flags (attributes named like the fields)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> "PredictOptions":
        """The options from keyword arguments named like the fields; an unknown name is a ``PredictUsageError``."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise PredictUsageError(f"unknown option(s) {', '.join(unknown)}; the options are: {', '.join(names)}")
        return cls(**values)

    @property
    def world(self) -> int:
        """The number of processes asked for (devices x nodes)."""
        return self.devices * self.num_nodes

    @property
    def rank_files(self) -> bool:
        """Rows go to ``ranks/predictions.rank<R>.csv`` first (several processes, or the DataLoader reader)."""
        return self.world > 1 or self.loader_workers is not None

    def check(self) -> None:
        """Raise ``PredictUsageError`` for options that cannot work (one line naming them)."""
        if self.batch_size < 1 or self.workers < 1:
            raise PredictUsageError("--batch-size and --workers must be >= 1")
        if self.devices < 1 or self.num_nodes < 1 or (self.loader_workers is not None and self.loader_workers < 0):
            raise PredictUsageError("--devices and --num-nodes must be >= 1, --loader-workers >= 0")
        if self.threads is not None and self.threads < 1:
            raise PredictUsageError("threads must be >= 1")
        if self.backend not in ("torch", "onnx"):
            raise PredictUsageError(f"--backend must be torch or onnx, got {self.backend!r}")
        if self.gradcam and self.backend == "onnx":
            raise PredictUsageError("--gradcam needs gradients: use --backend torch (ONNX runs inference only)")
        if self.masks is not None and not os.path.isdir(self.masks):
            raise PredictUsageError(f"--masks {self.masks}: not a folder")
        if self.world > 1 and self.device not in ("auto", "cpu", "cuda"):
            raise PredictUsageError(f"with --devices/--num-nodes, --device must be auto, cpu or cuda "
                                    f"(choose GPUs with CUDA_VISIBLE_DEVICES), got {self.device!r}")

    def settings(self) -> dict[str, Any]:
        """The result-changing options, recorded in ``run.json`` beside the models (a resume must match)."""
        return {"backend": self.backend, "fast": self.fast}
