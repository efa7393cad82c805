"""The loss API around the kernels: half-precision inputs, module forms, backend choice, and bad
input that must raise a clear error (never crash)."""
import pytest
import torch
from contrastive_cases import LOSSES, as_tuple, fresh_seed, make_case, needs_native, needs_triton
from surgvlp_fast import losses
from surgvlp_fast._native import native_submodule
from surgvlp_fast.losses import reference
from surgvlp_fast.testing import assert_close, contrastive_bounds, logit_size, rounding_bound


def half_bound(loss, first, second, dtype):
    """(loss bound, logit size) of float16 / bfloat16 inputs against the float64 reference on the same
    (rounded) values: the fast paths accumulate in float32, and the normalised losses round each unit
    vector to the input dtype once, an error that the exp turns relative with gain 1/τ."""
    forward, _, size = contrastive_bounds(loss, (first, second), {}, first.shape[-1], torch.float32)
    if loss != "milnce_loss":
        forward += rounding_bound(dtype, 1, depth=2, gain=logit_size(loss, first, second))
    return forward, size


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("loss,backend", [*(pytest.param(loss, "cpu", marks=needs_native) for loss in LOSSES),
                                          pytest.param("milnce_loss", "triton", marks=needs_triton),
                                          pytest.param("simclr_loss", "triton", marks=needs_triton)])
def test_half_inputs_accumulate_in_float32(backend, loss, dtype):
    seed = fresh_seed()
    rows = 47 if backend == "cpu" else 9
    leaves, build = make_case(loss, rows, 31, 3, dtype, local=False, seed=seed)
    fast = as_tuple(getattr(losses, loss)(*build(*leaves)[0], backend=backend))
    exact = as_tuple(getattr(reference, loss)(*(x.detach().double() for x in leaves)))
    bound, size = half_bound(loss, *leaves, dtype)
    for f, r in zip(fast, exact):   # a loss cancels (log-sum-exp minus a logit): its error is at the logits' size
        assert f.dtype == torch.float32
        error = abs(f.item() - r.item())
        assert error <= bound * (size + abs(r.item())), f"{loss} {dtype} seed={seed}: error {error:.2e}"
    grads = torch.autograd.grad(sum(fast), leaves)
    assert all(g.dtype == dtype and torch.isfinite(g).all() for g in grads)


@needs_native
def test_module_forms_match_functions():
    v, t = torch.randn(9, 7), torch.randn(9, 7)
    cands = torch.randn(9, 3, 7)

    def same(got, want, loss, second):   # the modules run the fused kernels (backend auto), the functions the reference
        forward, _, size = contrastive_bounds(loss, (v, second), {}, 7, torch.float32)
        assert_close(got, want, forward, scale=size)

    same(losses.MILNCELoss()(v, cands), losses.milnce_loss(v, cands, backend="reference"), "milnce_loss", cands)
    same(losses.CLIPLoss(0.2)(v, t), losses.clip_loss(v, t, 0.2, backend="reference"), "clip_loss", t)
    same(losses.NTXLoss(0.6, 0.2)(v, t), losses.ntx_loss(v, t, 0.6, 0.2, backend="reference"), "ntx_loss", t)
    same(losses.SimCLRLoss(0.3)(v, t), losses.simclr_loss(v, t, 0.3, backend="reference"), "simclr_loss", t)
    vt, tv = losses.InfoNCELoss(0.1)(v, t)
    same(0.5 * (vt + tv), losses.clip_loss(v, t, backend="reference"), "clip_loss", t)


def test_environment_variable_forces_the_backend(monkeypatch):
    v, t = torch.randn(5, 4), torch.randn(5, 4)
    monkeypatch.setenv("SURGVLP_FAST_BACKEND", "reference")
    torch.testing.assert_close(losses.clip_loss(v, t, backend="cpu"), reference.clip_loss(v, t), rtol=0, atol=0)
    monkeypatch.setenv("SURGVLP_FAST_BACKEND", "gpu")
    with pytest.raises(ValueError, match="SURGVLP_FAST_BACKEND"):
        losses.clip_loss(v, t)


def test_unavailable_backend_is_a_clear_error():
    v, t = torch.randn(5, 4), torch.randn(5, 4)
    with pytest.raises(RuntimeError, match="'cuda'"):
        losses.clip_loss(v, t, backend="cuda")
    if native_submodule("losses") is None:
        with pytest.raises(RuntimeError, match="compiled core"):
            losses.clip_loss(v, t, backend="cpu")


def _bad_cases():
    v, t, c = torch.randn(6, 5), torch.randn(6, 5), torch.randn(6, 3, 5)
    nan = v.clone()
    nan[2, 1] = float("nan")
    return [
        ("clip_loss", (v, t[:4]), {}, ValueError, "t has 4 rows, expected 6"),
        ("clip_loss", (v, torch.randn(6, 4)), {}, ValueError, "embedding width"),
        ("clip_loss", (v, t.double()), {}, TypeError, "same dtype|one dtype"),
        ("clip_loss", (v, t.long()), {}, TypeError, "float32"),
        ("clip_loss", (v, t.to("meta")), {}, ValueError, "is on meta"),
        ("clip_loss", (v[:0], t[:0]), {}, ValueError, "empty"),
        ("clip_loss", (nan, t), {}, ValueError, "NaN"),
        ("clip_loss", (v, t), {"temperature": 0.0}, ValueError, "temperature"),
        ("clip_loss", (v, t), {"v_all": v, "t_all": t, "offset": 1}, ValueError, "offset 1"),
        ("clip_loss", (v, t), {"offset": 2}, ValueError, "without the gathered batch"),
        ("milnce_loss", (v, t), {}, ValueError, r"\(B, K, d\)"),
        ("milnce_loss", (v, c), {"t_all": torch.randn(12, 2, 5), "offset": 0}, ValueError, "candidates"),
        ("milnce_loss", (v.unsqueeze(0), c), {}, ValueError, r"\(B, d\)"),
        ("simclr_loss", (v, t), {"a_all": torch.randn(6, 5), "b_all": torch.randn(7, 5)}, ValueError, "rows"),
        ("ntx_loss", (v, t), {"backend": "fastest"}, ValueError, "not one of"),
    ]


@pytest.mark.parametrize("backend", ["reference", pytest.param("cpu", marks=needs_native)])
@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: f"{c[0]}:{c[4]}")
def test_bad_input_raises_clear_error(case, backend, monkeypatch):
    loss, args, kwargs, error, message = case
    if message == "NaN":                    # a check of the values: on with the debug switch only
        with torch.no_grad():
            getattr(losses, loss)(*args, backend=backend, **kwargs)     # off: no read of the values
        monkeypatch.setenv("SURGVLP_FAST_CHECK_VALUES", "1")
    kwargs = {"backend": backend, **kwargs}
    with pytest.raises(error, match=message):
        getattr(losses, loss)(*args, **kwargs)


@needs_native
def test_non_contiguous_inputs_are_accepted():
    v, t = torch.randn(5, 8), torch.randn(8, 5).T
    assert not t.is_contiguous()
    forward, _, size = contrastive_bounds("clip_loss", (v, t), {}, 8, torch.float32)
    assert_close(losses.clip_loss(v, t, backend="cpu"), reference.clip_loss(v, t), forward, scale=size)
    c = torch.randn(3, 5, 4).transpose(0, 1)
    forward, _, size = contrastive_bounds("milnce_loss", (v[:, :4], c), {}, 4, torch.float32)
    assert_close(losses.milnce_loss(v[:, :4], c, backend="cpu"), reference.milnce_loss(v[:, :4], c), forward,
                 scale=size)


@needs_native
def test_native_kernel_checks_its_inputs():
    """The compiled functions check the metadata of everything themselves: a bad call raises, never
    crashes. They read no values: an exclude index outside the columns removes nothing."""
    kernels = native_submodule("losses")
    x, y = torch.randn(4, 3), torch.randn(6, 3)
    calls = [
        (lambda: kernels.lse_forward(x, torch.randn(6, 4), 1.0, True, False), "same embedding width"),
        (lambda: kernels.lse_forward(x, torch.randn(3, 6).T, 1.0, True, False), "contiguous"),
        (lambda: kernels.lse_forward(x, y.double(), 1.0, True, False), "same dtype"),
        (lambda: kernels.lse_forward(x[:0], y, 1.0, True, False), "empty"),
        (lambda: kernels.lse_forward(x.int(), y.int(), 1.0, True, False), "float32"),
        (lambda: kernels.lse_forward(x.unsqueeze(0), y, 1.0, True, False), "2-D"),
        (lambda: kernels.lse_forward(x, y, float("nan"), True, False), "scale"),
        (lambda: kernels.lse_forward(x, y, 1.0, False, False), "ask for"),
        (lambda: kernels.lse_forward(x, y, 1.0, True, False, torch.tensor([0, 1])), "one column index"),
        (lambda: kernels.lse_backward(x, y, 1.0, torch.zeros(3), None, torch.zeros(3), None), r"shape \(4\)"),
        (lambda: kernels.lse_backward(x, y, 1.0, None, None, torch.zeros(4), None), "without row_lse"),
    ]
    for call, message in calls:
        with pytest.raises(RuntimeError, match=message):
            call()
    outside, _ = kernels.lse_forward(x, y, 1.0, True, False, torch.tensor([0, -5, 2, 60]))
    inside, _ = kernels.lse_forward(x, y, 1.0, True, False, torch.tensor([0, -1, 2, -1]))
    torch.testing.assert_close(outside, inside, rtol=0, atol=0)   # the same columns removed


def test_auto_on_cuda_prefers_triton_over_cuda_cpp():
    from surgvlp_fast.backends import resolve_backend

    cuda = torch.device("cuda", 0)
    pick = lambda **present: resolve_backend("auto", cuda, kernel="k", cpu=True, **present)  # noqa: E731
    assert pick(triton=True, cuda=True) == "triton"
    assert pick(triton=False, cuda=True) == "cuda"
    assert pick(triton=False, cuda=False) == "reference"
    assert resolve_backend("cuda", cuda, kernel="k", cpu=True, triton=True, cuda=True) == "cuda"   # by name
