"""The contrastive losses of reference.md §4 with one dispatcher over their implementations.

Same names, arguments and results as `reference.py` (the local-loss form: local rows against
the gathered columns `*_all`, row i's positive at column `offset + i`; mean over local rows),
plus `backend="auto" | "reference" | "cpu" | "triton" | "cuda"` (`SURGVLP_FAST_BACKEND` forces
one; see `surgvlp_fast.backends`). The fast backends never build a similarity matrix: each
term is one `fused.fused_contrastive` node (normalisation, O(B) log-sum-exp statistics and the
positives), and the loss is a few O(B) operations on its outputs.

Every check here reads metadata only (shapes, dtypes, devices, the Python arguments), once per
call, for every backend; NaN / inf inputs are found with SURGVLP_FAST_CHECK_VALUES=1.

float16 / bfloat16 inputs: norms and every reduction run in float32, the tile GEMMs take the
normalised inputs in their dtype with float32 accumulation, and the loss is float32.
"""
import math

import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.backends import cuda_kernels_available, resolve_backend, triton_available, value_checks
from surgvlp_fast.losses import reference
from surgvlp_fast.losses.fused import fused_contrastive

_FLOAT_TYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


@torch.compiler.assume_constant_result
def pick_backend(backend: str, device: torch.device, kernel: str) -> str:
    """The implementation `kernel` runs with for tensors on `device` (surgvlp_fast.backends rule)."""
    return resolve_backend(backend, device, kernel=kernel, cpu=native_submodule("losses") is not None,
                           triton=triton_available(), cuda=cuda_kernels_available())


def _check_inputs(fn: str, tensors: dict, width_dim: int = -1) -> None:
    """Same dtype and device, floating, non-empty; one embedding width: metadata only. Finite
    values only with SURGVLP_FAST_CHECK_VALUES=1 (a read of the values waits for the device)."""
    check_values = value_checks()
    given = {name: t for name, t in tensors.items() if t is not None}
    first_name, first = next(iter(given.items()))
    for name, t in given.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in _FLOAT_TYPES:
            raise TypeError(f"{fn}: {name} must be float32, float64, float16 or bfloat16, got {t.dtype}")
        if t.dtype != first.dtype:
            raise TypeError(f"{fn}: {name} is {t.dtype} but {first_name} is {first.dtype}; use one dtype")
        if t.device != first.device:
            raise ValueError(f"{fn}: {name} is on {t.device} but {first_name} is on {first.device}")
        if t.numel() == 0:
            raise ValueError(f"{fn}: {name} is empty (shape {tuple(t.shape)})")
        if t.shape[-1] != first.shape[-1]:
            raise ValueError(f"{fn}: {name} has embedding width {t.shape[-1]} but {first_name} has "
                             f"{first.shape[-1]}")
        if check_values and not _all_finite(t.detach()):
            raise ValueError(f"{fn}: {name} contains NaN or infinite values")


def _all_finite(t: torch.Tensor) -> bool:
    """NaN and ±inf reach the sum; an elementwise test (several input-sized temporaries) runs only
    when the sum is not finite, which may also be an overflow of finite values."""
    total = t.sum(dtype=torch.float64 if t.dtype == torch.float64 else torch.float32)
    return bool(torch.isfinite(total)) or bool(torch.isfinite(t).all())


def _check_shape(fn: str, name: str, t, dims: int, rows: int | None = None) -> None:
    if t is None:
        return
    if t.dim() != dims:
        what = "(B, d)" if dims == 2 else "(B, K, d)"
        raise ValueError(f"{fn}: {name} must be {what}, got shape {tuple(t.shape)}")
    if rows is not None and t.shape[0] != rows:
        raise ValueError(f"{fn}: {name} has {t.shape[0]} rows, expected {rows}")


def _check_local_form(fn: str, local_rows: int, gathered, offset) -> None:
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"{fn}: offset must be an int, got {type(offset).__name__}")
    for name, t in gathered.items():
        if t is not None and not 0 <= offset <= t.shape[0] - local_rows:
            raise ValueError(f"{fn}: offset {offset} puts the {local_rows} local rows outside {name} "
                             f"({t.shape[0]} rows)")
    if all(t is None for t in gathered.values()) and offset != 0:
        raise ValueError(f"{fn}: offset {offset} given without the gathered batch")


def _check_temperature(fn: str, temperature) -> float:
    if isinstance(temperature, torch.Tensor):
        raise TypeError(f"{fn}: temperature must be a Python number (a fixed temperature), got a tensor")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"{fn}: temperature must be a finite positive number, got {temperature}")
    return float(temperature)


def infonce_directional(v, t, temperature=0.1, *, v_all=None, t_all=None, offset=0, backend="auto"):
    """(CE(S), CE(Sᵀ)) of S = n(v) n(t)ᵀ / τ; in the local form CE(S) is n(v) against n(t_all) and
    CE(Sᵀ) n(t) against n(v_all). Single-process: both terms come from one pass over S."""
    fn = "infonce_directional"
    _check_shape(fn, "v", v, 2)
    _check_shape(fn, "t", t, 2, v.shape[0])
    _check_shape(fn, "v_all", v_all, 2)
    _check_shape(fn, "t_all", t_all, 2)
    _check_inputs(fn, {"v": v, "t": t, "v_all": v_all, "t_all": t_all})
    _check_local_form(fn, v.shape[0], {"v_all": v_all, "t_all": t_all}, offset)
    tau = _check_temperature(fn, temperature)
    chosen = pick_backend(backend, v.device, fn)
    if chosen == "reference":
        return reference.infonce_directional(v, t, tau, v_all=v_all, t_all=t_all, offset=offset)
    scale = 1.0 / tau
    if v_all is None and t_all is None:
        row_lse, col_lse, positive = fused_contrastive(v, t, scale, rows=True, cols=True, positive=0,
                                                       normalize=True, backend=chosen)
        return (row_lse - positive).mean(), (col_lse - positive).mean()
    v_to_t, _, pos_vt = fused_contrastive(v, t if t_all is None else t_all, scale, positive=offset,
                                          normalize=True, backend=chosen)
    t_to_v, _, pos_tv = fused_contrastive(t, v if v_all is None else v_all, scale, positive=offset,
                                          normalize=True, backend=chosen)
    return (v_to_t - pos_vt).mean(), (t_to_v - pos_tv).mean()


def clip_loss(v, t, temperature=0.1, *, v_all=None, t_all=None, offset=0, backend="auto"):
    """CLIP(v, t) = ½[CE(S) + CE(Sᵀ)] (`clip_infonce`)."""
    v_to_t, t_to_v = infonce_directional(v, t, temperature, v_all=v_all, t_all=t_all, offset=offset,
                                         backend=backend)
    return 0.5 * (v_to_t + t_to_v)


def ntx_loss(v, t, alpha=0.75, temperature=0.1, *, v_all=None, t_all=None, offset=0, backend="auto"):
    """NTX(v, t; α) = α·CE(S) + (1-α)·CE(Sᵀ) (`NTXentLoss`)."""
    v_to_t, t_to_v = infonce_directional(v, t, temperature, v_all=v_all, t_all=t_all, offset=offset,
                                         backend=backend)
    return alpha * v_to_t + (1.0 - alpha) * t_to_v


def milnce_loss(v, t, *, v_all=None, t_all=None, offset=0, backend="auto"):
    """MIL-NCE (`milnce`): v (B, d), t (B, K, d) candidates, raw dot products, no temperature.

    den_i = logsumexp over {v_i·t_jk} ∪ {v_j·t_ik} (j over the gathered batch; the positives count
    twice), pos_i = logsumexp_k v_i·t_ik, loss = mean_i(den_i - pos_i).
    """
    fn = "milnce_loss"
    _check_shape(fn, "v", v, 2)
    _check_shape(fn, "t", t, 3, v.shape[0])
    _check_shape(fn, "v_all", v_all, 2)
    _check_shape(fn, "t_all", t_all, 3)
    _check_inputs(fn, {"v": v, "t": t, "v_all": v_all, "t_all": t_all})
    if t_all is not None and t_all.shape[1] != t.shape[1]:
        raise ValueError(f"{fn}: t_all has {t_all.shape[1]} candidates per row, t has {t.shape[1]}")
    _check_local_form(fn, v.shape[0], {"v_all": v_all, "t_all": t_all}, offset)
    chosen = pick_backend(backend, v.device, fn)
    if chosen == "reference":
        return reference.milnce_loss(v, t, v_all=v_all, t_all=t_all, offset=offset)
    b, k, d = t.shape
    t_flat = t.reshape(b * k, d)
    if v_all is None and t_all is None:
        row_lse, col_lse, positive = fused_contrastive(v, t_flat, 1.0, group=k, rows=True, cols=True,
                                                       positive=0, positive_group=k, backend=chosen)
    else:
        t_all_flat = t_flat if t_all is None else t_all.reshape(-1, d)
        row_lse, _, positive = fused_contrastive(v, t_all_flat, 1.0, positive=offset, positive_group=k,
                                                 backend=chosen)
        _, col_lse, _ = fused_contrastive(v if v_all is None else v_all, t_flat, 1.0, group=k, rows=False,
                                          cols=True, backend=chosen)
    return (torch.logaddexp(row_lse, col_lse) - positive).mean()


def simclr_loss(a, b, temperature=0.1, *, a_all=None, b_all=None, offset=0, backend="auto"):
    """SimCLR / NT-Xent (`SIMCLRLoss`): each row of n(a) is classified among [n(b_all) | n(a_all)]
    with target b_i and itself masked, likewise for n(b); loss = ½[CE_a + CE_b]."""
    fn = "simclr_loss"
    _check_shape(fn, "a", a, 2)
    _check_shape(fn, "b", b, 2, a.shape[0])
    _check_shape(fn, "a_all", a_all, 2)
    _check_shape(fn, "b_all", b_all, 2, None if a_all is None else a_all.shape[0])
    _check_inputs(fn, {"a": a, "b": b, "a_all": a_all, "b_all": b_all})
    _check_local_form(fn, a.shape[0], {"a_all": a_all, "b_all": b_all}, offset)
    tau = _check_temperature(fn, temperature)
    chosen = pick_backend(backend, a.device, fn)
    if chosen == "reference":
        return reference.simclr_loss(a, b, tau, a_all=a_all, b_all=b_all, offset=offset)
    local = a.shape[0]
    rows = torch.cat([a, b])                                    # 2B local rows: view a, then view b
    if a_all is None and b_all is None:
        columns, total = rows, local                            # self-similarity of the batch
    else:
        a_all, b_all = (a if a_all is None else a_all), (b if b_all is None else b_all)
        columns, total = torch.cat([a_all, b_all]), a_all.shape[0]
    own = torch.arange(offset, offset + local, device=a.device)
    exclude = torch.cat([own, own + total])                     # each row's own column is masked
    partner = torch.cat([own + total, own])                     # a_i's positive is b_i and back
    row_lse, _, positive = fused_contrastive(rows, columns, 1.0 / tau, exclude=exclude, positive=partner,
                                             normalize=True, backend=chosen)
    return (row_lse - positive).mean()
