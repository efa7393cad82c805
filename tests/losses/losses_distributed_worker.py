"""Run by test_losses_distributed.py under `torch.distributed.run --nproc_per_node=2` (gloo).

Every rank builds the same global batch, takes its slice, computes each loss in the local form
with gather_with_grad, and compares with the single-process loss of the global batch: the mean
over ranks of the local losses equals it, and each rank's input gradient divided by the world
size (DDP's averaging) equals the slice of the single-process gradient.
"""
import sys

import torch
import torch.distributed as dist
from surgvlp_fast import losses
from surgvlp_fast.losses.distributed import gather_with_grad
from surgvlp_fast.testing import contrastive_bounds, rounding_bound


def ref_local_loss(name, first_global, second_global, options, rows):
    """The reference's local-form loss of these rows (plain PyTorch, no gathering)."""
    names = ("a_all", "b_all") if name == "simclr_loss" else ("v_all", "t_all")
    return getattr(losses, name)(first_global[rows], second_global[rows], **options, offset=rows.start,
                                 **{names[0]: first_global, names[1]: second_global}, backend="reference")


def check_uneven_gather(rank, world, seed):
    """Ranks with different batch sizes: the gathered tensor is the global one, and the gradient
    of a function every rank computes on it comes back to each owner summed over ranks."""
    gen = torch.Generator().manual_seed(seed + 1)
    sizes = [3 + r for r in range(world)]
    x_global = torch.randn(sum(sizes), 4, generator=gen, dtype=torch.float64)
    weights = torch.randn(sum(sizes), 4, generator=gen, dtype=torch.float64)
    start = sum(sizes[:rank])
    x = x_global[start:start + sizes[rank]].clone().requires_grad_()
    x_all, offset = gather_with_grad(x)
    (x_all * weights).sum().backward()
    failures = []
    if offset != start or not torch.equal(x_all.detach(), x_global):
        failures.append(f"rank {rank}: uneven gather gave offset {offset} and a different batch")
    if not torch.allclose(x.grad, world * weights[start:start + sizes[rank]], rtol=rounding_bound(torch.float64, world),
                          atol=0):   # a sum of `world` copies
        failures.append(f"rank {rank}: uneven gather gradient {x.grad}")
    return failures


def main(backend: str, seed: int) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    gen = torch.Generator().manual_seed(seed)
    failures = check_uneven_gather(rank, world, seed)
    sizes = [5] * world
    total, start = sum(sizes), sum(sizes[:rank])
    v_global = torch.randn(total, 7, generator=gen, dtype=torch.float64)
    t_global = torch.randn(total, 7, generator=gen, dtype=torch.float64)
    c_global = torch.randn(total, 3, 7, generator=gen, dtype=torch.float64)
    cases = {
        "milnce_loss": (v_global, c_global, {}),
        "clip_loss": (v_global, t_global, {"temperature": 0.1}),
        "ntx_loss": (v_global, t_global, {"alpha": 0.75}),
        "simclr_loss": (v_global, t_global, {}),
    }
    for name, (first_global, second_global, options) in cases.items():
        fn = getattr(losses, name)
        first = first_global[start:start + sizes[rank]].clone().requires_grad_()
        second = second_global[start:start + sizes[rank]].clone().requires_grad_()
        first_all, offset = gather_with_grad(first)
        second_all, _ = gather_with_grad(second)
        names = ("a_all", "b_all") if name == "simclr_loss" else ("v_all", "t_all")
        local = fn(first, second, **options, **{names[0]: first_all, names[1]: second_all},
                   offset=offset, backend=backend)
        local.backward()

        first_ref = first_global.clone().requires_grad_()
        second_ref = second_global.clone().requires_grad_()
        single = fn(first_ref, second_ref, **options, backend=backend)
        single.backward()

        mean_loss = local.detach().reshape(1) / world
        dist.all_reduce(mean_loss)
        rows = slice(start, start + sizes[rank])
        checks = [
            ("mean of the local losses", mean_loss[0], single.detach()),
            ("local loss", local.detach(), ref_local_loss(name, first_global, second_global, options, rows)),
            ("grad of the first input / world", first.grad / world, first_ref.grad[rows]),
            ("grad of the second input / world", second.grad / world, second_ref.grad[rows]),
        ]
        forward, backward, size = contrastive_bounds(name, (first_global, second_global), {}, 7, torch.float64)
        for what, got, want in checks:   # losses cancel at the logits' size; gradients' terms are smaller
            bound = forward if "loss" in what else backward
            if not torch.allclose(got, want, rtol=bound, atol=bound * size):
                failures.append(f"rank {rank} {name} {what}: {got} != {want}")
    dist.destroy_process_group()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
