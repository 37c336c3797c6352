// Loading engine artefacts (codegen/engine_format.h), written by
// compile-model (codegen/engine_writer.h): the runtime's half of the engine
// contract. Everything is checked before it is used: format version, target,
// every file's size and SHA-256, the IR, the weights against the IR.
#ifndef KILN_RUNTIME_ENGINE_ENGINE_H_
#define KILN_RUNTIME_ENGINE_ENGINE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "codegen/engine_format.h"
#include "ir/module.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/weight_store.h"

namespace kiln {

// What an engine holds once loaded.
struct Engine {
  EngineManifest manifest;
  nlohmann::json config;
  Module module;
  // Views of the mapped weights.safetensors, in the engine dtype.
  WeightStore weights;
  std::string chat_template;  // the template's source; empty when none
  // The model's generation_config.json; an empty object when none.
  nlohmann::json generation_config = nlohmann::json::object();
  // CUDA targets: the kernel index and every kernel.* file, by file name
  // (plain names: kernels.json, kernel.<name>.cubin / .ptx,
  // kernel.launch_plans.json / .txt, kernel.gemm_algos.json).
  std::map<std::string, std::string> kernel_files;
};

// Loads an engine for `target`. Each failure says what is wrong: a missing
// or unreadable file, a format version or target other than expected, a
// file whose size or SHA-256 differs from the manifest (truncated or
// modified), IR that does not verify, weights that do not match the IR.
absl::StatusOr<Engine> LoadEngine(const std::string& dir, const std::string& target);

// The target an engine was compiled for ("cpu", "sm_80", "sm_90"), read
// from its manifest alone (to choose the loader).
absl::StatusOr<std::string> EngineTarget(const std::string& dir);

}  // namespace kiln

#endif  // KILN_RUNTIME_ENGINE_ENGINE_H_
