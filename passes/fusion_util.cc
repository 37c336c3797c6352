#include "passes/fusion_util.h"

#include <algorithm>

namespace kiln {

const Node* FusionMatcher::Match(ValueId id, std::initializer_list<Op> ops) const {
  if (id < 0) return nullptr;
  const Node& node = f_.node(id);
  if (node.attrs.count("fusion")) return nullptr;
  if (std::find(ops.begin(), ops.end(), node.op) == ops.end()) return nullptr;
  return &node;
}

bool FusionMatcher::Label(const std::vector<ValueId>& members, const std::string& name) {
  for (ValueId id : members) {
    if (f_.node(id).attrs.count("fusion")) return false;
  }
  for (ValueId id : members) f_.node(id).attrs["fusion"] = name;
  return true;
}

absl::StatusOr<bool> FusionPass::Run(Module& module) {
  bool changed = false;
  for (Function& f : module.functions) {
    FusionMatcher m(f);
    for (ValueId id = 0; id < static_cast<ValueId>(f.nodes.size()); ++id) {
      std::vector<ValueId> members = MatchAt(m, id);
      if (!members.empty()) changed |= m.Label(members, f.node(id).name);
    }
  }
  return changed;
}

}  // namespace kiln
