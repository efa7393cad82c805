"""Which level each optimizer step trains, and the learning-rate schedule over the real steps.

Epoch mode (reference.md §5.6): every epoch runs a full pass of the first level (clip); the other
levels run a full pass on the epochs divisible by their period (keystep every 3rd, video every 5th,
never epoch 0). Batch mode (the paper): m clip batches, then n keystep and l video batches, repeated
until the clip level has made one pass (25 / 15 / 115). A step is `accumulate` batches of one level.
RunPlan: the plan of a run, which a resume on another world re-plans.
"""
import math

from surgvlp_fast.pretrain.levels import LEVELS


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


class RunPlan:
    """The steps of a run, epoch by epoch, and their number (the length the cosine schedule is laid
    over). Resumed on another world (training/resume.py), the epoch under way keeps its re-planned
    steps (`resumed`: (epoch, plan)) and the count goes on from the steps before it (`base`: (epoch,
    run steps before it)); later epochs have this world's length."""

    def __init__(self, lengths: dict[str, int], schedule, accumulate: int = 1, count: str = "real"):
        self.lengths, self.schedule, self.accumulate, self.count = lengths, schedule, accumulate, count
        self.resumed = None
        self.base = None

    def epoch(self, epoch: int) -> list[tuple[str, int]]:
        if self.resumed is not None and self.resumed[0] == epoch:
            return self.resumed[1]
        s = self.schedule
        return epoch_plan(epoch, self.lengths, s.mode, s.every, s.batches, self.accumulate)

    def total(self, epochs: int) -> int:
        """Optimizer steps of a run of `epochs` epochs."""
        if self.base is not None and self.count == "real":
            epoch, before = self.base
            return before + sum(len(self.epoch(e)) for e in range(epoch, epochs))
        s = self.schedule
        return total_steps(epochs, self.lengths, s.mode, s.every, s.batches, self.accumulate, self.count)

    def state_dict(self, epoch: int) -> dict:
        """The checkpoint's entry, in `epoch`."""
        return {"lengths": self.lengths, "plan": [list(s) for s in self.epoch(epoch)],
                "base": list(self.base) if self.base else None}

    def load_state_dict(self, state: dict, epoch: int) -> None:
        """The entry of a checkpoint of this world, in `epoch` (one of another world: resume.py)."""
        if state.get("base"):
            self.base = tuple(state["base"])
        if state.get("plan") is not None and self.base is not None:
            self.resumed = (epoch, [tuple(s) for s in state["plan"]])
