"""The runner's reader: input files -> batches of read (and segmenter-prepared) radiographs.

:class:`RadiographDataset` reads one item: the radiograph (``to_radiograph``: decode, LUTs, [0, 1]
pixels), then either the user's own label map (the item has a mask: the segmenter is skipped) or
the segmenter's input (:func:`sijscan.anatomy.segment.prepare_input`, the same call
:meth:`Segmenter.run` makes). A file that cannot be read becomes a :class:`LoadedImage` with
``error`` set (one line): a bad file never stops the reader.

Two ways to run it, same batches (:class:`LoaderBatch`): :func:`thread_batches` (``workers``
threads in this process, the default) and :func:`make_loader` (a torch DataLoader with worker
processes, ``--loader-workers``). Pixels travel as torch tensors, so the DataLoader hands them over
through shared memory instead of pickling 14 MB per 2048 px radiograph. :class:`LoaderBatch` pins
only the small segmenter input (``pin_memory=True`` would otherwise copy every full-size
radiograph into page-locked memory).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from sijscan.anatomy.recipes import parse_segmenter_recipe
from sijscan.anatomy.segment import SegmenterInput, prepare_input
from sijscan.errors import SijscanError, one_line
from sijscan.io import Radiograph
from sijscan.io.labelmap import read_label_map
from sijscan.predict import pipeline as pipeline_module  # to_radiograph (looked up per call): source -> Radiograph

log = logging.getLogger(__name__)


@dataclass
class LoadedImage:
    """One input as a worker left it: pixels + segmenter input, or the reason it failed."""

    index: int
    """Position in the dataset's item list (the order of ``collect_inputs``)."""
    image: str
    pixels: torch.Tensor | None = None
    seg_input: SegmenterInput | None = None
    """What the segmenter's network takes (working size); None without a segmenter, with a mask or on error."""
    mask: torch.Tensor | None = None
    """uint8 (H, W): the user's own label map for this image (the segmenter is skipped)."""
    radiograph_fields: dict[str, Any] = field(default_factory=dict)
    """Every ``Radiograph`` init field except ``pixels`` (source format, windowing, ...)."""
    error: str | None = None
    read_s: float = 0.0

    def radiograph(self) -> Any:
        """The ``Radiograph`` again (pixels shared with the tensor, no copy)."""
        if self.pixels is None:
            raise ValueError(f"{self.image}: no pixels (failed input)")
        return Radiograph(pixels=self.pixels.cpu().numpy(), **self.radiograph_fields)  # .cpu(): no-op on the host


@dataclass
class LoaderBatch:
    """A collated batch: the images in order and the stacked segmenter input of those without error."""

    images: list[LoadedImage]
    seg_input: torch.Tensor | None
    """(n_ok, 1, h, w): the stacked ``SegmenterInput.tensor``; row k belongs to ``images[seg_rows[k]]``."""
    seg_rows: list[int]

    def pin_memory(self) -> "LoaderBatch":  # called by the DataLoader's pinning thread
        if self.seg_input is not None:
            self.seg_input = self.seg_input.pin_memory()
        return self


class RadiographDataset(torch.utils.data.Dataset):
    """Items (``InputItem``: path, name, mask) -> :class:`LoadedImage`; ``recipe`` is the segmenter's (or None)."""

    def __init__(self, items: Sequence[Any], *, recipe: dict[str, Any] | None) -> None:
        self.items = list(items)
        self.recipe = dict(recipe) if recipe is not None else None
        if recipe is not None:
            self.spec = parse_segmenter_recipe(recipe)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> LoadedImage:
        item = self.items[index]
        out = LoadedImage(index=int(index), image=item.image)
        t0 = time.perf_counter()
        try:
            radiograph = pipeline_module.to_radiograph(item.path)
            if item.mask is not None:
                out.mask = torch.from_numpy(np.ascontiguousarray(read_label_map(item.mask), dtype=np.uint8))
            elif self.recipe is not None:
                out.seg_input = prepare_input(radiograph, self.spec)
        except SijscanError as exc:
            out.error = one_line(exc)
            return out
        except (OSError, ValueError, MemoryError) as exc:  # a decoder failing in an unforeseen way
            log.warning("%s: unexpected read failure: %s", item.image, one_line(exc))
            out.error = one_line(exc)
            return out
        out.read_s = time.perf_counter() - t0
        out.pixels = torch.from_numpy(np.ascontiguousarray(radiograph.pixels))
        out.radiograph_fields = {f.name: getattr(radiograph, f.name) for f in dataclasses.fields(radiograph)
                                 if f.init and f.name != "pixels"}
        return out


def collate_images(images: list[LoadedImage]) -> LoaderBatch:
    """Keep the images as they are; stack the segmenter inputs of the readable ones."""
    rows = [i for i, im in enumerate(images) if im.seg_input is not None]
    seg = torch.stack([images[i].seg_input.tensor for i in rows]) if rows else None  # type: ignore[union-attr]
    return LoaderBatch(images=list(images), seg_input=seg, seg_rows=rows)


def worker_init(_worker_id: int) -> None:
    """One thread per worker: K workers on K cores, no oversubscription."""
    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass


def thread_batches(dataset: RadiographDataset, *, indices: Sequence[int], batch_size: int,
                   workers: int) -> Iterator[LoaderBatch]:
    """Batches of ``indices`` of ``dataset`` in that order, read up to ``2 x workers`` items ahead on
    ``workers`` threads (1: in this thread); decoders, LUTs and resizing release the GIL."""
    indices = list(indices)

    def batches(read: Iterator[LoadedImage]) -> Iterator[LoaderBatch]:
        chunk: list[LoadedImage] = []
        for image in read:
            chunk.append(image)
            if len(chunk) == batch_size:
                yield collate_images(chunk)
                chunk = []
        if chunk:
            yield collate_images(chunk)

    if workers <= 1:
        yield from batches(dataset[i] for i in indices)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sijscan-read") as pool:
        window = 2 * workers
        futures = [pool.submit(dataset.__getitem__, i) for i in indices[:window]]

        def in_order() -> Iterator[LoadedImage]:
            for k in range(len(indices)):
                if k + window < len(indices):
                    futures.append(pool.submit(dataset.__getitem__, indices[k + window]))
                yield futures[k].result()

        yield from batches(in_order())


def make_loader(dataset: RadiographDataset, *, indices: Sequence[int], batch_size: int, workers: int,
                pin_memory: bool) -> torch.utils.data.DataLoader:
    """A DataLoader over ``indices`` of ``dataset`` (this rank's shard), in that order."""
    kwargs: dict[str, Any] = {}
    if workers > 0:
        # spawn, not fork: a forked worker can inherit a lock held by one of the parent's OpenCV/OpenMP
        # threads and hang (seen here), and CUDA must not be forked
        kwargs.update(worker_init_fn=worker_init, prefetch_factor=4, persistent_workers=False,
                      multiprocessing_context="spawn")
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=list(indices), num_workers=workers, collate_fn=collate_images,
        pin_memory=pin_memory, **kwargs)
