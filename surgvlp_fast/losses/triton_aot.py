"""Ahead-of-time compilation of every Triton kernel variant the dispatcher can launch, for a GPU
that need not be present: `triton.compile` with a `GPUTarget` builds the PTX, and `ptxas -v`
(Triton's own, or the CUDA toolkit's) reports registers, spills, stack and shared memory.

    rows = compile_report(archs=(90, 80))       # one dict per (variant, architecture)
    print(format_report(rows))                  # `surgvlp-fast doctor --kernels`

Runs in a process where TRITON_INTERPRET is not 1 (under the interpreter the kernels are not
compiled); `surgvlp-fast doctor --kernels` starts such a process itself.
"""
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import torch

ARCHS = {90: "sm_90a", 80: "sm_80"}
_TL_NAMES = {torch.float32: "fp32", torch.float64: "fp64", torch.float16: "fp16", torch.bfloat16: "bf16"}
# The contrastive losses' calls of the LSE kernels (fused.py): (rows, cols, exclude).
LSE_OPTIONS = ((True, True, False), (True, False, False), (False, True, False), (True, False, True))
# soft-DTW: BLOCK_N = next power of two of N + 1 steps; 16 covers N <= 15 (the recipes use 8 to 12).
DTW_STEP_BLOCKS = (16, 32)


def _ptr(dtype):
    return "*" + _TL_NAMES[dtype]


def variants():
    """(name, jit function, signature, constexprs, launch options) of every launchable variant."""
    from surgvlp_fast.losses import softdtw_triton, triton_lse

    out = []
    for dtype, (rows, cols, exclude) in itertools.product(_TL_NAMES, LSE_OPTIONS):
        acc, tl_acc, upcast = triton_lse.kernel_types(dtype)
        block_m, block_n, block_d, warps = triton_lse.launch_config("forward", dtype)
        tag = f"{_TL_NAMES[dtype]} rows={int(rows)} cols={int(cols)} exclude={int(exclude)}"
        signature = {"x_ptr": _ptr(dtype), "y_ptr": _ptr(dtype), "excl_ptr": "*i64" if exclude else _ptr(dtype),
                     **{name: _ptr(acc) for name in ("row_max_ptr", "row_sum_ptr", "part_max_ptr", "part_sum_ptr")},
                     "R": "i32", "C": "i32", "D": "i32", "scale": "fp32"}
        constants = dict(HAS_EXCLUDE=exclude, WANT_ROW=rows, WANT_COL=cols, UPCAST=upcast, ACC=tl_acc,
                         BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d)
        out.append((f"lse_forward {tag}", triton_lse._forward_kernel, signature, constants, {"num_warps": warps}))
        block_m, block_n, block_d, warps = triton_lse.launch_config("backward", dtype)
        for for_x in (True, False):
            signature = {"x_ptr": _ptr(dtype), "y_ptr": _ptr(dtype), "excl_ptr": "*i64" if exclude else _ptr(acc),
                         **{name: _ptr(acc) for name in ("row_lse_ptr", "grad_row_ptr", "col_lse_ptr", "grad_col_ptr",
                                                         "out_ptr")},
                         "R": "i32", "C": "i32", "D": "i32", "scale": "fp32"}
            own, other = (block_m, block_n) if for_x else (block_n, block_m)
            constants = dict(FOR_X=for_x, HAS_EXCLUDE=exclude, USE_ROW=rows, USE_COL=cols, UPCAST=upcast,
                             ACC=tl_acc, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d, OWN_BLOCK=own,
                             OTHER_BLOCK=other)
            out.append((f"lse_backward d{'x' if for_x else 'y'} {tag}", triton_lse._backward_kernel, signature,
                        constants, {"num_warps": warps}))
    for dtype, block_n in itertools.product((torch.float32, torch.float64), DTW_STEP_BLOCKS):
        t = _ptr(dtype)
        for reverse, standard, need_grad in itertools.product((False, True), repeat=3):
            signature = {"cost_ptr": t, "lengths_ptr": "*i64", "values_ptr": t, "grads_ptr": t, "gamma_ptr": t,
                         "batch": "i32", "frames": "i32", "steps": "i32"}
            constants = dict(REVERSE=reverse, STANDARD=standard, NEED_GRAD=need_grad,
                             BLOCK_B=softdtw_triton.BLOCK_B, BLOCK_N=block_n)
            out.append((f"soft_dtw_forward {_TL_NAMES[dtype]} N<{block_n} reverse={int(reverse)} "
                        f"standard={int(standard)} grad={int(need_grad)}", softdtw_triton._soft_dtw_forward_kernel,
                        signature, constants, softdtw_triton.launch_options(dtype)))
        for reverse in (False, True):
            signature = {"grads_ptr": t, "lengths_ptr": "*i64", "grad_values_ptr": t, "grad_cost_ptr": t,
                         "batch": "i32", "frames": "i32", "steps": "i32"}
            constants = dict(REVERSE=reverse, BLOCK_B=softdtw_triton.BLOCK_B, BLOCK_N=block_n)
            out.append((f"soft_dtw_backward {_TL_NAMES[dtype]} N<{block_n} reverse={int(reverse)}",
                        softdtw_triton._soft_dtw_backward_kernel, signature, constants,
                        softdtw_triton.launch_options(dtype)))
    return out


def ptxas_path() -> str | None:
    import triton

    bundled = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    return bundled if os.path.exists(bundled) else shutil.which("ptxas")


_PTXAS_LINE = {
    "registers": re.compile(r"Used (\d+) registers"),
    "spill_stores": re.compile(r"(\d+) bytes spill stores"),
    "spill_loads": re.compile(r"(\d+) bytes spill loads"),
    "stack": re.compile(r"(\d+) bytes stack frame"),
}


def parse_ptxas(text: str) -> dict:
    """Registers, spill stores / loads and stack bytes from `ptxas -v` output."""
    found = {}
    for key, pattern in _PTXAS_LINE.items():
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"ptxas -v output has no {key!r} line:\n{text}")
        found[key] = int(match.group(1))
    return found


def compile_variant(variant, arch: int, ptxas: str) -> dict:
    """Compile one variant for sm_<arch> and read its resources; `error` holds a failure."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    name, fn, signature, constants, options = variant
    row = {"kernel": name, "arch": ARCHS[arch], "num_warps": options["num_warps"], "error": ""}
    try:
        signature = {**signature, **{k: "constexpr" for k in constants}}
        compiled = triton.compile(ASTSource(fn, signature, constexprs=constants),
                                  target=GPUTarget("cuda", arch, 32), options=options)
        row["shared"] = int(compiled.metadata.shared)
        with tempfile.TemporaryDirectory() as folder:
            ptx = os.path.join(folder, "kernel.ptx")
            with open(ptx, "w") as f:
                f.write(compiled.asm["ptx"])
            done = subprocess.run([ptxas, "-v", f"--gpu-name={ARCHS[arch]}", ptx, "-o", os.path.join(folder, "k.o")],
                                  capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(done.stderr.strip())
        row.update(parse_ptxas(done.stderr + done.stdout))
    except Exception as err:  # noqa: BLE001 - every failure is reported per variant
        row["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    return row


def compile_report(archs=(90, 80), threads: int = 2) -> list[dict]:
    """Every variant for every architecture in `archs`."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("ahead-of-time compilation needs TRITON_INTERPRET unset (the interpreter compiles nothing)")
    ptxas = ptxas_path()
    if ptxas is None:
        raise RuntimeError("no ptxas: neither Triton's bundled one nor one on PATH (the CUDA toolkit)")
    jobs = [(variant, arch) for arch in archs for variant in variants()]
    with ThreadPoolExecutor(max(1, threads)) as pool:
        return list(pool.map(lambda job: compile_variant(job[0], job[1], ptxas), jobs))


def problems(rows: list[dict]) -> list[str]:
    """Compile errors and spilling variants, one line each."""
    out = []
    for r in rows:
        if r["error"]:
            out.append(f"{r['kernel']} [{r['arch']}]: {r['error']}")
        elif r["spill_stores"] or r["spill_loads"]:
            out.append(f"{r['kernel']} [{r['arch']}]: spills {r['spill_stores']} / {r['spill_loads']} bytes "
                       f"(stores / loads) at {r['registers']} registers")
    return out


def format_report(rows: list[dict]) -> str:
    head = f"{'kernel':<62} {'arch':<7} {'warps':>5} {'regs':>5} {'spill st/ld':>12} {'stack':>6} {'shared':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["error"]:
            lines.append(f"{r['kernel']:<62} {r['arch']:<7} {r['num_warps']:>5}  ERROR {r['error']}")
            continue
        spills = f"{r['spill_stores']}/{r['spill_loads']}"
        lines.append(f"{r['kernel']:<62} {r['arch']:<7} {r['num_warps']:>5} {r['registers']:>5} {spills:>12} "
                     f"{r['stack']:>6} {r['shared']:>7}")
    bad = problems(rows)
    lines.append(f"{len(rows)} variants, {len(bad)} with a compile error or register spills")
    return "\n".join(lines)


if __name__ == "__main__":   # python -m surgvlp_fast.losses.triton_aot: the report, exit 1 on a problem
    import sys

    report = compile_report()
    print(format_report(report))
    sys.exit(1 if problems(report) else 0)
