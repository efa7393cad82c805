"""The trainer of SurgVLP / HecVL / PeskaVLP: one class whose methods are the steps of the loop.

`Trainer(cfg, work_dir, data)` builds the model, optimizer, schedule and streams; `train()` runs
the epochs (re-entrant: `train(max_steps=n)` stops after step n and a later call goes on),
`set_schedule(epochs)` changes the run's length, `close()` (or a with-block) closes the run log. Every step trains one level (reference.md §5.6): its batch is moved to the device,
augmented there (`make_views`), embedded in one forward, and scored by the method's objective.
Checkpoints hold everything needed for an exact resume (model, optimizer, scheduler, GradScaler,
stream positions, every rank's RNG states).
"""
import gc
import os
import random
import signal
import time
from dataclasses import replace
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from surgvlp_fast import collectives
from surgvlp_fast.config import LEVELS, Config, ConfigError, save_config, tokenizer_path
from surgvlp_fast.losses.objectives import ClipEmbeddings, LevelEmbeddings, build_objective
from surgvlp_fast.models import build_model, load_tokenizer
from surgvlp_fast.training import checkpoint as ckpt
from surgvlp_fast.pretrain.build import TrainingData
from surgvlp_fast.pretrain.levels import LEVELS as LEVEL_TABLE
from surgvlp_fast.pretrain.stream import LevelStream, PassBatchSampler, corrupt_tolerant_loader
from surgvlp_fast.training.distributed import DistEnv, init_process_group, pick_device, read_env
from surgvlp_fast.training.logs import RunLog
from surgvlp_fast.training.schedule import cosine_with_warmup, epoch_plan, total_steps

STOP_SIGNALS = ("SIGTERM", "SIGUSR1")


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or inf (train.nonfinite: stop)."""



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
        self.cfg, self.work_dir, self.data = cfg, work_dir, data
        self.env = env or read_env()
        self.device = pick_device(cfg.device, self.env)
        self._owns_process_group = init_process_group(self.env, self.device, cfg.distributed.backend,
                                                      cfg.distributed.timeout_minutes)
        os.makedirs(work_dir, exist_ok=True)
        self.log = RunLog(work_dir, self.env.is_main, tensorboard=cfg.train.tensorboard,
                          progress_bar=cfg.train.progress_bar)
        self._save_config()

        seed_everything(cfg.seed)                 # same initial weights on every rank
        self.tokenizer = data.tokenizer if data.tokenizer is not None else load_tokenizer(tokenizer_path(cfg))
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
        self._resumed_plan = None                 # (epoch, plan) of an epoch resumed on another world
        self._schedule_base = None                # (epoch, steps before it) once resumed on another world
        self.objective = objective if objective is not None else default_objective(cfg)
        self.eval_hook = eval_hook if eval_hook is not None else default_eval_hook(cfg)
        self._score = {lv: getattr(self.objective, lv) for lv in LEVELS if hasattr(self.objective, lv)}
        if cfg.train.compile:    # the model and each level's objective through torch.compile (inductor)
            if self.device.type == "cpu":
                raise ConfigError("train.compile=true on the CPU: torch 2.14.1's inductor miscompiles this training "
                                  "step's CPU kernels (heap corruption, NaN losses, or C++ that does not compile, "
                                  "depending on ATEN_CPU_CAPABILITY); compile on a GPU, or set train.compile=false")
            self.ddp = torch.compile(self.ddp)
            self._score = {lv: torch.compile(fn) for lv, fn in self._score.items()}

        self.precision = resolve_precision(cfg.train.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16" and cfg.train.grad_scaler)
        self.optimizer = build_optimizer(cfg, self.model)
        self.total_steps = self._schedule_length()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: cosine_with_warmup(s, cfg.optim.warmup_steps, self.total_steps))
        self.progress = Progress()
        self._stop_signal = None
        self._unchecked = []                      # (step, level, non-finite flag) not yet read
        self._last_loss = float("nan")            # the loss of the last log step (progress bar)
        self._call_max_steps = None               # the step limit of the current train() call
        if resume:
            self.resume()

    # ------------------------------------------------------------------------------ building
    def _save_config(self) -> None:
        """work_dir/config.yaml: the config as it runs (main rank)."""
        if self.env.is_main:
            save_config(self.cfg, os.path.join(self.work_dir, "config.yaml"))

    def _schedule_length(self) -> int:
        cfg, sched = self.cfg, self.cfg.schedule
        if self._schedule_base is not None and cfg.optim.total_steps == "real":   # resumed on another world
            epoch, before = self._schedule_base
            return before + sum(len(self.plan(e)) for e in range(epoch, cfg.train.epochs))
        return total_steps(cfg.train.epochs, self.lengths, sched.mode, sched.every, sched.batches,
                           cfg.train.accumulate, cfg.optim.total_steps)

    def set_schedule(self, epochs: int) -> None:
        """Run `epochs` epochs in all: the cosine schedule (read at every step) is laid over the new
        length from the next step on, and config.yaml is rewritten with the config as it now runs.
        The caller's config object is left as it was (self.cfg becomes an updated copy)."""
        self.cfg = replace(self.cfg, train=replace(self.cfg.train, epochs=epochs))
        self.total_steps = self._schedule_length()
        self._save_config()
        self.log.set_bar_total(self.total_steps)
        self.log.line(f"schedule: {epochs} epochs = {self.total_steps} steps")

    def _stream(self, level, dataset, batch_size, index) -> LevelStream:
        return LevelStream(level, dataset, batch_size, self.data.collate[level], seed=self.cfg.seed * 31 + index,
                           rank=self.env.rank, world_size=self.env.world_size, num_workers=self.cfg.data.num_workers,
                           corrupt_errors=self.data.corrupt_errors, retries=self.cfg.data.corrupt_retries,
                           worker_init=self.data.worker_init)

    def plan(self, epoch: int) -> list[tuple[str, int]]:
        if self._resumed_plan is not None and self._resumed_plan[0] == epoch:
            return self._resumed_plan[1]
        s = self.cfg.schedule
        return epoch_plan(epoch, self.lengths, s.mode, s.every, s.batches, self.cfg.train.accumulate)

    # --------------------------------------------------------------------------------- steps
    def autocast(self):
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16)

    def embed(self, level: str, batch: dict, generator: torch.Generator):
        """Device batch → the objective's embeddings (ClipEmbeddings or LevelEmbeddings)."""
        video = batch["video"]
        n_aug = self.cfg.data.clip.views - 1 if level == "clip" else 0
        views = self.data.make_views(video, n_aug=n_aug, generator=generator)
        parent_key, child_key = LEVEL_TABLE[level].first, LEVEL_TABLE[level].second
        parent, children = batch[parent_key], batch[child_key]
        b, k = children["input_ids"].shape[:2]
        groups = [{name: t.flatten(0, 1) for name, t in group.items()} for group in (parent, children)]
        same_length = groups[0]["input_ids"].shape[1] == groups[1]["input_ids"].shape[1]
        text = {name: torch.cat([groups[0][name], groups[1][name]]) for name in groups[0]} if same_length else groups
        with self.autocast():
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
        self._unchecked.append((self.progress.step - 1, level, nonfinite))
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
        """Reads the non-finite flags of the steps since the last call (one wait on the device, at
        log steps): train.nonfinite=stop raises, skip counts and logs them. Returns their steps."""
        unchecked, self._unchecked = self._unchecked, []
        if not unchecked:
            return set()
        flags = torch.stack([flag for _, _, flag in unchecked]).tolist()
        bad = [(step, level) for (step, level, _), flag in zip(unchecked, flags) if flag]
        if bad and self.cfg.train.nonfinite == "stop":
            step, level = bad[0]
            terms = f"{means}; " if means and step == unchecked[-1][0] else ""
            raise NonFiniteLoss(f"non-finite {level} loss at step {step} (epoch {self.progress.epoch}): {terms}"
                                "its update was skipped; set train.nonfinite=skip to skip such steps")
        for step, level in bad:
            self.progress.skipped_steps += 1
            self.log.line(f"epoch {self.progress.epoch} step {step + 1}: non-finite {level} loss, step skipped")
        return {step + 1 for step, _ in bad}

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
            if self._should_stop():
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
                self.log.update_bar(means["loss"], samples_per_s, level)
                self.log.record("train", step, {**{f"{level}/{k}": v for k, v in means.items()},
                                               "loss": means["loss"], "lr": lr, "samples_per_s": samples_per_s},
                                epoch=epoch, level=level)
                self.log.line(f"epoch {epoch} step {step}/{self.total_steps} {level} loss {means['loss']:.5f} "
                              f"lr {lr:.3e} {samples_per_s:.1f} samples/s")
            else:
                self.log.update_bar(float("nan"), samples_per_s, level)
            every = self.cfg.checkpoint.every_steps
            if every and step % every == 0 and self.progress.epoch_step < len(plan):
                self.save_checkpoint()
        return True

    def _should_stop(self) -> bool:
        stop = self._stop_signal is not None
        if self.env.distributed and self.progress.step % self.cfg.train.log_every == 0:
            # the ranks agree on a signal at log steps: a collective and one read of its result
            flag = torch.tensor([1.0 if stop else 0.0], device=self.device)
            collectives.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        elif self.env.distributed:
            stop = False
        if stop:
            self.log.line(f"stopping on {self._stop_signal or 'a signal on another rank'}: writing a checkpoint")
            self.save_checkpoint()
            return True
        max_steps = self.cfg.train.max_steps
        if max_steps and self.progress.step >= max_steps:
            self.log.line(f"train.max_steps={max_steps} reached: writing a checkpoint")
            self.save_checkpoint()
            return True
        limit = self._call_max_steps
        if limit is not None and self.progress.step >= limit:
            self.log.line(f"step limit {limit} of this train() call reached: writing a checkpoint")
            self.save_checkpoint()
            return True
        return False

    @torch.no_grad()
    def validate(self) -> float | None:
        """Clip-level loss on the validation split, model in eval mode (reference: train mode, §8.11).

        Its random draws (sub-clips, augmentations) are the same at every validation and leave the
        training RNG streams untouched: validating does not change the training numbers.
        """
        if self.data.val is None:
            return None
        saved = self.rng_state()
        seed_everything(self.cfg.seed + 12345 + self.env.rank)
        self.ddp.train(self.cfg.validation.model_mode == "train")
        try:
            sampler = PassBatchSampler(len(self.data.val), self.cfg.data.val.batch_size, 0, self.env.rank,
                                       self.env.world_size, shuffle=False)
            loader = corrupt_tolerant_loader(
                self.data.val, sampler, self.data.collate["val"], corrupt_errors=self.data.corrupt_errors,
                retries=self.cfg.data.corrupt_retries, num_workers=self.cfg.data.num_workers,
                worker_init=self.data.worker_init, generator=torch.Generator().manual_seed(self.cfg.seed))
            generator = torch.Generator().manual_seed(self.cfg.seed)
            total, count = torch.zeros((), device=self.device), 0
            for batch, _ in loader:
                loss, _ = self.forward_loss("clip", to_device(batch, self.device), generator)
                total += loss.detach().float()
                count += 1
            return self._global_mean({"loss": total / max(1, count)})["loss"]
        finally:
            self.ddp.train()
            self.set_rng_state(saved)

    def end_of_epoch(self, epoch: int) -> None:
        every = self.cfg.validation.every_epochs
        if every and (epoch + 1) % every == 0:
            val = self.validate()
            if val is not None:
                self.log.record("val", self.progress.step, {"loss": val}, epoch=epoch)
                self.log.line(f"epoch {epoch} validation loss {val:.5f}")

    def evaluate(self, epoch: int) -> None:
        """The evaluation hook, when due after `epoch` (called after the epoch's checkpoint). A
        failing protocol is logged with its message and counted (progress.failed_evals) and the run
        goes on; `eval.on_error: stop` re-raises it."""
        every = self.cfg.eval.every_epochs
        if self.eval_hook is None or not every or (epoch + 1) % every:
            return
        from surgvlp_fast.evaluation.runner import EvaluationFailed

        try:
            metrics, failures = self.eval_hook(self.model, self.tokenizer, self.cfg, self.device), {}   # every rank
        except EvaluationFailed as err:
            metrics, failures, error = err.metrics, err.failures, err
        except Exception as err:   # noqa: BLE001 - a hook's failure must not cost the training run
            metrics, failures, error = {}, {"evaluation": f"{type(err).__name__}: {err}"}, err
        finally:
            self.ddp.train()
        if metrics:
            self.log.record("eval", self.progress.step, metrics, epoch=epoch)
            self.log.line(f"epoch {epoch} evaluation: {metrics}")
        for name, message in failures.items():
            self.progress.failed_evals += 1
            self.log.line(f"rank {self.env.rank}: epoch {epoch} evaluation of {name} failed: {message}")
        if self.cfg.eval.on_error == "stop" and self._any_rank(bool(failures)):
            raise error if failures else RuntimeError("evaluation failed on another rank (eval.on_error: stop)")

    def _any_rank(self, flag: bool) -> bool:
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        if self.env.distributed:
            collectives.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

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
        previous = {name: signal.signal(getattr(signal, name), self._on_signal) for name in STOP_SIGNALS}
        self._call_max_steps = max_steps
        try:
            while self.progress.epoch < self.cfg.train.epochs:
                epoch = self.progress.epoch
                if not self.train_epoch(epoch):
                    return "stopped"
                self.end_of_epoch(epoch)
                self.progress.epoch += 1
                self.progress.epoch_step = 0
                every = self.cfg.checkpoint.every_epochs
                if (every and self.progress.epoch % every == 0) or self.progress.epoch == self.cfg.train.epochs:
                    self.save_checkpoint()   # before the evaluation: a failing or killed evaluation costs no training
                self.evaluate(epoch)
            self.log.line(f"finished: {self.progress.step} steps, {self.progress.skipped_samples} corrupt samples "
                          f"skipped, {self.progress.skipped_steps} non-finite steps skipped, "
                          f"{self.progress.failed_evals} evaluations failed")
            return "finished"
        finally:
            self._call_max_steps = None
            for name, handler in previous.items():
                signal.signal(getattr(signal, name), handler)
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

    def _on_signal(self, signum, frame):
        self._stop_signal = signal.Signals(signum).name

    # ------------------------------------------------------------------------------- resume
    def rng_state(self) -> dict:
        state = {"python": random.getstate(), "numpy": numpy_state(), "torch": torch.get_rng_state(),
                 "views": self.view_generator.get_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def set_rng_state(self, state: dict) -> None:
        random.setstate(state["python"])
        set_numpy_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        self.view_generator.set_state(state["views"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

    def state_dict(self) -> dict:
        """Everything an exact resume needs; RNG and stream states of every rank."""
        self._check_nonfinite()                   # progress.skipped_steps up to date
        local = {"rng": self.rng_state(), "streams": {lv: s.state_dict() for lv, s in self.streams.items()}}
        per_rank = collectives.all_gather_object(local) if self.env.distributed else [local]
        p = self.progress
        schedule = {"lengths": self.lengths, "plan": [list(s) for s in self.plan(p.epoch)],
                    "base": list(self._schedule_base) if self._schedule_base else None}
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "progress": {"epoch": p.epoch, "epoch_step": p.epoch_step, "step": p.step,
                             "skipped_samples": p.skipped_samples, "skipped_steps": p.skipped_steps,
                             "failed_evals": p.failed_evals},
                "schedule": schedule, "ranks": per_rank, "world_size": self.env.world_size, "method": self.cfg.method}

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint. Written by the same world (number of processes, per-process batch
        sizes): everything comes back and the run goes on bit for bit. Written by another world: see
        `_continue_on_this_world`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        p = state["progress"]
        self.progress = Progress(p["epoch"], p["epoch_step"], p["step"], p["skipped_samples"], p["skipped_steps"],
                                 p.get("failed_evals", 0))
        schedule = state.get("schedule") or {}
        if schedule.get("base"):
            self._schedule_base = tuple(schedule["base"])
        streams = state["ranks"][0]["streams"]
        same_world = state["world_size"] == self.env.world_size and all(
            streams[lv].get("batch_size", self.streams[lv].sampler.batch_size) == self.streams[lv].sampler.batch_size
            for lv in self.streams)
        if same_world:
            if schedule.get("plan") is not None and self._schedule_base is not None:
                self._resumed_plan = (self.progress.epoch, [tuple(s) for s in schedule["plan"]])
            mine = state["ranks"][self.env.rank]
            self.set_rng_state(mine["rng"])
            for level, stream_state in mine["streams"].items():
                self.streams[level].load_state_dict(stream_state)
        else:
            self._continue_on_this_world(state, schedule)
        self.total_steps = self._schedule_length()

    def _continue_on_this_world(self, state: dict, schedule: dict) -> None:
        """Resume a checkpoint of another world (other number of processes or per-process batch
        size). Every level stream goes on from the global position of its pass (the rest of the pass
        dealt out over this world's ranks: nothing repeated or skipped); the rest of the current
        epoch is re-planned from what the streams have left; every rank re-seeds its RNG streams from
        (seed, rank, step): `reseed`. The cosine schedule is laid over the steps that now remain."""
        ranks = state["ranks"]
        for level, stream in self.streams.items():
            positions = {(r["streams"][level]["epoch"], r["streams"][level].get("position")) for r in ranks}
            if len(positions) != 1 or None in {pos for _, pos in positions}:
                raise ckpt.CheckpointError(f"the checkpoint's {level} stream positions differ between ranks "
                                           f"({sorted(positions)}) or are missing: it cannot move to another world")
            stream.load_state_dict(ranks[0]["streams"][level])
        self.reseed(self.progress.step)
        p = self.progress
        old_lengths = schedule.get("lengths")
        old_plan = [tuple(s) for s in schedule["plan"]] if schedule.get("plan") else None
        if old_plan is None:
            if old_lengths is None:
                raise ckpt.CheckpointError("the checkpoint predates resuming on another world (no schedule entry)")
            sc = self.cfg.schedule
            old_plan = epoch_plan(p.epoch, old_lengths, sc.mode, sc.every, sc.batches, self.cfg.train.accumulate)
        self._resumed_plan = (p.epoch, old_plan[:p.epoch_step] + self._rest_of_epoch(p.epoch, old_plan, p.epoch_step))
        self._schedule_base = (p.epoch, p.step - p.epoch_step)
        self.log.line(f"resuming a checkpoint of {state['world_size']} process(es) on {self.env.world_size}: "
                      + ", ".join(f"{lv} pass {st.sampler.epoch} from sample {st.sampler.offset} of {len(st.dataset)}"
                                  for lv, st in self.streams.items())
                      + f"; {len(self._resumed_plan[1]) - p.epoch_step} steps left in epoch {p.epoch}; "
                      "RNG streams re-seeded from (seed, rank, step)")

    def _rest_of_epoch(self, epoch: int, old_plan: list, done: int) -> list[tuple[str, int]]:
        """The steps left in `epoch` on this world, from what each level stream has left of its pass."""
        sc, acc = self.cfg.schedule, self.cfg.train.accumulate
        anchor, others = self.levels[0], self.levels[1:]
        left = {lv: self.streams[lv].remaining() for lv in self.levels}
        finished = {lv for lv in self.levels if not any(level == lv for level, _ in old_plan[done:])}
        runs = []
        if sc.mode == "epoch":
            runs.append((anchor, left[anchor] if anchor not in finished else 0))
            runs += [(lv, left[lv]) for lv in others if epoch != 0 and epoch % sc.every[lv] == 0 and lv not in finished]
        else:   # batch: the other levels' batches of the round under way, then rounds over what the anchor has left
            for level, n in old_plan[done:]:
                if level == anchor:
                    break
                runs.append((level, n))
            remaining = left[anchor] if anchor not in finished else 0
            while remaining > 0:
                take = min(sc.batches[anchor], remaining)
                runs.append((anchor, take))
                remaining -= take
                runs += [(lv, sc.batches[lv]) for lv in others]
        steps = []
        for level, n in runs:
            full, rest = divmod(n, acc)
            steps += [(level, acc)] * full + ([(level, rest)] if rest else [])
        return steps

    def reseed(self, step: int) -> None:
        """The RNG streams of a rank resumed on another world: Python, NumPy and torch from
        seed·1000 + rank + 1000003·(step + 1), the augmentation generator from
        seed·7919 + rank + 1000003·(step + 1)."""
        shift = 1_000_003 * (step + 1)
        seed_everything(self.cfg.seed * 1000 + self.env.rank + shift)
        self.view_generator.manual_seed(self.cfg.seed * 7919 + self.env.rank + shift)

    @collectives.fail_together()
    def save_checkpoint(self) -> None:
        """Write the checkpoint of this step (main rank). A failed write (disk full, ...) leaves the
        earlier checkpoints intact and stops the run: CheckpointError on the main rank, RankFailed
        with its message on the others (waiting for the write)."""
        state = self.state_dict()   # a collective: every rank takes part
        if self.env.is_main:
            path = ckpt.checkpoint_path(self.work_dir, self.progress.step)
            try:
                ckpt.atomic_save(state, path)
            except ckpt.CheckpointError as err:
                self.log.line(str(err))
                raise
            ckpt.prune(self.work_dir, self.cfg.checkpoint.keep_last)
            self.log.line(f"checkpoint {path}")
        if self.env.distributed:
            collectives.barrier()   # every rank waits for the write

    def resume(self) -> bool:
        """Load the newest checkpoint that reads (an unreadable newer one is logged and passed over)."""
        found = ckpt.load_latest(self.work_dir, log=self.log.line)
        if found is None:
            self.log.line(f"--resume: no checkpoint in {ckpt.checkpoint_dir(self.work_dir)}, starting afresh")
            return False
        path, state = found
        self.load_state_dict(state)
        self.log.line(f"resumed from {path}: epoch {self.progress.epoch}, step {self.progress.step}")
        return True


# ---------------------------------------------------------------------------------- helpers
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def numpy_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def set_numpy_state(state: dict) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"],
                         state["has_gauss"], state["cached"]))


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def build_optimizer(cfg: Config, model) -> torch.optim.Optimizer:
    o = cfg.optim
    cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    # fused: one kernel per step, and a step skipped on the device (found_inf) without a host read
    return cls(model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay, fused=True)


def default_objective(cfg: Config):
    return build_objective(cfg.method, **cfg.objective)


def default_eval_hook(cfg: Config):
    """The evaluation protocols of `cfg.eval`, or None when none are configured. Called on every
    rank: with several processes the protocols share the videos out (`distributed=True`)."""
    if not cfg.eval.protocols or not cfg.eval.every_epochs:
        return None

    def run(model, tokenizer, cfg, device):
        from surgvlp_fast.evaluation import run_protocols

        distributed = dist.is_initialized() and dist.get_world_size() > 1
        return run_protocols(model, tokenizer, cfg.eval, device, data_root=cfg.eval.data_root or cfg.data.root,
                             distributed=distributed)

    return run
