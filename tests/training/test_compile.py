"""torch.compile of the losses and of a whole training step on the CPU.

The fused contrastive node and soft-DTW are custom operators (schemas, fake implementations,
autograd formulas): the objective of every level traces into one graph (fullgraph: no graph
break inside the losses), and `train.compile` runs a training step with inductor equal to eager on a GPU
(on the CPU it is refused: torch 2.14.1's inductor miscompiles the step there).
"""
import pytest
import torch

import training_toy as toy
from training_helpers import TOY_FORWARD, assert_same_gradients
from surgvlp_fast.config import ConfigError
from surgvlp_fast.training.config import load_config
from surgvlp_fast.losses.contrastive import pick_backend
from surgvlp_fast.losses.objectives import ClipEmbeddings, LevelEmbeddings, build_objective
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.testing import assert_close
from surgvlp_fast.training.trainer import Trainer


def _embeddings(seed=0, b=6, t=4, k=3, d=16):
    gen = torch.Generator().manual_seed(seed)
    leaf = lambda *shape: torch.randn(*shape, generator=gen).requires_grad_()  # noqa: E731
    mask = torch.ones(b, k, dtype=torch.bool)
    mask[1, 2] = mask[4, 1:] = False
    clip = ClipEmbeddings([leaf(b, d), leaf(b, d), leaf(b, d)], leaf(b, d), leaf(b, k, d))
    level = LevelEmbeddings(leaf(b, t, d), leaf(b, d), leaf(b, k, d), mask)
    return clip, level


def test_objective_traces_in_one_graph_forward_and_backward():
    """fullgraph=True fails on any graph break; aot_eager traces forward and backward through the
    fake implementations and the registered autograd formulas."""
    objective = build_objective("peskavlp", dtw_levels=("keystep", "video"))

    def step(clip, level):
        return objective.clip(clip)[0] + objective.keystep(level)[0] + objective.video(level)[0]

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    clip, level = _embeddings()
    leaves = [*clip.views, clip.anchor_text, clip.candidate_texts, level.frames, level.parent, level.children]
    got = compiled(clip, level)
    got_grads = torch.autograd.grad(got, leaves)
    want = step(clip, level)
    want_grads = torch.autograd.grad(want, leaves)
    torch.testing.assert_close(got, want, rtol=0, atol=0)   # aot_eager runs the same eager kernels
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_meta_tensors_trace_the_fused_ops():
    backend = pick_backend("auto", torch.device("cpu"), "test")
    if backend == "reference":
        pytest.skip("the compiled core is hidden: the reference backend has no custom op")
    from surgvlp_fast.losses.fused import fused_contrastive
    from surgvlp_fast.losses.softdtw import _soft_dtw_op

    x, y = torch.empty(5, 8, device="meta"), torch.empty(15, 8, device="meta")
    row, col, pos = fused_contrastive(x, y, 1.0, group=3, rows=True, cols=True, positive=0, positive_group=3,
                                      backend=backend)
    assert row.shape == (5,) and col.shape == (5,) and pos.shape == (5,) and row.device.type == "meta"
    values, local = _soft_dtw_op(torch.empty(2, 6, 3, device="meta"), torch.empty(2, dtype=torch.long, device="meta"),
                                 0.1, "prob", False, True, backend)
    assert values.shape == (2,) and local.shape == (2, 6, 3, 3)


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


def test_train_compile_on_the_cpu_is_refused_with_the_reason(tmp_path, tokenizer_dir, tokenizer):
    """torch 2.14.1's inductor miscompiles the step's CPU kernels (seen: heap corruption with AVX-512, NaN
    losses with ATEN_CPU_CAPABILITY=avx2, at::vec code that does not compile with =default): refused."""
    cfg = load_config(None, toy.tiny_overrides(tokenizer_dir) + ["train.compile=true"])
    with pytest.raises(ConfigError, match="train.compile=true on the CPU"):
        Trainer(cfg, str(tmp_path / "run"), toy.toy_data(tokenizer), objective=build_objective("surgvlp"))


@pytest.mark.gpu
def test_train_compile_step_equals_eager(tmp_path, tokenizer_dir, tokenizer):
    """train.compile=true: one inductor-compiled training step (model + objective, forward,
    backward, optimizer) gives the eager step's loss and gradients within float tolerance (Adam turns
    the rounding of near-zero gradients into lr-sized updates: the parameters are compared loosely)."""
    overrides = toy.tiny_overrides(tokenizer_dir) + ["data.clip.batch_size=3", "model.text.num_layers=1", "device=cuda"]
    results, grads, params = [], [], []
    for compile_ in (False, True):
        cfg = load_config(None, overrides + [f"train.compile={str(compile_).lower()}"])
        trainer = Trainer(cfg, str(tmp_path / f"run{compile_}"), toy.toy_data(tokenizer, sizes={"clip": 3}),
                          objective=build_objective("surgvlp"))
        results.append(trainer.train_step("clip", 1))
        grads.append({n: p.grad for n, p in trainer.model.named_parameters() if p.grad is not None})
        params.append(trainer.model.state_dict())
    eager, compiled = results
    assert set(eager) == set(compiled)
    for name in ("loss", "clip_orig", "milnce_orig", "simclr"):   # logits up to 1/τ = 10 enter an exp
        assert_close(compiled[name], eager[name], TOY_FORWARD * 10, scale=10.0)
    assert_same_gradients(grads[1], grads[0], gain=10.0)
    lr = trainer.cfg.optim.lr   # Adam's first step moves each parameter by at most lr: two runs differ by 2·lr
    for name, value in params[0].items():
        torch.testing.assert_close(params[1][name], value, rtol=0, atol=2 * lr)
