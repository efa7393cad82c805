"""The vectorised last-n-layer pooling equals the reference's token loop (reference.md §3)."""
import importlib.util
import os

import pytest
import torch

from surgvlp_fast.models import TextEncoder, build_bert, pool_last_layers
from surgvlp_fast.testing import assert_close, rounding_bound

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bench():
    spec = importlib.util.spec_from_file_location("bench_text_pooling",
                                                  os.path.join(ROOT, "benchmarks", "bench_text_pooling.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.mark.parametrize("length,last_n", [(77, 4), (35, 1), (23, 3)])
def test_pooling_equals_token_loop_on_random_hidden_states(length, last_n):
    hs, tokens, vocab = bench.make_inputs(9, length=length, hidden=16, layers=5, seed=length)
    hs = [h.double() for h in hs]
    ours = pool_last_layers(hs, tokens["attention_mask"], last_n)
    loop = bench.token_loop_pooling(hs, tokens["input_ids"], vocab, last_n)
    assert_close(ours, loop, rounding_bound(torch.float32, last_n * length, depth=2))   # masked sum, / L_pad (in float32)


def test_text_encoder_equals_token_loop_and_has_gradients():
    tokenizer = bench.minilm_tokenizer()
    bert = build_bert(vocab_size=len(tokenizer), hidden_size=32, num_layers=4, num_heads=2,
                      intermediate_size=64, max_positions=80, dropout=0.0)
    encoder = TextEncoder(bert, last_n_layers=4, embed_dim=32).eval()
    texts = bench.SENTENCES + ["a", "grasper"]
    tokens = tokenizer(texts, padding="max_length", truncation=True, max_length=20, return_tensors="pt")
    emb = encoder(dict(tokens))
    hidden = bert(**tokens, output_hidden_states=True).hidden_states
    vocab = {i: t for t, i in tokenizer.get_vocab().items()}
    # the same hidden states; the pooling's sum over 4 layers x 20 tokens and the projection's over 32
    assert_close(emb, bench.token_loop_pooling(hidden, tokens["input_ids"], vocab, 4),
                 rounding_bound(torch.float32, 4 * 20, depth=3))
    assert emb.shape == (len(texts), 32)
    emb.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters()), "every parameter must get a gradient (DDP)"


def test_pooling_gradient_matches_token_loop():
    hs, tokens, vocab = bench.make_inputs(4, length=12, hidden=8, layers=4, seed=3)
    hs = [h.double().requires_grad_() for h in hs]
    g1 = torch.autograd.grad(pool_last_layers(hs, tokens["attention_mask"], 4).pow(2).sum(), hs)
    g2 = torch.autograd.grad(bench.token_loop_pooling(hs, tokens["input_ids"], vocab, 4).pow(2).sum(), hs)
    for a, b in zip(g1, g2):
        assert_close(a, b, rounding_bound(torch.float32, 4 * 12, depth=3))


def test_projection_and_size_checks():
    bert = build_bert(vocab_size=50, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32)
    assert TextEncoder(bert, 2, embed_dim=8, projection=True).output_dim == 8
    with pytest.raises(ValueError, match="projection"):
        TextEncoder(bert, 2, embed_dim=8, projection=False)
    with pytest.raises(ValueError, match="last_n_layers"):
        TextEncoder(bert, 5)
