"""Plain-PyTorch references of the soft-DTW of PeskaVLP (reference.md §4.3).

The recursion over a cost matrix C (T frames × N steps):

    R[0, 0] = 0,   R[i, 0] = R[0, j] = BIG (FLT_MAX, as the reference)
    R[i, j] = C[i-1, j-1] + softmin(R[i, j-1], R[i-1, j-1], R[i-1, j])

with two soft-mins of the neighbours n = (left, diagonal, up):
  - "prob" (the reference code's `dtw_prob`): Σ_m w_m n_m with w = softmax(-n / γ);
  - "standard" (Cuturi & Blondel): -γ log Σ_m exp(-n_m / γ).

A sample with N_i valid steps ends at R[T, N_i]. Steps are given by a boolean mask (B, N)
(`pos_step != -1` in the reference); the valid steps keep their order.

Two implementations, both differentiated by autograd:
  - `soft_dtw_loop`: the recursion cell by cell, per sample (the readable ground truth);
  - `soft_dtw_wavefront`: all samples at once, one anti-diagonal of the table per step (the
    fastest plain-PyTorch form; the "reference" backend of `softdtw.soft_dtw`).
"""
import torch

from surgvlp_fast.backends import value_checks

BIG = 3.4028234663852886e38  # FLT_MAX: the reference's value for the table's borders
SOFTMINS = ("prob", "standard")


def check_softmin(softmin: str) -> None:
    if softmin not in SOFTMINS:
        raise ValueError(f"softmin={softmin!r} is not one of {', '.join(map(repr, SOFTMINS))}")


def step_lengths(step_mask, batch: int, n_steps: int, device) -> torch.Tensor:
    """Number of valid steps per sample (B,) int64; every sample needs at least one (checked by
    the cpu kernel, and here with SURGVLP_FAST_CHECK_VALUES=1: the check reads the mask's values)."""
    if step_mask is None:
        return torch.full((batch,), n_steps, dtype=torch.int64, device=device)
    if step_mask.dtype != torch.bool:
        raise TypeError(f"step_mask must be a bool tensor (True = valid step), got {step_mask.dtype}")
    if tuple(step_mask.shape) != (batch, n_steps):
        raise ValueError(f"step_mask has shape {tuple(step_mask.shape)}, expected (B, N) = {(batch, n_steps)}")
    lengths = step_mask.sum(dim=1)
    empty = (lengths == 0).nonzero().flatten() if value_checks() else ()
    if len(empty):
        raise ValueError(f"soft-DTW: sample(s) {empty.tolist()} have no valid step "
                         "(their step_mask row is all False); drop them from the batch")
    return lengths.to(device=device, dtype=torch.int64)


def compact_steps(cost: torch.Tensor, step_mask=None):
    """Move each sample's valid step columns to the front, in order; padded columns become 0.

    cost (B, T, N) → (cost (B, T, N), lengths (B,) int64). Differentiable.
    """
    if cost.dim() != 3:
        raise ValueError(f"soft-DTW cost must be (B, T, N), got shape {tuple(cost.shape)}")
    batch, _, n_steps = cost.shape
    lengths = step_lengths(step_mask, batch, n_steps, cost.device)
    if step_mask is None:
        return cost, lengths
    step_mask = step_mask.to(cost.device)
    columns = torch.arange(n_steps, device=cost.device)
    order = torch.sort((~step_mask).to(torch.int8), dim=1, stable=True).indices   # valid steps first, in order
    cost = cost.gather(2, order[:, None, :].expand_as(cost))
    valid = columns < lengths[:, None]
    return cost.masked_fill(~valid[:, None, :], 0.0), lengths


def reverse_steps(cost: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The columns of each sample's valid steps in reverse order (padding stays in place)."""
    columns = torch.arange(cost.shape[2], device=cost.device)
    index = torch.where(columns < lengths[:, None], lengths[:, None] - 1 - columns, columns)
    return cost.gather(2, index[:, None, :].expand_as(cost))


def _weighted_sum(weights: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Σ w n, with the BIG neighbours of weight 0 left out: the value is the same, and the
    gradient stays finite (∂/∂w = BIG times an upstream gradient above 1 overflows float32)."""
    return (weights * neighbours.masked_fill(weights == 0, 0.0)).sum(dim=-1)


def softmin(neighbours: torch.Tensor, gamma: float, kind: str) -> torch.Tensor:
    """Soft-min over the last dimension, written as the reference writes it."""
    if kind == "prob":
        weights = torch.softmax(-neighbours / gamma, dim=-1)
        return _weighted_sum(weights, neighbours)
    return -gamma * torch.logsumexp(-neighbours / gamma, dim=-1)


def stable_softmin(neighbours: torch.Tensor, gamma: float, kind: str) -> torch.Tensor:
    """The same soft-min with the minimum taken out first, so that three BIG neighbours (cells
    outside the table, computed by the wavefront and then discarded) give BIG and finite
    gradients instead of NaN."""
    low = neighbours.amin(dim=-1, keepdim=True)
    shifted = (neighbours - low) / gamma
    if kind == "prob":
        weights = torch.softmax(-shifted, dim=-1)
        return _weighted_sum(weights, neighbours)
    return low.squeeze(-1) - gamma * torch.logsumexp(-shifted, dim=-1)


def soft_dtw_loop(cost, step_mask=None, gamma=0.1, softmin_kind="prob", reverse=False):
    """Soft-DTW values (B,), cell by cell: the readable ground truth (slow)."""
    check_softmin(softmin_kind)
    cost, lengths = compact_steps(cost, step_mask)
    if reverse:
        cost = reverse_steps(cost, lengths)
    n_frames = cost.shape[1]
    border = cost.new_tensor(BIG)
    values = []
    for sample, n_steps in enumerate(lengths.tolist()):
        table = [[border] * (n_steps + 1) for _ in range(n_frames + 1)]
        table[0][0] = cost.new_zeros(())
        for i in range(1, n_frames + 1):
            for j in range(1, n_steps + 1):
                neighbours = torch.stack([table[i][j - 1], table[i - 1][j - 1], table[i - 1][j]])
                table[i][j] = cost[sample, i - 1, j - 1] + softmin(neighbours, gamma, softmin_kind)
        values.append(table[n_frames][n_steps])
    return torch.stack(values)


def soft_dtw_wavefront(cost, step_mask=None, gamma=0.1, softmin_kind="prob", reverse=False):
    """Soft-DTW values (B,), one anti-diagonal d = i + j of every sample's table at a time.

    A diagonal is indexed by the step j (0..N, the short side of the table): entry j holds
    R[d - j, j], so left = previous diagonal at j - 1, up = previous diagonal at j, and
    diagonal = the one before at j - 1.
    """
    check_softmin(softmin_kind)
    cost, lengths = compact_steps(cost, step_mask)
    if reverse:
        cost = reverse_steps(cost, lengths)
    batch, n_frames, n_steps = cost.shape
    cols = torch.arange(n_steps + 1, device=cost.device)
    diagonals = torch.arange(2, n_frames + n_steps + 1, device=cost.device)
    rows = diagonals[:, None] - cols[None, :]                                  # (D, N+1)
    inside = (cols >= 1) & (rows >= 1) & (rows <= n_frames)
    flat = (rows - 1).clamp(0, n_frames - 1) * n_steps + (cols - 1).clamp(0, n_steps - 1)
    skewed = cost.reshape(batch, -1)[:, flat]                                   # (B, D, N+1)
    border = cost.new_full((batch, 1), BIG)
    before_previous = torch.where(cols == 0, 0.0, BIG).to(cost).expand(batch, -1)  # d = 0
    previous = cost.new_full((batch, n_steps + 1), BIG)                          # d = 1
    value = cost.new_zeros(batch)
    end_diagonal = lengths + n_frames
    last = lengths[:, None]
    for k, d in enumerate(range(2, n_frames + n_steps + 1)):
        left = torch.cat([border, previous[:, :-1]], dim=1)
        diagonal = torch.cat([border, before_previous[:, :-1]], dim=1)
        neighbours = torch.stack([left, diagonal, previous], dim=-1)
        current = torch.where(inside[k], skewed[:, k] + stable_softmin(neighbours, gamma, softmin_kind), BIG)
        value = torch.where(end_diagonal == d, current.gather(1, last).squeeze(1), value)
        before_previous, previous = previous, current
    return value
