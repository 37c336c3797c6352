// The launch plan of one compiled step function on the CUDA backend: the
// kernels and GEMMs that compute it, in launch order, with every operand
// placed in the engine's device arena. The GPU executor replays it (and
// captures it into a CUDA graph). On the CUDA emulator's device
// (runtime/emulator/emulated_device.h) the same executor runs the very same
// plan on the CPU, every kernel's own CUDA source included, which is how
// CI tests the plan without a GPU.
//
// How a bucket function becomes steps:
//   - row-wise fusion groups and unfused row ops -> the generated kernels of
//     codegen/lower.h, one step each;
//   - matmul_nt (with its optional bias) -> one GEMM step (cuBLASLt);
//   - an attention node with its rope and kv_cache_write producers -> one
//     fused RoPE + KV-write step, then the flash prefill kernel (seq > 1) or
//     the split-KV decode kernel and its combine (seq == 1);
//   - reshape is a view of its operand and kv_cache_write updates its cache
//     in place: neither launches anything;
//   - the logits are then reduced to the greedy next token by the argmax
//     kernel (sampling beyond argmax is the runtime's choice of a last step).
// Any other op is an Unimplemented error naming it: a plan never silently
// skips a node.
#ifndef KILN_CODEGEN_PLAN_LAUNCH_PLAN_H_
#define KILN_CODEGEN_PLAN_LAUNCH_PLAN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/attention/attention_config.h"
#include "codegen/attention/attention_host.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/kernel_desc.h"
#include "codegen/sampling/sampling_cuda.h"
#include "ir/module.h"

namespace kiln {

// The parts of the device arena. Weights, caches, inputs and tables are laid
// out once per engine (StaticLayout); scratch is per step function, and the
// functions share it because steps run one at a time.
enum class ArenaSpace : uint8_t { kWeights, kCaches, kInputs, kTables, kScratch };

// One tensor's place in the arena.
struct DeviceBuffer {
  ArenaSpace space = ArenaSpace::kScratch;
  int64_t offset = 0;  // bytes from the start of its space, 256-aligned
  int64_t bytes = 0;
  DType dtype = DType::kF32;
  std::string value;  // what it holds: an IR value, weight or table name
};

// A cos/sin table of the fused RoPE kernel (codegen/attention/attention_host.h
// RopeCosSinTable), built on the host at load. `identity` tables (cos 1,
// sin 0) serve attention without rotary embedding (OPT's learned
// positions): rotating by them leaves q and k exactly unchanged.
struct RopeTable {
  bool identity = false;
  codegen::attention::RopeParams params;
  int head_dim = 0;
  int64_t capacity = 0;
  DType dtype = DType::kF32;
  DeviceBuffer buffer;
};

// The engine-wide spaces. Contract: every weight in declaration order; every
// cache parameter of the largest-batch function ([batch, capacity, kv_heads,
// head_dim]; smaller batches use its leading rows); the step inputs
// (input_ids, positions) at the largest size any function takes; the RoPE
// tables the functions need. Offsets are 256-aligned within each space.
struct StaticLayout {
  std::map<std::string, DeviceBuffer, std::less<>> weights;  // by weight name
  std::map<std::string, DeviceBuffer, std::less<>> caches;   // by parameter name
  std::map<std::string, DeviceBuffer, std::less<>> inputs;   // by parameter name
  std::vector<RopeTable> tables;
  int64_t weights_bytes = 0;
  int64_t caches_bytes = 0;
  int64_t inputs_bytes = 0;
  int64_t tables_bytes = 0;
};

// A generated row kernel (codegen/kernel_desc.h): grid `rows`, block
// desc.threads; buffers[i] binds desc.buffers[i].
struct RowKernelStep {
  codegen::KernelDesc desc;
  int64_t rows = 0;
  std::vector<DeviceBuffer> buffers;
};

// out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]): every operand in `dtype`,
// accumulation in f32 (the reference's semantics, runtime/reference/ops.h),
// except that w may be block-quantized (w.dtype a block type, base/dtype.h)
// when `dtype` is f32: then it multiplies by w's dequantised values (the CPU
// executor's quantized kernels; the CUDA executor refuses such a step).
// Run by cuBLASLt, or, when `gemv` is set (m <= the GEMV kernel's row
// limit: decode and verify steps) and the device timing at load favours
// it, by the generated GEMV kernel (codegen/gemv).
struct GemmStep {
  int64_t m = 0, n = 0, k = 0;
  DType dtype = DType::kF32;
  DeviceBuffer x, w, out;
  DeviceBuffer bias;  // bytes == 0: none
  std::optional<codegen::gemv::GemvVariant> gemv;
};

// The fused RoPE + KV-cache write (attention_cuda.h, rope_kv_write): rotates
// q into q_out (which may be q itself) and writes the rotated k and v into
// the caches at each token's position.
struct RopeKvWriteStep {
  codegen::attention::KernelVariant variant;
  int64_t batch = 0, seq = 0, capacity = 0;
  DeviceBuffer q, k, v, pos, cos_sin, q_out, k_cache, v_cache;
};

// Attention against the caches: flash prefill, or split-KV decode followed
// by the combine of its partials (acc, ml; scratch).
struct AttentionStep {
  codegen::attention::KernelVariant variant;  // kPrefill or kDecode
  codegen::attention::KernelVariant combine;  // kDecode only
  int64_t batch = 0, seq = 0, capacity = 0;
  float scale = 1.0f;
  int64_t window = 0;
  int splits = 1;  // kDecode only
  DeviceBuffer q, k_cache, v_cache, pos, out;
  DeviceBuffer acc, ml;  // kDecode only
};

// embedding from a block-quantized table: out[r, :] = dequant(table[ids[r] +
// index_offset, :]) in f32 for each of `rows` ids; an id whose row is
// outside [0, table_rows) gives zeros and sets `fault` (as the row kernels'
// gather does). CPU executor only.
struct GatherRowsStep {
  int64_t rows = 0, cols = 0, table_rows = 0, index_offset = 0;
  DeviceBuffer table, ids, out, fault;
};

// One launch (or, for attention decode, the decode + combine pair).
struct LaunchStep {
  std::string label;  // the IR value it computes, for errors and dumps
  std::variant<RowKernelStep, GemmStep, RopeKvWriteStep, AttentionStep, GatherRowsStep> op;
};

// The plan of one step function. Contract: steps in an order that respects
// every data dependency; no step's output overlaps a buffer another step
// still needs (scratch is allocated first-fit in launch order, freed after
// each value's last reader); caches are updated in place; `fault` (one
// int32 at scratch offset 0) must be zeroed before a run and is non-zero
// after it when a token id or position was out of range.
struct LaunchPlan {
  std::string function;
  int64_t batch = 0, seq = 0;
  std::vector<LaunchStep> steps;
  int64_t scratch_bytes = 0;
  DeviceBuffer input_ids, positions;  // kInputs: [batch, seq] int32
  DeviceBuffer logits;                // [batch, seq, vocab], model dtype
  DeviceBuffer next_tokens;           // [batch * seq] int32: argmax of the logits
  DeviceBuffer fault;
  int64_t vocab = 0;
  // The on-device sampler for these logits (codegen/sampling), for
  // PlanExecutor::SampleRow.
  codegen::sampling::SamplingVariant sampler;
};

// The plan of `function`; NotFound when `plans` has none.
absl::StatusOr<const LaunchPlan*> FindPlan(const std::vector<LaunchPlan>& plans,
                                           const std::string& function);

// The attention kernels `step` launches: the fused RoPE + KV write, or the
// attention kernel followed, for split-KV decode, by its combine. Empty for
// row kernel and GEMM steps.
std::vector<codegen::attention::KernelVariant> AttentionKernelsOf(const LaunchStep& step);

// A RoPE table's contents, [capacity, head_dim] in its dtype's values: cos
// then sin of each position's angles, or cos 1 / sin 0 for an identity table.
std::vector<float> RopeTableValues(const RopeTable& table);

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_LAUNCH_PLAN_H_
