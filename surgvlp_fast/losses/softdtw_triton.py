"""Soft-DTW forward and analytical backward in Triton (same interface as surgvlp_fast._C.dtw).

One program handles BLOCK_B samples, one per lane, and walks the (T+1) × (N+1) table row by
row. The previous row of every lane lives in registers as a (BLOCK_B, BLOCK_N) tile; a cell's
left neighbour is carried from the cell before it. The forward stores the derivatives of each
cell's soft-min with respect to (left, diagonal, up); the backward walks the table in reverse
and propagates the gradient through them.
"""
import torch
import triton
import triton.language as tl

from surgvlp_fast.losses.softdtw_reference import BIG

BLOCK_B = 16      # samples per program, one per lane


def launch_options(dtype: torch.dtype) -> dict:
    """Launch options per dtype, checked spill-free on sm_90a / sm_80 by triton_aot.py: in float64
    ptxas's own choice (128 registers at 4 warps) spilled 4-8 bytes on sm_80; up to 255 allowed, none."""
    return {"num_warps": 4, **({"maxnreg": 255} if dtype == torch.float64 else {})}
GAP_CAP = tl.constexpr(1e30)
BIG_BORDER = tl.constexpr(BIG)  # the table's border (FLT_MAX)


@triton.jit
def _pick(tile, cols, j):
    """Column j of a (BLOCK_B, BLOCK_N) tile, per lane."""
    return tl.sum(tl.where(cols[None, :] == j, tile, 0.0), axis=1)


@triton.jit
def _cost_column(k, n, REVERSE: tl.constexpr):
    """Column of the cost read by DTW column k of a sample with n steps."""
    if REVERSE:
        return tl.where(k < n, n - 1 - k, k)
    return k + 0 * n


@triton.jit
def _soft_dtw_forward_kernel(cost_ptr, lengths_ptr, values_ptr, grads_ptr, gamma_ptr, batch, frames, steps,
                             REVERSE: tl.constexpr, STANDARD: tl.constexpr, NEED_GRAD: tl.constexpr,
                             BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr):
    lanes = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    live = lanes < batch
    n = tl.load(lengths_ptr + lanes, mask=live, other=1)
    cols = tl.arange(0, BLOCK_N)
    zero = tl.zeros((BLOCK_B,), dtype=cost_ptr.dtype.element_ty)
    big = zero + BIG_BORDER
    previous = tl.where(cols[None, :] == 0, 0.0, big[:, None] + tl.zeros((BLOCK_B, BLOCK_N), zero.dtype))
    value = zero
    gamma = tl.load(gamma_ptr)  # a tensor of the cost's dtype: float64 stays float64
    inv_gamma = 1.0 / gamma
    for i in range(1, frames + 1):
        row = previous * 0.0 + BIG_BORDER
        left = big
        diagonal = _pick(previous, cols, 0)
        for j in range(1, steps + 1):
            up = _pick(previous, cols, j)
            k = j - 1
            column = _cost_column(k, n, REVERSE)
            c = tl.load(cost_ptr + (lanes * frames + i - 1) * steps + column, mask=live, other=0.0)
            low = tl.minimum(left, tl.minimum(diagonal, up))
            # gaps capped so that BIG neighbours give exp(-huge) = 0 without overflowing to inf
            gap_left = tl.minimum(left - low, GAP_CAP)
            gap_diag = tl.minimum(diagonal - low, GAP_CAP)
            gap_up = tl.minimum(up - low, GAP_CAP)
            e_left = tl.exp(-gap_left * inv_gamma)
            e_diag = tl.exp(-gap_diag * inv_gamma)
            e_up = tl.exp(-gap_up * inv_gamma)
            total = e_left + e_diag + e_up
            w_left = e_left / total
            w_diag = e_diag / total
            w_up = e_up / total
            if STANDARD:
                soft = low - gamma * tl.log(total)
                g_left = w_left
                g_diag = w_diag
                g_up = w_up
            else:  # Σ w n = low + Σ w (n − low) (precise in float32); weight-0 neighbours left out
                mean_gap = w_left * gap_left + w_diag * gap_diag + w_up * gap_up
                soft = low + mean_gap
                g_left = w_left * (1.0 - (gap_left - mean_gap) * inv_gamma)
                g_diag = w_diag * (1.0 - (gap_diag - mean_gap) * inv_gamma)
                g_up = w_up * (1.0 - (gap_up - mean_gap) * inv_gamma)
            current = c + soft
            if NEED_GRAD:
                base = grads_ptr + ((lanes * frames + i - 1) * steps + k) * 3
                tl.store(base, g_left, mask=live)
                tl.store(base + 1, g_diag, mask=live)
                tl.store(base + 2, g_up, mask=live)
            row = tl.where(cols[None, :] == j, current[:, None], row)
            value = tl.where((i == frames) & (j == n), current, value)
            left = current
            diagonal = up
        previous = row
    tl.store(values_ptr + lanes, value, mask=live)


@triton.jit
def _soft_dtw_backward_kernel(grads_ptr, lengths_ptr, grad_values_ptr, grad_cost_ptr, batch, frames, steps,
                              REVERSE: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr):
    lanes = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    live = lanes < batch
    n = tl.load(lengths_ptr + lanes, mask=live, other=1)
    seed = tl.load(grad_values_ptr + lanes, mask=live, other=0.0)
    cols = tl.arange(0, BLOCK_N)
    below = tl.zeros((BLOCK_B, BLOCK_N), dtype=seed.dtype)  # ∂loss/∂R[i+1, :]
    for ii in range(0, frames):
        i = frames - ii
        row = below * 0.0
        right = seed * 0.0                 # ∂loss/∂R[i, j+1]
        below_right = seed * 0.0           # ∂loss/∂R[i+1, j+1]
        for jj in range(0, steps):
            j = steps - jj
            k = j - 1
            below_here = _pick(below, cols, j)
            e = tl.where((i == frames) & (j == n), seed, 0.0)
            # cell (i, j) is the left neighbour of (i, j+1), the diagonal of (i+1, j+1), the up of (i+1, j)
            g_left = tl.load(grads_ptr + ((lanes * frames + i - 1) * steps + j) * 3, mask=live & (j < steps),
                             other=0.0)
            g_diag = tl.load(grads_ptr + ((lanes * frames + i) * steps + j) * 3 + 1,
                             mask=live & (j < steps) & (i < frames), other=0.0)
            g_up = tl.load(grads_ptr + ((lanes * frames + i) * steps + k) * 3 + 2, mask=live & (i < frames),
                           other=0.0)
            e += right * g_left + below_right * g_diag + below_here * g_up
            column = _cost_column(k, n, REVERSE)
            tl.store(grad_cost_ptr + (lanes * frames + i - 1) * steps + column, e, mask=live)
            row = tl.where(cols[None, :] == j, e[:, None], row)
            right = e
            below_right = below_here
        below = row


def forward(cost: torch.Tensor, lengths: torch.Tensor, gamma: float, softmin: str, reverse: bool,
            need_grad: bool):
    batch, frames, steps = cost.shape
    values = torch.empty(batch, dtype=cost.dtype, device=cost.device)
    grads = (torch.zeros(batch, frames, steps, 3, dtype=cost.dtype, device=cost.device) if need_grad
             else torch.empty(0, dtype=cost.dtype, device=cost.device))
    grid = (triton.cdiv(batch, BLOCK_B),)
    gamma_tensor = torch.tensor([gamma], dtype=cost.dtype, device=cost.device)
    _soft_dtw_forward_kernel[grid](cost, lengths, values, grads if need_grad else values, gamma_tensor,
                                   batch, frames, steps, REVERSE=bool(reverse), STANDARD=softmin == "standard",
                                   NEED_GRAD=bool(need_grad), BLOCK_B=BLOCK_B,
                                   BLOCK_N=triton.next_power_of_2(steps + 1), **launch_options(cost.dtype))
    return values, grads


def backward(local_grads: torch.Tensor, lengths: torch.Tensor, grad_values: torch.Tensor, reverse: bool):
    batch, frames, steps, _ = local_grads.shape
    grad_cost = torch.zeros(batch, frames, steps, dtype=local_grads.dtype, device=local_grads.device)
    grid = (triton.cdiv(batch, BLOCK_B),)
    _soft_dtw_backward_kernel[grid](local_grads, lengths, grad_values, grad_cost, batch, frames, steps,
                                    REVERSE=bool(reverse), BLOCK_B=BLOCK_B,
                                    BLOCK_N=triton.next_power_of_2(steps + 1), **launch_options(local_grads.dtype))
    return grad_cost
