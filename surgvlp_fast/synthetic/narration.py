"""Texts of a synthetic lecture: AWS- and Whisper-style narrations, keysteps, abstract.

AWS style: lemmatised, sparse rows (one every 3-8 s) with gaps. Whisper style: lower case, dense,
mostly contiguous segments. Both describe the phase on screen at the (noisily shifted) row time,
with ASR-like noise: dropped words, misspellings, "uh/um", off-topic sentences, talk about the
neighbouring phase.
"""
from dataclasses import dataclass

import numpy as np

from .phases import FILLERS, OFF_TOPIC


@dataclass(frozen=True)
class NarrationNoise:
    p_drop: float
    p_misspell: float
    p_hesitation: float
    p_off_topic: float
    misalign_s: float
    p_neighbour: float
    p_phase_name: float = 0.10
    p_filler: float = 0.3


NOISE_PRESETS = {
    "clean": NarrationNoise(0, 0, 0, 0, 0, 0),
    "default": NarrationNoise(0.10, 0.05, 0.05, 0.15, 3.0, 0.05),
    "noisy": NarrationNoise(0.25, 0.15, 0.10, 0.40, 8.0, 0.15),
}

TEMPLATES = (
    "the {instrument} {action3} the {anatomy}",
    "now we {action} the {anatomy} with the {instrument}",
    "we use the {instrument} to {action} the {anatomy}",
    "here the {instrument} {action3} the {anatomy}",
    "you can see the {anatomy} and the {instrument}",
    "{sentence}",
    "careful we {action} the {anatomy} here",
    "the {anatomy} is exposed and we {action} it with the {instrument}",
)
LEMMAS = {"is": "be", "are": "be", "was": "be", "were": "be", "goes": "go", "trocars": "trocar", "clips": "clip",
          "vessels": "vessel", "structures": "structure", "placed": "place", "removed": "remove", "exposed": "expose",
          "divided": "divide", "extracted": "extract", "completed": "complete", "holds": "hold", "pulls": "pull",
          "closes": "close", "seals": "seal", "clears": "clear"}


def third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x")):
        return verb + "es"
    return verb + "s"


def lemmatise(text: str, verbs) -> str:
    """AWS-style lemmas: 'the hook dissects the ducts' -> 'the hook dissect the duct' (for our vocabulary)."""
    inflected = {third_person(v): v for v in verbs}
    return " ".join(inflected.get(w, LEMMAS.get(w, w)) for w in text.split())


def describe(phase, rng, noise: NarrationNoise) -> str:
    """One clean, lower-case sentence about what a phase shows."""
    if rng.random() < noise.p_phase_name:
        return f"now the {phase.name} phase"
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    action = phase.actions[rng.integers(len(phase.actions))]
    text = template.format(instrument=phase.instruments[rng.integers(len(phase.instruments))], action=action,
                           action3=third_person(action), anatomy=phase.anatomy[rng.integers(len(phase.anatomy))],
                           sentence=phase.sentences[rng.integers(len(phase.sentences))])
    if rng.random() < noise.p_filler:
        text = f"{FILLERS[rng.integers(len(FILLERS))]} {text}"
    return text


def _misspell(word: str, rng) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = rng.integers(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i] + word[i:]


def asr_noise(text: str, rng, noise: NarrationNoise) -> str:
    words = []
    for w in text.split():
        if rng.random() < noise.p_drop:
            continue
        if rng.random() < noise.p_hesitation:
            words.append("uh" if rng.random() < 0.5 else "um")
        words.append(_misspell(w, rng) if rng.random() < noise.p_misspell else w)
    return " ".join(words) or text.split()[0]


def sentence_at(time: float, bounds: np.ndarray, phases, rng, noise: NarrationNoise) -> str:
    """What the surgeon says at `time`: the phase on screen (after misalignment), sometimes its
    neighbour, sometimes something off topic."""
    if rng.random() < noise.p_off_topic:
        return OFF_TOPIC[rng.integers(len(OFF_TOPIC))]
    t = time + (rng.uniform(-noise.misalign_s, noise.misalign_s) if noise.misalign_s else 0.0)
    k = int(np.clip(np.searchsorted(bounds, t, side="right") - 1, 0, len(phases) - 1))
    if rng.random() < noise.p_neighbour:
        k = int(np.clip(k + (1 if rng.random() < 0.5 else -1), 0, len(phases) - 1))
    return asr_noise(describe(phases[k], rng, noise), rng, noise)


def aws_rows(duration: float, bounds, phases, rng, noise) -> list[tuple[float, float, str]]:
    """Sparse lemmatised rows: one every 3-8 s, each 1.5-5 s long, with gaps."""
    verbs = {v for p in phases for v in p.actions}
    rows, t = [], rng.uniform(0.5, 4.0)
    while t < duration - 1.0:
        end = min(t + rng.uniform(1.5, 5.0), duration)
        rows.append((round(t, 2), round(end, 2), lemmatise(sentence_at((t + end) / 2, bounds, phases, rng, noise), verbs)))
        t = end + rng.uniform(1.0, 4.0)
    return rows


def whisper_rows(duration: float, bounds, phases, rng, noise) -> list[tuple[float, float, str]]:
    """Dense rows tiling the timeline in 2-6 s segments, with a few gaps."""
    rows, t = [], 0.0
    while t < duration - 0.5:
        end = min(t + rng.uniform(2.0, 6.0), duration)
        rows.append((round(t, 2), round(end, 2), sentence_at((t + end) / 2, bounds, phases, rng, noise)))
        t = end + (rng.uniform(0.5, 2.0) if rng.random() < 0.1 else 0.0)
    return rows


def keystep_rows(duration: float, bounds, phases, rng) -> list[tuple[int, float, str, str]]:
    """One row per phase: int start, float end (the last equals the duration), title, augmented text."""
    rows = []
    for k, phase in enumerate(phases):
        end = duration if k == len(phases) - 1 else float(bounds[k + 1])
        rows.append((int(bounds[k]), round(end, 3), phase.title, phase.explanations[rng.integers(len(phase.explanations))]))
    return rows


def abstract_text(procedure: dict, phases, rng) -> str:
    indication = procedure["indications"][rng.integers(len(procedure["indications"]))]
    steps = "; ".join(p.title.lower() for p in phases)
    return (f"Video tag: {procedure['tag']}; Title: {procedure['tag'].capitalize()} for {indication}. "
            f"Abstract: This video demonstrates a {procedure['tag']} in a patient with {indication}. "
            f"The main steps are {steps}.")
