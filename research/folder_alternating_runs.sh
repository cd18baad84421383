#!/bin/bash
# Alternating whole-process `declip analyze` runs of a folder (default: bench_pipeline's seven 12 MP
# photos in /tmp/bp1/photos), one per labelled environment, four rounds; prints the wall, the network
# per photo as results.json records it, and their ratio.
# usage: research/folder_alternating_runs.sh CHECKOUT label=VAR=VALUE ...   (PHOTOS=DIR to change the folder)
REPO=$1; shift
PY=${PY:-/work/venv/bin/python}
OUT=${OUT:-/tmp/folder-runs}; mkdir -p "$OUT"
N=$(ls ${PHOTOS:-/tmp/bp1/photos} | wc -l)
for round in 1 2 3 4; do
  for spec in "$@"; do
    label=${spec%%=*}; envs=${spec#*=}
    rm -rf $OUT/o-$label
    s=$(date +%s.%N)
    (cd $REPO && env $envs PYTHONPATH=$REPO $PY -c "from declip_desktop.cli import run; run()" analyze ${PHOTOS:-/tmp/bp1/photos} --out $OUT/o-$label > /dev/null 2>&1)
    e=$(date +%s.%N)
    net=$(python3 -c "
import json;d=json.load(open('$OUT/o-$label/results.json'))
print(round(sum(i['metadata']['timings']['backbone_s']+i['metadata']['timings']['decoder_s'] for i in d['items'])/len(d['items']),3))")
    echo "$label wall $(python3 -c "print(round($e-$s,2))") net/photo $net ratio $(python3 -c "print(round(($e-$s)/$N/$net,2))")"
  done
done
