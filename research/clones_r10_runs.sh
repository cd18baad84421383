#!/bin/bash
# clones round 10 (research/README.md): 1.3 and each candidate on one own set, scored by `declip evaluate`.
#   research/clones_r10_runs.sh SET_DIR OUT_DIR NAME [KEY=VALUE ...]   (no KEY=VALUE: 1.3's defaults)
set -euo pipefail
data=$1 out=$2 name=$3; shift 3
args=()
for kv in "$@"; do args+=(--layer-param "$kv"); done
mkdir -p "$out"
declip=(python -m declip_desktop.cli)
"${declip[@]}" evaluate --layer clones --data "$data" --no-ela "${args[@]}" \
    --json "$out/$name.json" --csv "$out/$name.csv" > "$out/$name.log" 2>&1
grep -E '^(all|copymove)|authentic images flagged' "$out/$name.log"
