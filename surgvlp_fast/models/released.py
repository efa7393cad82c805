"""Loading the released SurgVLP / HecVL / PeskaVLP weights (reference.md §1.2) from a local file.

The released `.pth` is a state dict with `backbone_img.model.*` (torchvision ResNet-50 without
fc), `backbone_img.global_embedder.{weight,bias}` and `backbone_text.model.*` (a Hugging Face
BertModel). Our `DualEncoder` uses the same names. Differences handled here: newer transformers
keep `embeddings.position_ids` as a non-persistent buffer (dropped), our BERT has no pooler
(its keys are dropped), and training checkpoints wrap the dict (`state_dict`, `model`) and may
carry DDP's `module.` prefix. The weights are published as `<Name>.zip` holding `<Name>.pth`; both
are read here.
"""
import io
import zipfile
from dataclasses import dataclass, field

import torch
from torch import nn

DROPPED_SUFFIXES = ("embeddings.position_ids",)
DROPPED_INFIXES = (".pooler.",)


@dataclass
class LoadReport:
    loaded: int = 0
    dropped: list[str] = field(default_factory=list)      # known keys we do not use
    missing: list[str] = field(default_factory=list)      # model keys absent from the file
    unexpected: list[str] = field(default_factory=list)   # file keys the model does not have
    mismatched: list[str] = field(default_factory=list)   # same key, different shape

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        def show(keys):
            return ", ".join(keys[:8]) + (f", … ({len(keys)} in all)" if len(keys) > 8 else "")
        lines = [f"loaded {self.loaded} tensors"]
        for name in ("dropped", "missing", "unexpected", "mismatched"):
            keys = getattr(self, name)
            if keys:
                lines.append(f"{name}: {show(keys)}")
        return "; ".join(lines)


def read_state_dict(path: str) -> dict:
    """The model state dict inside a released file (`.pth`, or the `.zip` holding it) or one of our
    checkpoints (weights_only load)."""
    obj = torch.load(_released_member(path) or path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a state dict (expected a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _released_member(path: str):
    """The `.pth` inside a released `.zip` as a file object; None for a torch file (itself a zip
    archive, recognised by its `data.pkl`) or any other file."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if any(n.endswith("data.pkl") for n in names):
            return None
        members = [n for n in names if n.endswith((".pth", ".pt", ".pth.tar")) and not n.startswith("__MACOSX")]
        if len(members) != 1:
            raise ValueError(f"{path}: expected one .pth file in the archive, found {members or names}")
        return io.BytesIO(archive.read(members[0]))


def load_released(model: nn.Module, path: str, strict: bool = True) -> LoadReport:
    """Load the weights in `path` into `model`; raise (strict) or report unmatched keys."""
    state = read_state_dict(path)
    own = model.state_dict()
    report = LoadReport()
    usable, mismatched = {}, set()
    for key, value in state.items():
        if key.endswith(DROPPED_SUFFIXES) or any(part in key for part in DROPPED_INFIXES):
            if key not in own:
                report.dropped.append(key)
                continue
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != value.shape:
            report.mismatched.append(f"{key} {tuple(value.shape)} vs model {tuple(own[key].shape)}")
            mismatched.add(key)
        else:
            usable[key] = value
    report.missing = sorted(k for k in own if k not in usable and k not in mismatched)
    report.unexpected.sort()
    if strict and not report.ok:
        raise ValueError(f"{path} does not match the model: {report}")
    model.load_state_dict(usable, strict=False)
    report.loaded = len(usable)
    return report
