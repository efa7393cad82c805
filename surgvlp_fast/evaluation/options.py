"""The settings of a protocol run (`EvalOptions`: `-o KEY=VALUE` of the `eval` command, `eval.options`
of a training config) and the video lists they hold."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

from .linear_probe import ProbeOptions

PROBE_MARK = "-probe"   # in the name of every linear-probe protocol (registry.py), the only ones taking probe_out


@dataclass
class EvalOptions:
    """Settings of a protocol run (all scalars, so they fit `eval.options` in a training config).
    Defaults are the reference protocol's."""

    max_length: int = 0          # prompt tokens; 0 = the protocol's (77 phase, 35 CholecT50)
    batch_size: int = 400
    num_workers: int = 0
    resize: str = "360x640"      # frames are resized to HxW (aspect not kept), then centre-cropped
    crop: int = 224
    videos: str = ""             # e.g. "49-55": a subset of the test videos ("" = the protocol's)
    train_videos: str = ""       # linear probe: training videos ("" = the protocol's train+val)
    prompts: str = ""            # a prompt file: phase, one line per class, several prompts split by " | ";
                                 # CholecT50, the triplet prompts (`id:sentence` lines, 100)
    smooth_window: int = 1       # phase: moving average of frame embeddings over this many frames (1 = off)
    frame_offset: int = -1       # -1 = the dataset's (Cholec80 +1, AutoLaparo 0); 1 = the reference's
    absent_ap: str = "nan"       # CholecT50: a class absent from a video is skipped ("nan") or scores 0 ("zero")
    amp: str = "none"            # none | bf16 | fp16: autocast for the image encoder
    cache_dir: str = ""          # linear probe and field protocols: feature cache folder ("" = no cache)
    model_key: str = ""          # cache_dir: names the model's features in the cache ("" = its weights' hash)
    probe_lr: float = ProbeOptions.lr                   # linear probe defaults: reference §6.3
    probe_weight_decay: float = ProbeOptions.weight_decay
    probe_momentum: float = ProbeOptions.momentum
    probe_epochs: int = ProbeOptions.epochs
    probe_batch_size: int = ProbeOptions.batch_size
    probe_out: str = ""          # linear probe: save the trained head to this file ("" = not saved) for
                                 # `predict --probe`; only scoped to one probe protocol (cholec80-probe.probe_out=F)
    seed: int = 0
    retrieval_split: str = "splits/val.csv"   # retrieval: hold-out lectures of the pretraining data folder
    retrieval_frames: int = 10                # frames per segment, mean-pooled
    retrieval_max_segments: int = 1000        # per level (drawn with `seed` when there are more)
    narration: str = "aws"                    # retrieval clip level: aws | whisper

    @classmethod
    def from_mapping(cls, options: Mapping, protocol: str = "") -> "EvalOptions":
        """Keys apply to every protocol; `protocol.key` keys only to that one (and win)."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        values = {}
        for scoped in (False, True):
            for key, value in options.items():
                name, dot, field_name = key.rpartition(".")
                if scoped != bool(dot) or (dot and name != protocol):
                    continue
                if field_name not in fields:
                    raise ValueError(f"unknown evaluation option {key!r}; known: {', '.join(fields)}")
                if field_name == "probe_out" and not dot and value:   # one file for every probe: they would collide
                    raise ValueError("probe_out names one head's file: scope it to one linear-probe protocol, "
                                     "e.g. -o cholec80-probe.probe_out=head.pt")
                values[field_name] = value
        if values.get("probe_out") and protocol and PROBE_MARK not in protocol:
            raise ValueError(f"probe_out: {protocol} is no linear-probe protocol (it trains no head); scope the "
                             f"option to one, e.g. -o cholec80-probe.probe_out=head.pt")
        return cls(**values)

    def resize_hw(self) -> tuple[int, int]:
        try:
            h, w = (int(v) for v in str(self.resize).lower().split("x"))
        except ValueError:
            raise ValueError(f"resize must look like 360x640, got {self.resize!r}") from None
        return h, w


def parse_video_list(text: str) -> list[int]:
    """'49-55' or '49,51,60-62' → video numbers (the `videos` and `train_videos` options)."""
    out = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"bad video list {text!r}: expected numbers and ranges like '49-55,60'") from None
        if hi < lo:
            raise ValueError(f"bad video range {part!r} in {text!r}")
        out.extend(range(lo, hi + 1))
    if not out:
        raise ValueError(f"empty video list {text!r}")
    return out
