"""One autograd node per contrastive term, around the fused log-sum-exp kernels.

For S = scale · x' y'ᵀ, where x', y' are x, y or their row-normalised n(x), n(y) (never stored
whole: the kernels walk S in tiles with an online log-sum-exp and recompute the tiles in the
backward), `fused_contrastive` returns

    row_lse[i] = logsumexp_j S[i, j]                                        (rows=True)
    col_lse[g] = logsumexp of columns g·group .. g·group+group-1 over all rows  (cols=True)
    pos[i]     = logsumexp_k S[i, p_i·pgroup + k], k < pgroup, p_i = positive + i (an int) or
                 positive[i] (an int64 tensor)                               (positive given)

`exclude[i]` (int64, -1 for none) removes entry (i, exclude[i]) from the row and column sums.
Normalisation and the positives are inside the node, so the backward writes every gradient
into the kernel's two output buffers in place: the extra memory of a loss is a few copies of
its inputs, never B × B.
"""
import torch

from surgvlp_fast._native import native_submodule

_EPS = 1e-12  # F.normalize's


def _native_kernels(suffix: str):
    module = native_submodule("losses")
    return getattr(module, "lse_forward" + suffix), getattr(module, "lse_backward" + suffix)


def _triton_kernels():
    from surgvlp_fast.losses import triton_lse

    return triton_lse.lse_forward, triton_lse.lse_backward


KERNELS = {
    "cpu": lambda: _native_kernels(""),
    "cuda": lambda: _native_kernels("_cuda"),
    "triton": _triton_kernels,
}


def _compute_dtype(x):
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _inverse_norm(x):
    return 1.0 / torch.linalg.vector_norm(x, dim=1, dtype=_compute_dtype(x)).clamp_min(_EPS)


def _scaled(x, inv):
    """n(x) in x's dtype (the kernel's GEMM operand), computed in float32 / float64."""
    if inv is None:
        return x
    return (x.to(inv.dtype) * inv.unsqueeze(1)).to(x.dtype)


def _positive_rows(y, positive, group, rows):
    """(rows, group, d) view (int start) or copy (index tensor) of each row's positive columns."""
    candidates = y.view(-1, group, y.shape[1])
    if isinstance(positive, int):
        return candidates.narrow(0, positive, rows)
    return candidates.index_select(0, positive)


class _FusedContrastive(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y, scale, group, rows, cols, exclude, positive, pgroup, normalize, backend):
        forward_kernel, backward_kernel = KERNELS[backend]()
        same = y is x
        x_inv = _inverse_norm(x) if normalize else None
        y_inv = x_inv if same or not normalize else _inverse_norm(y)
        xs = _scaled(x, x_inv)
        ys = xs if same else _scaled(y, y_inv)
        row_lse, col_lse = forward_kernel(xs, ys, scale, group, rows, cols, exclude)
        weights = pos = row_lse.new_empty(0)
        if positive is not None:
            cdt = _compute_dtype(x)
            pos_logits = torch.bmm(_positive_rows(ys, positive, pgroup, x.shape[0]).to(cdt),
                                   xs.to(cdt).unsqueeze(2)).squeeze(2) * scale
            pos = torch.logsumexp(pos_logits, dim=1)
            weights = torch.softmax(pos_logits, dim=1)
        ctx.save_for_backward(x, y, x_inv, y_inv, row_lse, col_lse, weights, exclude,
                              positive if isinstance(positive, torch.Tensor) else None)
        ctx.options = (scale, group, rows, cols, positive if isinstance(positive, int) else None, pgroup, same,
                       backward_kernel)
        ctx.set_materialize_grads(False)
        for wanted, out in ((rows, row_lse), (cols, col_lse), (positive is not None, pos)):
            if not wanted:
                ctx.mark_non_differentiable(out)
        return row_lse, col_lse, pos

    @staticmethod
    def backward(ctx, grad_row, grad_col, grad_pos):
        x, y, x_inv, y_inv, row_lse, col_lse, weights, exclude, positive_index = ctx.saved_tensors
        scale, group, rows, cols, positive_start, pgroup, same, backward_kernel = ctx.options
        grad_row = grad_row.contiguous() if rows and grad_row is not None else None
        grad_col = grad_col.contiguous() if cols and grad_col is not None else None
        xs = _scaled(x, x_inv)
        ys = xs if same else _scaled(y, y_inv)
        # The kernel's gradients w.r.t. x' and y' (compute dtype), zeros when only pos is used.
        dxs, dys = backward_kernel(xs, ys, scale, group, row_lse if grad_row is not None else None,
                                   col_lse if grad_col is not None else None, grad_row, grad_col, exclude)
        if grad_pos is not None and weights.numel():
            cdt = dxs.dtype
            coeff = weights * grad_pos.unsqueeze(1) * scale              # (R, pgroup)
            positive = positive_start if positive_index is None else positive_index
            y_pos = _positive_rows(ys, positive, pgroup, x.shape[0]).to(cdt)
            dxs.unsqueeze(1).baddbmm_(coeff.unsqueeze(1), y_pos)
            if positive_index is None:
                dys.view(-1, pgroup, y.shape[1]).narrow(0, positive_start, x.shape[0]).baddbmm_(
                    coeff.unsqueeze(2), xs.to(cdt).unsqueeze(1))
            else:
                dys.view(-1, pgroup, y.shape[1]).index_add_(
                    0, positive_index, coeff.unsqueeze(2) * xs.to(cdt).unsqueeze(1))
        dx = _normalise_backward(dxs, xs, x_inv).to(x.dtype)
        dy = _normalise_backward(dys, ys, y_inv).to(y.dtype)
        if same:
            return dx + dy, None, *(None,) * 9
        return dx, dy, *(None,) * 9


def _normalise_backward(grad, unit, inv):
    """In place: the gradient w.r.t. x of n(x) = x·inv, given the gradient w.r.t. n(x)."""
    if inv is None:
        return grad
    unit = unit.to(grad.dtype)
    along = torch.bmm(unit.unsqueeze(1), grad.unsqueeze(2)).view(-1, 1)   # (unit · grad) per row
    return grad.addcmul_(unit, along, value=-1).mul_(inv.unsqueeze(1))


def fused_contrastive(x, y, scale, *, backend, group=1, rows=True, cols=False, exclude=None, positive=None,
                      positive_group=1, normalize=False):
    """(row_lse, col_lse, pos) as in the module docstring, with the fast `backend` ("cpu",
    "triton", "cuda"). Outputs not asked for are empty tensors. Pass the same tensor as x and y
    for a self-similarity. Statistics are float32 (float64 for float64 inputs)."""
    same = y is x
    x = x.contiguous()
    y = x if same else y.contiguous()
    return _FusedContrastive.apply(x, y, float(scale), int(group), bool(rows), bool(cols), exclude, positive,
                                   int(positive_group), bool(normalize), backend)
