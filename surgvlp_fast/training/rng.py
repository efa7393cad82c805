"""The random number streams of a training process: seeding, their state in a checkpoint, and
their deterministic re-seeding when a run resumes on another world (training/resume.py)."""
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (CPU and every GPU) from one seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def numpy_state() -> dict:
    """NumPy's global state as tensors and plain values (a checkpoint loads with weights_only=True)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def set_numpy_state(state: dict) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"],
                         state["has_gauss"], state["cached"]))


def rng_state(view_generator: torch.Generator) -> dict:
    """Every RNG stream of this process: Python, NumPy, torch, CUDA and the augmentation generator."""
    state = {"python": random.getstate(), "numpy": numpy_state(), "torch": torch.get_rng_state(),
             "views": view_generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, view_generator: torch.Generator) -> None:
    random.setstate(state["python"])
    set_numpy_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    view_generator.set_state(state["views"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def reseed(seed: int, rank: int, step: int, view_generator: torch.Generator) -> None:
    """The RNG streams of a rank resumed on another world: Python, NumPy and torch from
    seed·1000 + rank + 1000003·(step + 1), the augmentation generator from
    seed·7919 + rank + 1000003·(step + 1)."""
    shift = 1_000_003 * (step + 1)
    seed_everything(seed * 1000 + rank + shift)
    view_generator.manual_seed(seed * 7919 + rank + shift)
