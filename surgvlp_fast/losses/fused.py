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
into the kernel's two output buffers in place: the extra memory of a loss is its inputs'
inverse norms and O(B) statistics, never B × B, and no normalised copy is kept.

The node is the custom operator `surgvlp_fast::fused_contrastive` (schema, fake implementation
and autograd formula registered with torch.library), so `torch.compile` and meta tensors trace
it as one opaque op, forward and backward. Nothing here reads tensor values on the host: the
inputs are checked from their metadata by the public functions (contrastive.py).

Every backend computes in `dtypes.compute_dtype` (the loss package's numerics rule), and the
grouped column reduction is `group_columns` alone: every kernel returns and takes per-column
statistics. The Triton kernels are imported only when the "triton" backend runs (Triton is an
optional dependency).
"""
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.losses.dtypes import compute_dtype

_EPS = 1e-12  # F.normalize's


def group_columns(per_column: torch.Tensor, group: int) -> torch.Tensor:
    """Log-sum-exp over each group of `group` consecutive columns (C,) -> (C / group,)."""
    return per_column if group == 1 else per_column.view(-1, group).logsumexp(1)


def _kernels(backend: str):
    if backend == "triton":
        from surgvlp_fast.losses import triton_lse   # Triton is optional: loaded when its backend runs

        return triton_lse.lse_forward, triton_lse.lse_backward
    suffix = {"cpu": "", "cuda": "_cuda"}[backend]
    module = native_submodule("losses")
    return getattr(module, "lse_forward" + suffix), getattr(module, "lse_backward" + suffix)


def _inverse_norm(x):
    return 1.0 / torch.linalg.vector_norm(x, dim=1, dtype=compute_dtype(x.dtype)).clamp_min(_EPS)


def _scaled(x, inv):
    """n(x) in x's dtype (the kernel's GEMM operand), computed in float32 / float64."""
    if not inv.numel():
        return x
    return (x.to(inv.dtype) * inv.unsqueeze(1)).to(x.dtype)


def _positive_rows(y, positive_start, positive_index, group, rows):
    """(rows, group, d) view (int start) or copy (index tensor) of each row's positive columns."""
    candidates = y.view(-1, group, y.shape[1])
    if positive_index is None:
        return candidates.narrow(0, positive_start, rows)
    return candidates.index_select(0, positive_index)


def _empty(x):
    return x.new_empty(0, dtype=compute_dtype(x.dtype))


@torch.library.custom_op("surgvlp_fast::fused_contrastive", mutates_args=())
def _fused_forward(x: torch.Tensor, y: torch.Tensor | None, scale: float, group: int, rows: bool, cols: bool,
                   exclude: torch.Tensor | None, has_positive: bool, positive_start: int,
                   positive_index: torch.Tensor | None, positive_group: int, normalize: bool, backend: str
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row_lse, col_lse, pos, x_inv, y_inv, weights); y None: S = x' x'ᵀ. The last three are what
    the backward needs besides the inputs (inverse norms, softmax over each row's positives)."""
    forward_kernel, _ = _kernels(backend)
    x_inv = _inverse_norm(x) if normalize else _empty(x)
    y_inv = _empty(x) if y is None or not normalize else _inverse_norm(y)
    xs = _scaled(x, x_inv)
    ys = xs if y is None else _scaled(y, y_inv)
    row_lse, per_column = forward_kernel(xs, ys, scale, rows, cols, exclude)
    col_lse = group_columns(per_column, group) if cols else per_column
    pos, weights = _empty(x), _empty(x)
    if has_positive:
        cdt = compute_dtype(x.dtype)
        pos_logits = torch.bmm(_positive_rows(ys, positive_start, positive_index, positive_group, x.shape[0]).to(cdt),
                               xs.to(cdt).unsqueeze(2)).squeeze(2) * scale
        pos = torch.logsumexp(pos_logits, dim=1)
        weights = torch.softmax(pos_logits, dim=1)
    return row_lse, col_lse, pos, x_inv, y_inv, weights


@_fused_forward.register_fake
def _(x, y, scale, group, rows, cols, exclude, has_positive, positive_start, positive_index, positive_group,
      normalize, backend):
    cdt, r = compute_dtype(x.dtype), x.shape[0]
    c = x.shape[0] if y is None else y.shape[0]
    new = lambda *shape: x.new_empty(shape, dtype=cdt)  # noqa: E731
    return (new(r if rows else 0), new(c // group if cols else 0), new(r if has_positive else 0),
            new(r if normalize else 0), new(c if normalize and y is not None else 0),
            new(r, positive_group) if has_positive else new(0))


@torch.library.custom_op("surgvlp_fast::fused_contrastive_backward", mutates_args=())
def _fused_backward(x: torch.Tensor, y: torch.Tensor | None, x_inv: torch.Tensor, y_inv: torch.Tensor,
                    row_lse: torch.Tensor, col_lse: torch.Tensor, weights: torch.Tensor, grad_row: torch.Tensor | None,
                    grad_col: torch.Tensor | None, grad_pos: torch.Tensor | None, scale: float, group: int,
                    exclude: torch.Tensor | None, positive_start: int, positive_index: torch.Tensor | None,
                    positive_group: int, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(dx, dy) in the inputs' dtypes; dy is empty for a self-similarity (y None: dx holds both)."""
    _, backward_kernel = _kernels(backend)
    xs = _scaled(x, x_inv)
    ys = xs if y is None else _scaled(y, y_inv)
    grad_row = grad_row.contiguous() if grad_row is not None and row_lse.numel() else None
    grad_col = grad_col.contiguous() if grad_col is not None and col_lse.numel() else None
    # The kernel's gradients w.r.t. x' and y' (compute dtype), zeros when only pos is used; the
    # column statistics go in per column (the backward of group_columns).
    per_column = (lambda t: t.repeat_interleave(group)) if group > 1 else (lambda t: t)  # noqa: E731
    dxs, dys = backward_kernel(xs, ys, scale, row_lse if grad_row is not None else None,
                               per_column(col_lse) if grad_col is not None else None, grad_row,
                               per_column(grad_col) if grad_col is not None else None, exclude)
    if grad_pos is not None and weights.numel():
        cdt = dxs.dtype
        coeff = weights * grad_pos.unsqueeze(1) * scale              # (R, pgroup)
        y_pos = _positive_rows(ys, positive_start, positive_index, positive_group, x.shape[0]).to(cdt)
        dxs.unsqueeze(1).baddbmm_(coeff.unsqueeze(1), y_pos)
        candidates = dys.view(-1, positive_group, ys.shape[1])
        if positive_index is None:
            candidates.narrow(0, positive_start, x.shape[0]).baddbmm_(coeff.unsqueeze(2), xs.to(cdt).unsqueeze(1))
        else:
            candidates.index_add_(0, positive_index, coeff.unsqueeze(2) * xs.to(cdt).unsqueeze(1))
    dx = _normalise_backward(dxs, xs, x_inv)
    dy = _normalise_backward(dys, ys, x_inv if y is None else y_inv)
    if y is None:
        return dx.add_(dy).to(x.dtype), x.new_empty(0)
    return dx.to(x.dtype), dy.to(y.dtype)


@_fused_backward.register_fake
def _(x, y, x_inv, y_inv, row_lse, col_lse, weights, grad_row, grad_col, grad_pos, scale, group, exclude,
      positive_start, positive_index, positive_group, backend):
    return torch.empty_like(x), (x.new_empty(0) if y is None else torch.empty_like(y))


def _setup_context(ctx, inputs, output):
    x, y, scale, group, rows, cols, exclude, has_positive, start, index, pgroup, normalize, backend = inputs
    row_lse, col_lse, _, x_inv, y_inv, weights = output
    ctx.save_for_backward(x, y, x_inv, y_inv, row_lse, col_lse, weights, exclude, index)
    ctx.options = (scale, group, start, pgroup, backend)


def _backward(ctx, grad_row, grad_col, grad_pos, *_):
    x, y, x_inv, y_inv, row_lse, col_lse, weights, exclude, index = ctx.saved_tensors
    scale, group, start, pgroup, backend = ctx.options
    dx, dy = _fused_backward(x, y, x_inv, y_inv, row_lse, col_lse, weights, grad_row, grad_col, grad_pos, scale,
                             group, exclude, start, index, pgroup, backend)
    return dx, (None if y is None else dy), *(None,) * 11


_fused_forward.register_autograd(_backward, setup_context=_setup_context)


def _normalise_backward(grad, unit, inv):
    """In place: the gradient w.r.t. x of n(x) = x·inv, given the gradient w.r.t. n(x)."""
    if not inv.numel():
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
    y = None if same else y.contiguous()
    index = positive if isinstance(positive, torch.Tensor) else None
    start = positive if isinstance(positive, int) else 0
    row_lse, col_lse, pos, *_ = _fused_forward(x, y, float(scale), int(group), bool(rows), bool(cols), exclude,
                                               positive is not None, start, index, int(positive_group),
                                               bool(normalize), backend)
    return row_lse, col_lse, pos
