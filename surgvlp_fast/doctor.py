"""`surgvlp-fast doctor`: what was built and what was found on this machine.

`--kernels`: every Triton kernel variant the dispatcher can launch, compiled ahead of time for
sm_90a and sm_80 (no GPU needed), with its registers, spills and shared memory; exit 1 on a
compile error or a spilling variant.
"""
import importlib
import os
import shutil
import subprocess
import sys


def add_arguments(parser):
    parser.add_argument("--kernels", action="store_true",
                        help="compile every Triton kernel variant for sm_90a and sm_80 and report its resources")


def _version(module_name):
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # e.g. PyNvVideoCodec raises RuntimeError without NVIDIA libraries
        return f"missing ({type(err).__name__})"
    return getattr(module, "__version__", "present")


def report() -> list[tuple[str, str]]:
    import torch

    from surgvlp_fast import __version__
    from surgvlp_fast._native import native_module, native_status

    rows = [("surgvlp-fast", __version__), ("torch", f"{torch.__version__} (CUDA {torch.version.cuda})")]
    rows.append(("compiled core (_C)", native_status()))
    module = native_module()
    if module is not None:
        info = module.build_info
        rows.append(("  OpenMP", f"yes, {info['omp_max_threads']} threads" if info["openmp"] else "no"))
        rows.append(("  CUDA kernels", "compiled" if info["cuda"] else "not compiled"))
        rows.append(("  native sampler (FFmpeg)", "compiled" if info["ffmpeg"] else "not compiled"))
        for name in info["submodules"]:
            describe = getattr(getattr(module, name), "describe", None)
            if describe is not None:
                rows.append((f"  {name}", describe()))
    rows.append(("triton", _version("triton")))
    rows.append(("TRITON_INTERPRET", os.environ.get("TRITON_INTERPRET", "unset")))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    rows.append(("GPU", gpu))
    rows.append(("forced backend (SURGVLP_FAST_BACKEND)", os.environ.get("SURGVLP_FAST_BACKEND", "unset")))
    for name in ("torchcodec", "av", "transformers", "PyNvVideoCodec"):
        rows.append((name, _version(name)))
    rows.append(("ffmpeg CLI", shutil.which("ffmpeg") or "not found"))
    return rows


def kernels_report() -> int:
    """Prints the ahead-of-time compile report; its exit status (1: an error or a spill)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the interpreter compiles nothing
    return subprocess.run([sys.executable, "-m", "surgvlp_fast.losses.triton_aot"], env=env).returncode


def run(args):
    if args.kernels:
        return kernels_report()
    rows = report()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
