"""Training DecoMR (Sec. 3.4): config, loop, checkpoints, multi-GPU.

- :mod:`decomr.train.config`      :class:`TrainConfig` (model + loss + data + train sections), YAML
  files, typed ``key=value`` overrides
- :mod:`decomr.train.loop`        :func:`lr_at`, :func:`train_step`, :func:`evaluate`, :func:`train`
- :mod:`decomr.train.fit`         :func:`fit`: a short training on in-memory batches (the notebooks' experiments)
- :mod:`decomr.train.errors`      per-sample errors reported in training and evaluation, the template baseline
- :mod:`decomr.train.targets`     ground truth on the fly (GT location maps, joint sets, GT IUV)
- :mod:`decomr.train.data`        per-step deterministic, sharded, resumable batches (two pipelines)
- :mod:`decomr.train.checkpoint`  checkpoint and release files: format, atomic writing, :func:`load_model`, errors
- :mod:`decomr.train.distributed` ``torchrun`` + DDP helpers
- ``decomr train``: :mod:`decomr.cli.train`; why a run does (not) learn: :mod:`decomr.eval.diagnose`

Typical use::

    from decomr.train import load_config, train
    result = train(load_config("quick", ["train.stage2_steps=100"]))
    result.run_dir    # runs/quick: config.yaml, last.pt, best.pt, metrics.jsonl, tb/

Names are imported lazily (``import decomr.train`` stays light).
"""
from __future__ import annotations

from decomr._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "decomr.train.config": ("TrainConfig", "OptimConfig", "DataConfig", "SyntheticSection", "AugmentSection",
                            "apply_overrides", "load_config", "save_config", "describe_config", "config_keys",
                            "DUPLICATE_KEYS"),
    "decomr.train.loop": ("lr_at", "train_step", "StepResult", "NonFiniteLossError", "evaluate", "EvalResult",
                          "train", "TrainResult", "RunExistsError", "ResumeMismatchError"),
    "decomr.train.targets": ("make_targets", "BatchTargets", "fit_weak_perspective"),
    "decomr.train.data": ("StepBatchSampler", "SeededDataset", "build_train_dataset", "build_test_dataset",
                          "build_test_loader", "build_train_source"),
    "decomr.train.checkpoint": ("save_checkpoint", "load_checkpoint", "Checkpoint", "export_release", "load_model",
                                "LoadedModel", "release_size_bytes", "CheckpointError", "CheckpointNotFoundError",
                                "CheckpointInfo", "find_checkpoint", "read_checkpoint", "build_model",
                                "save_model_release"),
    "decomr.train.distributed": ("DistInfo", "init_distributed", "wrap_ddp"),
    "decomr.train.fit": ("fit", "score_batches", "mesh_errors"),
    "decomr.train.errors": ("batch_errors", "template_errors"),
}
__all__, __getattr__, __dir__ = lazy_exports("decomr.train", globals(), _EXPORTS)
