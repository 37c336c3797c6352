// kiln-memory's model: how much memory an engine will take, predicted from
// the model's config.json (or a GGUF's header and tensor table) before any
// weight is downloaded, read or compiled.
//
// It runs compile-model's own steps on the IR alone: the weight storage plan
// (codegen/weight_storage.h: which weights each format quantizes, exact
// bytes with block scales and mins), the bucket pipeline and memory plan,
// and the launch plans; then sizes the executor's allocations from those
// plans with the functions the executors allocate by (runtime/cpu's
// PlanCpuMemory; the CUDA arena plan plus the cuBLASLt workspace). So each
// row is what compile-model would write and the runtime allocate with the
// same flags, not a rule of thumb.
#ifndef KILN_TOOLS_MEMORY_MEMORY_ESTIMATE_H_
#define KILN_TOOLS_MEMORY_MEMORY_ESTIMATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "codegen/compile_engine.h"

namespace kiln {

// The storage formats a row can stand for. "stored" is a GGUF's own mix of
// types (its block types kept, on the cpu target); the others are
// compile-model's --dtype (f32, bf16, f16) or --quantize (q8_0, q4_0, q4_1,
// q4_k, with f32 activations, cpu target only).
inline constexpr const char* kMemoryFormats[] = {"stored", "f32",  "bf16", "f16",
                                                 "q8_0",   "q4_0", "q4_1", "q4_k"};

// kiln-memory's flags: the model, the formats to size, and compile-model's
// flags that size an engine (target, max_seq, max_batch, kv_dtype, buckets).
struct MemoryEstimateOptions {
  std::string model;  // a model directory, its config.json, or a .gguf file
  // Empty: stored (GGUF only), f32, bf16, f16, and on the cpu target q8_0,
  // q4_0 and q4_k (on a CUDA target with kv_dtype set, only that float
  // format: the CUDA kernels keep the cache in the weights' dtype).
  std::vector<std::string> formats;
  std::string target = "cpu";  // cpu, sm_80 or sm_90
  int64_t max_seq = 0;         // 0: compile-model's default
  int64_t max_batch = 1;
  std::optional<DType> kv_dtype;  // unset: each format's activation dtype
  std::string buckets = "16,64,256";
  int64_t verify_tokens = kDefaultVerifyTokens;  // as compile-model's --verify-tokens
  int cpu_threads = 1;  // the CPU executor's per-thread scratch is counted this many times
};

// Every byte count of one format's engine, as compile-model with `flags`
// would write it and the executor allocate it.
struct FormatEstimate {
  std::string format;
  std::string flags;  // the compile-model flags the row stands for

  std::string weight_types;   // what the weights are stored as: "60 q4_k, 7 q6_k, 62 f32"
  int64_t weights = 0;        // exactly the engine's weight bytes, scales and mins included
  int64_t largest_layer = 0;  // the largest decoder layer, or a weight outside the layers
  std::string largest_layer_name;
  int64_t kv_cache = 0;     // the static KV cache at max_seq x max_batch
  int64_t activations = 0;  // the largest step's activation arena (the memory plan)
  // Step inputs, RoPE tables, kernel scratch (CPU: per thread and shared;
  // CUDA: the cuBLASLt workspace).
  int64_t workspace = 0;
  int64_t total = 0;
  DType kv_dtype = DType::kF32;
};

// The model's sizes and one row per format.
struct MemoryEstimate {
  std::string architecture;
  int64_t parameters = 0;  // elements over all of the model's weights
  std::string target;
  int64_t max_seq = 0;
  int64_t max_positions = 0;
  int64_t max_batch = 0;
  int cpu_threads = 0;  // the cpu target's workspace counts this many threads
  std::vector<FormatEstimate> rows;
};

// InvalidArgument for flags a user can fix (naming the flag); the model
// readers' and builders' errors for bad configs and GGUF headers, as
// compile-model gives them.
absl::StatusOr<MemoryEstimate> EstimateMemory(const MemoryEstimateOptions& options);

// The largest --max-seq at which `format`'s engine totals at most
// `available` bytes (options.max_seq ignored), or 0 when not even the
// shortest prefill bucket's length does (compile-model refuses a --max-seq
// below every bucket).
absl::StatusOr<int64_t> LargestFittingMaxSeq(const MemoryEstimateOptions& options,
                                             const std::string& format, int64_t available);

}  // namespace kiln

#endif  // KILN_TOOLS_MEMORY_MEMORY_ESTIMATE_H_
