#!/usr/bin/env bash
# The GPU check: one call on a GPU machine, at most ~8 minutes on one H100, no libigl needed.
#
#   bash scripts/gpu_check.sh                 # results in $OUT (default runs/gpu_check/)
#
# Steps (each bounded by `timeout`, each recorded in $OUT/steps.jsonl with its exit code and time):
#   1. the CUDA-marked tests (GPU path vs CPU: rasteriser, samplers, body, crops, predictor)
#   2. benchmarks/train_throughput.py: our AMP train step vs a bare ResNet-50 step (images/s, ratio)
#   3. a 3-minute chunk of configs/synthetic.yaml, then a resume of the same run
#   4. benchmarks/gpu_latency.py: inference latency at batch 1 and 32
# and $OUT/summary.json gathering them.
#
# Needs: torch with CUDA, numpy, scipy, pyyaml, pillow, tqdm, safetensors, pytest. Packages the machine
# lacks (anny and roma: the body model) travel as wheels in .whl/ (README, "GPU"); they are installed
# into /tmp/site. The continuous atlas is tracked (data/atlases/), so libigl is not needed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/runs/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
: > "$OUT/steps.jsonl"
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "=== $name (at most ${limit}s)"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log" | tail -n 25
  rc=${PIPESTATUS[0]}
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - start ))}" >> "$OUT/steps.jsonl"
}
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())" || exit 2
$PY -c "import decomr.body as b; b.load('anny')" || exit 2   # builds Anny's cache once (~40 s) for every step below
step cuda_tests 90 $PY -m pytest -q -m cuda -p no:cacheprovider tests --junitxml="$OUT/cuda_tests.xml"
step throughput 100 $PY benchmarks/train_throughput.py --models synthetic --batch 128 --compile off --steps 10 \
  --warmup 3 --out "$OUT/train_throughput.json"
rm -rf /tmp/gpu_check_run
step train_chunk 230 $PY -m decomr train --config synthetic --no-progress name=gpu_check \
  train.out_dir=/tmp/gpu_check_run train.max_minutes=3 train.eval_every=0 train.eval_batches=1
step train_resume 90 $PY -m decomr train --resume /tmp/gpu_check_run --no-progress train.max_minutes=0.5
cp /tmp/gpu_check_run/metrics.jsonl "$OUT/train_metrics.jsonl" 2>/dev/null
step latency 60 $PY benchmarks/gpu_latency.py --out "$OUT/gpu_latency.json"
$PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
summary = {"steps": [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]}
for name in ("train_throughput", "gpu_latency"):
    f = out / f"{name}.json"
    summary[name] = json.loads(f.read_text()) if f.exists() else None
def last_line(name):
    f = out / f"{name}.log"
    lines = [l for l in f.read_text().splitlines() if l.strip()] if f.exists() else []
    return lines[-1] if lines else None
rows = [json.loads(line) for line in (out / "train_metrics.jsonl").read_text().splitlines()] \
    if (out / "train_metrics.jsonl").exists() else []
train = [r for r in rows if r.get("kind") == "train"]
summary["train"] = {"chunk": last_line("train_chunk"), "resume": last_line("train_resume"),
                    "last_step": train[-1]["step"] if train else None,
                    "images_per_s": [round(r["images_per_s"], 1) for r in train[-5:]]}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps({s["step"]: s["rc"] for s in summary["steps"]}))
PYEOF
