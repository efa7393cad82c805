"""Non-finite losses (train.nonfinite). A step never waits for the device: each step leaves a device
flag (its update already skipped on the device when set, Trainer._optimizer_step), and the flags
are read together at the log steps, where `stop` raises NonFiniteLoss naming the step and `skip`
counts and logs the skipped steps."""
import torch


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or inf (train.nonfinite: stop)."""


class NonFiniteFlags:
    def __init__(self):
        self.unchecked = []                       # (step, level, non-finite flag) not yet read

    def add(self, step: int, level: str, flag: torch.Tensor) -> None:
        """The flag of run step `step` (0-based), 1.0 on the device when a loss was NaN or inf."""
        self.unchecked.append((step, level, flag))

    def check(self, mode: str, progress, log, means: dict | None = None) -> set:
        """Reads the flags added since the last call (one wait on the device): mode "stop" raises
        (with `means`, the logged values of the last step, when that step is the bad one), "skip"
        counts them in `progress.skipped_steps` and logs them. Returns their steps (1-based)."""
        unchecked, self.unchecked = self.unchecked, []
        if not unchecked:
            return set()
        flags = torch.stack([flag for _, _, flag in unchecked]).tolist()
        bad = [(step, level) for (step, level, _), flag in zip(unchecked, flags) if flag]
        if bad and mode == "stop":
            step, level = bad[0]
            terms = f"{means}; " if means and step == unchecked[-1][0] else ""
            raise NonFiniteLoss(f"non-finite {level} loss at step {step} (epoch {progress.epoch}): {terms}"
                                "its update was skipped; set train.nonfinite=skip to skip such steps")
        for step, level in bad:
            progress.skipped_steps += 1
            log.line(f"epoch {progress.epoch} step {step + 1}: non-finite {level} loss, step skipped")
        return {step + 1 for step, _ in bad}
