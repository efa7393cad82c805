"""Soft-DTW (reference.md §4.3): every implementation against the cell-by-cell reference."""
import numpy as np
import pytest
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.backends import triton_available
from surgvlp_fast.losses.softdtw import soft_dtw
from surgvlp_fast.losses.softdtw_reference import soft_dtw_loop, soft_dtw_wavefront
from surgvlp_fast.testing import assert_close, dtw_bounds, rounding_bound

needs_native = pytest.mark.skipif(native_submodule("dtw") is None,
                                  reason="compiled core not built or switched off (SURGVLP_FAST_DISABLE_NATIVE=1)")
needs_triton = pytest.mark.skipif(not triton_available(), reason="Triton needs a GPU or TRITON_INTERPRET=1")

BACKENDS = [
    pytest.param("reference"),
    pytest.param("cpu", marks=needs_native),
    pytest.param("triton", marks=needs_triton),
]


def random_problem(batch, frames, steps, dtype=torch.float64, seed=0, prefix=False):
    g = torch.Generator().manual_seed(seed)
    cost = (torch.rand(batch, frames, steps, generator=g, dtype=torch.float64) * 4).to(dtype)
    if prefix:
        lengths = torch.randint(1, steps + 1, (batch,), generator=g)
        mask = torch.arange(steps)[None, :] < lengths[:, None]
    else:  # holes anywhere, at least one valid step per sample
        mask = torch.rand(batch, steps, generator=g) < 0.6
        mask[torch.arange(batch), torch.randint(0, steps, (batch,), generator=g)] = True
    return cost, mask


def values_and_grad(fn, cost, weights):
    cost = cost.clone().requires_grad_()
    values = fn(cost)
    (values * weights).sum().backward()
    return values.detach(), cost.grad


def assert_same_dtw(got, expected, cost, gamma, weights, dtype=torch.float64):
    """Values and gradients within the rounding bounds of tests/losses/dtw_bounds.py."""
    forward, size, backward = dtw_bounds(dtype, cost, gamma)
    assert_close(got[0], expected[0], forward, scale=size)
    assert_close(got[1], expected[1], backward, scale=weights.abs().max().item())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("softmin", ["prob", "standard"])
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_cell_by_cell_reference(backend, softmin, reverse):
    cost, mask = random_problem(5, 7, 4, seed=1)
    weights = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 3
    expected = values_and_grad(lambda c: soft_dtw_loop(c, mask, 0.1, softmin, reverse), cost, weights)
    got = values_and_grad(lambda c: soft_dtw(c, mask, 0.1, softmin, reverse=reverse, backend=backend), cost, weights)
    assert_same_dtw(got, expected, cost, 0.1, weights)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("softmin", ["prob", "standard"])
def test_float32_matches_float64_with_finite_gradients(backend, softmin):
    cost, mask = random_problem(6, 9, 5, seed=3)
    cost = cost * 10  # large costs: neighbours far apart, many weights underflow to exactly 0
    weights = torch.full((6,), 5.0, dtype=torch.float64)  # upstream gradients above 1 next to the BIG border
    expected = values_and_grad(lambda c: soft_dtw_loop(c, mask, 0.1, softmin, True), cost, weights)
    got = values_and_grad(lambda c: soft_dtw(c, mask, 0.1, softmin, reverse=True, backend=backend),
                          cost.float(), weights.float())
    assert torch.isfinite(got[1]).all()
    assert_same_dtw(got, expected, cost, 0.1, weights, dtype=torch.float32)


@needs_native
@pytest.mark.parametrize("softmin", ["prob", "standard"])
@pytest.mark.parametrize("reverse", [False, True])
def test_cpu_analytical_backward_gradcheck(softmin, reverse):
    cost, mask = random_problem(3, 4, 3, seed=4)
    cost.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda c: soft_dtw(c, mask, 0.3, softmin, reverse=reverse, backend="cpu"), (cost,))


@needs_triton
def test_triton_analytical_backward_gradcheck():  # the interpreter is slow: one tiny case
    cost, mask = random_problem(2, 3, 3, seed=4)
    cost.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda c: soft_dtw(c, mask, 0.3, "prob", reverse=True, backend="triton"), (cost,))


@pytest.mark.parametrize("backend", BACKENDS)
def test_half_precision_costs_are_computed_in_float32(backend):
    cost, mask = random_problem(3, 5, 4, seed=10)
    half = cost.to(torch.bfloat16).requires_grad_()
    values = soft_dtw(half, mask, 0.1, "prob", backend=backend)
    values.sum().backward()
    assert values.dtype == torch.bfloat16 and half.grad.dtype == torch.bfloat16
    forward, size, _ = dtw_bounds(torch.float32, half, 0.1)   # computed in float32, rounded once to bfloat16
    assert_close(values, soft_dtw_loop(half.detach().double(), mask), forward + rounding_bound(torch.bfloat16),
                 scale=size)
    assert torch.isfinite(half.grad.float()).all()


def test_wavefront_matches_loop_on_prefix_masks_and_wide_tables():
    for frames, steps in [(3, 6), (8, 8), (11, 2)]:  # fewer frames than steps too
        cost, mask = random_problem(4, frames, steps, seed=frames, prefix=True)
        forward, size, _ = dtw_bounds(torch.float64, cost, 0.2)
        for softmin in ("prob", "standard"):
            assert_close(soft_dtw_wavefront(cost, mask, 0.2, softmin), soft_dtw_loop(cost, mask, 0.2, softmin),
                         forward, scale=size)


def hard_dtw(cost: np.ndarray) -> float:
    """Classic DTW with moves (0,1), (1,1), (1,0) from (0,0) to (T,N)."""
    t, n = cost.shape
    table = np.full((t + 1, n + 1), np.inf)
    table[0, 0] = 0.0
    for i in range(1, t + 1):
        for j in range(1, n + 1):
            table[i, j] = cost[i - 1, j - 1] + min(table[i, j - 1], table[i - 1, j - 1], table[i - 1, j])
    return table[t, n]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("softmin", ["prob", "standard"])
def test_small_gamma_gives_hard_dtw_of_the_valid_steps(backend, softmin):
    cost, mask = random_problem(4, 6, 5, seed=5)
    gamma = 1e-4
    got = soft_dtw(cost, mask, gamma, softmin, backend=backend)
    # each cell's soft-min lies within γ·log 3 of the min, and a path has at most T + N cells
    near = gamma * np.log(3) * sum(cost.shape[1:])
    for b in range(4):
        valid = cost[b][:, mask[b]].numpy()
        assert got[b].item() == pytest.approx(hard_dtw(valid), abs=near)
        assert soft_dtw(cost, mask, gamma, softmin, reverse=True, backend=backend)[b].item() == pytest.approx(
            hard_dtw(valid[:, ::-1]), abs=near)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("softmin", ["prob", "standard"])
def test_single_step_is_the_sum_of_its_column(backend, softmin):
    cost, _ = random_problem(3, 5, 1, seed=6)
    cost.requires_grad_()
    forward, size, backward = dtw_bounds(torch.float64, cost, 0.1)
    values = soft_dtw(cost, None, 0.1, softmin, backend=backend)
    assert_close(values, cost.detach().sum(dim=(1, 2)), forward, scale=size)
    values.sum().backward()
    assert_close(cost.grad, torch.ones_like(cost), backward)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_is_the_valid_steps_reversed(backend):
    cost, mask = random_problem(4, 6, 5, seed=7)
    by_hand = []
    for b in range(4):
        columns = mask[b].nonzero().flatten().flip(0)
        by_hand.append(soft_dtw_loop(cost[b:b + 1, :, columns], None, 0.1, "prob")[0])
    forward, size, _ = dtw_bounds(torch.float64, cost, 0.1)
    assert_close(soft_dtw(cost, mask, 0.1, "prob", reverse=True, backend=backend), torch.stack(by_hand), forward,
                 scale=size)


@pytest.mark.parametrize("backend", BACKENDS)
def test_padded_steps_are_ignored(backend):
    cost, mask = random_problem(4, 6, 5, seed=8)
    noisy = cost.masked_fill(~mask[:, None, :], 1e6).requires_grad_()
    clean = cost.clone().requires_grad_()
    for reverse in (False, True):
        a = soft_dtw(noisy, mask, 0.1, "prob", reverse=reverse, backend=backend)
        b = soft_dtw(clean, mask, 0.1, "prob", reverse=reverse, backend=backend)
        torch.testing.assert_close(a, b, rtol=0, atol=0)   # padded cells never enter the computation
        (a.sum() + b.sum()).backward()
    torch.testing.assert_close(noisy.grad, clean.grad, rtol=0, atol=0)
    assert (noisy.grad.masked_select(~mask[:, None, :]) == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_padding_sample_is_rejected(backend, monkeypatch):
    """Rejected by the value checks (SURGVLP_FAST_CHECK_VALUES=1); the cpu kernel rejects it always."""
    cost, mask = random_problem(3, 4, 3, seed=9)
    mask[1] = False
    if backend == "cpu":
        with pytest.raises(RuntimeError, match="sample 1 has 0"):
            soft_dtw(cost, mask, 0.1, backend=backend)
    monkeypatch.setenv("SURGVLP_FAST_CHECK_VALUES", "1")
    with pytest.raises(ValueError, match=r"sample\(s\) \[1\] have no valid step"):
        soft_dtw(cost, mask, 0.1, backend=backend)


def test_bad_arguments_are_clear_errors():
    cost, mask = random_problem(2, 3, 3)
    with pytest.raises(ValueError, match="softmin='hard'"):
        soft_dtw(cost, mask, 0.1, "hard")
    with pytest.raises(ValueError, match="gamma must be > 0"):
        soft_dtw(cost, mask, 0.0)
    with pytest.raises(ValueError, match=r"step_mask has shape \(2, 2\)"):
        soft_dtw(cost, mask[:, :2])
    with pytest.raises(TypeError, match="bool"):
        soft_dtw(cost, mask.long())
    with pytest.raises(ValueError, match=r"must be \(B, T, N\)"):
        soft_dtw(cost[0], None)


@needs_native
def test_native_boundary_checks_its_inputs():
    kernels = native_submodule("dtw")
    cost = torch.rand(2, 3, 4)
    good = torch.tensor([2, 4])
    with pytest.raises(RuntimeError, match="at least one valid step"):
        kernels.forward(cost, torch.tensor([0, 2]), 0.1, "prob", False, True)
    with pytest.raises(RuntimeError, match="more than N = 4"):
        kernels.forward(cost, torch.tensor([5, 2]), 0.1, "prob", False, True)
    with pytest.raises(RuntimeError, match="int64"):
        kernels.forward(cost, good.int(), 0.1, "prob", False, True)
    with pytest.raises(RuntimeError, match="contiguous"):
        kernels.forward(cost.transpose(1, 2), torch.tensor([2, 3]), 0.1, "prob", False, True)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        kernels.forward(cost.half(), good, 0.1, "prob", False, True)
    with pytest.raises(RuntimeError, match="'prob' or 'standard'"):
        kernels.forward(cost, good, 0.1, "hard", False, True)
    with pytest.raises(RuntimeError, match="gamma must be > 0"):
        kernels.forward(cost, good, -1.0, "prob", False, True)
    with pytest.raises(RuntimeError, match=r"local_grads must be \(B, T, N, 3\)"):
        kernels.backward(torch.rand(2, 3, 4, 2), good, torch.rand(2), False)
    assert "soft-DTW" in kernels.describe()


@needs_native
def test_forced_backend_from_environment(monkeypatch):
    cost, mask = random_problem(2, 3, 3)
    monkeypatch.setenv("SURGVLP_FAST_BACKEND", "cuda")
    with pytest.raises(RuntimeError, match="soft_dtw: backend 'cuda' is not available"):
        soft_dtw(cost, mask)
    monkeypatch.setenv("SURGVLP_FAST_BACKEND", "reference")
    forward, size, _ = dtw_bounds(cost.dtype, cost, 0.1)
    assert_close(soft_dtw(cost, mask, backend="cpu"), soft_dtw_loop(cost, mask), forward, scale=size)


COMPILE_FOR_SM90 = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from surgvlp_fast.losses import softdtw_triton as k
common = {"lengths_ptr": "*i64", "batch": "i32", "frames": "i32", "steps": "i32", "REVERSE": "constexpr",
          "BLOCK_B": "constexpr", "BLOCK_N": "constexpr"}
forward = {**common, "cost_ptr": "*fp32", "values_ptr": "*fp32", "grads_ptr": "*fp32", "gamma_ptr": "*fp32",
           "STANDARD": "constexpr", "NEED_GRAD": "constexpr"}
backward = {**common, "grads_ptr": "*fp32", "grad_values_ptr": "*fp32", "grad_cost_ptr": "*fp32"}
sizes = {"REVERSE": True, "BLOCK_B": 16, "BLOCK_N": 16}
for fn, signature, extra in [(k._soft_dtw_forward_kernel, forward, {"STANDARD": False, "NEED_GRAD": True}),
                             (k._soft_dtw_backward_kernel, backward, {})]:
    signature = {name: signature[name] for name in fn.arg_names}
    compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs={**sizes, **extra}),
                              target=GPUTarget("cuda", 90, 32))
    assert "cubin" in compiled.asm
print("compiled")
"""


@needs_triton
def test_triton_kernels_compile_for_a_gpu():
    """The interpreter does not compile; this builds the kernels for sm_90 without a GPU."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", COMPILE_FOR_SM90], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and "compiled" in result.stdout, result.stderr[-3000:]
