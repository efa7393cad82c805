"""Which level each optimizer step trains, and the learning-rate schedule over the real steps.

Epoch mode (reference.md §5.6): every epoch runs a full pass of the first level (clip); the other
levels run a full pass on the epochs divisible by their period (keystep every 3rd, video every 5th,
never epoch 0). Batch mode (the paper): m clip batches, then n keystep and l video batches, repeated
until the clip level has made one pass (25 / 15 / 115). A step is `accumulate` batches of one level.
"""
import math

from surgvlp_fast.config import LEVELS


def epoch_plan(epoch: int, lengths: dict[str, int], mode: str, every: dict[str, int],
               batches: dict[str, int], accumulate: int = 1) -> list[tuple[str, int]]:
    """The steps of one epoch: (level, number of micro-batches) in order. `lengths`: batches per pass."""
    levels = [lv for lv in LEVELS if lv in lengths]
    anchor, others = levels[0], levels[1:]
    runs: list[tuple[str, int]] = []
    if mode == "epoch":
        runs.append((anchor, lengths[anchor]))
        runs += [(lv, lengths[lv]) for lv in others if epoch != 0 and epoch % every[lv] == 0]
    elif mode == "batch":
        remaining = lengths[anchor]
        while remaining > 0:
            take = min(batches[anchor], remaining)
            runs.append((anchor, take))
            remaining -= take
            runs += [(lv, batches[lv]) for lv in others]
    else:
        raise ValueError(f"unknown schedule mode {mode!r}")
    steps = []
    for level, n in runs:
        full, rest = divmod(n, accumulate)
        steps += [(level, accumulate)] * full + ([(level, rest)] if rest else [])
    return steps


def total_steps(epochs: int, lengths: dict[str, int], mode: str, every, batches, accumulate: int = 1,
                count: str = "real") -> int:
    """Optimizer steps of the whole run; "reference" counts every level in every epoch (§8.13)."""
    if count == "reference":
        return sum(math.ceil(n / accumulate) for n in lengths.values()) * epochs
    return sum(len(epoch_plan(e, lengths, mode, every, batches, accumulate)) for e in range(epochs))


def cosine_with_warmup(step: int, warmup: int, total: int) -> float:
    """LR factor: linear warm-up to 1 over `warmup` steps, then half a cosine down to 0 at `total`."""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
