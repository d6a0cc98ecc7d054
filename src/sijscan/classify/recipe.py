"""Training recipes: the paper's progressive-resizing table and a tiny ``quick`` one (same code path)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sijscan.classify.augment import APPEARANCE, ELASTIC, TILE_MIX, AugmentSpec
from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.processing import PROCESSING, ProcessingSpec

GRADE_POOLS = ("global", "sides")
"""What a grade head can read per side (:class:`Recipe` ``grade_pool``; :mod:`sijscan.classify.networks`)."""


@dataclass(frozen=True)
class Stage:
    height: int
    width: int
    batch_size: int
    head_epochs: int
    head_lr: float
    all_epochs: int
    all_lr: float


@dataclass(frozen=True)
class Recipe:
    name: str
    arch: str
    stages: tuple[Stage, ...]
    label_smoothing: float = 0.01
    mixup_alpha: float = 0.4
    weight_decay: float = 1e-4
    lr_block_factor: float = 0.9
    """Going from the head back to conv1, each top-level block's rate is multiplied by this."""
    dropout: float = 0.5
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    domain_weight: float = 0.0
    """> 0: anatomy-adversarial training (:mod:`sijscan.classify.domain`): a head behind a gradient
    reversal learns which anatomy (real CT, or the procedural phantom) each training view shows, and
    the features are pushed to hide it, with this weight in the loss."""
    processing: ProcessingSpec | None = None
    """Re-processed variants of every training view (:mod:`sijscan.classify.processing`); None: off."""
    grade_pool: str = "global"
    """What the grade head reads per side: "global" (the whole view's pooled features) or "sides" (each
    side's half of the feature map: :mod:`sijscan.classify.networks`)."""

    @property
    def final_size(self) -> tuple[int, int]:
        return self.stages[-1].height, self.stages[-1].width

    def phases(self) -> list[dict[str, object]]:
        """Flat list of (stage, phase) steps in training order; phase 'head' then 'all'."""
        out: list[dict[str, object]] = []
        for i, st in enumerate(self.stages):
            for phase, epochs, lr in (("head", st.head_epochs, st.head_lr), ("all", st.all_epochs, st.all_lr)):
                if epochs > 0:
                    out.append({"index": len(out), "stage": i, "phase": phase, "epochs": epochs, "max_lr": lr,
                                "height": st.height, "width": st.width, "batch_size": st.batch_size})
        return out

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["stages"] = [asdict(s) for s in self.stages]
        d["augment"] = self.augment.to_json()
        d["processing"] = None if self.processing is None else self.processing.to_json()
        return d


PAPER = Recipe(
    name="paper", arch="resnet50-sij",
    stages=(
        Stage(106, 158, 64, 15, 2e-2, 10, 1e-3),
        Stage(208, 314, 64, 15, 1e-2, 10, 1e-3),
        Stage(312, 472, 64, 15, 1e-2, 15, 1e-3),
        Stage(416, 628, 32, 15, 1e-2, 25, 1e-3),
    ),
)

QUICK = Recipe(
    name="quick", arch="resnet50-sij",
    stages=(Stage(32, 48, 8, 1, 1e-2, 1, 1e-3), Stage(64, 96, 8, 1, 1e-2, 1, 1e-3)),
)

CPU = Recipe(
    name="cpu", arch="tiny-resnet",
    stages=(Stage(96, 144, 16, 0, 1e-2, 10, 2e-3),),
)
"""What the demo trains on a CPU in minutes: one stage at 96 x 144, batch 16 (the joint-pair view of a 1024 px
phantom radiograph keeps about 1 mm per pixel there: configs/demo.yaml), 10 epochs, all layers from the
first epoch (with random init a head-only phase would only fit a head to random features), a
ResNet-10-sized network."""

RECIPES = {"paper": PAPER, "quick": QUICK, "cpu": CPU}


def with_augment(recipe: Recipe, *, appearance: bool = False, elastic: bool = False, tile_mix: bool = False,
                 processing: bool = False) -> Recipe:
    """``recipe`` with appearance randomisation (:data:`sijscan.classify.augment.APPEARANCE`), the smooth
    deformation (:data:`~sijscan.classify.augment.ELASTIC`), joint mixing (:data:`~sijscan.classify.augment.TILE_MIX`)
    and vendor-processing variants (:data:`sijscan.classify.processing.PROCESSING`) turned on as asked."""
    from dataclasses import replace

    on = {**(APPEARANCE if appearance else {}), **(ELASTIC if elastic else {}), **(TILE_MIX if tile_mix else {})}
    recipe = replace(recipe, augment=replace(recipe.augment, **on)) if on else recipe
    return replace(recipe, processing=PROCESSING) if processing else recipe


def get_recipe(name: str, *, arch: str | None = None) -> Recipe:
    if name not in RECIPES:
        raise ClassifierInputError(f"unknown recipe {name!r}; use one of: {', '.join(RECIPES)}")
    r = RECIPES[name]
    if arch is not None and arch != r.arch:
        from dataclasses import replace

        r = replace(r, arch=arch)
    return r
