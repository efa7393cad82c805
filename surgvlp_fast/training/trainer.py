"""The trainer of SurgVLP / HecVL / PeskaVLP: one class whose methods are the steps of the loop.

`Trainer(cfg, work_dir, data)` builds the model, optimizer, schedule and streams; `train()` runs
the epochs (re-entrant: `train(max_steps=n)` stops after step n and a later call goes on),
`set_schedule(epochs)` changes the run's length, `close()` (or a with-block) closes the run log.
Every step trains one level (reference.md §5.6): its batch is moved to the device, augmented there
(`make_views`), embedded in one forward, and scored by the method's objective. Checkpoints hold
everything needed for an exact resume (model, optimizer, scheduler, GradScaler, stream positions,
every rank's RNG states). Around the loop, each in its module of training/: stopping,
checkpoint_policy, resume (on another world), rng, eval_policy (evaluation during training),
nonfinite, device.
"""
import gc
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from surgvlp_fast import collectives
from surgvlp_fast.allocator import keep_freed_memory
from surgvlp_fast.config import save_config
from surgvlp_fast.losses.objectives import ClipEmbeddings, LevelEmbeddings, build_objective
from surgvlp_fast.models import build_model, load_tokenizer
from surgvlp_fast.pretrain.build import TrainingData
from surgvlp_fast.pretrain.levels import LEVELS
from surgvlp_fast.pretrain.stream import LevelStream
from surgvlp_fast.training import eval_policy
from surgvlp_fast.training.config import Config
from surgvlp_fast.training.checkpoint_policy import CheckpointPolicy
from surgvlp_fast.training.device import autocast, compile_step, resolve_precision, to_device
from surgvlp_fast.training.distributed import DistEnv, init_process_group, pick_device, read_env
from surgvlp_fast.training.logs import RunLog
from surgvlp_fast.training.nonfinite import NonFiniteFlags
from surgvlp_fast.training.resume import continue_on_this_world, written_by_this_world
from surgvlp_fast.training.rng import rng_state, seed_everything, set_rng_state
from surgvlp_fast.training.schedule import RunPlan, cosine_with_warmup
from surgvlp_fast.training.stopping import StopConditions


@dataclass
class Progress:
    epoch: int = 0
    epoch_step: int = 0                      # steps of the epoch's plan already done
    step: int = 0                            # optimizer steps done in the whole run
    skipped_samples: int = 0
    skipped_steps: int = 0
    failed_evals: int = 0                    # evaluation protocols that failed (eval.on_error: continue)


class Trainer:
    def __init__(self, cfg: Config, work_dir: str, data: TrainingData, *, objective=None,
                 eval_hook: Callable | None = None, resume: bool = False, env: DistEnv | None = None):
        keep_freed_memory()   # the steps' activations reuse mapped pages (allocator.py)
        self.cfg, self.work_dir, self.data = cfg, work_dir, data
        self.env = env or read_env()
        self.device = pick_device(cfg.device, self.env)
        self._owns_process_group = init_process_group(self.env, self.device, cfg.distributed.backend,
                                                      cfg.distributed.timeout_minutes)
        os.makedirs(work_dir, exist_ok=True)
        self.log = RunLog(work_dir, self.env.is_main, tensorboard=cfg.train.tensorboard,
                          progress_bar=cfg.train.progress_bar)
        self._save_config()
        self.checkpoint_policy = CheckpointPolicy(cfg.checkpoint, work_dir, self.env, self.log)
        self.stop_conditions = StopConditions(self.env, self.device)

        seed_everything(cfg.seed)                 # same initial weights on every rank
        self.tokenizer = data.tokenizer if data.tokenizer is not None else load_tokenizer(cfg.model.text.tokenizer_path())
        self.model = build_model(cfg.model, self.tokenizer).to(self.device)
        self.ddp = (DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                                            else None, find_unused_parameters=False)
                    if self.env.distributed else self.model)
        seed_everything(cfg.seed * 1000 + self.env.rank)   # dropout and data draws differ per rank
        self.view_generator = torch.Generator().manual_seed(cfg.seed * 7919 + self.env.rank)

        self.levels = [lv for lv in LEVELS if lv in data.train]
        self.streams = {lv: self._stream(lv, data.train[lv], getattr(cfg.data, lv).batch_size, index)
                        for index, lv in enumerate(self.levels)}
        self.lengths = {lv: len(s) for lv, s in self.streams.items()}
        self.run_plan = RunPlan(self.lengths, cfg.schedule, cfg.train.accumulate, cfg.optim.total_steps)
        self.objective = objective if objective is not None else build_objective(cfg.method, **cfg.objective)
        self.eval_hook = eval_hook if eval_hook is not None else eval_policy.default_eval_hook(cfg)
        self._score = {lv: getattr(self.objective, lv) for lv in LEVELS if hasattr(self.objective, lv)}
        if cfg.train.compile:
            self.ddp, self._score = compile_step(self.ddp, self._score, self.device)

        self.precision = resolve_precision(cfg.train.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16" and cfg.train.grad_scaler)
        self.optimizer = build_optimizer(cfg, self.model)
        self.total_steps = self.run_plan.total(self.cfg.train.epochs)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: cosine_with_warmup(s, cfg.optim.warmup_steps, self.total_steps))
        self.progress = Progress()
        self.nonfinite = NonFiniteFlags()
        self._last_loss = None                    # the loss of the last log step (progress bar; None before one)
        if resume:
            self.resume()

    # ------------------------------------------------------------------------------ building
    def _save_config(self) -> None:
        """work_dir/config.yaml: the config as it runs (main rank)."""
        if self.env.is_main:
            save_config(self.cfg, os.path.join(self.work_dir, "config.yaml"))

    def set_schedule(self, epochs: int) -> None:
        """Run `epochs` epochs in all: the cosine schedule (read at every step) is laid over the new
        length from the next step on, and config.yaml is rewritten with the config as it now runs.
        The caller's config object is left as it was (self.cfg becomes an updated copy)."""
        self.cfg = replace(self.cfg, train=replace(self.cfg.train, epochs=epochs))
        self.total_steps = self.run_plan.total(self.cfg.train.epochs)
        self._save_config()
        self.log.set_bar_total(self.total_steps)
        self.log.line(f"schedule: {epochs} epochs = {self.total_steps} steps")

    def _stream(self, level, dataset, batch_size, index) -> LevelStream:
        return LevelStream(level, dataset, batch_size, self.data.collate[level], seed=self.cfg.seed * 31 + index,
                           rank=self.env.rank, world_size=self.env.world_size, num_workers=self.cfg.data.num_workers,
                           corrupt_errors=self.data.corrupt_errors, retries=self.cfg.data.corrupt_retries,
                           worker_init=self.data.worker_init)

    def plan(self, epoch: int) -> list[tuple[str, int]]:
        return self.run_plan.epoch(epoch)

    # --------------------------------------------------------------------------------- steps
    def embed(self, level: str, batch: dict, generator: torch.Generator):
        """Device batch → the objective's embeddings (ClipEmbeddings or LevelEmbeddings)."""
        video = batch["video"]
        n_aug = self.cfg.data.clip.views - 1 if level == "clip" else 0
        views = self.data.make_views(video, n_aug=n_aug, generator=generator)
        parent_key, child_key = LEVELS[level].first, LEVELS[level].second
        parent, children = batch[parent_key], batch[child_key]
        b, k = children["input_ids"].shape[:2]
        groups = [{name: t.flatten(0, 1) for name, t in group.items()} for group in (parent, children)]
        same_length = groups[0]["input_ids"].shape[1] == groups[1]["input_ids"].shape[1]
        text = {name: torch.cat([groups[0][name], groups[1][name]]) for name in groups[0]} if same_length else groups
        with autocast(self.precision, self.device):
            out = self.ddp(video=torch.cat(views), text=text, mode="all")
        text_emb = out["text_emb"].float()
        anchor, candidates = text_emb[:b], text_emb[b:].view(b, k, -1)
        rows = [b] * self.env.world_size   # the stream deals every rank a batch of the same size at each step
        if level == "clip":
            return ClipEmbeddings(views=list(out["img_emb"].float().chunk(len(views))), anchor_text=anchor,
                                  candidate_texts=candidates, rows_per_rank=rows)
        step_mask = batch["pos_step"] != -1 if "pos_step" in batch else None
        return LevelEmbeddings(frames=out["frame_emb"].float(), parent=anchor, children=candidates,
                               step_mask=step_mask, rows_per_rank=rows)

    def forward_loss(self, level: str, batch: dict, generator: torch.Generator):
        loss, terms = self._score[level](self.embed(level, batch, generator))
        return loss, terms

    def train_step(self, level: str, n_micro: int) -> dict:
        """One optimizer step on `n_micro` batches of `level` (gradient accumulation)."""
        self.ddp.train()
        self.optimizer.zero_grad(set_to_none=True)
        stream = self.streams[level]
        total, terms_sum, samples = 0.0, {}, 0
        # 1.0 once a micro-batch's loss is NaN or inf: a device flag, read only at the next log step
        # (_check_nonfinite), so that a step never waits for the device.
        nonfinite = torch.zeros((), device=self.device)
        for i in range(n_micro):
            batch = to_device(stream.next(), self.device)
            samples += batch["video"].shape[0]
            sync = i == n_micro - 1 or not self.env.distributed
            with (nullcontext() if sync else self.ddp.no_sync()):
                loss, terms = self.forward_loss(level, batch, self.view_generator)
                nonfinite = torch.maximum(nonfinite, (~torch.isfinite(loss.detach())).float())
                self.scaler.scale(loss / n_micro).backward()
            total += loss.detach().float() / n_micro
            for name, value in terms.items():
                terms_sum[name] = terms_sum.get(name, 0.0) + value.detach().float() / n_micro
        if self.env.distributed:
            dist.all_reduce(nonfinite, op=dist.ReduceOp.MAX)    # a collective: no wait on the host
        if self.cfg.optim.max_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.max_grad_norm)
        self._optimizer_step(nonfinite)
        self.scheduler.step()
        self.progress.step += 1
        self.progress.epoch_step += 1
        skipped = stream.pop_skipped()
        if skipped:
            self.progress.skipped_samples += len(skipped)
            for message in skipped:
                self.log.line(f"rank {self.env.rank}: skipped corrupt sample of level {level}: {message}")
        self.nonfinite.add(self.progress.step - 1, level, nonfinite)
        return {"level": level, "samples": samples, "loss": total, **terms_sum}

    def _optimizer_step(self, nonfinite: torch.Tensor) -> None:
        """The optimizer's step, skipped on the device when `nonfinite` is 1: the fused optimizer
        (build_optimizer) leaves parameters and state untouched when given found_inf, as for the
        GradScaler, whose own check finds the non-finite gradients of a non-finite loss."""
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return
        self.optimizer.found_inf = nonfinite
        try:
            self.optimizer.step()
        finally:
            del self.optimizer.found_inf

    def _check_nonfinite(self, means: dict | None = None) -> set:
        """Reads the non-finite flags of the steps since the last call (at log steps; nonfinite.py)."""
        return self.nonfinite.check(self.cfg.train.nonfinite, self.progress, self.log, means)

    def _global_mean(self, values: dict) -> dict:
        names = [k for k, v in values.items() if isinstance(v, torch.Tensor)]
        if not names:
            return {}
        stacked = torch.stack([values[k].float().reshape(()) for k in names]).to(self.device)
        if self.env.distributed:
            collectives.all_reduce(stacked)
            stacked /= self.env.world_size
        return dict(zip(names, stacked.tolist()))

    # ------------------------------------------------------------------------------ the loop
    def train_epoch(self, epoch: int) -> bool:
        """Run the rest of `epoch`'s plan; False when stopped early (signal or train.max_steps)."""
        plan = self.plan(epoch)
        while self.progress.epoch_step < len(plan):
            reason = self.stop_conditions.reason(self.progress.step, self.cfg.train.log_every, self.cfg.train.max_steps)
            if reason is not None:
                self.log.line(f"{reason}: writing a checkpoint")
                self.save_checkpoint()
                return False
            level, n_micro = plan[self.progress.epoch_step]
            start = time.perf_counter()
            result = self.train_step(level, n_micro)
            samples_per_s = result["samples"] * self.env.world_size / (time.perf_counter() - start)
            lr = self.scheduler.get_last_lr()[0]
            step = self.progress.step
            # values are read from the device only at log steps (one wait every train.log_every steps)
            due = step % self.cfg.train.log_every == 0 or self.progress.epoch_step == len(plan)
            means = self._global_mean(result) if due else {}
            if not due:
                self.log.update_bar(self._last_loss, samples_per_s, level)
            elif step not in self._check_nonfinite(means):
                self._last_loss = means["loss"]
                self.log.train_step(epoch, step, self.total_steps, level, means, lr, samples_per_s)
            else:
                self.log.update_bar(float("nan"), samples_per_s, level)
            if self.checkpoint_policy.due_in_epoch(step, self.progress.epoch_step, len(plan)):
                self.save_checkpoint()
        return True

    def end_of_epoch(self, epoch: int) -> None:
        """After `epoch`'s last step, before its checkpoint: the validation loss when due (a subclass
        may add to it, as the demo does)."""
        eval_policy.validate_if_due(self, epoch)

    def validate(self) -> float | None:
        """Clip-level loss on the validation split (eval_policy.validation_loss)."""
        return eval_policy.validation_loss(self)

    @collectives.fail_together()
    def train(self, max_steps: int | None = None) -> str:
        """Train to the end of the configured epochs, a stop signal, train.max_steps or this call's
        `max_steps` (optimizer steps of the whole run), whichever comes first. Returns "finished" or
        "stopped". Re-entrant: a later call goes on from where this one stopped. The run log stays
        open: call `close()` (or use the trainer as a context manager) when done. When a rank raises,
        the others stop at once with RankFailed naming it (surgvlp_fast.collectives.fail_together)."""
        limit = f", this call until step {max_steps}" if max_steps is not None else ""
        self.log.line(f"training {self.cfg.method} on {self.env.world_size} process(es), device {self.device}, "
                      f"{self.precision}, levels {self.lengths} batches per pass, {self.total_steps} steps{limit}")
        self.log.start_bar(self.total_steps, self.progress.step)
        try:
            with self.stop_conditions.during_call(max_steps):
                while self.progress.epoch < self.cfg.train.epochs:
                    epoch = self.progress.epoch
                    if not self.train_epoch(epoch):
                        return "stopped"
                    self.end_of_epoch(epoch)
                    self.progress.epoch += 1
                    self.progress.epoch_step = 0
                    # the epoch's checkpoint before its evaluation: a failing or killed evaluation costs no training
                    if self.checkpoint_policy.due_after_epoch(self.progress.epoch, self.cfg.train.epochs):
                        self.save_checkpoint()
                    eval_policy.evaluate_if_due(self, epoch)
            self.log.line(f"finished: {self.progress.step} steps, {self.progress.skipped_samples} corrupt samples "
                          f"skipped, {self.progress.skipped_steps} non-finite steps skipped, "
                          f"{self.progress.failed_evals} evaluations failed")
            return "finished"
        finally:
            self.log.end_bar()

    def close(self) -> None:
        """Close the run log (progress bar, TensorBoard writer) and, when this trainer started torch.distributed,
        end it: DDP's reducer (which holds the process group and its last gradient buckets) is released first, so
        the group is destroyed and its communication threads joined while the interpreter is fully alive (a gloo
        thread that frees a tensor during interpreter shutdown aborts the process)."""
        self.log.close()
        if self._owns_process_group and dist.is_initialized():
            self.ddp = self.model
            gc.collect()
            dist.destroy_process_group()
            gc.collect()

    def __enter__(self) -> "Trainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------- checkpoints, resume
    def state_dict(self) -> dict:
        """Everything an exact resume needs; RNG and stream states of every rank."""
        self._check_nonfinite()                   # progress.skipped_steps up to date
        local = {"rng": rng_state(self.view_generator),
                 "streams": {lv: s.state_dict() for lv, s in self.streams.items()}}
        per_rank = collectives.all_gather_object(local) if self.env.distributed else [local]
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "progress": asdict(self.progress), "schedule": self.run_plan.state_dict(self.progress.epoch),
                "ranks": per_rank, "world_size": self.env.world_size, "method": self.cfg.method}

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint. Written by the same world (number of processes, per-process batch
        sizes): everything comes back and the run goes on bit for bit. Written by another world: see
        `training.resume.continue_on_this_world`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress(**state["progress"])   # failed_evals: 0 in older checkpoints
        schedule = state.get("schedule") or {}
        if written_by_this_world(state, self.env.world_size, self.streams):
            self.run_plan.load_state_dict(schedule, self.progress.epoch)
            mine = state["ranks"][self.env.rank]
            set_rng_state(mine["rng"], self.view_generator)
            for level, stream_state in mine["streams"].items():
                self.streams[level].load_state_dict(stream_state)
        else:
            self.run_plan.resumed, self.run_plan.base = continue_on_this_world(self, state, schedule)
        self.total_steps = self.run_plan.total(self.cfg.train.epochs)

    @collectives.fail_together()
    def save_checkpoint(self) -> None:
        """Write the checkpoint of this step (main rank). A failed write (disk full, ...) leaves the
        earlier checkpoints intact and stops the run: CheckpointError on the main rank, RankFailed
        with its message on the others (waiting for the write)."""
        self.checkpoint_policy.write(self.state_dict(), self.progress.step)   # state_dict: every rank takes part

    def resume(self) -> bool:
        """Load the newest checkpoint that reads (an unreadable newer one is logged and passed over)."""
        found = self.checkpoint_policy.latest()
        if found is None:
            return False
        path, state = found
        self.load_state_dict(state)
        self.log.line(f"resumed from {path}: epoch {self.progress.epoch}, step {self.progress.step}")
        return True


def build_optimizer(cfg: Config, model) -> torch.optim.Optimizer:
    o = cfg.optim
    cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    # fused: one kernel per step, and a step skipped on the device (found_inf) without a host read
    return cls(model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay, fused=True)
