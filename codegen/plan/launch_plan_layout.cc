// LayOutStaticSpaces (launch_plan.h): the engine-wide spaces of the arena.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/plan/build_launch_plan.h"
#include "codegen/plan/launch_plan_internal.h"

namespace kiln {
namespace launch_internal {

int64_t AlignUp(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

absl::StatusOr<int64_t> StaticBytes(const TensorType& type, const std::string& what) {
  std::optional<int64_t> count;
  if (std::all_of(type.shape.begin(), type.shape.end(),
                  [](const Dim& d) { return d.is_static(); })) {
    count = StaticElementCount(type.shape);
  }
  std::optional<int64_t> bytes = count ? StorageBytes(type.dtype, *count) : std::nullopt;
  if (!bytes || *bytes > (int64_t{1} << 50)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has no static size: the CUDA backend runs specialised buckets only"));
  }
  return *bytes;
}

bool IsCacheParam(const Node& node) {
  return node.op == Op::kParameter &&
         (node.name.rfind("k_cache.", 0) == 0 || node.name.rfind("v_cache.", 0) == 0);
}

codegen::attention::RopeParams RopeParamsOf(const Node& rope) {
  codegen::attention::RopeParams p;
  p.theta = static_cast<float>(rope.FloatAttr("theta"));
  p.scaling = rope.StringAttr("scaling", std::string(kRopeScalingNone));
  p.factor = static_cast<float>(rope.FloatAttr("factor", 1.0));
  if (p.scaling == kRopeScalingLlama3) {
    p.low_freq_factor = static_cast<float>(rope.FloatAttr("low_freq_factor"));
    p.high_freq_factor = static_cast<float>(rope.FloatAttr("high_freq_factor"));
    p.original_max_position = rope.IntAttr("original_max_position");
  }
  return p;
}

std::string TableKey(bool identity, const codegen::attention::RopeParams& p, int head_dim,
                     DType dtype) {
  const std::string dt(DTypeName(dtype));
  if (identity) return absl::StrCat("rope_identity_d", head_dim, "_", dt);
  return absl::StrCat("rope_d", head_dim, "_", dt, "_theta", p.theta, "_", p.scaling, "_f",
                      p.factor, "_l", p.low_freq_factor, "_h", p.high_freq_factor, "_o",
                      p.original_max_position);
}

}  // namespace launch_internal

namespace {

using launch_internal::AlignUp;
using launch_internal::StaticBytes;

// Appends a buffer of `bytes` to a space whose size so far is `top`.
DeviceBuffer Place(ArenaSpace space, int64_t& top, int64_t bytes, DType dtype, std::string value) {
  DeviceBuffer b{space, top, bytes, dtype, std::move(value)};
  top += AlignUp(bytes);
  return b;
}

// The table every attention node of `f` needs: its q operand's rope (or
// identity when q is not rotated), at the caches' capacity.
absl::Status CollectTables(const Function& f, StaticLayout& layout) {
  for (const Node& node : f.nodes) {
    if (node.op != Op::kAttention) continue;
    const Node& q = f.node(node.operands[0]);
    const Node& cache = f.node(node.operands[1]);
    if (cache.type.shape.size() != 4 || q.type.shape.size() != 4) {
      return absl::InvalidArgumentError(absl::StrCat("attention %", node.name, " is not 4-d"));
    }
    RopeTable t;
    t.identity = q.op != Op::kRope;
    if (!t.identity) t.params = launch_internal::RopeParamsOf(q);
    t.head_dim = static_cast<int>(q.type.shape[3].size);
    t.capacity = cache.type.shape[1].size;
    t.dtype = q.type.dtype;
    const std::string key = launch_internal::TableKey(t.identity, t.params, t.head_dim, t.dtype);
    const bool known = std::any_of(layout.tables.begin(), layout.tables.end(),
                                   [&](const RopeTable& r) { return r.buffer.value == key; });
    if (known) continue;
    t.buffer = Place(ArenaSpace::kTables, layout.tables_bytes,
                     *StorageBytes(t.dtype, t.capacity * t.head_dim), t.dtype, key);
    layout.tables.push_back(std::move(t));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StaticLayout> LayOutStaticSpaces(const Module& module) {
  StaticLayout layout;
  for (const WeightDecl& w : module.weights) {
    KILN_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(w.type, "weight \"" + w.name + "\""));
    layout.weights[w.name] =
        Place(ArenaSpace::kWeights, layout.weights_bytes, bytes, w.type.dtype, w.name);
  }
  // Caches: the function with the largest batch (leading dim) defines them.
  const Function* widest = nullptr;
  int64_t widest_batch = -1, input_bytes = 0;
  for (const Function& f : module.functions) {
    int64_t step_input_bytes = 0;
    for (ValueId id : f.params) {
      const Node& p = f.node(id);
      KILN_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(p.type, "@" + f.name + " %" + p.name));
      if (launch_internal::IsCacheParam(p)) {
        if (p.type.shape[0].size > widest_batch) {
          widest_batch = p.type.shape[0].size;
          widest = &f;
        }
      } else {
        step_input_bytes = std::max(step_input_bytes, bytes);
      }
    }
    input_bytes = std::max(input_bytes, step_input_bytes);
    KILN_RETURN_IF_ERROR(CollectTables(f, layout));
  }
  if (widest != nullptr) {
    for (ValueId id : widest->params) {
      const Node& p = widest->node(id);
      if (!launch_internal::IsCacheParam(p)) continue;
      KILN_ASSIGN_OR_RETURN(int64_t bytes, StaticBytes(p.type, p.name));
      layout.caches[p.name] =
          Place(ArenaSpace::kCaches, layout.caches_bytes, bytes, p.type.dtype, p.name);
    }
  }
  for (const char* name : {"input_ids", "positions"}) {
    layout.inputs[name] =
        Place(ArenaSpace::kInputs, layout.inputs_bytes, input_bytes, DType::kI32, name);
  }
  return layout;
}

}  // namespace kiln
