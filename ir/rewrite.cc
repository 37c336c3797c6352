#include "ir/rewrite.h"

#include <cassert>

namespace kiln {

void CompactFunction(Function& f, const std::vector<bool>& keep) {
  std::vector<ValueId> new_id(f.nodes.size(), -1);
  std::vector<Node> kept;
  for (size_t id = 0; id < f.nodes.size(); ++id) {
    if (!keep[id]) continue;
    new_id[id] = static_cast<ValueId>(kept.size());
    kept.push_back(std::move(f.nodes[id]));
  }
  for (Node& node : kept) {
    for (ValueId& operand : node.operands) {
      assert(new_id[operand] >= 0 && "a removed node still has users");
      operand = new_id[operand];
    }
  }
  for (ValueId& p : f.params) p = new_id[p];
  for (ValueId& r : f.results) r = new_id[r];
  f.nodes = std::move(kept);
}

}  // namespace kiln
