"""Tests for the command lines `decomr train` (decomr.cli.train) and `decomr eval` (decomr.cli.eval)."""
from __future__ import annotations

import json

import torch
import yaml

from decomr.cli.eval import eval_main
from decomr.train.checkpoint import RELEASE_FORMAT, load_checkpoint
from decomr.cli.train import train_main
from decomr.train.config import save_config
from tests.train_helpers import tiny_config, one_thread  # noqa: F401 (autouse)


def test_show_config_prints_the_resolved_config(capsys):
    assert train_main(["--config", "quick", "--show-config", "train.lr=1e-3", "model.img_size=96",
                       "model.iuv_size=24"]) == 0
    out = capsys.readouterr().out
    resolved = yaml.safe_load(out.split("# every key")[0])
    assert resolved["train"]["lr"] == 1e-3 and resolved["name"] == "quick"
    # one key per fact: the synthetic renders and the augmentation crop follow model.img_size
    assert resolved["model"]["img_size"] == 96 and "image_size" not in resolved["data"]["synthetic"]
    assert "crop_size" not in resolved["data"]["augmentation"]
    assert "train.batch_size: int = 128  # GLOBAL batch" in out


def test_bad_configs_exit_2_with_a_message(capsys):
    assert train_main(["--config", "quick", "train.lrate=1"]) == 2
    assert "unknown config key 'train.lrate'" in capsys.readouterr().err
    assert train_main(["--config", "quick", "train.batch_size=many"]) == 2
    assert "train.batch_size: expected an int" in capsys.readouterr().err
    assert train_main(["--config", "no_such_file.yaml"]) == 2
    assert train_main(["--config", "quick", "data.synthetic.image_size=96"]) == 2  # disagrees with model.img_size
    assert "model.img_size=128" in capsys.readouterr().err


def test_train_resume_export_and_eval_from_the_command_line(tmp_path, capsys):
    run = tmp_path / "run"
    save_config(tiny_config(run, "train.stage2_steps=1", name="cli"), tmp_path / "cli.yaml")
    assert train_main(["--config", str(tmp_path / "cli.yaml"), "--no-progress"]) == 0
    assert "done: 2 steps" in capsys.readouterr().out
    assert load_checkpoint(run).step == 2
    # resume from the run folder alone (its checkpoint holds the config), one more step
    assert train_main(["--resume", str(run), "--no-progress", "train.stage2_steps=2"]) == 0
    assert load_checkpoint(run).step == 3
    assert train_main(["--export-release", str(run), str(tmp_path / "release.pt")]) == 0
    assert "release written" in capsys.readouterr().out
    assert torch.load(tmp_path / "release.pt", weights_only=True)["format"] == RELEASE_FORMAT
    assert eval_main(["--checkpoint", str(tmp_path / "release.pt"), "--device", "cpu", "--synthetic-size", "2",
                      "--out", str(tmp_path / "eval")]) == 0
    assert "# Evaluation on `synthetic`" in capsys.readouterr().out
    assert "pve" in json.loads((tmp_path / "eval" / "synthetic.json").read_text())["metrics"]
    assert eval_main(["--checkpoint", str(run), "--dataset", "lsp", "--root", str(tmp_path / "none")]) == 2
    assert "lsp" in capsys.readouterr().err


def test_a_run_folder_is_never_silently_replaced(tmp_path, capsys):
    run = tmp_path / "run"
    save_config(tiny_config(run, "train.stage2_steps=1", name="cli"), tmp_path / "cli.yaml")
    assert train_main(["--config", str(tmp_path / "cli.yaml"), "--no-progress"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".pt", ".jsonl")}
    # the same command again: refused, exit 2, nothing touched, the three ways out named
    assert train_main(["--config", str(tmp_path / "cli.yaml"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(run) in err and "--resume" in err and "name=" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.suffix in (".pt", ".jsonl")} == before
    # --overwrite moves the old run aside (kept whole) and starts afresh
    assert train_main(["--config", str(tmp_path / "cli.yaml"), "--no-progress", "--overwrite"]) == 0
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(aside) == 1 and (aside[0] / "last.pt").read_bytes() == before["last.pt"]
    assert load_checkpoint(run).step == 2


def test_temporaries_of_a_killed_writer_are_removed_at_the_next_start(tmp_path):
    import subprocess
    import sys

    from decomr.train.loop import prepare_run_dir

    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited
    stale = run / f".last.pt.tmp{dead_pid}"
    stale.write_bytes(b"x" * 1000)
    live = run / f".best.pt.tmp{__import__('os').getpid()}"  # this process: still writing
    live.write_bytes(b"y")
    prepare_run_dir(run, resume=True, overwrite=False)
    assert not stale.exists() and live.exists()


def test_expected_errors_exit_2_with_one_message_and_no_traceback(tmp_path, capsys, monkeypatch):
    """Each expected error of `decomr train` / `decomr build-uv` names the input and the fix."""
    from decomr.cli import main

    run = tmp_path / "run"
    save_config(tiny_config(run, "train.stage2_steps=1", name="cli"), tmp_path / "cli.yaml")
    assert train_main(["--config", str(tmp_path / "cli.yaml"), "--no-progress"]) == 0
    capsys.readouterr()
    cases = [
        # resuming a run with another config's model
        (["train", "--config", "quick", "--resume", str(run)], "differs from the checkpoint's"),
        (["train", "--export-release", str(tmp_path / "nope")], "nope: no such checkpoint file"),
        (["build-uv", "--body", "nosuchbody"], "nosuchbody"),
    ]
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: x\nmodel:\n  backbone: resnet18\n   img_size: [128\n")
    cases.append((["train", "--config", str(bad_yaml)], f"{bad_yaml}, line"))
    for argv, match in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err, (argv, err)
    monkeypatch.setenv("DECOMR_DATA", str(tmp_path / "data"))  # no SMPL files there
    assert main(["build-uv", "--body", "smpl"]) == 2
    err = capsys.readouterr().err
    assert "smpl" in err.lower() and "Traceback" not in err and len(err.strip().splitlines()) <= 12
