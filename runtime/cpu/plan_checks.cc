#include "runtime/cpu/plan_checks.h"

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln::cpu {
namespace {

absl::Status Bad(const std::string& at, const std::string& why) {
  return absl::DataLossError(absl::StrCat("kernel.launch_plans.json: ", at, " ", why,
                                          ": recompile with compile-model"));
}

// The product of `dims`, or -1 when it overflows or a dim is negative.
int64_t Count(std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

// `b` has room for `count` elements of `dtype`.
absl::Status Holds(const std::string& at, const DeviceBuffer& b, DType dtype, int64_t count) {
  const std::optional<int64_t> need = count < 0 ? std::nullopt : StorageBytes(dtype, count);
  if (!need || b.bytes < *need) {
    return Bad(at, absl::StrCat("(", b.bytes, " bytes) cannot hold ", count, " ",
                                std::string(DTypeName(dtype)), " elements"));
  }
  return absl::OkStatus();
}

absl::Status CheckDType(const std::string& at, const DeviceBuffer& b, DType want) {
  if (b.dtype == want) return absl::OkStatus();
  return Bad(at, absl::StrCat("is ", std::string(DTypeName(b.dtype)), ", not ",
                              std::string(DTypeName(want))));
}

absl::Status CheckGemm(const std::string& at, const GemmStep& g) {
  if (!IsFloat(g.dtype)) return Bad(at + ".dtype", "must be f32, f16 or bf16");
  KILN_RETURN_IF_ERROR(CheckDType(at + ".x", g.x, g.dtype));
  KILN_RETURN_IF_ERROR(CheckDType(at + ".out", g.out, g.dtype));
  if (g.bias.bytes > 0) KILN_RETURN_IF_ERROR(CheckDType(at + ".bias", g.bias, g.dtype));
  const bool blocks = IsBlockQuantized(g.w.dtype);
  if (blocks && (g.dtype != DType::kF32 || g.k % BlockSize(g.w.dtype) != 0)) {
    return Bad(at + ".w", "is block-quantized, which needs f32 and rows of whole blocks");
  }
  if (!blocks) KILN_RETURN_IF_ERROR(CheckDType(at + ".w", g.w, g.dtype));
  KILN_RETURN_IF_ERROR(Holds(at + ".x", g.x, g.dtype, Count({g.m, g.k})));
  KILN_RETURN_IF_ERROR(Holds(at + ".w", g.w, g.w.dtype, Count({g.n, g.k})));
  KILN_RETURN_IF_ERROR(Holds(at + ".out", g.out, g.dtype, Count({g.m, g.n})));
  if (g.bias.bytes > 0) KILN_RETURN_IF_ERROR(Holds(at + ".bias", g.bias, g.dtype, g.n));
  if (g.m <= 0 || g.n <= 0 || g.k <= 0) return Bad(at, "has an empty dimension");
  // A thread writes its columns of out while another may still be reading
  // x (products of a few rows quantize x per thread, with no barrier).
  if (g.out.space == g.x.space && g.out.offset < g.x.offset + g.x.bytes &&
      g.x.offset < g.out.offset + g.out.bytes) {
    return Bad(at + ".out", "overlaps x");
  }
  return absl::OkStatus();
}

// What the RoPE + KV-write and attention steps share: a sane head layout,
// float dtypes, caches of one float dtype holding batch x capacity slots,
// positions that are the plan's own (checked against the capacity before a
// run), and q-shaped buffers for batch x seq tokens.
absl::Status CheckAttentionCommon(const std::string& at, const LaunchPlan& plan,
                                  const codegen::attention::AttentionShape& shape, int64_t batch,
                                  int64_t seq, int64_t capacity, const DeviceBuffer& pos,
                                  const DeviceBuffer& k_cache, const DeviceBuffer& v_cache) {
  if (shape.heads <= 0 || shape.kv_heads <= 0 || shape.heads % shape.kv_heads != 0 ||
      shape.head_dim <= 0 || shape.head_dim % 2 != 0 || !IsFloat(shape.dtype)) {
    return Bad(at + ".variant.shape", "is not a head layout the CPU kernels take");
  }
  if (batch != plan.batch || seq != plan.seq || capacity <= 0) {
    return Bad(at, "does not cover the plan's batch and sequence");
  }
  if (!SamePlace(pos, plan.positions)) return Bad(at + ".pos", "is not the plan's positions");
  if (!IsFloat(k_cache.dtype) || v_cache.dtype != k_cache.dtype) {
    return Bad(at + ".v_cache", "must be a float cache of k_cache's dtype");
  }
  const int64_t slots = Count({batch, capacity, shape.kv_heads, shape.head_dim});
  KILN_RETURN_IF_ERROR(Holds(at + ".k_cache", k_cache, k_cache.dtype, slots));
  return Holds(at + ".v_cache", v_cache, v_cache.dtype, slots);
}

absl::Status CheckRopeKvWrite(const std::string& at, const LaunchPlan& plan,
                              const StaticLayout& layout, const RopeKvWriteStep& r) {
  const auto& shape = r.variant.shape;
  KILN_RETURN_IF_ERROR(CheckAttentionCommon(at, plan, shape, r.batch, r.seq, r.capacity, r.pos,
                                            r.k_cache, r.v_cache));
  const int64_t q = Count({r.batch, r.seq, shape.heads, shape.head_dim});
  const int64_t kv = Count({r.batch, r.seq, shape.kv_heads, shape.head_dim});
  for (const auto& [name, buffer, count] :
       {std::tuple{".q", &r.q, q}, {".q_out", &r.q_out, q}, {".k", &r.k, kv}, {".v", &r.v, kv}}) {
    KILN_RETURN_IF_ERROR(CheckDType(at + name, *buffer, shape.dtype));
    KILN_RETURN_IF_ERROR(Holds(at + name, *buffer, shape.dtype, count));
  }
  auto table = std::find_if(layout.tables.begin(), layout.tables.end(), [&](const RopeTable& t) {
    return t.buffer.value == r.cos_sin.value;
  });
  if (table == layout.tables.end() || table->capacity < r.capacity ||
      table->head_dim != shape.head_dim) {
    return Bad(at + ".cos_sin", "is not a RoPE table of this head size and capacity");
  }
  return absl::OkStatus();
}

absl::Status CheckAttention(const std::string& at, const LaunchPlan& plan,
                            const AttentionStep& a) {
  const auto& shape = a.variant.shape;
  KILN_RETURN_IF_ERROR(CheckAttentionCommon(at, plan, shape, a.batch, a.seq, a.capacity, a.pos,
                                            a.k_cache, a.v_cache));
  if (a.window < 0) return Bad(at + ".window", "is negative");
  const int64_t q = Count({a.batch, a.seq, shape.heads, shape.head_dim});
  for (const auto& [name, buffer] : {std::pair{".q", &a.q}, {".out", &a.out}}) {
    KILN_RETURN_IF_ERROR(CheckDType(at + name, *buffer, shape.dtype));
    KILN_RETURN_IF_ERROR(Holds(at + name, *buffer, shape.dtype, q));
  }
  return absl::OkStatus();
}

absl::Status CheckGatherRows(const std::string& at, const LaunchPlan& plan,
                             const GatherRowsStep& g) {
  constexpr int64_t kMaxOffset = int64_t{1} << 31;
  if (!IsBlockQuantized(g.table.dtype) || g.cols % BlockSize(g.table.dtype) != 0) {
    return Bad(at + ".table", "must be block-quantized with rows of whole blocks");
  }
  if (std::llabs(g.index_offset) > kMaxOffset) return Bad(at + ".index_offset", "is too large");
  if (!SamePlace(g.fault, plan.fault)) return Bad(at + ".fault", "is not the plan's fault flag");
  KILN_RETURN_IF_ERROR(Holds(at + ".table", g.table, g.table.dtype, Count({g.table_rows, g.cols})));
  KILN_RETURN_IF_ERROR(CheckDType(at + ".ids", g.ids, DType::kI32));
  KILN_RETURN_IF_ERROR(Holds(at + ".ids", g.ids, DType::kI32, g.rows));
  KILN_RETURN_IF_ERROR(CheckDType(at + ".out", g.out, DType::kF32));
  return Holds(at + ".out", g.out, DType::kF32, Count({g.rows, g.cols}));
}

absl::Status CheckRowKernel(const std::string& at, const LaunchPlan& plan,
                            const RowKernelStep& s) {
  if (s.buffers.size() != s.desc.buffers.size()) return Bad(at, "binds the wrong buffers");
  for (size_t i = 0; i < s.buffers.size(); ++i) {
    const codegen::KernelBuffer& kb = s.desc.buffers[i];
    if (kb.indexing == codegen::Indexing::kScalar && !SamePlace(s.buffers[i], plan.fault)) {
      return Bad(at + ".buffers", "flags faults outside the plan's fault flag");
    }
    if (kb.indexing == codegen::Indexing::kGather) {
      if (std::llabs(kb.index_offset) > (1LL << 31)) {
        return Bad(at + ".desc", "has an index offset that is too large");
      }
      if (kb.fault < 0 || kb.fault >= static_cast<int>(s.buffers.size()) ||
          !SamePlace(s.buffers[kb.fault], plan.fault)) {
        return Bad(at + ".buffers", "flags bad ids outside the plan's fault flag");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool SamePlace(const DeviceBuffer& a, const DeviceBuffer& b) {
  return a.space == b.space && a.offset == b.offset;
}

absl::Status CheckPlanIo(const LaunchPlan& plan) {
  const int64_t tokens = Count({plan.batch, plan.seq});
  const std::string at = "@" + plan.function;
  for (const auto& [name, buffer, space] :
       {std::tuple{".input_ids", &plan.input_ids, ArenaSpace::kInputs},
        {".positions", &plan.positions, ArenaSpace::kInputs},
        {".next_tokens", &plan.next_tokens, ArenaSpace::kScratch}}) {
    if (buffer->space != space) return Bad(at + name, "is in the wrong arena space");
    KILN_RETURN_IF_ERROR(Holds(at + name, *buffer, DType::kI32, tokens));
  }
  if (plan.fault.space != ArenaSpace::kScratch || plan.logits.space != ArenaSpace::kScratch) {
    return Bad(at, "keeps its fault flag or logits outside the scratch space");
  }
  KILN_RETURN_IF_ERROR(Holds(at + ".fault", plan.fault, DType::kI32, 1));
  if (!IsFloat(plan.logits.dtype)) return Bad(at + ".logits", "must be f32, f16 or bf16");
  return Holds(at + ".logits", plan.logits, plan.logits.dtype, Count({tokens, plan.vocab}));
}

absl::Status CheckStep(const LaunchPlan& plan, const StaticLayout& layout,
                       const LaunchStep& step) {
  const std::string at = absl::StrCat("@", plan.function, " step ", step.label);
  if (const auto* s = std::get_if<RowKernelStep>(&step.op)) return CheckRowKernel(at, plan, *s);
  if (const auto* g = std::get_if<GemmStep>(&step.op)) return CheckGemm(at, *g);
  if (const auto* r = std::get_if<RopeKvWriteStep>(&step.op)) {
    return CheckRopeKvWrite(at, plan, layout, *r);
  }
  if (const auto* a = std::get_if<AttentionStep>(&step.op)) return CheckAttention(at, plan, *a);
  return CheckGatherRows(at, plan, std::get<GatherRowsStep>(step.op));
}

}  // namespace kiln::cpu
