// Writing engine artefacts (codegen/engine_format.h): compile-model's half
// of the engine contract. The runtime loads them with runtime/engine/engine.h
// and never links this.
#ifndef KILN_CODEGEN_ENGINE_WRITER_H_
#define KILN_CODEGEN_ENGINE_WRITER_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "base/host_tensor.h"
#include "codegen/engine_format.h"
#include "codegen/weight_storage.h"
#include "ir/module.h"
#include "nlohmann/json.hpp"

namespace kiln {

// Everything compile-model puts in an engine.
struct EngineContents {
  EngineManifest manifest;  // files and the format version are filled in by WriteEngine
  nlohmann::json config;
  Module module;
  WeightMap weights;  // float weights, in the engine dtype
  // Block-quantized weights (codegen/weight_storage.h), stored as they are.
  std::map<std::string, QuantizedWeight> quantized_weights;
  std::string chat_template;  // the template's source; empty when none
  // The model's generation_config.json; an empty object when none.
  nlohmann::json generation_config = nlohmann::json::object();
  // CUDA targets: kernels.json, kernel.<name>.cubin / .ptx and the launch
  // plans, by file name (each must satisfy IsKernelFile).
  std::map<std::string, std::string> kernel_files;
};

// Writes `engine` to `dir` (created if needed): config, IR, weights, an
// optional tokenizer copied from `tokenizer_path`, the kernel files, then the
// manifest with every file's size and digest.
absl::Status WriteEngine(const std::string& dir, const EngineContents& engine,
                         const std::string& tokenizer_path = "");

}  // namespace kiln

#endif  // KILN_CODEGEN_ENGINE_WRITER_H_
