#!/usr/bin/env python3
"""`dq` round 4: do blocks near clipping cause 1.3's remaining flags on untouched double saves? (not adopted;
research/README.md, "`dq` round 3", round 4). Run from the repository root:

    PYTHONPATH=. python research/dq_r4_clipping.py

Each candidate is dq.compute with blocks whose mean (from the DC coefficient) lies below lo or above hi given no
evidence; scored on the dev half of dq's own case (seed 91, 60 items) at 0.9: paste IoU, untouched flagged.
"""
import sys, io
sys.path.insert(0,'research')
import numpy as np
import dq_null_experiment as X
from engine.evidence import dq
from PIL import Image
orig_compute = dq.compute
# patch: wrap read_coefficients to zero the coefficients' evidence? simplest: monkeypatch the llr via a hook
import types
src = open('engine/evidence/dq.py').read()
def make(lo, hi):
    code = src.replace("""    if len(used) < int(min_positions):""", """    dc = coef[:, :, 0, 0].astype(np.float64) * float(qt[0, 0]) / 8 + 128
    llr[(dc < LO) | (dc > HI)] = 0.0
    if len(used) < int(min_positions):""").replace("LO", str(lo)).replace("HI", str(hi))
    mod = types.ModuleType("dqv"); mod.__package__ = "engine.evidence"
    exec(compile(code, "dqv", "exec"), mod.__dict__)
    return mod.compute
dev = list(X.double_set('build/photos','dev',91,n=60))
def score(compute, items):
    ious=[]; fl=0
    for _,_,data,mask in items:
        from engine.evidence import prepare
        s,_ = prepare(Image.open(io.BytesIO(data)), data)
        p = compute(s).map
        f = p > 0.9
        if mask is None: fl += bool(f.mean()>0.01)
        else: ious.append(100*(f&mask).sum()/max(1,(f|mask).sum()))
    return np.mean(ious), fl
print('1.3', score(orig_compute, dev), flush=True)
for lo,hi in ((8,247),(16,239),(24,231)):
    print((lo,hi), score(make(lo,hi), dev), flush=True)
