"""Gather with gradient for the local-loss form (open_clip's `local_loss` + `gather_with_grad`).

Each rank computes its own rows against the gathered batch. The gradient that arrives at the
gathered tensor is summed over ranks and each rank keeps its own slice, so rank r's input
receives Σ_ranks ∂L_rank/∂x_r. With DDP's averaging of parameter gradients over W ranks this is
exactly the gradient of the single-process loss of the global batch (whose value is the mean
of the per-rank losses when the ranks hold equal batches).
"""
import torch
import torch.distributed as dist

from surgvlp_fast.backends import value_checks


def _world():
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, sizes):
        world, rank = _world()
        longest = max(sizes)
        padded = x if x.shape[0] == longest else torch.cat([x, x.new_zeros(longest - x.shape[0], *x.shape[1:])])
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        ctx.sizes, ctx.rank = sizes, rank
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None


def row_counts(rows: int, device) -> list:
    """Every rank's number of rows, in rank order: one collective and one read on the host (the
    only wait of a gather), so a caller that gathers several tensors of the same rows asks once."""
    world, _ = _world()
    if world == 1:
        return [rows]
    count = torch.tensor([rows], device=device)
    counts = [torch.empty_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    return torch.cat(counts).tolist()


def gather_with_grad(x: torch.Tensor, sizes: list | None = None):
    """(x_all, offset): x of every rank concatenated in rank order, and the index of this rank's
    first row in it. Ranks may hold different numbers of rows (`sizes`: every rank's, from
    `row_counts` or known to the caller, then checked against the exchanged counts only with
    SURGVLP_FAST_CHECK_VALUES=1; None: exchanged here). Without an initialised process group of
    more than one process: (x, 0)."""
    world, rank = _world()
    if world == 1:
        return x, 0
    if sizes is None:
        sizes = row_counts(x.shape[0], x.device)
    elif value_checks():   # a wait on the host: debug only
        held = row_counts(x.shape[0], x.device)
        if held != list(sizes):
            raise ValueError(f"gather_with_grad: the processes hold {held} rows, sizes say {list(sizes)}")
    if len(sizes) != world or sizes[rank] != x.shape[0]:
        raise ValueError(f"gather_with_grad: this rank (of {world}) has {x.shape[0]} rows, sizes say {list(sizes)}")
    return _GatherWithGrad.apply(x, sizes), sum(sizes[:rank])
