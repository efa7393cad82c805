"""Build surgvlp_fast and its compiled core, surgvlp_fast._C.

Every C++ source under csrc/ is compiled into one extension module. Concerns register their
Python bindings themselves (csrc/registry.h), so a part that is not built leaves no hole.

Build knobs (environment variables):
  SURGVLP_FAST_BUILD_NATIVE=0  build nothing: the pure-PyTorch package (every backend falls back)
  SURGVLP_FAST_BUILD_CUDA      unset: compile the CUDA sources when nvcc and a CUDA build of torch
                               are present; 1: require them; 0: never
  CUDA_HOME                    CUDA toolkit (default /usr/local/cuda when it exists)
  TORCH_CUDA_ARCH_LIST         GPU architectures (default: the visible GPUs', else "9.0")
  SURGVLP_FAST_WITH_FFMPEG=0   leave out the native video sampler even if FFmpeg is found
  SURGVLP_FAST_DEBUG=1         -O0 -g instead of -O3
  MAX_JOBS                     parallel compile jobs (default: from CPU count and memory)
"""
import glob
import os
import shutil
import subprocess

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

NATIVE = os.environ.get("SURGVLP_FAST_BUILD_NATIVE", "1") != "0"
FFMPEG_LIBS = ["libavformat", "libavcodec", "libavutil", "libswscale"]


def _pkg_config(args):
    try:
        out = subprocess.run(["pkg-config", *args, *FFMPEG_LIBS], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.split()


def _default_max_jobs():
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = 8
    return str(max(1, min(os.cpu_count() or 1, int(mem_gib // 3))))


def _want_cuda():
    import torch

    choice = os.environ.get("SURGVLP_FAST_BUILD_CUDA", "auto")
    present = torch.version.cuda is not None and shutil.which("nvcc") is not None
    if choice == "0" or (choice == "auto" and not present):
        return False
    if not present:
        raise RuntimeError("SURGVLP_FAST_BUILD_CUDA=1 needs nvcc on PATH and a CUDA build of torch")
    if "CUDA_HOME" not in os.environ and os.path.isdir("/usr/local/cuda"):
        os.environ["CUDA_HOME"] = "/usr/local/cuda"  # torch would derive /usr/local from nvcc's path
    if "TORCH_CUDA_ARCH_LIST" not in os.environ and not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"  # no GPU to ask: compile for one architecture
    return True


def native_extensions():
    if not NATIVE:
        return [], {}
    want_cuda = _want_cuda()  # before cpp_extension is imported: it reads CUDA_HOME at import
    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    os.environ.setdefault("MAX_JOBS", _default_max_jobs())
    debug = os.environ.get("SURGVLP_FAST_DEBUG") == "1"
    opt = ["-O0", "-g"] if debug else ["-O3"]
    sources = sorted(glob.glob("csrc/**/*.cpp", recursive=True))
    define_macros, include_dirs, libraries, library_dirs = [], [os.path.abspath("csrc")], [], []

    cflags = _pkg_config(["--cflags"]) if os.environ.get("SURGVLP_FAST_WITH_FFMPEG", "1") != "0" else None
    libs = _pkg_config(["--libs"]) if cflags is not None else None
    if libs is None:
        sources = [s for s in sources if not s.startswith("csrc/sampler/")]
    else:
        define_macros.append(("SURGVLP_WITH_FFMPEG", "1"))
        include_dirs += [f[2:] for f in cflags if f.startswith("-I")]
        libraries += [f[2:] for f in libs if f.startswith("-l")]
        library_dirs += [f[2:] for f in libs if f.startswith("-L")]

    cxx = [*opt, "-fopenmp"] + ([] if debug else ["-g0"])  # torch adds -std=c++20; -g0: Python's CFLAGS ask for -g
    link = ["-fopenmp"]
    if want_cuda:
        import importlib.util

        spec = importlib.util.find_spec("nvidia")  # cuBLAS/cuSPARSE headers from torch's CUDA wheels
        for base in (spec.submodule_search_locations if spec else []):
            for sub in ("cu13", "cu12"):
                inc = os.path.join(base, sub, "include")
                if os.path.isdir(inc):
                    include_dirs.append(inc)
        define_macros.append(("SURGVLP_WITH_CUDA", "1"))
        sources += sorted(glob.glob("csrc/**/*.cu", recursive=True))
        ext = CUDAExtension(
            "surgvlp_fast._C", sources, include_dirs=include_dirs, define_macros=define_macros,
            libraries=libraries, library_dirs=library_dirs,
            extra_compile_args={"cxx": cxx, "nvcc": [*opt, "-diag-suppress", "3189", "--use_fast_math"]},
            extra_link_args=link)
    else:
        sources = [s for s in sources if not s.endswith("_cuda.cpp")]
        ext = CppExtension(
            "surgvlp_fast._C", sources, include_dirs=include_dirs, define_macros=define_macros,
            libraries=libraries, library_dirs=library_dirs,
            extra_compile_args=cxx, extra_link_args=link)
    ext.depends = sorted(glob.glob("csrc/**/*.h", recursive=True))   # a changed header is a change too
    return [ext], {"build_ext": _incremental(BuildExtension.with_options(use_ninja=shutil.which("ninja") is not None))}


def _incremental(build_ext):
    """An editable install (`pip install -e .`) compiles in build/objects/, kept between builds, instead
    of a fresh temporary folder: ninja then recompiles only the sources (and their headers) that
    changed, and a build with nothing changed only links."""

    class IncrementalBuildExt(build_ext):
        def finalize_options(self):
            super().finalize_options()
            if getattr(self, "editable_mode", False):
                self.build_temp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "objects")

    return IncrementalBuildExt


class BuildPyWithConfigs(build_py):
    """Ship the top-level configs/ inside the package (surgvlp_fast/configs/ of a wheel or a
    non-editable install), where surgvlp_fast.hub.config_file finds them; an editable install
    reads them from the source tree."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for path in glob.glob("configs/**/*", recursive=True):
            if os.path.isfile(path):
                target = os.path.join(self.build_lib, "surgvlp_fast", path)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                self.copy_file(path, target)


ext_modules, cmdclass = native_extensions()
# metadata, dependencies and the console script: pyproject.toml's [project]
setup(
    # namespace packages too: surgvlp_fast/pretrain and surgvlp_fast/prep have no __init__.py
    packages=find_namespace_packages(include=["surgvlp_fast", "surgvlp_fast.*"],
                                     exclude=["surgvlp_fast.prep.augment_texts.prompts",
                                              "surgvlp_fast.configs*", "*.__pycache__"]),
    package_data={"surgvlp_fast": ["resources/*.*", "prep/augment_texts/prompts/*.txt"]},
    include_package_data=True,
    ext_modules=ext_modules,
    cmdclass={**cmdclass, "build_py": BuildPyWithConfigs},
)
