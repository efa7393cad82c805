"""`surgvlp-fast export CHECKPOINT OUT`: a checkpoint (ours or a released one) as the official flat
state dict that the SurgVLP package loads strictly (reference.md §1.2), plus a `.safetensors` copy.

    surgvlp-fast export runs/peskavlp/checkpoints/step000012000.pt PeskaVLP-ours.pth

Keys: `backbone_img.model.*` (ResNet trunk without fc), `backbone_img.global_embedder.{weight,bias}`,
`backbone_text.model.*` (BertModel). Our BERT has no pooler (unused by the embeddings); the official
BertModel has one, so `pooler.dense.{weight,bias}` are written as zeros unless the checkpoint kept
them. transformers==4.30.2 (the official pin) keeps `embeddings.position_ids` in the state dict, so it
is written too (`--no-position-ids` leaves it out, for newer transformers).
"""
from __future__ import annotations

import os

import torch

PREFIXES = ("backbone_img.model.", "backbone_img.global_embedder.", "backbone_text.model.")
TEXT = "backbone_text.model."


def official_state_dict(state: dict, position_ids: bool = True) -> dict:
    """Our (or a released) model state dict -> the official layout, as contiguous CPU tensors."""
    foreign = sorted(k for k in state if not k.startswith(PREFIXES))
    if foreign:
        raise ValueError(f"the official layout has no place for {', '.join(foreign[:4])}"
                         f"{' ...' if len(foreign) > 4 else ''} (a text projection? it needs model.text.projection: false)")
    words = state.get(f"{TEXT}embeddings.word_embeddings.weight")
    positions = state.get(f"{TEXT}embeddings.position_embeddings.weight")
    if words is None or positions is None or "backbone_img.global_embedder.weight" not in state:
        raise ValueError("not a dual-encoder state dict (no BERT embeddings or no image embedder)")
    out = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    hidden = words.shape[1]
    out.setdefault(f"{TEXT}pooler.dense.weight", torch.zeros(hidden, hidden, dtype=words.dtype))
    out.setdefault(f"{TEXT}pooler.dense.bias", torch.zeros(hidden, dtype=words.dtype))
    key = f"{TEXT}embeddings.position_ids"
    if position_ids:
        out.setdefault(key, torch.arange(positions.shape[0], dtype=torch.long).unsqueeze(0))
    else:
        out.pop(key, None)
    return out


def export_checkpoint(checkpoint: str, out: str, position_ids: bool = True) -> dict[str, str]:
    """Write `out` (torch.save of the flat dict) and `out` with the suffix `.safetensors`."""
    from safetensors.torch import save_file

    from surgvlp_fast.models.released import read_state_dict

    state = official_state_dict(read_state_dict(checkpoint), position_ids)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save(state, out)
    safe = os.path.splitext(out)[0] + ".safetensors"
    save_file(state, safe, metadata={"format": "pt", "source": os.path.basename(checkpoint)})
    return {"pth": out, "safetensors": safe}


def add_arguments(parser):
    parser.add_argument("checkpoint", help="our checkpoint, or a released .zip / .pth")
    parser.add_argument("out", help="output .pth (a .safetensors copy is written beside it)")
    parser.add_argument("--no-position-ids", dest="position_ids", action="store_false",
                        help="leave out embeddings.position_ids (for transformers newer than the official 4.30.2)")


def run(args) -> int:
    import sys

    try:
        written = export_checkpoint(args.checkpoint, args.out, args.position_ids)
    except ValueError as e:   # not a state dict / not the dual-encoder layout: the input is wrong
        print(f"surgvlp-fast export: {e}", file=sys.stderr)
        return 1
    for what, path in written.items():
        print(f"  {what}: {path}")
    return 0
