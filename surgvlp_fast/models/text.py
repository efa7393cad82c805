"""Text encoder (reference.md §3): a Hugging Face BERT-like model and the last-n-layer pooling.

The reference merges WordPiece pieces into words in a Python loop over tokens, zero-pads back to
L positions, averages over the L positions and sums over the last 4 layers. That equals a masked
sum over every real token ([CLS]..[SEP]) divided by the *padded* length L, which is what
`pool_last_layers` computes in one pass.
"""
import os

import torch
from torch import nn


def pool_last_layers(hidden_states, attention_mask: torch.Tensor, last_n_layers: int) -> torch.Tensor:
    """e = (1/L_pad) · Σ_{last n layers} Σ_{t: mask_t = 1} H_t; hidden_states: per layer (N, L, H).

    One batched (1 × L) @ (L × H) product per layer, accumulated in float32.
    """
    mask = attention_mask.to(torch.float32).unsqueeze(1)                       # (N, 1, L)
    pooled = sum(torch.bmm(mask, h.float()) for h in hidden_states[-last_n_layers:])
    return pooled.squeeze(1) / attention_mask.shape[1]


def load_tokenizer(path: str):
    """A Hugging Face tokenizer from a local folder (never the hub)."""
    from transformers import AutoTokenizer

    if not path or not os.path.isdir(path):
        raise FileNotFoundError(f"tokenizer folder not found: {path!r} (a local Hugging Face tokenizer folder)")
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def build_bert(path: str = "", *, vocab_size: int | None = None, hidden_size: int = 768, num_layers: int = 12,
               num_heads: int = 12, intermediate_size: int = 3072, max_positions: int = 512,
               dropout: float = 0.1, pad_token_id: int = 0) -> nn.Module:
    """A local pretrained model (`path`) or a randomly initialised BERT of the given sizes."""
    from transformers import AutoConfig, AutoModel, BertConfig, BertModel

    if path:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"model.text.path: no such folder {path!r} (a local Hugging Face model)")
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if hasattr(config, key):
                setattr(config, key, dropout)
        model = AutoModel.from_pretrained(path, config=config, local_files_only=True)
    else:
        if vocab_size is None:
            raise ValueError("a randomly initialised text encoder needs a vocabulary size (model.text.tokenizer)")
        config = BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                            num_attention_heads=num_heads, intermediate_size=intermediate_size,
                            max_position_embeddings=max_positions, hidden_dropout_prob=dropout,
                            attention_probs_dropout_prob=dropout, pad_token_id=pad_token_id)
        model = BertModel(config, add_pooling_layer=False)
    if getattr(model, "pooler", None) is not None:
        model.pooler = None   # unused by the pooling; a parameter without gradient would break DDP
    return model


class TextEncoder(nn.Module):
    """Token dict of (N, L) → (N, d): last-n-layer masked-sum / L_pad pooling, optional Linear."""

    def __init__(self, bert: nn.Module, last_n_layers: int = 4, embed_dim: int | None = None,
                 projection: bool = False):
        super().__init__()
        self.model = bert
        self.last_n_layers = last_n_layers
        hidden = bert.config.hidden_size
        if last_n_layers < 1 or last_n_layers > bert.config.num_hidden_layers + 1:
            raise ValueError(f"last_n_layers={last_n_layers} but the model has {bert.config.num_hidden_layers} layers")
        if projection:
            self.projection = nn.Linear(hidden, embed_dim or hidden)
        elif embed_dim is not None and embed_dim != hidden:
            raise ValueError(f"text hidden size {hidden} != embedding size {embed_dim}: "
                             "set model.text.projection: true or model.embed_dim to the hidden size")
        else:
            self.projection = None

    @property
    def output_dim(self) -> int:
        return self.projection.out_features if self.projection is not None else self.model.config.hidden_size

    def forward(self, tokens: dict) -> torch.Tensor:
        inputs = {k: tokens[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in tokens}
        out = self.model(**inputs, output_hidden_states=True, return_dict=True)
        pooled = pool_last_layers(out.hidden_states, tokens["attention_mask"], self.last_n_layers)
        return self.projection(pooled) if self.projection is not None else pooled
