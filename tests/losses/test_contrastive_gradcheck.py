"""float64 gradcheck of the reference losses and of the fused cpu kernels."""
import pytest
import torch
from contrastive_cases import LOSSES, as_tuple, fresh_seed, make_case, needs_native
from surgvlp_fast import losses
from surgvlp_fast.losses import reference
from surgvlp_fast.losses.fused import fused_contrastive
from surgvlp_fast.testing import gradcheck_tolerances, logit_size, rounding_bound


def check(fn, leaves, size, fast_mode=False):
    """gradcheck with tolerances from surgvlp_fast.testing.gradcheck_tolerances: logits of size `size`, a few dozen
    terms, the function's largest value."""
    value = max(o.detach().abs().max().item() for o in as_tuple(fn(*leaves)))
    bound = rounding_bound(torch.float64, 64, depth=3, gain=size)
    atol, rtol = gradcheck_tolerances(bound, size, value)
    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=atol, rtol=rtol, fast_mode=fast_mode)


def loss_gradcheck(module, loss, local, **options):
    leaves, build = make_case(loss, 3, 4, 2, torch.float64, local=local, seed=fresh_seed())

    def fn(*inputs):
        args, kwargs = build(*inputs)
        return as_tuple(getattr(module, loss)(*args, **kwargs, **options))

    args, kwargs = build(*leaves)
    first, second = kwargs.get("v_all", kwargs.get("a_all", args[0])), kwargs.get("t_all", kwargs.get("b_all", args[1]))
    check(fn, leaves, logit_size(loss, first, second), fast_mode=local)  # local: 6 inputs, random projections


@pytest.mark.parametrize("local", [False, True], ids=["single", "local"])
@pytest.mark.parametrize("loss", LOSSES)
def test_reference_gradcheck(loss, local):
    loss_gradcheck(reference, loss, local)


@needs_native
@pytest.mark.parametrize("local", [False, True], ids=["single", "local"])
@pytest.mark.parametrize("loss", LOSSES)
def test_cpu_loss_gradcheck(loss, local):
    loss_gradcheck(losses, loss, local, backend="cpu")


@needs_native
@pytest.mark.parametrize("normalize", [False, True], ids=["raw", "normalised"])
@pytest.mark.parametrize("positive", [None, 0, "index"])
@pytest.mark.parametrize("rows,cols", [(True, False), (False, True), (True, True)])
def test_cpu_node_gradcheck(rows, cols, positive, normalize):
    """One fused node: grouped columns, an excluded entry per row, both kinds of positives."""
    gen = torch.Generator().manual_seed(fresh_seed())
    x = torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.randn(6, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    exclude = torch.tensor([0, -1, 5])
    if positive == "index":
        positive = torch.tensor([2, 0, 1])

    def fn(x, y):
        row, col, pos = fused_contrastive(x, y, 0.7, group=2, rows=rows, cols=cols, exclude=exclude,
                                          positive=positive, positive_group=2, normalize=normalize,
                                          backend="cpu")
        wanted = ((row, rows), (col, cols), (pos, positive is not None))
        return tuple(s for s, keep in wanted if keep)

    check(fn, (x, y), (1 if normalize else x.norm(dim=-1).max().item() * y.norm(dim=-1).max().item()) / 0.7)
