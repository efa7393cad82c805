"""The CUDA and Triton backends on a GPU against the reference (skipped without one)."""
import pytest
import torch
from contrastive_cases import LOSSES, as_tuple, fresh_seed, make_case

from surgvlp_fast import losses
from surgvlp_fast.backends import cuda_kernels_available
from surgvlp_fast.losses import reference
from surgvlp_fast.testing import assert_close, contrastive_bounds


def _on_gpu(leaves):
    return [leaf.detach().cuda().requires_grad_() for leaf in leaves]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
@pytest.mark.parametrize("local", [False, True], ids=["single", "local"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("backend", ["cuda", "triton"])
def test_gpu_backend_matches_reference(backend, loss, local, dtype):
    if backend == "cuda" and not cuda_kernels_available():
        pytest.skip("the CUDA kernels were not compiled (SURGVLP_FAST_BUILD_CUDA=1)")
    seed = fresh_seed()
    cpu_leaves, build = make_case(loss, 133, 96, 3, dtype, local=local, seed=seed)
    leaves = _on_gpu(cpu_leaves)
    args, kwargs = build(*leaves)
    fast = as_tuple(getattr(losses, loss)(*args, backend=backend, **kwargs))
    ref = as_tuple(getattr(reference, loss)(*args, **kwargs))
    where = f"{backend} {loss} local={local} {dtype} seed={seed}"
    # Triton's float32 tl.dot rounds its inputs to tf32 (10 mantissa bits: float16's eps)
    rounding = torch.float16 if backend == "triton" and dtype == torch.float32 else dtype
    forward, backward, size = contrastive_bounds(loss, args, kwargs, 96, rounding)
    for f, r in zip(fast, ref):
        assert_close(f, r, forward, scale=size, msg=lambda m: f"{where}: {m}")
    grads = zip(torch.autograd.grad(sum(fast), leaves), torch.autograd.grad(sum(ref), leaves), leaves)
    for f_grad, r_grad, leaf in grads:
        assert_close(f_grad, r_grad, backward, scale=size / 133 / leaf.detach().norm(dim=-1).min().item(),
                     msg=lambda m: f"{where}: grad: {m}")


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cuda", "triton"])
def test_gpu_bfloat16_milnce(backend):
    if backend == "cuda" and not cuda_kernels_available():
        pytest.skip("the CUDA kernels were not compiled (SURGVLP_FAST_BUILD_CUDA=1)")
    v = torch.randn(257, 64, device="cuda").div_(8).bfloat16().requires_grad_()
    t = torch.randn(257, 4, 64, device="cuda").div_(8).bfloat16().requires_grad_()
    fast = losses.milnce_loss(v, t, backend=backend)
    exact = reference.milnce_loss(v.detach().double(), t.detach().double())
    assert fast.dtype == torch.float32 and abs(fast.item() - exact.item()) < 2e-2
    fast.backward()
    assert torch.isfinite(v.grad).all() and torch.isfinite(t.grad).all()
