"""The device side of a training step: its batches moved onto the device, the precision it
computes in (train.precision=auto: bf16 where the GPU has it, else fp16; fp32 on the CPU) with the
matching autocast context, and its compilation (train.compile)."""
from contextlib import nullcontext

import torch

from surgvlp_fast.config import ConfigError


def to_device(batch, device: torch.device):
    """A batch (tensors in nested dicts) on `device`, copied without waiting."""
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


def autocast(precision: str, device: torch.device):
    """The forward's autocast context for a resolved precision (none for fp32)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def compile_step(model, score: dict, device: torch.device) -> tuple:
    """The model and each level's objective (`score`) through torch.compile (inductor); refused on the CPU."""
    if device.type == "cpu":
        raise ConfigError("train.compile=true on the CPU: torch 2.14.1's inductor miscompiles this training "
                          "step's CPU kernels (heap corruption, NaN losses, or C++ that does not compile, "
                          "depending on ATEN_CPU_CAPABILITY); compile on a GPU, or set train.compile=false")
    return torch.compile(model), {lv: torch.compile(fn) for lv, fn in score.items()}
