#include "codegen/plan/arena_plan.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln {
namespace {

constexpr int64_t kAlignment = 256;  // cudaMalloc's alignment; coalesced loads

int64_t AlignUp(int64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

absl::StatusOr<int64_t> TypeBytes(const TensorType& type, const std::string& what) {
  const bool all_static =
      std::all_of(type.shape.begin(), type.shape.end(), [](const Dim& d) { return d.is_static(); });
  // StaticElementCount multiplies the static dims only.
  std::optional<int64_t> count = all_static ? StaticElementCount(type.shape) : std::nullopt;
  std::optional<int64_t> bytes = count ? StorageBytes(type.dtype, *count) : std::nullopt;
  if (!bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has no static size: specialise the module before planning"));
  }
  return *bytes;
}

bool IsCache(const Node& node) {
  return node.name.rfind("k_cache.", 0) == 0 || node.name.rfind("v_cache.", 0) == 0;
}

// A function's KV-cache bytes and its batch (the leading dim of its caches).
struct CacheUse {
  int64_t bytes = 0;
  int64_t batch = 0;
};

absl::StatusOr<CacheUse> CachesOf(const Function& f) {
  CacheUse use;
  for (ValueId id : f.params) {
    const Node& p = f.node(id);
    if (!IsCache(p)) continue;
    KILN_ASSIGN_OR_RETURN(int64_t bytes, TypeBytes(p.type, "@" + f.name + " %" + p.name));
    use.bytes += AlignUp(bytes);
    use.batch = p.type.shape.empty() ? 0 : p.type.shape[0].size;
  }
  return use;
}

// "640.3 MiB", or "12.0 KiB" below a MiB (tiny test models).
std::string MiB(int64_t bytes) {
  char text[32];
  if (bytes < (1 << 20)) {
    std::snprintf(text, sizeof(text), "%.1f KiB", static_cast<double>(bytes) / (1 << 10));
  } else {
    std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return text;
}

}  // namespace

const ArenaRegion* DeviceArenaPlan::Find(const std::string& name) const {
  for (const ArenaRegion& r : regions) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::string DeviceArenaPlan::Summary() const {
  std::string out;
  for (const ArenaRegion& r : regions) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", r.name, " ", MiB(r.bytes));
  }
  return absl::StrCat(out, " = total ", MiB(total_bytes));
}

absl::StatusOr<DeviceArenaPlan> PlanDeviceArena(const Module& module) {
  int64_t weights = 0;
  for (const WeightDecl& w : module.weights) {
    KILN_ASSIGN_OR_RETURN(int64_t bytes, TypeBytes(w.type, "weight \"" + w.name + "\""));
    weights += AlignUp(bytes);
  }
  CacheUse caches;
  int64_t inputs = 0, activations = 0;
  bool planned = false;
  for (const Function& f : module.functions) {
    KILN_ASSIGN_OR_RETURN(CacheUse use, CachesOf(f));
    if (use.batch > caches.batch) caches = use;
    int64_t step_inputs = 0;
    for (ValueId id : f.params) {
      const Node& p = f.node(id);
      if (IsCache(p)) continue;
      KILN_ASSIGN_OR_RETURN(int64_t bytes, TypeBytes(p.type, "@" + f.name + " %" + p.name));
      step_inputs += AlignUp(bytes);
    }
    inputs = std::max(inputs, step_inputs);
    for (const Node& node : f.nodes) {
      if (!node.attrs.contains("offset")) continue;
      planned = true;
      KILN_ASSIGN_OR_RETURN(int64_t bytes, TypeBytes(node.type, "@" + f.name + " %" + node.name));
      activations = std::max(activations, node.IntAttr("offset") + AlignUp(bytes));
    }
  }
  if (!planned) {
    return absl::FailedPreconditionError(
        "no function of the module has a memory plan: run plan-memory before planning the arena");
  }
  DeviceArenaPlan plan;
  for (const auto& [name, bytes] : {std::pair<const char*, int64_t>{"weights", weights},
                                    {"kv_cache", caches.bytes},
                                    {"step_inputs", inputs},
                                    {"activations", activations}}) {
    plan.regions.push_back({name, plan.total_bytes, AlignUp(bytes)});
    plan.total_bytes += AlignUp(bytes);
  }
  return plan;
}

DeviceArenaPlan PlanDeviceArena(const StaticLayout& layout, const std::vector<LaunchPlan>& plans) {
  int64_t scratch = 0;
  for (const LaunchPlan& p : plans) scratch = std::max(scratch, p.scratch_bytes);
  DeviceArenaPlan plan;
  for (const auto& [name, bytes] : {std::pair<const char*, int64_t>{"weights", layout.weights_bytes},
                                    {"kv_cache", layout.caches_bytes},
                                    {"step_inputs", layout.inputs_bytes},
                                    {"rope_tables", layout.tables_bytes},
                                    {"scratch", scratch}}) {
    plan.regions.push_back({name, plan.total_bytes, AlignUp(bytes)});
    plan.total_bytes += AlignUp(bytes);
  }
  return plan;
}

absl::Status CheckArenaFits(const DeviceArenaPlan& plan, int64_t free_bytes,
                            const std::string& device_name) {
  if (plan.total_bytes <= free_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the engine needs ", MiB(plan.total_bytes), " of device memory (", plan.Summary(),
      ") but ", device_name, " has ", MiB(free_bytes),
      " free: compile with a smaller --max-seq or --max-batch, or --dtype bf16"));
}

}  // namespace kiln
