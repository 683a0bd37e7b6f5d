"""Compute budgets of the Table 5 grid: every cell of one budget trains with the same settings.

A :class:`Budget` is a list of ``key=value`` overrides of :meth:`TrainConfig.quick` (the same
strings ``decomr train`` takes), the training seeds, and the size of the synthetic test split.
The grid's cells then only set ``model.atlas``, ``model.lnet_input`` and ``train.seed``, so the
eight variants of Table 5 see the same data, the same number of images and the same schedule.

=========  =========================================================================================
budget     what it is for
=========  =========================================================================================
``quick``  tests and notebook 07 in quick mode: a tiny model for a few steps (the whole grid in
           under a minute on a 2-core CPU). It checks the pipeline; its numbers mean nothing.
``cpu``    the grid on this 2-core CPU: ResNet-18 on 64 px crops, 64 px location maps, 300 steps of
           batch 16 per run, seed 0 for every cell and seeds 1, 2 more for the decisive pair
           (continuous vs default atlas, local + global input). Measured here on a CPU shared with
           other jobs: 2-5 minutes a run, 46 minutes for all 12 runs (the 8-cell grid alone about 20-30).
           After 4,800 images every variant is still on the mean-pose plateau (PA-MPJPE worse than
           the template body): the grid runs at a real size but cannot separate the LNet inputs.
``cpu128`` the grid on this 2-core CPU at the size of the released model (``configs/cpu.yaml``):
           ResNet-18 on 128 px crops, 64 px location maps, 1,000 + 5,000 steps of batch 32
           (192,000 images), bf16 autocast and channels-last where the CPU computes bf16 natively.
           Every cell reads one pre-rendered cache of 40,000 people holding the IUV images on both
           atlases (``data/synthetic/table5-cpu128``, rendered once, 11 minutes). About 1 h 30 min
           a run here (stage 1 at 57 images/s, stage 2 at 35), 12 runs in all (~18 CPU hours):
           a grid of several sessions, resumed run by run (``--max-minutes``, ``--status``).
           Sized so that a cell beats the template body clearly: its first run (default atlas,
           local + global) reached 0.58x the template's PA-MPJPE (the released model, 3,000
           steps, 0.67x).
``gpu``    one H100: the quick architecture on 128 px crops with 128 px location maps (the
           paper's map size), batch 128, 250 + 1000 steps per run (about 2 minutes each at the
           ~1,300 images/s assumed), 3 seeds for the decisive pair; resumable in 9-minute chunks.
=========  =========================================================================================
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget", "BUDGETS", "get_budget"]


@dataclass(frozen=True)
class Budget:
    """How every run of the Table 5 grid is trained and evaluated.

    Attributes:
        name: ``"quick"``, ``"cpu"``, ``"cpu128"`` or ``"gpu"``: also the folder ``runs/table5/<name>``.
        overrides: ``key=value`` strings applied to :meth:`TrainConfig.quick` (model size, data
            sizes, steps, device, ...). They never set ``model.atlas``, ``model.lnet_input`` or
            ``train.seed``: the grid does.
        seeds: training seeds of every cell (model initialisation and data order).
        decisive_seeds: extra seeds trained only for the decisive pair (both atlases with the
            ``local+global`` input), so that its comparison has a mean ± std.
        test_size: synthetic test samples each run is evaluated on (the same images for all).
        eval_batch_size: evaluation batch size.
        device: ``"cpu"`` or ``"cuda"`` (evaluation; training follows ``train.device``).
        description: one line for the reports.
        eval_workers: DataLoader workers rendering the test images during evaluation.
    """

    name: str
    overrides: tuple[str, ...]
    seeds: tuple[int, ...]
    decisive_seeds: tuple[int, ...]
    test_size: int
    eval_batch_size: int
    device: str
    description: str
    eval_workers: int = 0

    def __post_init__(self) -> None:
        reserved = ("model.atlas=", "model.lnet_input=", "train.seed=", "train.out_dir=", "name=")
        bad = [o for o in self.overrides if o.startswith(reserved)]
        if bad:
            raise ValueError(f"Budget.overrides: the grid sets atlas, LNet input, seed, folder and name itself; got {bad}")
        if not self.seeds:
            raise ValueError("Budget.seeds: expected at least one seed")
        if self.test_size < 1:
            raise ValueError(f"Budget.test_size: expected >= 1, got {self.test_size}")


# Settings shared by the CPU budgets: one thread trains while one DataLoader worker renders the
# next batch (2 shared cores), no TensorBoard, evaluation only at the end of each run.
_CPU_RUNTIME = (
    "train.device=cpu", "train.amp=false", "train.channels_last=false", "train.pipeline=loader",
    "train.num_workers=1", "train.cpu_threads=1", "train.tensorboard=false", "train.image_every=0",
    "train.eval_every=0",
)

BUDGETS: dict[str, Budget] = {
    "quick": Budget(
        name="quick",
        overrides=(
            # tiny model: ResNet-18 on 64 px crops, 16 px IUV, 16-cell UV grid, 32 px location maps
            "model.img_size=64", "model.iuv_size=16", "model.uv_grid=16", "model.map_size=32", "model.lnet_levels=2",
            "data.synthetic.train_size=64", "data.synthetic.val_size=4", "data.synthetic.test_size=8",
            "train.batch_size=4", "train.stage1_steps=2", "train.stage2_steps=4",
            "train.log_every=2", "train.ckpt_every=1000", "train.eval_batches=1", *_CPU_RUNTIME,
            "train.num_workers=0",  # no worker process: starting one costs more than these few steps
        ),
        seeds=(0,), decisive_seeds=(), test_size=8, eval_batch_size=8, device="cpu",
        description="smoke test: ResNet-18, 64 px crops, 32 px location maps, 2 + 4 steps of batch 4 "
                    "(checks the pipeline; the numbers mean nothing)",
    ),
    "cpu": Budget(
        name="cpu",
        overrides=(
            # ResNet-18 on 64 px crops, 16 px IUV, 16-cell UV grid, 64 px location maps (the
            # round trip mesh -> map -> mesh costs 9 mm on the continuous atlas at 64 px, 24 at 32)
            "model.img_size=64", "model.iuv_size=16", "model.uv_grid=16", "model.map_size=64", "model.lnet_levels=2",
            "data.synthetic.train_size=20000", "data.synthetic.val_size=32", "data.synthetic.test_size=256",
            "train.batch_size=16", "train.lr=1e-3", "train.stage1_steps=60", "train.stage2_steps=240",
            "train.log_every=20", "train.ckpt_every=100", "train.eval_batches=2", *_CPU_RUNTIME,
        ),
        seeds=(0,), decisive_seeds=(1, 2), test_size=256, eval_batch_size=32, device="cpu",
        description="2-core CPU: ResNet-18 from scratch, 64 px crops, 64 px location maps, 60 + 240 steps "
                    "of batch 16 (4,800 images), Adam lr 1e-3",
    ),
    "cpu128": Budget(
        name="cpu128",
        overrides=(
            # configs/cpu.yaml's model and recipe (TrainConfig.quick()'s architecture at 128 px), longer
            "data.synthetic.train_size=40000", "data.synthetic.val_size=256", "data.synthetic.test_size=1000",
            "data.cache=synthetic/table5-cpu128",  # one cache for every cell: IUV images on both atlases
            "train.batch_size=32", "train.lr=1e-3", "train.lr_schedule=cosine", "train.min_lr=2e-5",
            "train.warmup_steps=300", "train.stage1_steps=1000", "train.stage2_steps=5000",
            "train.device=cpu", "train.amp=true", "train.channels_last=true", "train.pipeline=loader",
            "train.num_workers=0", "train.cpu_threads=2", "train.tensorboard=false", "train.image_every=0",
            "train.log_every=25", "train.ckpt_every=250", "train.eval_every=1000", "train.eval_batches=8",
        ),
        seeds=(0,), decisive_seeds=(1, 2), test_size=1000, eval_batch_size=50, device="cpu",
        description="2-core CPU at the released model's size: ResNet-18 from scratch, 128 px crops, 64 px location "
                    "maps, 1,000 + 5,000 steps of batch 32 (192,000 images) from one shared cache, Adam lr 1e-3 "
                    "with warm-up and cosine decay, bf16 autocast",
    ),
    "gpu": Budget(
        name="gpu",
        overrides=(
            # the quick widths at 128 px crops, 32 px IUV, 32-cell UV grid, 128 px location maps
            "model.img_size=128", "model.iuv_size=32", "model.uv_grid=32", "model.map_size=128",
            "data.synthetic.train_size=200000", "data.synthetic.val_size=256", "data.synthetic.test_size=1000",
            "train.batch_size=128", "train.lr=5e-4", "train.stage1_steps=250", "train.stage2_steps=1000",
            "train.device=cuda", "train.amp=true", "train.channels_last=true", "train.pipeline=auto",
            "train.num_workers=8", "train.cpu_threads=0", "train.tensorboard=false", "train.image_every=0",
            "train.log_every=50", "train.ckpt_every=250", "train.eval_every=0", "train.eval_batches=2",
        ),
        seeds=(0,), decisive_seeds=(1, 2), test_size=1000, eval_batch_size=125, device="cuda",
        description="one H100: ResNet-18 from scratch, 128 px crops, 128 px location maps, 250 + 1000 steps "
                    "of batch 128 (160,000 images), Adam lr 5e-4, bf16",
        eval_workers=8,
    ),
}


def get_budget(name: str | Budget) -> Budget:
    """The budget called ``name`` (a :class:`Budget` is returned as is).

    Raises:
        ValueError: unknown name (the message lists the budgets).
    """
    if isinstance(name, Budget):
        return name
    if name not in BUDGETS:
        raise ValueError(f"budget: expected one of {tuple(BUDGETS)}, got {name!r}")
    return BUDGETS[name]
