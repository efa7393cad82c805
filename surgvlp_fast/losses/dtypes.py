"""The numerics rule of every loss backend, the lowest module of the loss package.

Statistics, accumulation and the gradients the kernels return are float64 for float64 inputs,
else float32. The fused op (fused.py) and the Triton host code (triton_lse.py) both read it
here; the C++ kernels' `compute_type` follows the same rule where their templates need it.
"""
import torch


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Statistics and accumulation dtype of the kernels for inputs of `dtype`."""
    return torch.float64 if dtype == torch.float64 else torch.float32
