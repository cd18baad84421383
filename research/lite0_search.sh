#!/usr/bin/env bash
# Measured choice of Lite0 feature stages and decoder width for the embedded default model.
# Short runs on the first 600 training images of the synthetic set, scored by validation IoU.
# Usage: research/lite0_search.sh DATA_DIR RUNS_DIR   (results: RUNS_DIR/*/card.json, summary on stdout)
set -euo pipefail
DATA=${1:?data set}; RUNS=${2:?runs folder}
mkdir -p "$RUNS"
run() {  # name stages grid widths [input size]
  local name=$1 stages=$2 grid=$3 widths=$4 size=${5:-224}
  [ -f "$RUNS/$name/card.json" ] && return 0
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && return 0
  python -m declip_desktop.cli train --data "$DATA" --backbone lite0 --stages "$stages" --grid "$grid" --input-size "$size" \
    --decoder conv-4 --widths "$widths" --out "$RUNS/$name" --max-train ${MAX_TRAIN:-600} --max-epochs ${EPOCHS:-5} --patience 3 --bn-gamma-mean 1 \
    --batch-size ${BATCH:-8} --calibrate-bias --seed 0 > "$RUNS/$name.log" 2>&1
}
# Round 1 (224-px input, 16x16 grid): which stages. Features are cached per stage, so later runs reuse them.
run s2346-g16-w32 2,3,4,6 16 32,16,8,8
run s34-g16-w32 3,4 16 32,16,8,8
run s46-g16-w32 4,6 16 32,16,8,8
# Round 2: input resolution and grid (forensic traces are fine-grained), then decoder width.
run s34-i448-g32-w64 3,4 32 64,32,16,8 448
run s234-i448-g32-w64 2,3,4 32 64,32,16,8 448
run s234-i448-g32-w32 2,3,4 32 32,16,8,8 448
run s1234-i448-g56-w64 1,2,3,4 56 64,32,16,8 448
for d in "$RUNS"/*/; do
  python - "$d" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/card.json"))
t = c["training"]
print(f"{c['id']:20s} stages {c['backbone']['stages']} input {c['backbone'].get('input_size', 224)} grid {c['backbone']['grid']} widths {c['decoder']['widths']}"
      f"  best val IoU {c['metrics']['val_iou']:.2f} (epoch {t['best_epoch']}/{t['epochs']}, "
      f"{sum(h['seconds'] for h in t['history']):.0f} s)")
PY
done
