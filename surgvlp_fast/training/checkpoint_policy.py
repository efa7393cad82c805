"""When the trainer writes a checkpoint (checkpoint.every_steps inside an epoch, checkpoint.every_epochs
and the last epoch), how every rank takes part in a write, and which checkpoint `--resume` starts
from. The files themselves (atomic writes, pruning, reading): training/checkpoint.py."""
from surgvlp_fast import collectives
from surgvlp_fast.training import checkpoint as ckpt
from surgvlp_fast.training.distributed import DistEnv
from surgvlp_fast.training.logs import RunLog


class CheckpointPolicy:
    def __init__(self, checkpoint_cfg, work_dir: str, env: DistEnv, log: RunLog):
        self.cfg, self.work_dir, self.env, self.log = checkpoint_cfg, work_dir, env, log

    def due_in_epoch(self, step: int, epoch_step: int, epoch_length: int) -> bool:
        """After run step `step`, `epoch_step` steps into an epoch of `epoch_length` (the epoch's own
        checkpoint is written at its end)."""
        every = self.cfg.every_steps
        return bool(every) and step % every == 0 and epoch_step < epoch_length

    def due_after_epoch(self, epochs_done: int, epochs: int) -> bool:
        every = self.cfg.every_epochs
        return bool(every and epochs_done % every == 0) or epochs_done == epochs

    def write(self, state: dict, step: int) -> None:
        """Write the checkpoint of run step `step` (main rank), keep the last checkpoint.keep_last; every
        rank waits for the write. A failed write (disk full, ...) leaves the earlier checkpoints intact:
        CheckpointError, logged."""
        if self.env.is_main:
            path = ckpt.checkpoint_path(self.work_dir, step)
            try:
                ckpt.atomic_save(state, path)
            except ckpt.CheckpointError as err:
                self.log.line(str(err))
                raise
            ckpt.prune(self.work_dir, self.cfg.keep_last)
            self.log.line(f"checkpoint {path}")
        if self.env.distributed:
            collectives.barrier()   # every rank waits for the write

    def latest(self) -> tuple[str, dict] | None:
        """The newest checkpoint that reads, as (path, state) (an unreadable newer one is logged and
        passed over); None, logged, when there is none."""
        found = ckpt.load_latest(self.work_dir, log=self.log.line)
        if found is None:
            self.log.line(f"--resume: no checkpoint in {ckpt.checkpoint_dir(self.work_dir)}, starting afresh")
        return found
