"""Tolerances for comparing two floating-point evaluations of one computation, derived from the computation.

Two implementations of the same formula (a fused kernel and the reference, channels-last and NCHW, one
process and two) round differently: other summation orders, SIMD widths (`ATEN_CPU_CAPABILITY`), thread
counts, fused multiply-adds. A tolerance read off one machine's run breaks on the next CPU; a bound on
rounding itself holds on every one.

The bound (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1): in a floating-point type
with unit roundoff u = eps / 2, a sum or dot product of n terms x_i, computed in any order, has an error
of at most γ_n · Σ|x_i| with γ_n = n·u / (1 - n·u). Blocked, pairwise or vectorised orders only lower
the error, so the bound covers every kernel. Two results that each meet it differ by at most twice it.

- `depth` chained stages (layers; an elementwise exp, log or division counts as a one-term stage) each
  add such an error; to first order it passes on with a gain of about 1 when the activations are
  normalised, so the bounds add up.
- `gain` is the condition number of what follows a stage: 1 for linear maps and normalised layers, L for
  an exp of values of size L (softmax, log-sum-exp), which turns an absolute error of its argument into
  a relative error of its result.

    bound = 2 · depth · gain · γ_terms        (relative; bounds of separate parts add up)

and two results a, b agree when |a - b| <= bound · (|b| + scale), `scale` being the magnitude of the
summed terms: by default the largest |b| (the result is of the size of its terms); pass the terms'
magnitude where the result cancels (a gradient of a mean, a centred value). The bound is a worst case:
real differences are usually √n times smaller, and a wrong formula is off by far more. Where two results
are equal by construction (the same kernel, a bit-exact decoder, integer metrics), compare them exactly.

Below the general bound, the bounds of this library's losses, for their tests and benchmarks.

Soft-DTW: each cell takes a 3-term soft-min of its neighbours (an exp, a sum, a log: three stages) and adds its
cost; the soft-min's weights sum to 1, so an error passes on with a gain of 1 and the errors add up
along the longest path, T + N cells. The terms summed along a path are of size (T + N)·max|cost|.
The backward weighs each cell by exp((R_next - R - c) / γ): an absolute error of R becomes a relative
error of the weights with gain 1/γ; its own accumulation adds another path of errors. The gradients
are path probabilities (in [0, 1]) times the upstream gradients.
"""
import inspect
import math

import torch


def rounding_bound(dtype: torch.dtype, terms: int = 1, *, depth: int = 1, gain: float = 1.0) -> float:
    """The relative bound above for `depth` stages of `terms`-term reductions in `dtype`."""
    u = torch.finfo(dtype).eps / 2
    return 2 * depth * gain * terms * u / (1 - terms * u)


def assert_close(actual, expected, bound: float, *, scale: float | None = None, msg=None):
    """torch.testing.assert_close(rtol=bound, atol=bound·scale); `scale` defaults to the largest |expected|.
    `actual` is compared in `expected`'s dtype (a float32 result against a float64 reference)."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    if scale is None:
        scale = expected.detach().abs().max().item() if expected.numel() else 0.0
    torch.testing.assert_close(actual.detach().to(expected.dtype), expected.detach(), rtol=bound,
                               atol=bound * scale, msg=msg)


def dtw_bounds(dtype, cost, gamma):
    """(forward bound, the path's size, backward bound) of soft-DTW on a cost table (B, T, N)."""
    frames, steps = cost.shape[-2:]
    depth = 3 * (frames + steps)
    size = (frames + steps) * cost.detach().abs().max().item()
    forward = rounding_bound(dtype, 3, depth=depth)
    return forward, size, forward + rounding_bound(dtype, 3, depth=depth, gain=size / gamma)


def logit_size(loss, v, t):
    """The largest |logit|: 1/τ (the reference's default) for the normalised losses, max|v|·max|t| for
    MIL-NCE's raw dot products."""
    if loss == "milnce_loss":
        return (v.detach().norm(dim=-1).max() * t.detach().norm(dim=-1).max()).item()
    from surgvlp_fast.losses import reference

    return 1 / inspect.signature(getattr(reference, loss)).parameters["temperature"].default


def gradcheck_tolerances(bound, size, value, eps=1e-6):
    """(atol, rtol) for torch.autograd.gradcheck(eps=`eps`) of a float64 function with rounding bound
    `bound` and values up to `value`, whose logits of size `size` enter an exp: a central difference
    carries the rounding of f over ε (bound·value/ε) and a truncation error ε²/6·|f‴|, with
    |f‴| <= size²·|f′| for an exp of logits of that size."""
    return bound * value / eps, eps ** 2 * size ** 2


def contrastive_bounds(loss, args, kwargs, width, dtype):
    """(loss bound, gradient bound, logit size) of a contrastive loss
    (`args`, `kwargs` as the loss takes them). The logits (a normalisation and a dot product over
    `width`) enter an exp, whose gain is their size (logit_size). The sums over the columns and the mean
    over the rows follow; a gradient sums probabilities times logit derivatives once more. The loss
    (log-sum-exp minus the positive logit) cancels: compare it at the logits' size. A logit's derivative
    by a row x is at most size/|x|, and the mean over B rows divides it by B: the size of a gradient's
    terms, against which gradients that cancel (one row: exactly zero) are compared."""
    v, t = kwargs.get("v_all", kwargs.get("a_all", args[0])), kwargs.get("t_all", kwargs.get("b_all", args[1]))
    columns, rows = t.shape[0] * (t.shape[1] if t.dim() == 3 else 1), v.shape[0]
    if loss == "simclr_loss":   # each row is classified among both views
        columns *= 2
    size = logit_size(loss, v, t)
    forward = rounding_bound(dtype, width, depth=2, gain=size) + rounding_bound(dtype, columns + rows, depth=2)
    backward = forward + rounding_bound(dtype, columns + rows, depth=2)
    return forward, backward, size


def norms_max(tensors):
    """The largest row norm of several tensors."""
    return max(t.detach().norm(dim=-1).max().item() for t in tensors)


def objective_bound(tensors, dims, batch, candidates, temperature=0.1):
    """The float64 bound of the deepest term of an objective (losses.objectives) on the embeddings `tensors`
    of width `dims`, `batch` rows and `candidates` texts a row: a normalisation and a dot product over
    `dims`, an exp of logits of size at most max(1/τ, MIL-NCE's largest |x|·|y|), sums over at most
    2·B·K + B columns and rows; a DTW term (γ = 0.1 for frames and steps) adds 3 stages per cell of its
    longest path (T + N), with gain path size / γ, its costs being -log-softmax(cos / 0.1), at most
    2/0.1 + log N. Gradients: twice this bound."""
    logits = max(1 / temperature, norms_max(tensors) ** 2)
    path = sum(t.shape[1] for t in tensors if t.dim() == 3)
    dtw = path * (2 / 0.1 + 2) / 0.1
    return (rounding_bound(torch.float64, dims, depth=2, gain=logits * dtw)
            + rounding_bound(torch.float64, 2 * batch * candidates + batch, depth=3 * path + 4))


def procedure_dtw_bound(frames, steps, dim, gamma_f, gamma_s):
    """The float64 bound of the procedure-aware DTW loss (losses.softdtw.procedure_dtw_loss): cosines (a normalisation and a dot product over `dim`) enter a
    log-softmax with gain 1/γ_f; the costs, at most 2/γ_f + log(N), enter soft-DTW, whose path of
    frames + steps cells has 3 stages a cell and turns absolute errors into relative ones with gain
    path size / γ_s (dtw_bounds)."""
    path = frames + steps
    size = path * (2 / gamma_f + math.log(steps + 1))
    return (rounding_bound(torch.float64, dim, depth=2, gain=size / (gamma_f * gamma_s))
            + rounding_bound(torch.float64, max(frames, steps), depth=3 * path + 2, gain=size / gamma_s))
