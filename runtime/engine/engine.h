// Engine artefacts: the directory compile-model writes and the runtime loads.
//
//   <dir>/manifest.json       format version, model, target, dtype, buckets,
//                             limits, generation defaults, and the size and
//                             SHA-256 of every other file
//   <dir>/config.json         the model's Hugging Face config, as given
//   <dir>/model.ir            the compiled module in IR text form: one
//                             specialised function per (batch, length) bucket
//   <dir>/weights.safetensors weights in the engine dtype
//   <dir>/tokenizer.json      when the model directory has one (or
//                             tokenizer.gguf: a GGUF model's vocabulary)
//   <dir>/chat_template.jinja the model's chat template, when it has one
//   <dir>/generation_config.json the model's sampling defaults, when it has
//                             them (Transformers' generation_config.json)
//   <dir>/kernels.json        CUDA targets: the compiled kernels' index and
//                             ptxas reports (runtime/cuda/kernel_bundle.h)
//   <dir>/kernel.<name>.cubin, kernel.<name>.ptx  CUDA targets: each kernel
#ifndef KILN_RUNTIME_ENGINE_ENGINE_H_
#define KILN_RUNTIME_ENGINE_ENGINE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "nlohmann/json.hpp"
#include "runtime/reference/executor.h"

namespace kiln {

// Bumped whenever the artefact layout or the meaning of a field changes;
// the loader accepts exactly this version.
inline constexpr int kEngineFormatVersion = 1;

// Limits LoadEngine enforces on a manifest before anything is allocated
// from it (the largest context windows today are ~10^6 tokens).
inline constexpr int64_t kMaxEngineBatch = 4096;
inline constexpr int64_t kMaxEngineSeq = int64_t{1} << 24;

struct EngineFile {
  std::string path;  // relative to the engine directory
  int64_t bytes = 0;
  std::string sha256;
};

// One compiled bucket: a function of model.ir and the shape it serves.
struct EngineBucket {
  std::string function;
  int64_t batch = 0;
  int64_t seq = 0;  // tokens per step: 1 for decode
};

// Everything manifest.json records.
struct EngineManifest {
  int format_version = kEngineFormatVersion;
  std::string architecture;
  std::string target;  // "cpu", "sm_80", "sm_90"
  DType dtype = DType::kF32;
  int64_t max_batch = 1;
  int64_t max_seq = 0;  // the static KV-cache capacity
  std::vector<EngineBucket> buckets;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string tokenizer;  // file name, empty when the engine has none
  // File name of the Jinja chat template, empty when the model has none.
  // Optional in manifest.json (absent reads as none), so adding it did not
  // change the format version.
  std::string chat_template;
  // File name of generation_config.json, empty when the model has none;
  // optional in manifest.json like chat_template.
  std::string generation_config;
  // CUDA targets: the file name of the kernel index (kernels.json), empty
  // for the cpu target; optional in manifest.json like chat_template.
  std::string kernel_index;
  std::vector<EngineFile> files;
};

// What an engine holds once loaded.
struct Engine {
  EngineManifest manifest;
  nlohmann::json config;
  Module module;
  WeightMap weights;
  std::string chat_template;  // the template's source; empty when none
  // The model's generation_config.json; an empty object when none.
  nlohmann::json generation_config = nlohmann::json::object();
  // CUDA targets: the kernel index and every kernel.* file, by file name
  // (plain names: kernels.json, kernel.<name>.cubin, kernel.<name>.ptx).
  std::map<std::string, std::string> kernel_files;
};

// Writes `engine` to `dir` (created if needed): config, IR, weights, an
// optional tokenizer copied from `tokenizer_path`, then the manifest with
// every file's size and digest.
absl::Status WriteEngine(const std::string& dir, const Engine& engine,
                         const std::string& tokenizer_path = "");

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
