// CompileEngine: what compile-model does, as a library. Reads a Hugging Face
// model directory or a GGUF file, builds its IR, specialises, fuses and
// memory-plans it per (batch, length) bucket, stores its weights (floats in
// the engine dtype, or block-quantized: codegen/weight_storage.h), builds
// every bucket's launch plan (the CPU executor's and the GPU's), for CUDA
// targets compiles its kernels, and writes the engine
// (codegen/engine_format.h).
//
// What belongs to the runtime stays outside: the caller passes the GEMM
// algorithm choice (runtime/cuda/gemm_tuner.h measures it on a GPU) and the
// check of generation_config.json (runtime/generate reads it), so the
// compiler links nothing of the runtime.
#ifndef KILN_CODEGEN_COMPILE_ENGINE_H_
#define KILN_CODEGEN_COMPILE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "codegen/engine_format.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/launch_plan.h"
#include "codegen/plan/launch_plan_json.h"
#include "ir/module.h"
#include "nlohmann/json.hpp"
#include "passes/pipeline.h"

namespace kiln {

// compile-model's default --verify-tokens: a draft of up to 7 tokens (8
// per verify step; prompt lookup rarely gains beyond that on the CPU).
inline constexpr int64_t kDefaultVerifyTokens = 7;

struct CompileOptions {
  std::string model;  // a Hugging Face model directory or a .gguf file
  std::string out;    // the engine directory to write
  std::string target = "cpu";  // cpu, sm_80 or sm_90
  DType dtype = DType::kF32;   // f32, bf16 or f16
  int64_t max_batch = 1;
  int64_t max_seq = 0;  // 0: min(max_position_embeddings, 2048)
  std::string buckets = "16,64,256";  // prefill lengths; those > max_seq are dropped
  // --verify-tokens K: speculative decoding verifies up to K drafted tokens
  // in one step of K + 1 tokens; 0: no verify buckets (see EngineBucketSpecs).
  int64_t verify_tokens = kDefaultVerifyTokens;
  std::string tokenizer;  // tokenizer.json to bundle; empty: the model's own
  std::string kernel_cache_dir;  // NVRTC output cache; empty: none
  // --quantize: q8_0, q4_0, q4_1 or q4_k (cpu target, f32); empty: weights
  // as the source stores them (a GGUF's block types are kept on the cpu
  // target). --requantize allows re-quantizing a GGUF's quantized tensors.
  std::string quantize;
  bool requantize = false;
  // --kv-dtype: the KV cache's dtype (f32, f16 or bf16); unset: --dtype's.
  // Only the cpu target takes one that differs from --dtype.
  std::optional<DType> kv_dtype;
  // --dequantize: store every weight as floats in the engine dtype, also on
  // the cpu target with f32 (a GGUF's block types are dequantised, not
  // kept): the float baseline quantization quality is measured against.
  // Excludes --quantize.
  bool dequantize = false;
  // --plans-listing: also write kernel.launch_plans.txt, every bucket's
  // plan as text for people to read (the engine runs the JSON). Off by
  // default: it is about 1 MB for a 30-layer model's 14 buckets, a visible
  // share of a small quantized model's engine.
  bool plans_listing = false;

  // CUDA targets: the cuBLASLt algorithm record for the plans' GEMM shapes.
  // Unset: an untuned record (the loader then asks cuBLASLt's heuristic).
  std::function<absl::StatusOr<GemmChoices>(const std::vector<LaunchPlan>&,
                                            const std::string& target)>
      choose_gemms;
  // Checks the model's generation_config.json before anything is compiled,
  // so a bad file fails here rather than at the first generate. Unset: none.
  std::function<absl::Status(const nlohmann::json&)> check_generation_config;
  // Checks the tokenizer to bundle (a tokenizer.json, or the GGUF file whose
  // vocabulary is bundled) against the model's `logits` (its vocab_size)
  // right after the config is read, so a tokenizer that does not belong to
  // the model is refused before anything is loaded or written rather than
  // by generate. Unset: none.
  std::function<absl::Status(const std::string& tokenizer, int64_t logits)> check_tokenizer;
  // Called as each of the kCompileSteps steps starts (1-based), with what it
  // does; the previous step has then finished.
  std::function<void(int step, const std::string& what)> progress;
};

inline constexpr int kCompileSteps = 5;

// What was written, for compile-model's summary.
struct CompileReport {
  EngineManifest manifest;
  std::string memory_plan;    // the activation arena of each bucket
  std::string device_arena;   // the arena the executor allocates
  std::string weights;        // how the weights are stored (codegen/weight_storage.h)
  std::string cuda_summary;   // CUDA targets: plans, kernels, spills, GEMM algorithms
  std::string chat_template;  // the template bundled; empty when none
  int64_t engine_bytes = 0;   // every file of the engine directory
};

// InvalidArgument for options a user can fix (naming the flag), the model
// readers' and builders' errors for bad files, NVRTC's for kernels.
absl::StatusOr<CompileReport> CompileEngine(const CompileOptions& options);

// The pieces of CompileEngine that tools predicting an engine (kiln-memory)
// run the same way.
//
// --max-seq as compile-model resolves it: 0 means min(max_positions, 2048);
// InvalidArgument outside [1, max_positions].
absl::StatusOr<int64_t> ResolveMaxSeq(int64_t flag, int64_t max_positions);
// The --verify-tokens an engine of `max_seq` positions gets: a step of
// K + 1 tokens must fit in the cache, as prefill lengths must (longer ones
// are dropped the same way).
inline int64_t EngineVerifyTokens(int64_t verify_tokens, int64_t max_seq) {
  return verify_tokens < max_seq ? verify_tokens : max_seq - 1;
}

// The step functions an engine has, at batch 1 and (when larger)
// max_batch: decode, one prefill per --buckets length <= max_seq, and the
// verify steps of speculative decoding: K + 1 tokens (K =
// EngineVerifyTokens(verify_tokens, max_seq), when > 0) and every power of two below it (a schedule
// that shrinks the draft runs a shorter step), each length that no prefill bucket already has. A
// verify step is a prefill step (logits at every position) by another name, so the session picks
// among all of them by length.
absl::StatusOr<std::vector<BucketSpec>> EngineBucketSpecs(const std::string& buckets,
                                                          int64_t max_batch, int64_t max_seq,
                                                          int64_t verify_tokens = 0);
// The launch plan of every function of a compiled (CompileBuckets) module
// and their static layout, for `target` (cpu, sm_80 or sm_90).
absl::StatusOr<PlannedEngine> BuildEnginePlans(const Module& module, const std::string& target);

}  // namespace kiln

#endif  // KILN_CODEGEN_COMPILE_ENGINE_H_
