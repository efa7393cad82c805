"""Zero-shot classification with a dual encoder: class prompts -> text embeddings -> frame scores.

Needs only a model with `encode_text({input_ids, attention_mask, token_type_ids} of (N, L)) -> (N, d)`
(frame embeddings come from its `encode_frames`), a tokenizer with the Hugging Face signature
`tokenizer(texts, padding="max_length", truncation=True, max_length=L, return_tensors="pt")` and
tensors: no dataset, no evaluation harness, no process group. A class may have several prompts
(a prompt line holds them separated by " | "): their L2-normalised embeddings are averaged and
re-normalised. Frames are scored by the cosine similarity of normalised embeddings, optionally
after a centred moving average over neighbouring frames.

    import torch
    import torch.nn.functional as F
    import surgvlp_fast
    from surgvlp_fast import zeroshot
    from surgvlp_fast.resources import class_prompts, phase_names

    model, tokenizer, preprocess = surgvlp_fast.load("PeskaVLP.zip", text_model="models/Bio_ClinicalBERT")
    classes = zeroshot.encode_class_prompts(model, tokenizer, zeroshot.prompt_groups(class_prompts("cholec80")))
    with torch.no_grad():
        frames = model.encode_frames(torch.stack([preprocess(f"frames/video49_{k}.png") for k in range(1, 61)]))
    frames = zeroshot.smooth_features(F.normalize(frames.float(), dim=-1), window=5)
    print([phase_names("cholec80")[i] for i in zeroshot.predict(frames, classes)])
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

PROMPT_SEPARATOR = " | "


def prompt_groups(lines: Sequence[str]) -> list[list[str]]:
    """One prompt line per class -> each class's prompts (split at " | ", blanks dropped)."""
    return [[p.strip() for p in line.split(PROMPT_SEPARATOR) if p.strip()] for line in lines]


def tokenize(tokenizer, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """The model's text input for `texts`, padded to `max_length` tokens (longer texts cut)."""
    tokens = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length,
                       return_tensors="pt")
    return {key: tokens[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in tokens}


@torch.no_grad()
def encode_texts(model, tokenizer, texts: Sequence[str], *, max_length: int = 77, device="cpu",
                 batch_size: int = 256) -> torch.Tensor:
    """(N, d) L2-normalised text embeddings, in float32 on the CPU."""
    out = []
    for start in range(0, len(texts), batch_size):
        tokens = tokenize(tokenizer, texts[start:start + batch_size], max_length)
        tokens = {k: v.to(device) for k, v in tokens.items()}
        out.append(F.normalize(model.encode_text(tokens).float(), dim=-1).cpu())
    return torch.cat(out)


def encode_class_prompts(model, tokenizer, prompts: Sequence[Sequence[str] | str], **kwargs) -> torch.Tensor:
    """(C, d) class embeddings: each class's prompts encoded, normalised, averaged, re-normalised.

    `prompts[c]` is class c's prompt or list of prompts; with one prompt per class (the reference
    protocol) a class embedding is that prompt's. `kwargs` go to `encode_texts`.
    """
    groups = [[p] if isinstance(p, str) else list(p) for p in prompts]
    if any(len(g) == 0 for g in groups):
        raise ValueError("every class needs at least one prompt")
    flat = encode_texts(model, tokenizer, [p for g in groups for p in g], **kwargs)
    sizes = [len(g) for g in groups]
    return F.normalize(torch.stack([chunk.mean(0) for chunk in flat.split(sizes)]), dim=-1)


def smooth_features(features: torch.Tensor, window: int) -> torch.Tensor:
    """Centred moving average of (N, d) per-frame embeddings over `window` frames (1 = none),
    re-normalised. The window shrinks at the ends of the video."""
    if window <= 1:
        return features
    n = features.shape[0]
    csum = torch.cat([features.new_zeros(1, features.shape[1]), features.cumsum(0)])
    idx = torch.arange(n)
    lo = (idx - window // 2).clamp(min=0)
    hi = (idx + (window - 1) // 2 + 1).clamp(max=n)
    mean = (csum[hi] - csum[lo]) / (hi - lo).unsqueeze(1)
    return F.normalize(mean, dim=-1)


def scores(frame_features: torch.Tensor, class_features: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """(N, C) `scale` × the cosine similarity of L2-normalised frame (N, d) and class (C, d)
    embeddings (scale 100: the logits whose softmax is the class probabilities)."""
    return scale * frame_features @ class_features.T


def predict(frame_features: torch.Tensor, class_features: torch.Tensor) -> torch.Tensor:
    """(N,) each frame's class: the argmax of its 100·cosine logits (= of their softmax)."""
    return scores(frame_features, class_features, scale=100.0).argmax(1)
