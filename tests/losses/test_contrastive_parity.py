"""Every fast path of the contrastive losses against the reference: forward and gradients, on
fresh random inputs of odd shapes, single-process and local form."""
import pytest
import torch
from contrastive_cases import LOSSES, as_tuple, fresh_seed, make_case, needs_native, needs_triton
from surgvlp_fast import losses
from surgvlp_fast.losses import reference
from surgvlp_fast.testing import assert_close, contrastive_bounds

# (rows, width, candidates): odd sizes, and one that spans several 256 x 512 cpu tiles.
SHAPES = [(47, 31, 3), (1, 5, 2), (301, 19, 2)]
# The Triton interpreter (32 x 32 x 32 tiles) is slow: a shape of one tile and one of several
# row, column and width tiles.
TRITON_SHAPES = [(9, 11, 2), (40, 33, 2)]


def compare(loss, backend, rows, width, k, dtype, local):
    seed = fresh_seed()
    leaves, build = make_case(loss, rows, width, k, dtype, local=local, seed=seed)
    args, kwargs = build(*leaves)
    fast = as_tuple(getattr(losses, loss)(*args, backend=backend, **kwargs))
    ref = as_tuple(getattr(reference, loss)(*args, **kwargs))
    forward, backward, size = contrastive_bounds(loss, args, kwargs, width, dtype)
    where = f"{loss} backend={backend} shape={(rows, width, k)} {dtype} local={local} seed={seed}"
    for f, r in zip(fast, ref):
        assert_close(f, r, forward, scale=size, msg=lambda m: f"{where}: loss: {m}")
    weights = torch.rand(len(fast), dtype=torch.float64)  # mixes the two directional terms
    fast_grads = torch.autograd.grad(sum(w * f for w, f in zip(weights, fast)), leaves)
    ref_grads = torch.autograd.grad(sum(w * r for w, r in zip(weights, ref)), leaves)
    for i, (f, r, leaf) in enumerate(zip(fast_grads, ref_grads, leaves)):
        scale = size / rows / leaf.detach().norm(dim=-1).min().item()
        assert_close(f, r, backward, scale=scale, msg=lambda m: f"{where}: grad of input {i}: {m}")


@needs_native
@pytest.mark.parametrize("local", [False, True], ids=["single", "local"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("loss", LOSSES)
def test_cpu_matches_reference_float64(loss, shape, local):
    compare(loss, "cpu", *shape, torch.float64, local)


@needs_native
@pytest.mark.parametrize("local", [False, True], ids=["single", "local"])
@pytest.mark.parametrize("loss", LOSSES)
def test_cpu_matches_reference_float32(loss, local):
    compare(loss, "cpu", 301, 19, 2, torch.float32, local)


@needs_triton
@pytest.mark.parametrize("shape,local", [(TRITON_SHAPES[0], False), (TRITON_SHAPES[0], True),
                                         (TRITON_SHAPES[1], False)], ids=["one-tile", "local", "tiles"])
@pytest.mark.parametrize("loss", LOSSES)
def test_triton_matches_reference_float64(loss, shape, local):
    compare(loss, "triton", *shape, torch.float64, local)


@needs_triton
@pytest.mark.parametrize("loss", LOSSES)
def test_triton_matches_reference_float32(loss):
    compare(loss, "triton", *TRITON_SHAPES[1], torch.float32, False)
