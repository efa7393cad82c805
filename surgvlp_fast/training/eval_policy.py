"""What the trainer evaluates while it trains: the validation loss every validation.every_epochs
epochs, and the evaluation protocols (eval.protocols, or the caller's hook) every eval.every_epochs
epochs, whose failures are logged and counted (eval.on_error: continue) or end the run (stop).

The functions take the trainer: they run its model and objective and log into its run log.
"""
import torch
import torch.distributed as dist

from surgvlp_fast import collectives
from surgvlp_fast.pretrain.stream import PassBatchSampler, corrupt_tolerant_loader
from surgvlp_fast.training.config import Config
from surgvlp_fast.training.device import to_device
from surgvlp_fast.training.distributed import DistEnv
from surgvlp_fast.training.rng import rng_state, seed_everything, set_rng_state


@torch.no_grad()
def validation_loss(trainer) -> float | None:
    """Clip-level loss on the validation split, model in eval mode (reference: train mode, §8.11).

    Its random draws (sub-clips, augmentations) are the same at every validation and leave the
    training RNG streams untouched: validating does not change the training numbers.
    """
    cfg, env, data = trainer.cfg, trainer.env, trainer.data
    if data.val is None:
        return None
    saved = rng_state(trainer.view_generator)
    seed_everything(cfg.seed + 12345 + env.rank)
    trainer.ddp.train(cfg.validation.model_mode == "train")
    try:
        sampler = PassBatchSampler(len(data.val), cfg.data.val.batch_size, 0, env.rank, env.world_size, shuffle=False)
        loader = corrupt_tolerant_loader(
            data.val, sampler, data.collate["val"], corrupt_errors=data.corrupt_errors,
            retries=cfg.data.corrupt_retries, num_workers=cfg.data.num_workers,
            worker_init=data.worker_init, generator=torch.Generator().manual_seed(cfg.seed))
        generator = torch.Generator().manual_seed(cfg.seed)
        total, count = torch.zeros((), device=trainer.device), 0
        for batch, _ in loader:
            loss, _ = trainer.forward_loss("clip", to_device(batch, trainer.device), generator)
            total += loss.detach().float()
            count += 1
        return trainer._global_mean({"loss": total / max(1, count)})["loss"]
    finally:
        trainer.ddp.train()
        set_rng_state(saved, trainer.view_generator)


def validate_if_due(trainer, epoch: int) -> None:
    """The validation loss after `epoch`, logged, every validation.every_epochs epochs."""
    every = trainer.cfg.validation.every_epochs
    if every and (epoch + 1) % every == 0:
        val = trainer.validate()
        if val is not None:
            trainer.log.record("val", trainer.progress.step, {"loss": val}, epoch=epoch)
            trainer.log.line(f"epoch {epoch} validation loss {val:.5f}")


def evaluate_if_due(trainer, epoch: int) -> None:
    """The evaluation hook, when due after `epoch` (called after the epoch's checkpoint). A
    failing protocol is logged with its message and counted (progress.failed_evals) and the run
    goes on; `eval.on_error: stop` re-raises it."""
    every = trainer.cfg.eval.every_epochs
    if trainer.eval_hook is None or not every or (epoch + 1) % every:
        return
    from surgvlp_fast.evaluation.runner import EvaluationFailed

    try:   # on every rank
        metrics, failures = trainer.eval_hook(trainer.model, trainer.tokenizer, trainer.cfg, trainer.device), {}
    except EvaluationFailed as err:
        metrics, failures, error = err.metrics, err.failures, err
    except Exception as err:   # noqa: BLE001 - a hook's failure must not cost the training run
        metrics, failures, error = {}, {"evaluation": f"{type(err).__name__}: {err}"}, err
    finally:
        trainer.ddp.train()
    if metrics:
        trainer.log.record("eval", trainer.progress.step, metrics, epoch=epoch)
        trainer.log.line(f"epoch {epoch} evaluation: {metrics}")
    for name, message in failures.items():
        trainer.progress.failed_evals += 1
        trainer.log.line(f"rank {trainer.env.rank}: epoch {epoch} evaluation of {name} failed: {message}")
    if trainer.cfg.eval.on_error == "stop" and any_rank(bool(failures), trainer.env, trainer.device):
        raise error if failures else RuntimeError("evaluation failed on another rank (eval.on_error: stop)")


def any_rank(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    if env.distributed:
        collectives.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


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
