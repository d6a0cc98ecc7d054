"""The anatomy-aware model trained with several seeds: each seed's predictions and AUC per evaluation set.

The first seed's model, or with ``classifiers.ensemble`` the seeds' ensemble ("ensemble"), is THE
anatomy-aware model of the study (compared with the standard model); the others run on the same crops (the first model's segmentation and SIJ boxes, so only the
classifier differs) to show how far the result moves with the training seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sijscan.stats.delong import delong_ci


def predict_other_seeds(preds: Sequence[Any], *, models: dict[str, Any], first: str, out_dir: Path,
                        set_name: str, spec: Any = None) -> dict[str, str]:
    """Classify the crops of ``preds`` (the first seed's pipeline output) with every other seed's model (a
    model folder or a loaded ``ClassifierModel``); one CSV per seed (image, probability); returns seed -> CSV path.
    ``spec``: the first model's preprocessing; a seed with the same one classifies the model inputs the
    pipeline already made (CLAHE and resizing once per crop, not once per seed)."""
    import pandas as pd

    from sijscan.classify.predict import classify_views  # lazy: torch

    keep = [p for p in preds if p.error is None and p.images is not None and p.images.crop is not None]
    ready = spec is not None and all(p.images.model_input is not None for p in keep)
    views = [p.images.model_input if ready else p.images.crop for p in keep]
    paths = {}
    for seed, folder in models.items():
        if seed == first:
            continue
        out = classify_views(folder, views, batch_size=16, preprocessed_as=spec if ready else None)
        df = pd.DataFrame({"image": [p.image for p in keep], "probability": [v.probability for v in out]})
        path = out_dir / f"anatomy-seed{seed}" / f"{set_name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False)
        paths[seed] = str(path)
    return paths


def seed_aucs(*, first_predictions: dict[str, str], other: dict[str, dict[str, str]], sets: dict[str, str],
              first: str) -> dict[str, dict[str, Any]]:
    """Per evaluation set and seed: AUC with its DeLong 95% CI, on the images the study analysed; ``spread``:
    max - min over the single seeds (an ensemble, key "ensemble", is not one)."""
    import pandas as pd

    from sijscan.io.manifest import read_manifest  # lazy: pandas

    out: dict[str, dict[str, Any]] = {}
    for name, manifest in sets.items():
        truth = read_manifest(manifest, check_files=False)[["image", "label"]]
        truth["image"] = truth["image"].astype(str)
        analysed = set(pd.read_csv(first_predictions[name])["image"].astype(str))
        files = {first: first_predictions[name], **{s: p[name] for s, p in other.items() if name in p}}
        out[name] = {}
        for seed, path in files.items():
            df = pd.read_csv(path)
            df = df[df["image"].astype(str).isin(analysed)].merge(truth, on="image", how="inner")
            y, p = df["label"].to_numpy(int), df["probability"].to_numpy(float)
            if len(y) == 0 or y.min() == y.max():
                out[name][seed] = {"auc": None, "auc_ci": None, "n": int(len(y))}
                continue
            ci = delong_ci(y_true=y, scores=p)
            out[name][seed] = {"auc": float(ci.auc), "auc_ci": [float(v) for v in ci.ci], "n": int(len(y))}
        aucs = [v["auc"] for k, v in out[name].items() if v["auc"] is not None and k != "ensemble"]
        out[name]["spread"] = float(np.ptp(aucs)) if aucs else None
    return out
