"""`predict`: a video in, a phase timeline out, by the zero-shot classifier of the protocols
(surgvlp_fast.zeroshot: class prompts averaged, frames scored by 100 x cosine, argmax; smoothing
is the centred moving average of frame embeddings over `smooth` seconds).

    timeline = surgvlp_fast.predict(model, "case.mp4", "cholec80", tokenizer=tokenizer, smooth=5)
    timeline.segments()        # [Segment(label, start, end, mean_score), ...]
"""
from __future__ import annotations

from typing import Callable

import torch

from .. import zeroshot
from ..models.modes import eval_mode
from .classes import ClassSet, class_set
from .embed import FrameSettings, embed_video, weights_device
from .probe import ProbeClassifier, moving_average
from .timeline import Timeline

PROMPT_TOKENS = 77   # the phase protocols' prompt length (cut to the text model's positions)


def text_length(model, wanted: int = PROMPT_TOKENS) -> int:
    """`wanted` tokens, or fewer when the text model has fewer positions (as `eval` does)."""
    config = getattr(getattr(getattr(model, "backbone_text", None), "model", None), "config", None)
    return min(wanted, getattr(config, "max_position_embeddings", wanted) or wanted)


class ClassEmbeddings:
    """A class set with its (C, d) class embeddings, encoded once for many videos."""

    def __init__(self, model, tokenizer, classes, *, max_length: int | None = None, device=None):
        self.classes: ClassSet = class_set(classes)
        self.embeddings = zeroshot.encode_class_prompts(
            model, tokenizer, [list(p) for p in self.classes.prompts],
            max_length=max_length or text_length(model), device=device or weights_device(model))


def smoothing_window(smooth: float, fps: float) -> int:
    """Frames in a `smooth`-second moving average at `fps` (1 = none)."""
    if smooth < 0:
        raise ValueError(f"smooth must be 0 or more seconds, got {smooth}")
    return max(1, int(round(smooth * fps)))


def classify(features: torch.Tensor, classes, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels (N,), probabilities (N, C)) of frame embeddings (N, d): L2-normalised ones scored against
    a ClassEmbeddings, raw ones through a ProbeClassifier's head (softmax of its logits)."""
    if isinstance(classes, ProbeClassifier):
        logits = classes.logits(moving_average(features, window))
        return logits.argmax(1), logits.softmax(dim=1)
    features = zeroshot.smooth_features(features, window)
    labels = zeroshot.predict(features, classes.embeddings)
    return labels, zeroshot.scores(features, classes.embeddings, scale=100.0).softmax(dim=1)


def predict(model, video, classes, *, tokenizer=None, fps: float = 1.0, smooth: float = 0.0, batch_size: int = 64,
            preprocess: str = "official", resize=(360, 640), crop: int = 224, device=None,
            amp_dtype: torch.dtype | None = None, threads: int = 1, max_length: int | None = None,
            progress: Callable[[int], None] | None = None, on_open: Callable[[int], None] | None = None) -> Timeline:
    """The timeline of `video` (any file FFmpeg reads) sampled at `fps`.

    classes: "cholec80" | "autolaparo" | a class file | a list of prompts | {name: prompt(s)} (these
    need `tokenizer`), a ClassEmbeddings (encoded once for many videos), or a ProbeClassifier (a trained
    linear-probe head: give the resize and crop it was trained with). The model is put in eval mode for
    the call. Raises VideoError for a file that cannot be read as a video.
    """
    probe = isinstance(classes, ProbeClassifier)
    if not isinstance(classes, ClassEmbeddings) and not probe:
        if tokenizer is None:
            raise ValueError("predict needs tokenizer= to encode the class prompts")
    settings = FrameSettings(fps=float(fps), preprocess=preprocess, resize=tuple(resize), crop=int(crop))
    window = smoothing_window(smooth, settings.fps)
    with eval_mode(model):
        if not isinstance(classes, ClassEmbeddings) and not probe:
            classes = ClassEmbeddings(model, tokenizer, classes, max_length=max_length, device=device)
        times, features, duration = embed_video(model, video, settings, batch_size=batch_size, device=device,
                                                amp_dtype=amp_dtype, threads=threads, progress=progress,
                                                on_open=on_open, normalize=not probe)
    labels, probabilities = classify(features, classes, window)
    return Timeline(str(video), list(classes.classes.names), times, labels.numpy(), probabilities.numpy(),
                    duration, settings.fps, float(smooth),
                    f"probe {classes.classes.source}" if probe else "zero-shot")
