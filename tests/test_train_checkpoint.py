"""Tests for decomr.train.checkpoint: atomic writes, RNG states, weights_only loading, releases, the one
loader of releases / training checkpoints / run folders and its one error type."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from decomr.models import DecoMR
from decomr.train import checkpoint as ck
from decomr.train.config import TrainConfig
from decomr.uv import load_atlas
from tests.helpers import assert_close
from tests.train_helpers import TINY_MODEL, tiny_config, one_thread  # noqa: F401 (autouse)


def _draw() -> tuple:
    return random.random(), float(np.random.rand()), float(np.random.randn()), torch.rand(3).tolist()


def test_rng_state_round_trip_restores_every_stream():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    state = ck.get_rng_state()
    first = _draw()
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    ck.set_rng_state(state)
    assert _draw() == first


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ck.atomic_torch_save({"a": torch.ones(2)}, path)

    def broken_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ck.atomic_torch_save({"a": torch.zeros(2)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["a"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


@pytest.fixture(scope="module")
def tiny_model(anny_body):
    torch.manual_seed(0)
    return DecoMR(TINY_MODEL, anny_body, load_atlas(anny_body, "continuous"))


def test_checkpoint_round_trip_with_weights_only(tmp_path, tiny_model):
    config = tiny_config(tmp_path, name="ck")
    opt = torch.optim.Adam(tiny_model.parameters(), lr=1e-3)
    tiny_model(torch.rand(2, 3, 64, 64)).location_map.square().mean().backward()
    opt.step()
    path = ck.save_checkpoint(tmp_path / "last.pt", model=tiny_model, optimizer=opt, config=config, step=7, stage=2,
                              best_metric=12.5, best_step=5, extra={"note": "x"})
    loaded = ck.load_checkpoint(tmp_path)  # a run folder means its last.pt
    assert loaded.path == path and loaded.config == config
    assert (loaded.step, loaded.stage, loaded.best_metric, loaded.best_step) == (7, 2, 12.5, 5)
    assert loaded.extra == {"note": "x"} and set(loaded.rng) == {"python", "numpy", "torch", "cuda"}
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(loaded.model[k], v), k
    opt2 = torch.optim.Adam(tiny_model.parameters(), lr=1e-3)
    opt2.load_state_dict(loaded.optimizer)
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        ck.load_checkpoint(tmp_path / "missing.pt")
    torch.save({"format": "something-else"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a DecoMR checkpoint"):
        ck.load_checkpoint(tmp_path / "x.pt")
    (tmp_path / "y.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable decomr checkpoint"):
        ck.load_checkpoint(tmp_path / "y.pt")


def test_release_is_fp16_without_derived_buffers_and_reloads(tmp_path, tiny_model, anny_body):
    config = tiny_config(tmp_path, name="rel")
    ck.save_checkpoint(tmp_path / "last.pt", model=tiny_model, optimizer=None, config=config, step=3, stage=2,
                       body=anny_body)
    release = ck.export_release(tmp_path / "last.pt", tmp_path / "release.pt", metrics={"pve": 1.0})
    data = torch.load(release, weights_only=True)
    assert data["format"] == ck.RELEASE_FORMAT and data["metrics"] == {"pve": 1.0}
    assert (data["body"], data["num_vertices"], data["mesh_hash"]) == ("anny", anny_body.num_vertices,
                                                                       anny_body.mesh_hash())
    assert not any(k.startswith("sampler.") for k in data["model"])
    assert all(v.dtype == torch.float16 for v in data["model"].values() if v.is_floating_point())
    n_params = sum(p.numel() for p in tiny_model.parameters())
    assert ck.release_size_bytes(tiny_model) >= 2 * n_params
    assert release.stat().st_size < 2.2 * ck.release_size_bytes(tiny_model) + 1e6
    with pytest.raises(ValueError, match="cannot be resumed"):
        ck.load_checkpoint(release)

    loaded = ck.load_model(release, body=anny_body)
    assert loaded.step == 3 and loaded.stage == 2 and not loaded.model.training
    images = torch.rand(2, 3, 64, 64)
    tiny_model.eval()
    with torch.no_grad():
        ref, got = tiny_model(images), loaded.model(images)
    assert_close(got.location_map, ref.location_map, atol=5e-2 * float(ref.location_map.abs().max()) + 1e-3)
    assert_close(got.vertices, ref.vertices, atol=5e-2 * float(ref.vertices.abs().max()) + 1e-3)
    full = ck.load_model(tmp_path, body=anny_body)  # the fp32 training checkpoint is exact
    with torch.no_grad():
        assert_close(full.model(images).vertices, ref.vertices, atol=1e-5)
    bad = dict(data, mesh_hash="0" * 16)
    torch.save(bad, tmp_path / "other_mesh.pt")
    with pytest.raises(ValueError, match="another version of the 'anny' mesh"):
        ck.load_model(tmp_path / "other_mesh.pt", body=anny_body)


def test_unwrap_model_removes_wrappers(tiny_model):
    class Compiled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self._orig_mod = m

    assert ck.unwrap_model(Compiled(tiny_model)) is tiny_model
    assert ck.unwrap_model(tiny_model) is tiny_model


def _vertices(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))).vertices


def test_one_loader_reads_releases_training_checkpoints_and_run_folders(tmp_path, tiny_model, anny_body):
    config = tiny_config(tmp_path / "run", name="one")
    last = ck.save_checkpoint(tmp_path / "run" / "last.pt", model=tiny_model, optimizer=None, config=config,
                              step=6, stage=2, body=anny_body)
    exported = ck.export_release(last, tmp_path / "exported.pt")
    from_model = ck.save_model_release(tmp_path / "from_model.pt", tiny_model, anny_body, step=9,
                                       dtype=torch.float32)
    ref = _vertices(tiny_model)
    for path, fmt, step, atol in ((last, "train", 6, 1e-5), (tmp_path / "run", "train", 6, 1e-5),
                                  (exported, "release", 6, 5e-2 * float(ref.abs().max())),
                                  (from_model, "release", 9, 1e-5)):
        info = ck.read_checkpoint(path)
        assert (info.format, info.step, info.stage, info.body) == (fmt, step, 2, "anny"), path
        assert info.config == TINY_MODEL and info.num_vertices == anny_body.num_vertices
        loaded = ck.load_model(path, body=anny_body)
        assert loaded.path == info.path and (loaded.step, loaded.stage) == (step, 2)
        assert loaded.config.model == TINY_MODEL and loaded.config.body == "anny"
        assert not loaded.model.training
        assert_close(_vertices(loaded.model), ref, atol=atol)
    assert ck.load_model(tmp_path / "run", body=anny_body).path == last
    assert ck.load_model(exported, body=anny_body).config == config  # the whole training config travels
    # a release written from a model stores body + model only: the rest of its training config are defaults
    partial, default = ck.load_model(from_model, body=anny_body).config, TrainConfig()
    assert (partial.name, partial.body, partial.model) == (default.name, "anny", TINY_MODEL)
    assert partial.train == default.train and partial.loss == default.loss
    (tmp_path / "run" / "best.pt").write_bytes(from_model.read_bytes())
    assert ck.load_model(tmp_path / "run", body=anny_body).step == 9  # a run folder prefers best.pt
    assert ck.load_checkpoint(tmp_path / "run").path == last  # ... but resuming continues last.pt


def test_every_unusable_file_raises_the_one_error_type(tmp_path, tiny_model, anny_body):
    missing = tmp_path / "missing.pt"
    for load in (ck.read_checkpoint, ck.load_model, ck.load_checkpoint):
        with pytest.raises(ck.CheckpointNotFoundError, match="missing.pt: no such checkpoint file") as err:
            load(missing)
        assert isinstance(err.value, ck.CheckpointError) and isinstance(err.value, FileNotFoundError)
        assert "decomr train --config" in str(err.value)  # the fix
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    text = tmp_path / "config.yaml"
    text.write_text("model:\n  backbone: resnet18\n")
    for path in (junk, text):
        for load in (ck.read_checkpoint, ck.load_model, ck.load_checkpoint):
            with pytest.raises(ck.CheckpointError, match=f"{path.name}: not a readable decomr checkpoint") as err:
                load(path)
            assert "weights_only" not in str(err.value) and err.value.__cause__ is None
            assert not isinstance(err.value, FileNotFoundError)
    weights = tmp_path / "weights.pt"
    torch.save(tiny_model.state_dict(), weights)  # a bare state dict: the wrong kind of file
    with pytest.raises(ck.CheckpointError, match=r"weights.pt: not a DecoMR checkpoint \(expected a dict with"):
        ck.load_model(weights)
    release = ck.save_model_release(tmp_path / "release.pt", tiny_model, anny_body)
    with pytest.raises(ck.CheckpointError, match="release.pt: a release .* cannot be resumed"):
        ck.load_checkpoint(release)
    plain = tmp_path / "plain.pt"
    torch.save({"config": TINY_MODEL.to_dict(), "model": tiny_model.state_dict()}, plain)
    with pytest.raises(ck.CheckpointError, match="plain.pt: a weights-only file cannot be resumed"):
        ck.load_checkpoint(plain)
    assert ck.load_model(plain, body=anny_body).config.model == TINY_MODEL  # but it loads for inference


def test_load_model_warns_for_an_edited_input_size_not_for_stage_1(tmp_path, tiny_model, anny_body):
    import warnings

    path = ck.save_model_release(tmp_path / "r.pt", tiny_model, anny_body, stage=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ck.load_model(path, body=anny_body).stage == 1  # callers check .stage themselves
    data = torch.load(path, weights_only=True)
    data["config"]["model"]["img_size"], data["config"]["model"]["iuv_size"] = 96, 24
    torch.save(data, path)
    with pytest.warns(UserWarning, match="r.pt: its config says 96 px crops, but the weights were trained on 64"):
        loaded = ck.load_model(path, body=anny_body)
    assert loaded.model.config.img_size == loaded.config.model.img_size == 96
