"""Triton kernels of the fused log-sum-exp statistics (see fused.py and csrc/losses/contrastive.h).

Forward: one program per block of rows walks all column blocks, keeping the rows' online
log-sum-exp, and writes each tile's column (max, sum of exp) to a small partial buffer of
(row blocks × columns), reduced afterwards. Backward: one pass of programs over row blocks
accumulates dX, one over column blocks accumulates dY; each recomputes its tiles. Nothing of
size rows × columns is ever stored.

CUDA tensors; CPU tensors under TRITON_INTERPRET=1 (tests), where bfloat16 `tl.dot` is wrong,
so the interpreter computes in float32.
"""
import os

import torch
import triton
import triton.language as tl

from surgvlp_fast.losses.dtypes import compute_dtype

_INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


@triton.jit
def _tile(x_ptr, y_ptr, rows, cols, R, C, D, scale, excl_ptr, HAS_EXCLUDE: tl.constexpr, BLOCK_M: tl.constexpr,
          BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, UPCAST: tl.constexpr, ACC: tl.constexpr):
    """scale · x[rows] y[cols]ᵀ (BLOCK_M × BLOCK_N) with -inf outside S and at excluded entries."""
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    for d0 in range(0, D, BLOCK_D):
        ds = d0 + tl.arange(0, BLOCK_D)
        a = tl.load(x_ptr + rows[:, None] * D + ds[None, :], mask=(rows[:, None] < R) & (ds[None, :] < D), other=0.0)
        b = tl.load(y_ptr + cols[:, None] * D + ds[None, :], mask=(cols[:, None] < C) & (ds[None, :] < D), other=0.0)
        if UPCAST:
            a, b = a.to(ACC), b.to(ACC)
        acc += tl.dot(a, tl.trans(b), out_dtype=ACC)
    s = acc * scale
    valid = (rows[:, None] < R) & (cols[None, :] < C)
    if HAS_EXCLUDE:
        excl = tl.load(excl_ptr + rows, mask=rows < R, other=-1)
        valid = valid & (cols[None, :] != excl[:, None])
    return tl.where(valid, s, float("-inf"))


@triton.jit
def _forward_kernel(x_ptr, y_ptr, excl_ptr, row_max_ptr, row_sum_ptr, part_max_ptr, part_sum_ptr, R, C, D, scale,
                    HAS_EXCLUDE: tl.constexpr, WANT_ROW: tl.constexpr, WANT_COL: tl.constexpr,
                    UPCAST: tl.constexpr, ACC: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_D: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_M + tl.arange(0, BLOCK_M)
    m = tl.full((BLOCK_M,), float("-inf"), ACC)
    l = tl.zeros((BLOCK_M,), ACC)
    for c0 in range(0, C, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        s = _tile(x_ptr, y_ptr, rows, cols, R, C, D, scale, excl_ptr, HAS_EXCLUDE, BLOCK_M, BLOCK_N, BLOCK_D, UPCAST, ACC)
        if WANT_ROW:
            m_new = tl.maximum(m, tl.max(s, axis=1))
            shift = tl.where(m_new == float("-inf"), 0.0, m_new)
            old = tl.where(m == float("-inf"), 0.0, m)
            l = l * tl.exp(old - shift) + tl.sum(tl.exp(s - shift[:, None]), axis=1)
            m = m_new
        if WANT_COL:
            cm = tl.max(s, axis=0)
            cshift = tl.where(cm == float("-inf"), 0.0, cm)
            cs = tl.sum(tl.exp(s - cshift[None, :]), axis=0)
            tl.store(part_max_ptr + pid * C + cols, cm, mask=cols < C)
            tl.store(part_sum_ptr + pid * C + cols, cs, mask=cols < C)
    if WANT_ROW:
        tl.store(row_max_ptr + rows, m, mask=rows < R)
        tl.store(row_sum_ptr + rows, l, mask=rows < R)


@triton.jit
def _grad_tile(s, rows, cols, R, C, row_lse_ptr, grad_row_ptr, col_lse_ptr, grad_col_ptr, USE_ROW: tl.constexpr,
               USE_COL: tl.constexpr, ACC: tl.constexpr):
    """dS of one tile: grad_row ⊙ row softmax + grad_col ⊙ column-group softmax (col_lse per column)."""
    p = tl.zeros(s.shape, ACC)
    if USE_ROW:
        lse = tl.load(row_lse_ptr + rows, mask=rows < R, other=0.0)
        g = tl.load(grad_row_ptr + rows, mask=rows < R, other=0.0)
        p += g[:, None] * tl.exp(s - lse[:, None])
    if USE_COL:
        lse = tl.load(col_lse_ptr + cols, mask=cols < C, other=0.0)
        g = tl.load(grad_col_ptr + cols, mask=cols < C, other=0.0)
        p += g[None, :] * tl.exp(s - lse[None, :])
    return p


@triton.jit
def _backward_kernel(x_ptr, y_ptr, excl_ptr, row_lse_ptr, grad_row_ptr, col_lse_ptr, grad_col_ptr, out_ptr,
                     R, C, D, scale, FOR_X: tl.constexpr, HAS_EXCLUDE: tl.constexpr, USE_ROW: tl.constexpr,
                     USE_COL: tl.constexpr, UPCAST: tl.constexpr, ACC: tl.constexpr, BLOCK_M: tl.constexpr,
                     BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, OWN_BLOCK: tl.constexpr,
                     OTHER_BLOCK: tl.constexpr):
    """FOR_X: the program owns rows and writes dX; else it owns columns and writes dY."""
    pid = tl.program_id(0)
    own = pid * OWN_BLOCK + tl.arange(0, OWN_BLOCK)
    if FOR_X:
        n_own = R
        other_total = C
    else:
        n_own = C
        other_total = R
    for o0 in range(0, other_total, OTHER_BLOCK):
        other = o0 + tl.arange(0, OTHER_BLOCK)
        if FOR_X:
            rows, cols = own, other
        else:
            rows, cols = other, own
        s = _tile(x_ptr, y_ptr, rows, cols, R, C, D, scale, excl_ptr, HAS_EXCLUDE, BLOCK_M, BLOCK_N, BLOCK_D, UPCAST, ACC)
        p = _grad_tile(s, rows, cols, R, C, row_lse_ptr, grad_row_ptr, col_lse_ptr, grad_col_ptr, USE_ROW,
                       USE_COL, ACC)
        if not FOR_X:
            p = tl.trans(p)                                 # (own columns, other rows)
        src_ptr = y_ptr if FOR_X else x_ptr
        for d0 in range(0, D, BLOCK_D):
            ds = d0 + tl.arange(0, BLOCK_D)
            src = tl.load(src_ptr + other[:, None] * D + ds[None, :],
                          mask=(other[:, None] < other_total) & (ds[None, :] < D), other=0.0).to(ACC)
            out = out_ptr + own[:, None] * D + ds[None, :]
            out_mask = (own[:, None] < n_own) & (ds[None, :] < D)
            acc = tl.load(out, mask=out_mask, other=0.0)
            tl.store(out, acc + scale * tl.dot(p, src, out_dtype=ACC), mask=out_mask)


# Tile sizes and warps per kernel and input dtype, on a GPU (the interpreter, where every tile
# operation costs about the same whatever its size, takes few large tiles). Chosen so that no
# variant spills registers on sm_90a or sm_80: `surgvlp-fast doctor --kernels` compiles every
# variant ahead of time and reports registers, spills and shared memory (triton_aot.py).
_GPU_CONFIG = {
    # (kernel, dtype group): (BLOCK_M, BLOCK_N, BLOCK_D, num_warps). Measured (ptxas -v, sm_90a /
    # sm_80): 64 × 64 × 32 at 4 warps spilled 28-136 bytes per thread in every float32 variant and
    # 32 × 32 × 16 spilled 16 bytes in float64; these use at most 192 (float32) and 128 registers.
    ("forward", "half"): (64, 64, 32, 4),
    ("forward", "float32"): (64, 64, 16, 8),
    ("forward", "float64"): (32, 32, 8, 4),
    ("backward", "half"): (64, 64, 32, 4),
    ("backward", "float32"): (64, 32, 16, 4),
    ("backward", "float64"): (32, 32, 8, 4),
}
_INTERPRETER_CONFIG = (32, 32, 32, 4)


def launch_config(kernel: str, dtype: torch.dtype) -> tuple:
    """(BLOCK_M, BLOCK_N, BLOCK_D, num_warps) of `kernel` ("forward" | "backward") for `dtype` inputs."""
    if _INTERPRET:
        return _INTERPRETER_CONFIG
    group = {torch.float64: "float64", torch.float32: "float32"}.get(dtype, "half")
    return _GPU_CONFIG[(kernel, group)]


def kernel_types(dtype: torch.dtype):
    """(accumulation torch dtype, its tl dtype, UPCAST): the dtype rule of dtypes.compute_dtype;
    half inputs go to tl.dot as they are (float32 accumulation), except under the interpreter,
    whose bfloat16 dot is wrong."""
    acc = compute_dtype(dtype)
    return acc, (tl.float64 if acc == torch.float64 else tl.float32), _INTERPRET or dtype == acc


def lse_forward(x, y, scale, want_row, want_col, exclude):
    """(row_lse, per-column col_lse). Inputs: contiguous 2-D tensors of one dtype on one device
    (fused.py's op guarantees it)."""
    (R, D), C = x.shape, y.shape[0]
    acc, tl_acc, upcast = kernel_types(x.dtype)
    block_m, block_n, block_d, warps = launch_config("forward", x.dtype)
    blocks = triton.cdiv(R, block_m)
    row_max = torch.empty(R if want_row else 1, device=x.device, dtype=acc)
    row_sum = torch.empty_like(row_max)
    part_max = torch.empty((blocks, C) if want_col else (1,), device=x.device, dtype=acc)
    part_sum = torch.empty_like(part_max)
    excl = exclude if exclude is not None else x       # any valid pointer when unused
    _forward_kernel[(blocks,)](x, y, excl, row_max, row_sum, part_max, part_sum, R, C, D, float(scale),
                               HAS_EXCLUDE=exclude is not None, WANT_ROW=want_row, WANT_COL=want_col,
                               UPCAST=upcast, ACC=tl_acc, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d,
                               num_warps=warps)
    row_lse = _lse_from(row_max, row_sum) if want_row else row_max.new_empty(0)
    col_lse = row_max.new_empty(0)
    if want_col:
        col_lse = torch.logsumexp(_lse_from(part_max, part_sum), dim=0)
    return row_lse, col_lse


def _lse_from(run_max, run_sum):
    return torch.where(torch.isinf(run_max), torch.zeros_like(run_max), run_max) + run_sum.log()


def lse_backward(x, y, scale, row_lse, col_lse, grad_row, grad_col, exclude):
    (R, D), C = x.shape, y.shape[0]
    acc, tl_acc, upcast = kernel_types(x.dtype)
    block_m, block_n, block_d, warps = launch_config("backward", x.dtype)
    dx = torch.zeros(R, D, device=x.device, dtype=acc)
    dy = torch.zeros(C, D, device=x.device, dtype=acc)
    use_row, use_col = grad_row is not None, grad_col is not None
    if not (use_row or use_col):
        return dx, dy
    dummy = dx                                          # any valid pointer for unused arguments
    row_lse = row_lse.to(acc).contiguous() if use_row else dummy
    grad_row = grad_row.to(acc).contiguous() if use_row else dummy
    col_lse = col_lse.to(acc).contiguous() if use_col else dummy
    grad_col = grad_col.to(acc).contiguous() if use_col else dummy
    excl = exclude if exclude is not None else dummy
    common = dict(HAS_EXCLUDE=exclude is not None, USE_ROW=use_row, USE_COL=use_col, UPCAST=upcast, ACC=tl_acc,
                  BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d, num_warps=warps)
    for for_x, out, n, own, other in ((True, dx, R, block_m, block_n), (False, dy, C, block_n, block_m)):
        _backward_kernel[(triton.cdiv(n, own),)](x, y, excl, row_lse, grad_row, col_lse, grad_col, out, R, C, D,
                                                 float(scale), FOR_X=for_x, OWN_BLOCK=own, OTHER_BLOCK=other,
                                                 **common)
    return dx, dy
