// LaunchPlansFromJson's second pass (launch_plan_json.h): the rules that
// relate the fields of a parsed launch_plans.json to each other, most of
// them per step. The executor turns offsets into device pointers and sizes
// into grids and copies without checking them again, so each rule keeps a
// bad file from making it read or write outside its arena, or from feeding
// a kernel operands of another shape than the one it was generated for.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/dtype.h"
#include "base/status_macros.h"
#include "codegen/plan/launch_plan_json.h"

namespace kiln::launch_plan_json_internal {
namespace {

namespace attn = codegen::attention;

constexpr int64_t kAlignment = 256;  // launch_plan.h: every offset is 256-aligned

absl::Status Bad(absl::string_view at, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("launch_plans.json: ", at, ": ", what));
}

std::string Join(absl::string_view at, absl::string_view key) { return absl::StrCat(at, ".", key); }

// The size of each space, indexed by ArenaSpace: the layout's totals and the
// plan's scratch_bytes.
struct Spaces {
  int64_t bytes[5] = {0, 0, 0, 0, 0};
};

// `b` lies inside its space and is aligned.
absl::Status CheckPlaced(const std::string& at, const DeviceBuffer& b, const Spaces& spaces) {
  const int64_t size = spaces.bytes[static_cast<int>(b.space)];
  if (b.bytes > size || b.offset > size - b.bytes) {  // offset + bytes > size, without overflow
    return Bad(at, absl::StrCat("offset ", b.offset, " + bytes ", b.bytes,
                                " lies past the end of its space (", size, " bytes)"));
  }
  if (b.offset % kAlignment != 0) {
    return Bad(Join(at, "offset"), absl::StrCat(b.offset, " is not ", kAlignment, "-aligned"));
  }
  return absl::OkStatus();
}

absl::Status CheckPlaced(const std::string& at,
                         std::initializer_list<std::pair<const char*, const DeviceBuffer*>> list,
                         const Spaces& spaces) {
  for (const auto& [key, b] : list) KILN_RETURN_IF_ERROR(CheckPlaced(Join(at, key), *b, spaces));
  return absl::OkStatus();
}

// `b` holds the product of `dims` elements of `dtype`: what a launch reads
// or writes through it. The first pass made every dim non-negative.
absl::Status CheckExtent(const std::string& at, const DeviceBuffer& b, DType dtype,
                         std::initializer_list<int64_t> dims) {
  int64_t count = 1;
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(count, d, &count)) return Bad(at, "its extent overflows");
  }
  const std::optional<int64_t> need = StorageBytes(dtype, count);
  if (!need) return Bad(at, "its extent overflows");
  if (b.bytes < *need) {
    return Bad(at, absl::StrCat("holds ", b.bytes, " bytes but its launch touches ", *need));
  }
  return absl::OkStatus();
}

bool SameShape(const attn::AttentionShape& a, const attn::AttentionShape& b) {
  return a.head_dim == b.head_dim && a.heads == b.heads && a.kv_heads == b.kv_heads &&
         a.dtype == b.dtype;
}

// Indices within the desc (the first pass bounded them below only; the desc
// is the file's row_kernels entry the step names as "kernel"), then
// each buffer against the extent its indexing gives.
absl::Status CheckRowKernel(const std::string& at, const RowKernelStep& s, const Spaces& spaces) {
  const codegen::KernelDesc& d = s.desc;
  const int64_t buffers = static_cast<int64_t>(d.buffers.size());
  for (size_t i = 0; i < d.buffers.size(); ++i) {
    if (d.buffers[i].ids >= buffers || d.buffers[i].fault >= buffers) {
      return Bad(absl::StrCat(at, ".kernel's buffers[", i, "]"),
                 "its ids or fault names no buffer");
    }
  }
  for (size_t i = 0; i < d.instrs.size(); ++i) {
    if (d.instrs[i].buffer >= buffers) {
      return Bad(absl::StrCat(at, ".kernel's instrs[", i, "].buffer"), "names no buffer");
    }
  }
  if (s.buffers.size() != d.buffers.size()) {
    return Bad(Join(at, "buffers"), absl::StrCat(s.buffers.size(), " buffers for the ",
                                                 d.buffers.size(), " of its kernel's"));
  }
  for (size_t i = 0; i < s.buffers.size(); ++i) {
    const std::string here = absl::StrCat(at, ".buffers[", i, "]");
    KILN_RETURN_IF_ERROR(CheckPlaced(here, s.buffers[i], spaces));
    const codegen::KernelBuffer& kb = d.buffers[i];
    // Row r, column c of a buffer: kRow [rows, cols], kColumn [cols], kGather
    // [table_rows, cols], kPerRow [rows], kScalar one element.
    int64_t rows = 1, cols = 1;
    if (kb.indexing == codegen::Indexing::kRow || kb.indexing == codegen::Indexing::kPerRow) {
      rows = s.rows;
    }
    if (kb.indexing == codegen::Indexing::kGather) rows = kb.table_rows;
    if (kb.indexing == codegen::Indexing::kRow || kb.indexing == codegen::Indexing::kColumn ||
        kb.indexing == codegen::Indexing::kGather) {
      cols = d.cols;
    }
    KILN_RETURN_IF_ERROR(CheckExtent(here, s.buffers[i], kb.dtype, {rows, cols}));
  }
  return absl::OkStatus();
}

absl::Status CheckGemm(const std::string& at, const GemmStep& g, const Spaces& spaces) {
  KILN_RETURN_IF_ERROR(
      CheckPlaced(at, {{"x", &g.x}, {"w", &g.w}, {"out", &g.out}, {"bias", &g.bias}}, spaces));
  // The GEMV kernel is generated for one K and dtype and at most max_rows rows.
  if (g.gemv &&
      (g.gemv->shape.k != g.k || g.gemv->shape.dtype != g.dtype || g.m > g.gemv->shape.max_rows)) {
    return Bad(Join(at, "gemv"), "its k, dtype or max_rows does not fit the GEMM");
  }
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "x"), g.x, g.dtype, {g.m, g.k}));
  const bool blocks = IsBlockQuantized(g.w.dtype) && g.dtype == DType::kF32 && !g.gemv &&
                      g.k % BlockSize(g.w.dtype) == 0;
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "w"), g.w, blocks ? g.w.dtype : g.dtype, {g.n, g.k}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "out"), g.out, g.dtype, {g.m, g.n}));
  if (g.bias.bytes > 0) KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "bias"), g.bias, g.dtype, {g.n}));
  return absl::OkStatus();
}

absl::Status CheckGatherRows(const std::string& at, const GatherRowsStep& g,
                             const Spaces& spaces) {
  KILN_RETURN_IF_ERROR(CheckPlaced(
      at, {{"table", &g.table}, {"ids", &g.ids}, {"out", &g.out}, {"fault", &g.fault}}, spaces));
  if (!IsBlockQuantized(g.table.dtype) || g.cols % BlockSize(g.table.dtype) != 0) {
    return Bad(Join(at, "table.dtype"),
               "must be a block type with rows of whole blocks (float tables use row kernels)");
  }
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "table"), g.table, g.table.dtype,
                                   {g.table_rows, g.cols}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "ids"), g.ids, DType::kI32, {g.rows}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "out"), g.out, DType::kF32, {g.rows, g.cols}));
  return CheckExtent(Join(at, "fault"), g.fault, DType::kI32, {1});
}

// The KV caches: one float dtype (which may differ from the activations':
// an f16 cache under an f32 model), each holding `dims` elements of it.
absl::Status CheckCaches(const std::string& at, const DeviceBuffer& k, const DeviceBuffer& v,
                         std::initializer_list<int64_t> dims) {
  if (!IsFloat(k.dtype) || v.dtype != k.dtype) {
    return Bad(Join(at, "v_cache.dtype"), "must be a float dtype, k_cache's");
  }
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "k_cache"), k, k.dtype, dims));
  return CheckExtent(Join(at, "v_cache"), v, v.dtype, dims);
}

absl::Status CheckRopeKvWrite(const std::string& at, const RopeKvWriteStep& s,
                              const Spaces& spaces) {
  KILN_RETURN_IF_ERROR(CheckPlaced(at,
                                   {{"q", &s.q},
                                    {"k", &s.k},
                                    {"v", &s.v},
                                    {"pos", &s.pos},
                                    {"cos_sin", &s.cos_sin},
                                    {"q_out", &s.q_out},
                                    {"k_cache", &s.k_cache},
                                    {"v_cache", &s.v_cache}},
                                   spaces));
  if (s.variant.kind != attn::KernelKind::kRopeKvWrite) {
    return Bad(Join(at, "variant.kind"), "must be rope_kv_write");
  }
  const attn::AttentionShape& sh = s.variant.shape;
  const DType dt = sh.dtype;
  const int64_t b = s.batch, t = s.seq, cap = s.capacity, heads = sh.heads, kv = sh.kv_heads,
                d = sh.head_dim;
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "q"), s.q, dt, {b, t, heads, d}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "q_out"), s.q_out, dt, {b, t, heads, d}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "k"), s.k, dt, {b, t, kv, d}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "v"), s.v, dt, {b, t, kv, d}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "pos"), s.pos, DType::kI32, {b, t}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "cos_sin"), s.cos_sin, dt, {cap, d}));
  KILN_RETURN_IF_ERROR(CheckCaches(at, s.k_cache, s.v_cache, {b, cap, kv, d}));
  return absl::OkStatus();
}

absl::Status CheckAttention(const std::string& at, const AttentionStep& a, const Spaces& spaces) {
  KILN_RETURN_IF_ERROR(CheckPlaced(at,
                                   {{"q", &a.q},
                                    {"k_cache", &a.k_cache},
                                    {"v_cache", &a.v_cache},
                                    {"pos", &a.pos},
                                    {"out", &a.out},
                                    {"acc", &a.acc},
                                    {"ml", &a.ml}},
                                   spaces));
  const bool decode = a.variant.kind == attn::KernelKind::kDecode;
  if (!decode && a.variant.kind != attn::KernelKind::kPrefill) {
    return Bad(Join(at, "variant.kind"), "must be prefill or decode");
  }
  const attn::AttentionShape& sh = a.variant.shape;
  // The combine kernel reads the decode kernel's partials of the same shape.
  if (decode && (a.combine.kind != attn::KernelKind::kCombine || !SameShape(a.combine.shape, sh))) {
    return Bad(Join(at, "combine"), "must be the combine kernel of the decode variant's shape");
  }
  const DType dt = sh.dtype;
  const int64_t b = a.batch, t = a.seq, cap = a.capacity, heads = sh.heads, kv = sh.kv_heads,
                d = sh.head_dim;
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "q"), a.q, dt, {b, t, heads, d}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "out"), a.out, dt, {b, t, heads, d}));
  KILN_RETURN_IF_ERROR(CheckCaches(at, a.k_cache, a.v_cache, {b, cap, kv, d}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "pos"), a.pos, DType::kI32, {b, t}));
  if (!decode) return absl::OkStatus();
  // Partials: f32 accumulators and (max, sum) pairs per (token, head, split).
  KILN_RETURN_IF_ERROR(
      CheckExtent(Join(at, "acc"), a.acc, DType::kF32, {b, t, heads, a.splits, d}));
  return CheckExtent(Join(at, "ml"), a.ml, DType::kF32, {b, t, heads, a.splits, 2});
}

absl::Status CheckPlan(const std::string& at, const LaunchPlan& p, Spaces spaces) {
  spaces.bytes[static_cast<int>(ArenaSpace::kScratch)] = p.scratch_bytes;
  KILN_RETURN_IF_ERROR(CheckPlaced(at,
                                   {{"input_ids", &p.input_ids},
                                    {"positions", &p.positions},
                                    {"logits", &p.logits},
                                    {"next_tokens", &p.next_tokens},
                                    {"fault", &p.fault}},
                                   spaces));
  // The executor copies these on the host, and samples the logits at 4
  // bytes (f32) or 2 bytes an element.
  if (!IsFloat(p.logits.dtype)) return Bad(Join(at, "logits.dtype"), "must be f32, f16 or bf16");
  const int64_t b = p.batch, t = p.seq;
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "input_ids"), p.input_ids, DType::kI32, {b, t}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "positions"), p.positions, DType::kI32, {b, t}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "logits"), p.logits, p.logits.dtype, {b, t, p.vocab}));
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "next_tokens"), p.next_tokens, DType::kI32, {b, t}));
  // The executor copies these two back whole and the session reads the
  // vocabulary off the logits' size: they hold exactly one step's values.
  for (const auto& [name, buffer, dtype, count] :
       {std::tuple{"logits", &p.logits, p.logits.dtype, b * t * p.vocab},
        std::tuple{"next_tokens", &p.next_tokens, DType::kI32, b * t}}) {
    if (buffer->bytes != StorageBytes(dtype, count)) {
      return Bad(Join(at, name), absl::StrCat("holds ", buffer->bytes, " bytes, not exactly the ",
                                              count, " elements of one step"));
    }
  }
  KILN_RETURN_IF_ERROR(CheckExtent(Join(at, "fault"), p.fault, DType::kI32, {1}));
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const std::string step = absl::StrCat(at, ".steps[", i, "]");
    const auto& op = p.steps[i].op;
    if (const auto* s = std::get_if<RowKernelStep>(&op)) {
      KILN_RETURN_IF_ERROR(CheckRowKernel(Join(step, "row_kernel"), *s, spaces));
    } else if (const auto* g = std::get_if<GemmStep>(&op)) {
      KILN_RETURN_IF_ERROR(CheckGemm(Join(step, "gemm"), *g, spaces));
    } else if (const auto* r = std::get_if<RopeKvWriteStep>(&op)) {
      KILN_RETURN_IF_ERROR(CheckRopeKvWrite(Join(step, "rope_kv_write"), *r, spaces));
    } else if (const auto* gr = std::get_if<GatherRowsStep>(&op)) {
      KILN_RETURN_IF_ERROR(CheckGatherRows(Join(step, "gather_rows"), *gr, spaces));
    } else {
      KILN_RETURN_IF_ERROR(
          CheckAttention(Join(step, "attention"), std::get<AttentionStep>(op), spaces));
    }
  }
  return absl::OkStatus();
}

// A buffer of the layout's maps and tables: placed, and in its own space.
absl::Status CheckLayoutBuffer(const std::string& at, const DeviceBuffer& b, ArenaSpace space,
                               const Spaces& spaces) {
  KILN_RETURN_IF_ERROR(CheckPlaced(at, b, spaces));
  if (b.space != space) return Bad(Join(at, "space"), "is not the space of its map");
  return absl::OkStatus();
}

absl::Status CheckTable(const std::string& at, const RopeTable& t, const Spaces& spaces) {
  KILN_RETURN_IF_ERROR(
      CheckLayoutBuffer(Join(at, "buffer"), t.buffer, ArenaSpace::kTables, spaces));
  // attn::RopeInverseFrequencies' schemes: any other would silently be none.
  const std::string& scaling = t.params.scaling;
  if (scaling != "none" && scaling != "linear" && scaling != "llama3") {
    return Bad(Join(at, "params.scaling"), "must be none, linear or llama3");
  }
  // The executor uploads RopeTableValues(t), in t.dtype, into the buffer.
  if (!IsFloat(t.dtype) || t.buffer.dtype != t.dtype) {
    return Bad(Join(at, "dtype"), "must be f32, f16 or bf16, and the buffer's dtype");
  }
  return CheckExtent(Join(at, "buffer"), t.buffer, t.dtype, {t.capacity, t.head_dim});
}

}  // namespace

absl::Status CheckPlannedEngine(const PlannedEngine& engine) {
  const StaticLayout& l = engine.layout;
  Spaces spaces;
  spaces.bytes[static_cast<int>(ArenaSpace::kWeights)] = l.weights_bytes;
  spaces.bytes[static_cast<int>(ArenaSpace::kCaches)] = l.caches_bytes;
  spaces.bytes[static_cast<int>(ArenaSpace::kInputs)] = l.inputs_bytes;
  spaces.bytes[static_cast<int>(ArenaSpace::kTables)] = l.tables_bytes;
  for (const auto& [key, space, map] : {std::tuple{"weights", ArenaSpace::kWeights, &l.weights},
                                        std::tuple{"caches", ArenaSpace::kCaches, &l.caches},
                                        std::tuple{"inputs", ArenaSpace::kInputs, &l.inputs}}) {
    for (const auto& [name, b] : *map) {
      KILN_RETURN_IF_ERROR(
          CheckLayoutBuffer(absl::StrCat("layout.", key, "[\"", name, "\"]"), b, space, spaces));
    }
  }
  for (size_t i = 0; i < l.tables.size(); ++i) {
    KILN_RETURN_IF_ERROR(CheckTable(absl::StrCat("layout.tables[", i, "]"), l.tables[i], spaces));
  }
  for (size_t i = 0; i < engine.plans.size(); ++i) {
    KILN_RETURN_IF_ERROR(CheckPlan(absl::StrCat("plans[", i, "]"), engine.plans[i], spaces));
  }
  return absl::OkStatus();
}

}  // namespace kiln::launch_plan_json_internal
