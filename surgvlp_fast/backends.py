"""One rule for choosing the implementation of a kernel.

Backends: "reference" (plain PyTorch, always there), "cpu" (C++ in surgvlp_fast._C, CPU
tensors), "triton" (Triton kernels, CUDA tensors; CPU tensors under TRITON_INTERPRET=1),
"cuda" (CUDA C++ in surgvlp_fast._C). `SURGVLP_FAST_BACKEND` forces one for every call.

`SURGVLP_FAST_CHECK_VALUES=1` turns on the value checks of the kernels' inputs (NaN / inf
embeddings, soft-DTW samples without a valid step): they read tensor values, i.e. wait for the
device, so they are off by default and every check done on every call reads metadata only.
"""
import functools
import os

import torch

from surgvlp_fast._native import native_submodule

BACKENDS = ("auto", "reference", "cpu", "triton", "cuda")


@functools.lru_cache(maxsize=None)
def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except Exception:  # a broken triton install raises more than ImportError
        return False
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


def cuda_kernels_available() -> bool:
    module = native_submodule("losses")
    return module is not None and bool(getattr(module, "has_cuda", False)) and torch.cuda.is_available()


def value_checks() -> bool:
    """Whether the debug checks that read tensor values are on (SURGVLP_FAST_CHECK_VALUES=1)."""
    return os.environ.get("SURGVLP_FAST_CHECK_VALUES", "0") not in ("", "0")


def requested_backend(backend: str) -> str:
    """The backend asked for, the environment variable winning over the argument."""
    forced = os.environ.get("SURGVLP_FAST_BACKEND", "").strip()
    choice = forced or backend
    if choice not in BACKENDS:
        source = "SURGVLP_FAST_BACKEND" if forced else "backend"
        raise ValueError(f"{source}={choice!r} is not one of {', '.join(BACKENDS)}")
    return choice


def resolve_backend(backend: str, device: torch.device, *, kernel: str, cpu: bool,
                    triton: bool, cuda: bool) -> str:
    """Pick the implementation of `kernel` for tensors on `device`.

    `cpu`, `triton` and `cuda` say whether that backend of this kernel is present. "auto" takes
    the fastest present one for the device and falls back to "reference"; an explicit choice
    that cannot serve the input is an error that says why.
    """
    choice = requested_backend(backend)
    on_cuda = device.type == "cuda"
    if choice == "auto":
        if on_cuda:
            # Triton first: its kernels are the tuned ones (tiles checked spill-free for sm_90a / sm_80);
            # the CUDA C++ kernels stay selectable by name until a GPU benchmark says which to keep.
            return "triton" if triton else "cuda" if cuda else "reference"
        return "cpu" if cpu else "reference"
    if choice == "reference":
        return choice
    present = {"cpu": cpu, "triton": triton, "cuda": cuda}[choice]
    if not present:
        hint = {
            "cpu": "the compiled core is not built or is switched off (see `surgvlp-fast doctor`)",
            "triton": "Triton is not installed, or there is no GPU and TRITON_INTERPRET is not 1",
            "cuda": "the CUDA kernels were not compiled (SURGVLP_FAST_BUILD_CUDA=1) or no GPU is present",
        }[choice]
        raise RuntimeError(f"{kernel}: backend {choice!r} is not available: {hint}")
    if choice == "cpu" and on_cuda:
        raise RuntimeError(f"{kernel}: backend 'cpu' takes CPU tensors, got tensors on {device}")
    if choice == "cuda" and not on_cuda:
        raise RuntimeError(f"{kernel}: backend 'cuda' takes CUDA tensors, got tensors on {device}")
    return choice
