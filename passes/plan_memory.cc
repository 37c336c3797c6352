// Memory planning: assigns every materialised activation a byte offset in
// one arena per function, reusing the space of values whose last use has
// passed (liveness-based, first-fit). Codegen and the runtime allocate the
// arena once at its peak size.
//
// Which values need arena space:
//   - parameters (inputs, KV caches) and constants (weights) live elsewhere;
//   - reshape is a view of its operand and kv_cache_write updates its cache
//     in place: both alias their operand, whose lifetime they extend;
//   - a value used only inside its own fusion group stays on chip;
//   - everything else, results included, gets `offset` set.
//
// Plan, per function:
//   1. resolve aliases to their root value and compute each root's last use
//      (results live to the end);
//   2. walk the nodes in order; before node i, free the roots whose last use
//      was before i; give node i's value the first free block that fits
//      (256-byte aligned), growing the arena when none does;
//   3. record offsets and report the peak against the no-reuse total.
#include <climits>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/free_list.h"
#include "passes/passes.h"

namespace kiln {
namespace {

constexpr int64_t kAlignment = 256;

int64_t AlignUp(int64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

bool AliasesOperand(const Node& node) {
  return node.op == Op::kReshape || node.op == Op::kKvCacheWrite;
}

class PlanMemory : public Pass {
 public:
  absl::StatusOr<bool> Run(Module& module) override {
    report_.clear();
    bool changed = false;
    for (Function& f : module.functions) {
      KILN_ASSIGN_OR_RETURN(bool planned, PlanFunction(f));
      changed |= planned;
    }
    return changed;
  }

  std::string Report() const override { return report_; }

 private:
  absl::StatusOr<bool> PlanFunction(Function& f) {
    size_t n = f.nodes.size();
    std::vector<ValueId> root(n);
    std::vector<int> last_use(n, -1);
    std::vector<bool> needs_buffer(n, false);
    for (ValueId id = 0; id < static_cast<ValueId>(n); ++id) {
      const Node& node = f.node(id);
      root[id] = AliasesOperand(node) ? root[node.operands[0]] : id;
      for (ValueId operand : node.operands) last_use[root[operand]] = id;
      needs_buffer[id] = node.op != Op::kParameter && node.op != Op::kConstant &&
                         !AliasesOperand(node);
    }
    for (ValueId r : f.results) last_use[root[r]] = INT_MAX;
    MarkOnChipValues(f, root, needs_buffer);

    FreeList arena;
    std::vector<int64_t> offset(n, -1), size(n, 0);
    std::multimap<int, ValueId> expiring;  // last use -> root
    int64_t total = 0, buffers = 0;
    bool changed = false;
    for (ValueId id = 0; id < static_cast<ValueId>(n); ++id) {
      while (!expiring.empty() && expiring.begin()->first < id) {
        ValueId dead = expiring.begin()->second;
        arena.Release(offset[dead], size[dead]);
        expiring.erase(expiring.begin());
      }
      Node& node = f.node(id);
      if (!needs_buffer[id]) continue;
      KILN_ASSIGN_OR_RETURN(size[id], BufferBytes(f.name, node));
      offset[id] = arena.Allocate(size[id]);
      total += size[id];
      ++buffers;
      expiring.emplace(last_use[id], id);
      auto old = node.attrs.find("offset");
      changed |= old == node.attrs.end() || std::get<int64_t>(old->second) != offset[id];
      node.attrs["offset"] = offset[id];
    }
    absl::StrAppend(&report_, report_.empty() ? "" : "\n", "@", f.name, ": ", buffers,
                    " buffers, peak ", arena.peak(), " bytes (", total, " without reuse)");
    return changed;
  }

  // A value whose every user is in its own fusion group (and that is not a
  // result) never leaves the kernel, so it needs no arena space.
  static void MarkOnChipValues(const Function& f, const std::vector<ValueId>& root,
                               std::vector<bool>& needs_buffer) {
    std::vector<bool> escapes(f.nodes.size(), false);
    for (ValueId r : f.results) escapes[root[r]] = true;
    for (const Node& user : f.nodes) {
      auto group = user.attrs.find("fusion");
      for (ValueId operand : user.operands) {
        const Node& def = f.node(root[operand]);
        auto def_group = def.attrs.find("fusion");
        bool same = group != user.attrs.end() && def_group != def.attrs.end() &&
                    group->second == def_group->second;
        if (!same) escapes[root[operand]] = true;
      }
    }
    for (size_t id = 0; id < f.nodes.size(); ++id) {
      if (f.nodes[id].attrs.count("fusion") && !escapes[id]) needs_buffer[id] = false;
    }
  }

  static absl::StatusOr<int64_t> BufferBytes(const std::string& function, const Node& node) {
    int64_t count = 1;
    for (const Dim& d : node.type.shape) {
      if (!d.is_static()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "plan-memory needs static shapes: @", function, " %", node.name, " is ",
            TypeToString(node.type), " (run specialize-shapes first)"));
      }
      count *= d.size;
    }
    std::optional<int64_t> bytes = StorageBytes(node.type.dtype, count);
    if (!bytes || *bytes > INT64_MAX / 2) {
      return absl::InvalidArgumentError(absl::StrCat("plan-memory: %", node.name, " is too large"));
    }
    return AlignUp(*bytes);
  }

  std::string report_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreatePlanMemory(const PassOptions&) {
  return std::make_unique<PlanMemory>();
}

}  // namespace kiln
