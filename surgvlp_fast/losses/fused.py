"""The fused log-sum-exp statistics behind every fast contrastive loss, as an autograd Function.

For S = scale · x yᵀ (never stored whole; the kernels walk it in tiles with an online
log-sum-exp and recompute the tiles in the backward):

    row_lse[i] = logsumexp_j S[i, j]                        (rows=True)
    col_lse[g] = logsumexp over columns g·group .. g·group+group-1 and all rows   (cols=True)

`exclude[i]` (int64, -1 for none) removes entry (i, exclude[i]) from S. The losses in
`contrastive.py` combine these O(B) statistics with their positives in plain PyTorch.
"""
import torch

from surgvlp_fast._native import native_submodule


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


class _FusedLSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y, scale, group, rows, cols, exclude, backend):
        forward, backward = KERNELS[backend]()
        row_lse, col_lse = forward(x, y, scale, group, rows, cols, exclude)
        ctx.save_for_backward(x, y, row_lse, col_lse, exclude)
        ctx.scale, ctx.group, ctx.rows, ctx.cols, ctx.backward_kernel = scale, group, rows, cols, backward
        ctx.set_materialize_grads(False)
        if not rows:
            ctx.mark_non_differentiable(row_lse)
        if not cols:
            ctx.mark_non_differentiable(col_lse)
        return row_lse, col_lse

    @staticmethod
    def backward(ctx, grad_row, grad_col):
        x, y, row_lse, col_lse, exclude = ctx.saved_tensors
        grad_row = grad_row.contiguous() if ctx.rows and grad_row is not None else None
        grad_col = grad_col.contiguous() if ctx.cols and grad_col is not None else None
        if grad_row is None and grad_col is None:
            return (None,) * 8
        dx, dy = ctx.backward_kernel(x, y, ctx.scale, ctx.group, row_lse if grad_row is not None else None,
                                     col_lse if grad_col is not None else None, grad_row, grad_col, exclude)
        return dx, dy, None, None, None, None, None, None


def fused_lse(x, y, scale, *, backend, group=1, rows=True, cols=False, exclude=None):
    """(row_lse, col_lse) of S = scale · x yᵀ with the named fast backend ("cpu", "triton", "cuda").

    x (R, d) and y (C, d) (made contiguous here) are of one floating dtype and device; the statistics
    are float32 (float64 for float64 inputs). An output not asked for is an empty tensor.
    """
    return _FusedLSE.apply(x.contiguous(), y.contiguous(), float(scale), int(group), bool(rows), bool(cols), exclude, backend)
