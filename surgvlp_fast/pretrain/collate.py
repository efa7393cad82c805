"""Batching of level-dataset samples: stack uint8 frames, tokenise the text groups.

A sample is a dict with `video` (T, 3, S, S) uint8, text groups under `sents_0`, `sents_1`,
`sents_summarize` (lists of K strings) and optionally `pos_step` (K,) long and other tensors.
The batch holds `video` (B, T, 3, S, S) uint8, each text group as {input_ids, attention_mask,
token_type_ids} of shape (B, K, L), and `pos_step` (B, K) long (-1 = padding).
"""
import torch

from .levels import TEXT_KEYS



def tokenize_groups(tokenizer, groups: list[list[str]], max_length: int, padding: str = "max_length") -> dict:
    """B groups of K texts each -> {input_ids, attention_mask, token_type_ids}, each (B, K, L) long.

    padding="max_length" pads every text to `max_length` (the reference, whose text pooling divides by
    L); padding="longest" pads to the longest text of the batch (faster, same masked sums).
    """
    if not groups or any(len(g) != len(groups[0]) for g in groups):
        raise ValueError(f"every sample needs the same number of texts, got {[len(g) for g in groups]}")
    b, k = len(groups), len(groups[0])
    flat = [text for group in groups for text in group]
    enc = tokenizer(flat, padding=padding, truncation=True, max_length=max_length, return_tensors="pt",
                    return_token_type_ids=True, return_attention_mask=True)
    return {key: enc[key].reshape(b, k, -1).long() for key in ("input_ids", "attention_mask", "token_type_ids")}


class TextCollator:
    """collate_fn for DataLoader. Tokenises in the worker, so the trainer receives tensors only.

    When samples of one batch carry different numbers of texts for a key (K varies), the shorter
    groups are padded by repeating their last text; `pos_step` (-1 on padding) marks the real ones.
    """

    def __init__(self, tokenizer, max_length: int = 77, padding: str = "max_length"):
        self.tokenizer, self.max_length, self.padding = tokenizer, max_length, padding

    def __call__(self, samples: list[dict]) -> dict:
        batch = {}
        for key in samples[0]:
            values = [s[key] for s in samples]
            if key in TEXT_KEYS:
                k = max(len(v) for v in values)
                if any(len(v) != k for v in values):
                    values = [list(v) + [v[-1]] * (k - len(v)) for v in values]
                batch[key] = tokenize_groups(self.tokenizer, values, self.max_length, self.padding)
            elif key == "pos_step":
                k = max(len(v) for v in values)
                out = torch.full((len(values), k), -1, dtype=torch.long)
                for i, v in enumerate(values):
                    out[i, : len(v)] = torch.as_tensor(v, dtype=torch.long)
                batch[key] = out
            elif isinstance(values[0], torch.Tensor):
                batch[key] = torch.stack(values)
            elif isinstance(values[0], (int, float)):
                batch[key] = torch.tensor(values)
            else:
                batch[key] = values
        return batch
