"""Run logs on rank 0: `log.txt` (human), `metrics.jsonl` (one JSON object per record), TensorBoard
scalars at the real optimizer step, and a tqdm progress bar with loss, throughput and ETA."""
import json
import os
import sys
import time


class RunLog:
    def __init__(self, work_dir: str, enabled: bool, tensorboard: bool = True, progress_bar: bool = True):
        self.enabled = enabled
        self.work_dir = work_dir
        self._tb = None
        self._bar = None
        self._progress_bar = progress_bar
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(os.path.join(work_dir, "tensorboard"))

    def line(self, text: str) -> None:
        """A line in log.txt (and on the terminal, above the progress bar)."""
        if not self.enabled:
            return
        stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
        with open(os.path.join(self.work_dir, "log.txt"), "a") as f:
            f.write(stamped + "\n")
        if self._bar is not None:
            self._bar.write(stamped, file=sys.stderr)
        else:
            print(stamped, file=sys.stderr, flush=True)

    def record(self, kind: str, step: int, values: dict, **extra) -> None:
        """A record in metrics.jsonl, and its values as TensorBoard scalars `kind/name` at `step`."""
        if not self.enabled:
            return
        with open(os.path.join(self.work_dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"kind": kind, "step": step, **extra, **values}) + "\n")
        if self._tb is not None:
            for name, value in values.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{kind}/{name}", value, step)

    def train_step(self, epoch: int, step: int, total: int, level: str, means: dict, lr: float,
                   samples_per_s: float) -> None:
        """A logged training step (`means`: its values over the ranks): the bar, a `train` record, a line."""
        self.update_bar(means["loss"], samples_per_s, level)
        self.record("train", step, {**{f"{level}/{k}": v for k, v in means.items()},
                                    "loss": means["loss"], "lr": lr, "samples_per_s": samples_per_s},
                    epoch=epoch, level=level)
        self.line(f"epoch {epoch} step {step}/{total} {level} loss {means['loss']:.5f} "
                  f"lr {lr:.3e} {samples_per_s:.1f} samples/s")

    def start_bar(self, total: int, initial: int) -> None:
        if self.enabled and self._progress_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=sys.stderr)

    def set_bar_total(self, total: int) -> None:
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update_bar(self, loss: float | None, samples_per_s: float, level: str) -> None:
        """The bar's step: `loss` is the last logged one (None before the first log step: shown as "-")."""
        if self._bar is not None:
            shown = "-" if loss is None else f"{loss:.4f}"
            self._bar.set_postfix_str(f"{level} loss {shown} {samples_per_s:.1f} samples/s", refresh=False)
            self._bar.update(1)

    def end_bar(self) -> None:
        """End the progress bar; the next `start_bar` starts a fresh one."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        self.end_bar()
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
