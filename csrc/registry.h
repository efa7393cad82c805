// Each concern (losses, dtw, sampler, ...) registers a function that adds its bindings to a
// submodule of surgvlp_fast._C. Nothing refers to a concern by name, so a concern that is not
// compiled (e.g. the sampler without FFmpeg) leaves no unresolved symbol.
//
//   static void init(pybind11::module_& m) { m.def(...); }
//   SURGVLP_REGISTER_SUBMODULE(losses, init)
#pragma once
// ATen and torch's pybind11 casters, not <torch/extension.h>: that one pulls the whole C++ frontend
// (autograd, nn, optim) and took 2-3x longer to compile per binding file.
#include <ATen/ATen.h>
#include <torch/csrc/utils/pybind.h>

#include <utility>
#include <vector>

namespace surgvlp {
using SubmoduleInit = void (*)(pybind11::module_&);

inline std::vector<std::pair<const char*, SubmoduleInit>>& submodule_registry() {
  static std::vector<std::pair<const char*, SubmoduleInit>> registry;
  return registry;
}

inline int register_submodule(const char* name, SubmoduleInit init) {
  submodule_registry().emplace_back(name, init);
  return 0;
}
}  // namespace surgvlp

#define SURGVLP_REGISTER_SUBMODULE(name, init) \
  static const int surgvlp_registered_##name = surgvlp::register_submodule(#name, init);
