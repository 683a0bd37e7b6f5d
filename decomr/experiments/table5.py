"""Table 5 on the synthetic benchmark: 2 UV atlases x 4 LNet inputs, trained alike, one command.

The paper's Table 5 (Sec. 4.3) trains DecoMR eight times on H36M + UP-3D — with the SMPL default
UV map or the continuous one (Sec. 3.1), and with four inputs to the location net (LNet): the
global feature only, the transferred local features only, both (the paper's model), or raw pixels
transferred to UV space plus the global feature — and reports MPJPE and PA-MPJPE on H36M P1/P2.
Here the same grid runs on the synthetic Anny data (``decomr.data.synthetic``), which needs no
licence:

>>> from decomr.experiments import run_table5
>>> result = run_table5("cpu")                  # doctest: +SKIP
>>> result.summary()[("continuous", "local+global")].mean("pa_mpjpe")   # doctest: +SKIP

Every cell and seed is one ordinary training run (:func:`decomr.train.train`) in its own folder,
``runs/table5/<budget>/<atlas>_<input>/seed<k>/``, followed by :func:`evaluate_checkpoint` on
the synthetic test split (the same images for every cell; MPJPE and PA-MPJPE on the 14 LSP joints
with the hip-midpoint root = the DecoMR convention, per-vertex error, segmentation), once with each
read of the location map into vertices (Eq. 3): the seam-aware one the runs train with (decomr's
default) and the paper's plain bilinear one. The outcome goes to ``table5_cell.json`` in the run
folder. Calling again skips finished cells, resumes an
interrupted run from its ``last.pt``, and restarts a run whose budget changed since.

Budgets (:mod:`decomr.experiments.budgets`): ``quick`` (smoke test), ``cpu`` (this 2-core
machine, 2-5 minutes a run: too short to leave the mean-pose plateau), ``cpu128`` (this machine
at the released model's size, about 1 h 30 min a run, resumed over several sessions with
``--max-minutes``), ``gpu`` (one H100, about 25 minutes, in 10-minute commands).

**On a GPU**, in chunks that each resume the grid (finished cells are skipped, a cut run
continues from its ``last.pt``)::

    decomr reproduce table5 --budget gpu --max-minutes 8     # repeat until it prints "grid complete"
    decomr reproduce figures --budget gpu                    # Figures 7-9 from the decisive pair
    decomr reproduce table5 --budget gpu --report-only       # figures/table5.md and .png

Only the small results are needed to rebuild the report elsewhere:
``runs/table5/gpu/*/*/table5_cell.json`` and ``runs/table5/gpu/*/*/eval``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import yaml
from tqdm.auto import tqdm

from decomr.eval.evaluate import evaluate_checkpoint
from decomr.eval.paper import PAPER_TABLE5, TABLE5_ATLASES, TABLE5_INPUTS, PaperRow
from decomr.experiments.budgets import Budget, get_budget
from decomr.experiments.table5_grid import (
    DECISIVE_INPUT,
    RESULT_FILE,
    CellResult,
    CellSpec,
    Table5Result,
    cell_config,
    grid_cells,
    table5_run_root,
    trained_read,
)
from decomr.experiments.table5_report import write_table5_report
from decomr.models import READS, read_name
from decomr.paths import atomic_write_bytes, figures_dir
from decomr.train import train
from decomr.train.checkpoint import load_checkpoint

logger = logging.getLogger(__name__)

__all__ = [
    "TABLE5_ATLASES",
    "TABLE5_INPUTS",
    "DECISIVE_INPUT",
    "PaperRow",
    "PAPER_TABLE5",
    "CellSpec",
    "CellResult",
    "Table5Result",
    "table5_run_root",
    "grid_cells",
    "cell_config",
    "run_cell",
    "run_table5",
    "load_table5",
    "grid_status",
    "RESULT_FILE",
]

# ------------------------------------------------------------------------------------------------
# One cell
# ------------------------------------------------------------------------------------------------
def _spec_record(budget: Budget, spec: CellSpec) -> dict[str, Any]:
    """What defines a run; a finished run whose record differs is stale and retrained."""
    return {"budget": budget.name, "overrides": list(budget.overrides), "test_size": budget.test_size,
            "atlas": spec.atlas, "lnet_input": spec.lnet_input, "seed": spec.seed}


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _result_from_record(record: dict[str, Any], run_dir: Path, status: str, trained: str) -> CellResult:
    """A finished run's :class:`CellResult`; ``trained``: the read of Eq. 3 its ``metrics`` were measured
    with (a record from before both reads has only that one)."""
    s = record["spec"]
    floats = lambda m: {k: float(v) for k, v in m.items()}  # noqa: E731
    by_read = record.get("metrics_by_read") or {trained: record["metrics"]}
    return CellResult(spec=CellSpec(s["atlas"], s["lnet_input"], int(s["seed"])), status=status,
                      metrics=floats(record["metrics"]), run_dir=run_dir,
                      step=int(record["step"]), total_steps=int(record["total_steps"]),
                      train_seconds=float(record["train_seconds"]), eval_seconds=float(record["eval_seconds"]),
                      num_test=int(record["num_test"]),
                      read_metrics={r: floats(m) for r, m in by_read.items()})


def _evaluate_reads(budget: Budget, config: Any, reads: Sequence[str]) -> tuple[dict[str, Any], float]:
    """Evaluate a finished run's ``last.pt`` on the synthetic test split with each read of Eq. 3.

    Returns:
        (read -> :class:`~decomr.eval.evaluate.EvalReport`, seconds). The trained read's report is
        ``eval/synthetic.{json,md}``, the other's ``eval/synthetic-<read>-read.{json,md}``.
    """
    run_dir, reports = config.run_dir, {}
    start = time.perf_counter()
    with _threads(config.train.cpu_threads):
        for read in reads:
            reports[read] = evaluate_checkpoint(run_dir / "last.pt", "synthetic", out_dir=run_dir / "eval",
                                                batch_size=budget.eval_batch_size, device=budget.device,
                                                synthetic_size=budget.test_size, num_workers=budget.eval_workers,
                                                seam_aware_read=read == "seam-aware")
    return reports, time.perf_counter() - start


def _add_missing_reads(budget: Budget, config: Any, previous: dict[str, Any], path: Path) -> dict[str, Any]:
    """A finished run's record, evaluated with the reads of Eq. 3 it lacks (runs finished before
    both reads were measured); rewritten in place. Without ``last.pt`` it is returned as it is."""
    by_read = dict(previous.get("metrics_by_read") or {read_name(config.model.seam_aware_read): previous["metrics"]})
    missing = [r for r in READS if r not in by_read]
    if not missing:
        return previous
    if not (config.run_dir / "last.pt").exists():
        warnings.warn(f"{path}: no last.pt beside it, so the {', '.join(missing)} read of Eq. 3 cannot be "
                      "evaluated; the report shows that read without this run", stacklevel=3)
        return previous
    logger.info("table5 %s: evaluating the %s read of Eq. 3", config.run_dir, ", ".join(missing))
    reports, seconds = _evaluate_reads(budget, config, missing)
    by_read.update({r: rep.metrics for r, rep in reports.items()})
    record = {**previous, "metrics_by_read": by_read, "eval_seconds": float(previous["eval_seconds"]) + seconds}
    atomic_write_bytes(path, (json.dumps(record, indent=2, default=float) + "\n").encode())
    return record


def _same_experiment(run_dir: Path, config: Any) -> bool:
    """Whether the run folder's config.yaml trains the same model on the same data as ``config``."""
    try:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    except OSError:
        return False
    now = config.to_dict()
    return all(saved.get(k) == now[k] for k in ("body", "model", "loss", "data"))


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_cell(budget: str | Budget, spec: CellSpec, root: str | Path | None = None, *, resume: bool = True,
             max_minutes: float | None = None, progress: bool = False) -> CellResult:
    """Train (or resume, or skip) one run of the grid, then evaluate it on the synthetic test split.

    Args:
        budget: budget name or :class:`Budget`.
        spec: the cell and seed.
        root: the grid's folder (default ``runs/table5/<budget>``).
        resume: skip a finished run and resume an interrupted one from ``last.pt``; False trains
            from scratch (the folder's logs and checkpoints are replaced).
        max_minutes: stop training cleanly after this many minutes (``train.max_minutes``; the
            run is then ``"interrupted"`` and the next call resumes it).
        progress: tqdm bar of the training steps.

    Returns:
        :class:`CellResult`.
    """
    b = get_budget(budget)
    extra = [f"train.max_minutes={max_minutes}"] if max_minutes else []
    config = cell_config(b, spec, root, extra)
    run_dir = config.run_dir
    result_path = run_dir / RESULT_FILE
    record = _spec_record(b, spec)
    previous = _read_result(result_path)
    if resume and previous is not None:
        if previous.get("record") == record:
            logger.info("table5 %s: finished earlier, skipped (%s)", spec, result_path)
            return _result_from_record(_add_missing_reads(b, config, previous, result_path), run_dir, "cached",
                                       read_name(config.model.seam_aware_read))
        warnings.warn(f"table5 {spec}: {result_path} was made with another budget definition; retraining",
                      stacklevel=2)
    if result_path.exists():
        result_path.unlink()
    fresh = not resume or not (run_dir / "last.pt").exists() or not _same_experiment(run_dir, config)
    if resume and not fresh:
        logger.info("table5 %s: resuming %s", spec, run_dir / "last.pt")
    elif resume and (run_dir / "last.pt").exists():
        warnings.warn(f"table5 {spec}: {run_dir} holds a run of another configuration; training from scratch",
                      stacklevel=2)
    seconds_before = 0.0
    timing = run_dir / "table5_train_seconds.json"
    if not fresh and timing.exists():
        seconds_before = float(json.loads(timing.read_text()).get("seconds", 0.0))
    start = time.perf_counter()
    out = train(config, resume=not fresh, progress=progress, overwrite=fresh)  # a stale run is moved aside
    train_seconds = seconds_before + time.perf_counter() - start
    atomic_write_bytes(timing, json.dumps({"seconds": train_seconds}).encode())
    if not out.finished:
        logger.info("table5 %s: stopped at step %d/%d (time limit); call again to resume", spec, out.step,
                    out.total_steps)
        return CellResult(spec, "interrupted", run_dir=run_dir, step=out.step, total_steps=out.total_steps,
                          train_seconds=train_seconds)
    trained = read_name(config.model.seam_aware_read)  # first: the table's numbers
    reports, eval_seconds = _evaluate_reads(b, config, [trained, *(r for r in READS if r != trained)])
    report = reports[trained]
    payload = {"record": record, "spec": dataclasses.asdict(spec), "metrics": report.metrics,
               "metrics_by_read": {r: rep.metrics for r, rep in reports.items()}, "step": out.step,
               "total_steps": out.total_steps, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
               "num_test": report.num_samples, "config": config.to_dict()}
    atomic_write_bytes(result_path, (json.dumps(payload, indent=2, default=float) + "\n").encode())
    logger.info("table5 %s: MPJPE %.1f, PA-MPJPE %.1f, PVE %.1f mm (train %.0f s, eval %.0f s)", spec,
                report.metrics.get("mpjpe", math.nan), report.metrics.get("pa_mpjpe", math.nan),
                report.metrics.get("pve", math.nan), train_seconds, eval_seconds)
    return _result_from_record(payload, run_dir, "done", trained)


# ------------------------------------------------------------------------------------------------
# The whole grid
# ------------------------------------------------------------------------------------------------
def run_table5(budget: str | Budget = "quick", seeds: Sequence[int] | None = None, out_dir: str | Path | None = None,
               resume: bool = True, *, decisive_seeds: Sequence[int] | None = None,
               atlases: Sequence[str] = TABLE5_ATLASES, inputs: Sequence[str] = TABLE5_INPUTS,
               max_minutes: float | None = None, report_dir: str | Path | None = None, write_report: bool = True,
               progress: bool = True) -> Table5Result:
    """Train and evaluate the Table 5 grid (2 atlases x 4 LNet inputs) with one budget and seeds.

    Args:
        budget: ``"quick"``, ``"cpu"``, ``"gpu"`` (:data:`~decomr.experiments.budgets.BUDGETS`) or a
            :class:`Budget`.
        seeds: seeds of every cell (default: the budget's).
        out_dir: the grid's folder (default ``runs/table5/<budget>``).
        resume: skip finished runs and resume interrupted ones (False: retrain everything).
        decisive_seeds: extra seeds of the decisive pair (continuous vs default, ``local+global``;
            default: the budget's; ``()`` for none).
        atlases, inputs: run a sub-grid only (e.g. the decisive pair).
        max_minutes: wall-clock limit for this call: the running run stops cleanly with a
            checkpoint and the remaining ones are left ``"pending"`` (call again to continue).
        report_dir: where ``table5.md`` and ``table5.png`` go (default: ``figures/`` for the
            ``cpu`` and ``gpu`` budgets, the grid's folder for ``quick``, so that a smoke test
            never replaces real results).
        write_report: write them (once at least one run has finished).
        progress: a tqdm bar over the runs.

    Returns:
        :class:`Table5Result` (``.summary()``, ``.complete``).

    Raises:
        ValueError: unknown budget, atlas or input.
        RuntimeError: the ``gpu`` budget without CUDA.
    """
    b = get_budget(budget)
    if b.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"budget {b.name!r} trains on CUDA, which is not available here; use budget 'cpu'")
    root = Path(out_dir) if out_dir is not None else table5_run_root(b)
    cells = grid_cells(b, seeds, decisive_seeds, atlases, inputs)
    deadline = time.perf_counter() + 60 * max_minutes if max_minutes else None
    results: list[CellResult] = []
    bar = tqdm(cells, desc=f"table5 {b.name}", unit="run", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(str(spec))
        limit = None
        if deadline is not None:
            limit = (deadline - time.perf_counter()) / 60 - _EVAL_MARGIN_MINUTES
            if limit < _MIN_RUN_MINUTES and not _is_finished(b, spec, root, resume):
                results.append(CellResult(spec, "pending", run_dir=root / spec.folder))
                continue
        results.append(run_cell(b, spec, root, resume=resume, max_minutes=limit))
    result = Table5Result(budget=b, root=root, cells=results)
    if write_report and result.finished:
        write_table5_report(result, report_dir if report_dir is not None else _default_report_dir(b, root))
    pending = [str(c.spec) for c in results if not c.finished]
    if pending:
        logger.info("table5 %s: %d runs not finished (%s); run the same command again to continue", b.name,
                    len(pending), ", ".join(pending))
    return result


_EVAL_MARGIN_MINUTES = 1.5  # kept free for the evaluations (both reads of Eq. 3) of the run in progress
_MIN_RUN_MINUTES = 0.5  # do not start a run with less time than this


def _is_finished(budget: Budget, spec: CellSpec, root: Path, resume: bool) -> bool:
    record = _read_result(root / spec.folder / RESULT_FILE)
    return resume and record is not None and record.get("record") == _spec_record(budget, spec)


def grid_status(budget: str | Budget, seeds: Sequence[int] | None = None, out_dir: str | Path | None = None, *,
                decisive_seeds: Sequence[int] | None = None, atlases: Sequence[str] = TABLE5_ATLASES,
                inputs: Sequence[str] = TABLE5_INPUTS) -> Table5Result:
    """Where every run of a grid stands, read from its folder (nothing is trained or evaluated).

    Returns:
        :class:`Table5Result` in the grid's order: ``"cached"`` runs (finished, with metrics),
        ``"started"`` ones (running now, or cut; ``step`` = the later of ``last.pt``'s step and the
        last one logged in ``metrics.jsonl``; the next call resumes from ``last.pt``) and ``"pending"`` ones,
        then the finished runs of the folder outside this plan (other seeds, :func:`load_table5`), so
        that a report of a partial grid counts its runs against the whole plan and loses none.
    """
    b = get_budget(budget)
    root = Path(out_dir) if out_dir is not None else table5_run_root(b)
    finished = {c.spec: c for c in load_table5(b, root).cells}  # every finished record, read once
    cells = []
    for spec in grid_cells(b, seeds, decisive_seeds, atlases, inputs):
        run_dir = root / spec.folder
        if spec in finished:
            cells.append(finished.pop(spec))
            continue
        config = cell_config(b, spec, root)
        total = sum(config.stage_steps(config.data.synthetic.train_size))
        started = (run_dir / "last.pt").exists()
        step = max(_last_logged_step(run_dir / "metrics.jsonl"), load_checkpoint(run_dir / "last.pt").step) \
            if started else 0
        cells.append(CellResult(spec, "started" if started else "pending", run_dir=run_dir, step=step,
                                total_steps=total))
    cells += finished.values()  # finished runs outside the plan
    return Table5Result(budget=b, root=root, cells=cells)


def _last_logged_step(path: Path) -> int:
    """The step of the last line of a run's ``metrics.jsonl`` (0 without one)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def _default_report_dir(budget: Budget, root: Path) -> Path:
    return root if budget.name == "quick" else figures_dir()


def load_table5(budget: str | Budget, out_dir: str | Path | None = None) -> Table5Result:
    """The finished runs of a grid, read from their ``table5_cell.json`` (nothing is trained).

    Runs made with another definition of the budget are left out (with a warning).

    Args:
        budget: budget name or :class:`Budget`.
        out_dir: the grid's folder (default ``runs/table5/<budget>``).

    Returns:
        :class:`Table5Result` whose cells are all ``"cached"`` (empty if nothing ran yet).
    """
    b = get_budget(budget)
    root = Path(out_dir) if out_dir is not None else table5_run_root(b)
    cells = []
    for path in sorted(root.glob(f"*/seed*/{RESULT_FILE}")):
        record = _read_result(path)
        if record is None:
            continue
        spec = CellSpec(**record["spec"])
        if record.get("record") != _spec_record(b, spec):
            warnings.warn(f"{path}: made with another definition of budget {b.name!r}; left out", stacklevel=2)
            continue
        cells.append(_result_from_record(record, path.parent, "cached", trained_read(b)))
    cells.sort(key=lambda c: (c.spec.seed, TABLE5_ATLASES.index(c.spec.atlas), TABLE5_INPUTS.index(c.spec.lnet_input)))
    return Table5Result(budget=b, root=root, cells=cells)
