"""When the training loop stops before its last epoch: a stop signal (SIGTERM / SIGUSR1, agreed
across the ranks at the log steps), train.max_steps, or the step limit of the current `train()`
call. The trainer writes a checkpoint and returns "stopped"; a later run or call goes on from it."""
import signal
from contextlib import contextmanager

import torch
import torch.distributed as dist

from surgvlp_fast import collectives
from surgvlp_fast.training.distributed import DistEnv

STOP_SIGNALS = ("SIGTERM", "SIGUSR1")


class StopConditions:
    def __init__(self, env: DistEnv, device: torch.device):
        self.env, self.device = env, device
        self.signal = None                        # the name of the stop signal this process received
        self.call_max_steps = None                # the step limit of the current train() call

    @contextmanager
    def during_call(self, max_steps: int | None):
        """One `train()` call: the stop signals caught (the previous handlers back on leaving) and
        the call's step limit in force."""
        previous = {name: signal.signal(getattr(signal, name), self._on_signal) for name in STOP_SIGNALS}
        self.call_max_steps = max_steps
        try:
            yield
        finally:
            self.call_max_steps = None
            for name, handler in previous.items():
                signal.signal(getattr(signal, name), handler)

    def _on_signal(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def reason(self, step: int, log_every: int, max_steps: int) -> str | None:
        """Why the loop stops before optimizer step `step + 1`, or None. With several processes a
        signal counts at the log steps only, where the ranks agree on it (a collective and one read
        of its result): every rank stops at the same step."""
        stop = self.signal is not None
        if self.env.distributed and step % log_every == 0:
            flag = torch.tensor([1.0 if stop else 0.0], device=self.device)
            collectives.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        elif self.env.distributed:
            stop = False
        if stop:
            return f"stopping on {self.signal or 'a signal on another rank'}"
        if max_steps and step >= max_steps:
            return f"train.max_steps={max_steps} reached"
        limit = self.call_max_steps
        if limit is not None and step >= limit:
            return f"step limit {limit} of this train() call reached"
        return None
