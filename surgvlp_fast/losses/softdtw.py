"""Soft-DTW and the procedure-aware DTW loss of PeskaVLP (reference.md §4.3), with dispatch.

Backends: "cpu" (C++ in surgvlp_fast._C.dtw), "triton" (CUDA tensors, or CPU tensors under
TRITON_INTERPRET=1), "reference" (the anti-diagonal plain-PyTorch form of softdtw_reference.py,
differentiated by autograd). The fused backends save the local derivatives of every cell in
the forward and propagate through them in an analytical backward (no autograd through the DP);
they are the custom operators `surgvlp_fast::soft_dtw` / `soft_dtw_backward` (schemas, fake
implementations, autograd formula), so `torch.compile` and meta tensors trace them.
"""
import torch
import torch.nn.functional as F

from surgvlp_fast._native import native_submodule
from surgvlp_fast.backends import resolve_backend, triton_available
from surgvlp_fast.losses.dtypes import compute_dtype
from surgvlp_fast.losses.softdtw_reference import (
    check_softmin,
    compact_steps,
    soft_dtw_wavefront,
)

NORMALIZATIONS = ("frames", "texts")


def _fused_kernels(backend: str):
    if backend == "cpu":
        return native_submodule("dtw")
    from surgvlp_fast.losses import softdtw_triton
    return softdtw_triton


@torch.library.custom_op("surgvlp_fast::soft_dtw", mutates_args=())
def _soft_dtw_op(cost: torch.Tensor, lengths: torch.Tensor, gamma: float, softmin: str, reverse: bool,
                 need_grad: bool, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(values (B,), local derivatives (B, T, N, 3) or empty) of the compacted cost."""
    return _fused_kernels(backend).forward(cost, lengths, gamma, softmin, reverse, need_grad)


@_soft_dtw_op.register_fake
def _(cost, lengths, gamma, softmin, reverse, need_grad, backend):
    batch, frames, steps = cost.shape
    return cost.new_empty(batch), (cost.new_empty(batch, frames, steps, 3) if need_grad else cost.new_empty(0))


@torch.library.custom_op("surgvlp_fast::soft_dtw_backward", mutates_args=())
def _soft_dtw_backward_op(local_grads: torch.Tensor, lengths: torch.Tensor, grad_values: torch.Tensor,
                          reverse: bool, backend: str) -> torch.Tensor:
    grad_values = grad_values.to(local_grads.dtype).contiguous()
    return _fused_kernels(backend).backward(local_grads, lengths, grad_values, reverse)


@_soft_dtw_backward_op.register_fake
def _(local_grads, lengths, grad_values, reverse, backend):
    return local_grads.new_empty(local_grads.shape[:3])


def _setup_context(ctx, inputs, output):
    _, lengths, _, _, reverse, _, backend = inputs
    ctx.save_for_backward(output[1], lengths)
    ctx.reverse, ctx.backend = reverse, backend


def _backward(ctx, grad_values, _):
    local_grads, lengths = ctx.saved_tensors
    grad_cost = _soft_dtw_backward_op(local_grads, lengths, grad_values, ctx.reverse, ctx.backend)
    return grad_cost, None, None, None, None, None, None


_soft_dtw_op.register_autograd(_backward, setup_context=_setup_context)


@torch.compiler.assume_constant_result
def _resolve(backend: str, device: torch.device) -> str:
    return resolve_backend(backend, device, kernel="soft_dtw", cpu=native_submodule("dtw") is not None,
                           triton=triton_available(), cuda=False)


def soft_dtw(cost, step_mask=None, gamma=0.1, softmin="prob", *, reverse=False, backend="auto"):
    """Soft-DTW value R[T, N_i] of each sample (B,).

    cost (B, T, N): cost of aligning frame t with step k. step_mask (B, N) bool, True = valid
    step (None: all valid); the valid steps keep their order, a sample needs at least one.
    softmin: "prob" (the reference's `dtw_prob`) or "standard" (Cuturi). reverse: align with the
    sample's valid steps in reverse order (the negative of the DTW loss), from the same cost.
    """
    check_softmin(softmin)
    if gamma <= 0:
        raise ValueError(f"soft_dtw: gamma must be > 0, got {gamma}")
    choice = _resolve(backend, cost.device)
    dtype = compute_dtype(cost.dtype)  # float32 at least: the FLT_MAX borders
    if choice == "reference":
        return soft_dtw_wavefront(cost.to(dtype), step_mask, gamma, softmin, reverse).to(cost.dtype)
    compact, lengths = compact_steps(cost.to(dtype), step_mask)
    compact = compact.contiguous()
    values, _ = _soft_dtw_op(compact, lengths, float(gamma), softmin, bool(reverse), compact.requires_grad, choice)
    return values.to(cost.dtype)


def alignment_cost(frames, steps, step_mask=None, gamma_f=0.1, normalize="frames"):
    """C = -log softmax(cos(frame, step) / γ_f) (B, T, N), normalised over the frames (dim 1, the
    reference code) or over the valid steps (dim 2, the paper's Eq. 2)."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r} is not one of {', '.join(map(repr, NORMALIZATIONS))}")
    if frames.dim() != 3 or steps.dim() != 3 or frames.shape[0] != steps.shape[0] or frames.shape[2] != steps.shape[2]:
        raise ValueError(f"procedure DTW: frames must be (B, T, d) and steps (B, N, d), got "
                         f"{tuple(frames.shape)} and {tuple(steps.shape)}")
    similarity = F.normalize(frames, dim=-1) @ F.normalize(steps, dim=-1).transpose(1, 2) / gamma_f
    if normalize == "frames":
        return -torch.log_softmax(similarity, dim=1)
    if step_mask is not None:
        similarity = similarity.masked_fill(~step_mask[:, None, :], float("-inf"))
        return (-torch.log_softmax(similarity, dim=2)).masked_fill(~step_mask[:, None, :], 0.0)
    return -torch.log_softmax(similarity, dim=2)


def procedure_dtw_loss(frames, steps, step_mask=None, *, gamma_f=0.1, gamma_s=0.1, normalize="frames",
                       margin=0.0, ratio=0.5, scale=0.01, softmin="prob", backend="auto"):
    """PeskaVLP's procedure-aware DTW loss (reference.md §4.3), the mean over the given samples.

    frames (B, T, d) per-frame embeddings; steps (B, N, d) step-text embeddings in temporal
    order; step_mask (B, N) bool (True = valid, `pos_step != -1`). With a_i = scale·DTW(C_i) and
    b_i = scale·DTW(C_i with its valid steps reversed):
        L = mean_i a_i + ratio · mean_i max(a_i − b_i + margin, 0).
    Reference values (code / paper): normalize "frames" / "texts", margin 0 / 0.1, ratio 0.5,
    scale 0.01, γ_f = γ_s = 0.1, softmin "prob".
    """
    if step_mask is not None:
        step_mask = step_mask.to(device=frames.device, dtype=torch.bool)
    cost = alignment_cost(frames, steps, step_mask, gamma_f, normalize)
    aligned = scale * soft_dtw(cost, step_mask, gamma_s, softmin, backend=backend)
    reversed_ = scale * soft_dtw(cost, step_mask, gamma_s, softmin, reverse=True, backend=backend)
    hinge = torch.clamp(aligned - reversed_ + margin, min=0)
    return aligned.mean() + ratio * hinge.mean()
