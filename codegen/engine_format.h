// The engine artefact's format: the directory compile-model writes
// (codegen/engine_writer.h) and the runtime loads (runtime/engine/engine.h).
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
//   <dir>/kernels.json        CUDA targets: the compiled kernels' index, ABI
//                             version, digests and ptxas reports
//                             (codegen/plan/kernel_bundle.h)
//   <dir>/kernel.<name>.cubin, kernel.<name>.ptx  CUDA targets: each kernel
//   <dir>/kernel.launch_plans.json  every bucket's launch plan and the arena
//                             layout (codegen/plan/launch_plan_json.h),
//                             which the loader runs as written: it never
//                             plans again
//   <dir>/kernel.launch_plans.txt  with --plans-listing: the plans as text
//   <dir>/kernel.gemm_algos.json  CUDA targets: the measured GEMM algorithms
#ifndef KILN_CODEGEN_ENGINE_FORMAT_H_
#define KILN_CODEGEN_ENGINE_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "nlohmann/json.hpp"

namespace kiln {

// Bumped whenever the artefact layout or the meaning of a field changes;
// the loader accepts exactly this version. Version 2: CUDA engines carry
// their launch plans (kernel.launch_plans.json) and kernels.json records a
// kernel ABI version and each kernel's digests. Version 3: cpu engines carry
// launch plans too (the CPU executor runs them), and weights may be stored
// in GGUF's block types (base/dtype.h).
inline constexpr int kEngineFormatVersion = 3;

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
  // The most drafted tokens one speculative verify step takes (compile-model
  // --verify-tokens; its buckets are among `buckets`). 0, or absent from
  // manifest.json: the engine has no verify steps.
  int64_t verify_tokens = 0;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string tokenizer;  // file name, empty when the engine has none
  // File name of the Jinja chat template, empty when the model has none
  // (absent from manifest.json reads as none).
  std::string chat_template;
  // File name of generation_config.json, empty when the model has none.
  std::string generation_config;
  // CUDA targets: the file name of the kernel index (kernels.json), empty
  // for the cpu target.
  std::string kernel_index;
  std::vector<EngineFile> files;
};

inline constexpr char kEngineManifestFile[] = "manifest.json";
inline constexpr char kEngineConfigFile[] = "config.json";
inline constexpr char kEngineIrFile[] = "model.ir";
inline constexpr char kEngineWeightsFile[] = "weights.safetensors";
inline constexpr char kEngineChatTemplateFile[] = "chat_template.jinja";
inline constexpr char kEngineGenerationConfigFile[] = "generation_config.json";
inline constexpr char kEngineKernelIndexFile[] = "kernels.json";
inline constexpr char kEngineLaunchPlansFile[] = "kernel.launch_plans.json";
// Written only on request (compile-model --plans-listing); nothing reads it.
inline constexpr char kEnginePlansListingFile[] = "kernel.launch_plans.txt";

// The CUDA target's files: the index and kernel.* (cubins, PTX, plans).
bool IsKernelFile(const std::string& name);

nlohmann::json ManifestToJson(const EngineManifest& manifest);

// Reads the manifest fields; a missing field or one of the wrong type is
// DataLoss naming it. Another format version is FailedPrecondition naming
// both versions and saying to recompile with compile-model.
absl::StatusOr<EngineManifest> ManifestFromJson(const nlohmann::json& json);

}  // namespace kiln

#endif  // KILN_CODEGEN_ENGINE_FORMAT_H_
