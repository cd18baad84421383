#!/usr/bin/env python3
"""Recover the members of a `declip ensemble` model as model folders, so new seeds can join them.

    python research/recover_ensemble_members.py ENSEMBLE_DIR TEMPLATE_MEMBER_DIR OUT_PREFIX

Round 19 (research/default-model-log.md) added two seeds to the shipped four-member model without retraining
the four: `declip ensemble` stacks its members side by side, so each member's weights are a slice of
the ensemble's (engine.decoders.split_ensemble_state). The ensemble's folded logit scale and shift
are divided out; each member's final bias becomes the members' mean bias, which is all an ensemble
uses. TEMPLATE_MEMBER_DIR is any `declip train` folder of the same recipe (its card is the form of
the recovered cards); each recovered card keeps the member's original training record and names
the file it came from and the member's original decoder hash (training.recovered_from).
Writes OUT_PREFIX0, OUT_PREFIX1, ...
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from engine.atomic import write_text_atomic  # cards are written atomically everywhere

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.decoders import (build_decoder, decoder_state_to_module, module_state_to_checkpoint,  # noqa: E402
                             split_ensemble_state)
from engine.hashing import file_sha256  # noqa: E402
from engine.weights import load_state_file, save_safetensors  # noqa: E402


def main() -> int:
    ens_dir, template_dir, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    card = json.loads((ens_dir / "card.json").read_text())
    template = json.loads((template_dir / "card.json").read_text())
    ens, spec = card["training"]["ensemble"], dict(card["decoder"])
    n = spec.pop("members")
    state = decoder_state_to_module(load_state_file(ens_dir / "decoder.safetensors"), spec)
    first = state["1.weight" if spec.get("context") else "0.weight"]
    c_in = first.shape[1] // (2 if spec.get("context") else 1)
    member = build_decoder(spec, c_in, cnn=True)
    scale, shift = ens.get("logit_scale", 1.0), ens.get("bias_shift", 0.0)
    last = max(i for i, m in enumerate(member) if hasattr(m, "kernel_size"))
    for i, st in enumerate(split_ensemble_state(state, member, n)):
        st[f"{last}.weight"] = st[f"{last}.weight"] / scale
        st[f"{last}.bias"] = st[f"{last}.bias"] / scale - shift
        member.load_state_dict(st)
        out = Path(f"{prefix}{i}")
        out.mkdir(parents=True, exist_ok=True)
        dec = out / "decoder.safetensors"
        save_safetensors(module_state_to_checkpoint(member, spec), dec, metadata={"format": "declip-desktop decoder"})
        m = ens["members"][i]
        c = copy.deepcopy(template)
        c.update(id=m["id"], name=f"{m['id']} (recovered from {card['id']})", metrics=m["metrics"],
                 files=[{"role": "decoder", "name": dec.name, "path": dec.name, "sha256": file_sha256(dec),
                         "size": dec.stat().st_size, "format": "safetensors"}])
        c["training"] = dict(m.get("training", {}), recovered_from={
            "model": card["id"], "decoder_sha256": card["files"][0]["sha256"], "member": i,
            "original_decoder_sha256": m["decoder_sha256"]})
        write_text_atomic(out / "card.json", json.dumps(c, indent=2, ensure_ascii=False) + "\n")
        print(out, c["files"][0]["sha256"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
