// Lowering from IR to kernel descriptions (codegen/kernel_desc.h).
//
// Each fusion group the passes labelled (and each unfused node) becomes one
// kernel per connected set of its row-wise members: the residual add and
// rms_norm/layer_norm of a fuse-norm-residual group, the activation and
// product of a gated MLP (SwiGLU, GeGLU) or OPT's ReLU, a residual add, a
// scale, an embedding gather, an argmax over the vocabulary. Members that
// are not row-wise (matmul_nt, rope, kv_cache_write, attention, reshape)
// are left to other generators and listed as not generated; a group's
// row-wise members on either side of a GEMM therefore become two kernels.
#ifndef KILN_CODEGEN_LOWER_H_
#define KILN_CODEGEN_LOWER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "codegen/kernel_desc.h"
#include "ir/module.h"

namespace kiln::codegen {

// A node codegen does not turn into a generated kernel, and why.
struct NotGenerated {
  std::string node;
  std::string op;
  std::string reason;
};

struct LoweredFunction {
  std::vector<KernelDesc> kernels;
  std::vector<NotGenerated> not_generated;
};

// Whether `node` can be a member of a row kernel: add, mul, scale, the
// activations, float casts, rms_norm, layer_norm, embedding, argmax, all on
// f32/f16/bf16 values.
bool IsRowOp(const Node& node);

// Lowers every row-wise group of `f` (a verified function; leading dims may
// be symbolic, the last must be static). Errors are Unimplemented for
// shapes the row model cannot express (e.g. a broadcast that is neither a
// full operand nor one [cols] vector).
absl::StatusOr<LoweredFunction> LowerFunction(const Function& f, const GpuTarget& info);

// Lowers the nodes `members` of `f` (row ops, in definition order) into one
// kernel named KernelNameFor(name).
absl::StatusOr<KernelDesc> LowerNodes(const Function& f, const std::vector<ValueId>& members,
                                      const std::string& name, const GpuTarget& info);

// The greedy sampling kernel "sample_argmax": argmax over the last axis of
// `logits` [rows, vocab] in `dtype`, one int32 per row (first index of the
// maximum; a NaN wins, as the reference's argmax). Buffers: logits, result.
absl::StatusOr<KernelDesc> LowerSampleArgmax(DType dtype, int64_t vocab, const GpuTarget& info);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_LOWER_H_
