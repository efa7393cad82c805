"""Every fast path of the contrastive losses against the reference: forward and gradients, on
fresh random inputs of odd shapes, single-process and local form."""
import pytest
import torch
from contrastive_cases import FAST_BACKENDS, LOSSES, as_tuple, fresh_seed, make_case, needs_native

from surgvlp_fast import losses
from surgvlp_fast.losses import reference

# (rows, width, candidates): odd sizes, and one that spans several 256 x 512 cpu tiles.
SHAPES = [(47, 31, 3), (1, 5, 2), (301, 19, 2)]


def compare(loss, backend, rows, width, k, dtype, local, atol, rtol):
    seed = fresh_seed()
    leaves, build = make_case(loss, rows, width, k, dtype, local=local, seed=seed)
    args, kwargs = build(*leaves)
    fast = as_tuple(getattr(losses, loss)(*args, backend=backend, **kwargs))
    ref = as_tuple(getattr(reference, loss)(*args, **kwargs))
    where = f"{loss} backend={backend} shape={(rows, width, k)} {dtype} local={local} seed={seed}"
    for f, r in zip(fast, ref):
        torch.testing.assert_close(f, r, atol=atol, rtol=rtol, msg=lambda m: f"{where}: loss: {m}")
    weights = torch.rand(len(fast), dtype=torch.float64)  # mixes the two directional terms
    fast_grads = torch.autograd.grad(sum(w * f for w, f in zip(weights, fast)), leaves)
    ref_grads = torch.autograd.grad(sum(w * r for w, r in zip(weights, ref)), leaves)
    for i, (f, r) in enumerate(zip(fast_grads, ref_grads)):
        torch.testing.assert_close(f, r, atol=atol, rtol=rtol, msg=lambda m: f"{where}: grad of input {i}: {m}")


@pytest.mark.parametrize("local", [False, True], ids=["single", "local"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_fast_matches_reference_float64(backend, loss, shape, local):
    if backend == "triton" and shape[0] > 64:
        shape = (37, 21, 3)  # the interpreter is slow; 37 rows still span several 16-row tiles
    compare(loss, backend, *shape, torch.float64, local, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("local", [False, True], ids=["single", "local"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_fast_matches_reference_float32(backend, loss, local):
    shape = (301, 19, 2) if backend == "cpu" else (47, 31, 3)
    compare(loss, backend, *shape, torch.float32, local, atol=2e-5, rtol=1e-4)
