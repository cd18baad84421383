#!/usr/bin/env bash
# Measured choice of Lite0 feature stages and decoder width for the embedded default model.
# Short runs on the first 600 training images of the synthetic set, scored by validation IoU.
# Usage: scripts/lite0_search.sh DATA_DIR RUNS_DIR   (results: RUNS_DIR/*/card.json, summary on stdout)
set -euo pipefail
DATA=${1:?data set}; RUNS=${2:?runs folder}
mkdir -p "$RUNS"
run() {  # name stages grid widths
  local name=$1 stages=$2 grid=$3 widths=$4
  [ -f "$RUNS/$name/card.json" ] && return 0
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && return 0
  python -m declip_desktop.cli train --data "$DATA" --backbone lite0 --stages "$stages" --grid "$grid" \
    --decoder conv-4 --widths "$widths" --out "$RUNS/$name" --max-train 600 --max-epochs ${EPOCHS:-5} --patience 3 --bn-gamma-mean 1 \
    --batch-size 8 --seed 0 > "$RUNS/$name.log" 2>&1
}
# The first run extracts stages 2, 3, 4 and 6 (cached per stage); the others reuse them.
run s2346-g16-w32 2,3,4,6 16 32,16,8,8
run s34-g16-w32 3,4 16 32,16,8,8
run s46-g16-w32 4,6 16 32,16,8,8
# decoder width, on the best stages of the three runs above
run ${BEST:-s2346}-g16-w64 ${BEST_STAGES:-2,3,4,6} 16 64,32,16,8
for d in "$RUNS"/*/; do
  python - "$d" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/card.json"))
t = c["training"]
print(f"{c['id']:16s} stages {c['backbone']['stages']} grid {c['backbone']['grid']} widths {c['decoder']['widths']}"
      f"  best val IoU {c['metrics']['val_iou']:.2f} (epoch {t['best_epoch']}/{t['epochs']}, "
      f"{sum(h['seconds'] for h in t['history']):.0f} s)")
PY
done
