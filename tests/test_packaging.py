"""Packaging: environment.yml and pyproject.toml agree; the CLI and the notebook runner work."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower()


def _specs(reqs) -> dict[str, str]:
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_environment_yml_matches_pyproject():
    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _specs(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_specs(extra))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _specs(r for r in pip if not r.startswith("-e"))
    # torch/torchvision are pinned in both places (the Makefile pins them for pip).
    make = (ROOT / "Makefile").read_text()
    for pin in ("torch==2.14.1", "torchvision==0.29.1"):
        assert pin in make and listed[_name(pin)] == pin
        wanted.pop(_name(pin))
        listed.pop(_name(pin))
    assert listed == wanted, f"environment.yml {set(listed.items()) ^ set(wanted.items())}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert "make test" in ci.splitlines()[-1]


def test_cli_info_runs():
    out = subprocess.run([sys.executable, "-m", "decomr", "info"], capture_output=True, text=True, check=True).stdout
    assert "torch" in out and "data folder" in out and "SMPL_NEUTRAL.pkl" in out


def test_cli_rejects_unknown_command():
    res = subprocess.run([sys.executable, "-m", "decomr", "frobnicate"], capture_output=True, text=True)
    assert res.returncode != 0 and "invalid choice" in res.stderr


def test_set_quick_rewrites_parameters_cell():
    import nbformat

    from decomr.reproduce import set_quick

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("QUICK = True in prose"), nbformat.v4.new_code_cell("QUICK = True  # quick mode\nN = 3")]
    set_quick(nb, False)
    assert nb.cells[1].source == "QUICK = False  # quick mode\nN = 3"  # the value changes, the comment stays
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    with pytest.raises(ValueError, match="QUICK"):
        set_quick(nb, True)


def test_gpu_check_script_is_valid_and_its_latency_step_runs_on_cpu(tmp_path):
    """scripts/gpu_check.sh only runs on a GPU machine; here: its syntax, its steps, and the one
    step that can run on a CPU (the latency benchmark, on the CPU device)."""
    import json

    script = ROOT / "scripts" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    for step in ("cuda_tests", "throughput", "train_chunk", "train_resume", "latency", "summary.json"):
        assert step in text, step
    out = tmp_path / "latency.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_latency.py"), "--device", "cpu",
                           "--batches", "1", "2", "--repeats", "1", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert [r["batch"] for r in result["rows"]] == [1, 2] and all(r["median_ms"] > 0 for r in result["rows"])
