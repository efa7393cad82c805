"""`surgvlp-fast doctor`: what was built and what was found on this machine."""
import importlib
import os
import shutil


def add_arguments(parser):
    pass


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


def run(args):
    rows = report()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
