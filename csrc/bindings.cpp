// The module surgvlp_fast._C: one submodule per registered concern, plus build information.
#include "registry.h"

#ifdef _OPENMP
#include <omp.h>
#endif

PYBIND11_MODULE(_C, m) {
  m.doc() = "surgvlp-fast compiled core";
  pybind11::dict info;
#ifdef _OPENMP
  info["openmp"] = true;
  info["omp_max_threads"] = omp_get_max_threads();
#else
  info["openmp"] = false;
#endif
#ifdef SURGVLP_WITH_CUDA
  info["cuda"] = true;
#else
  info["cuda"] = false;
#endif
#ifdef SURGVLP_WITH_FFMPEG
  info["ffmpeg"] = true;
#else
  info["ffmpeg"] = false;
#endif
  pybind11::list names;
  for (const auto& entry : surgvlp::submodule_registry()) {
    auto sub = m.def_submodule(entry.first);
    entry.second(sub);
    names.append(entry.first);
  }
  info["submodules"] = names;
  m.attr("build_info") = info;
}
