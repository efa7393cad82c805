"""The frozen evaluation protocols (reference.md §6, decisions.md §6) as data.

A protocol names its dataset, its test videos, its class names and prompts, its text length and
its kind: zero-shot phase recognition, CholecT50 zero-shot triplets, or a linear probe.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Protocol:
    name: str
    kind: str                 # "phase" | "triplet" | "probe" | "retrieval"
    dataset: str              # cholec80 | autolaparo | cholect50 (folder and resources); "" = pretraining data
    max_length: int           # prompt tokens (reference: 77 in the package's test script, 35 in training)
    probe_percent: float = 100.0
    notes: str = field(default="", compare=False)


PROTOCOLS = {p.name: p for p in (
    Protocol("cholec80", "phase", "cholec80", 77, notes="zero-shot, videos 49-80, one manual prompt per phase"),
    Protocol("autolaparo", "phase", "autolaparo", 77, notes="zero-shot, videos 15-21, one manual prompt per phase"),
    Protocol("cholect50", "triplet", "cholect50", 35, notes="zero-shot i/v/t/iv/it/ivt video-wise mAP, 10 test videos"),
    Protocol("cholec80-probe", "probe", "cholec80", 0, 100.0, notes="linear probe, train+val 1-48, test 49-80"),
    Protocol("cholec80-probe-10", "probe", "cholec80", 0, 10.0, notes="few-shot: 10 % of the training videos"),
    Protocol("autolaparo-probe", "probe", "autolaparo", 0, 100.0, notes="linear probe, train+val 1-14, test 15-21"),
    Protocol("autolaparo-probe-10", "probe", "autolaparo", 0, 10.0, notes="few-shot: 10 % of the training videos"),
    Protocol("retrieval", "retrieval", "", 77, notes="text<->video R@1/5/10 at clip, phase, video level, hold-out lectures"),
)}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def parse_video_list(text: str) -> list[int]:
    """'49-55' or '49,51,60-62' → video numbers."""
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
