// Dead-code elimination.
//
// Plan, per function:
//   1. mark the results live;
//   2. walking backwards, mark the operands of every live node live;
//   3. drop the unmarked nodes (parameters stay: they are the signature).
// Then drop module weights no constant reads any more.
#include <set>

#include "ir/rewrite.h"
#include "passes/passes.h"

namespace kiln {
namespace {

bool EliminateDeadNodes(Function& f) {
  std::vector<bool> live(f.nodes.size(), false);
  for (ValueId r : f.results) live[r] = true;
  for (ValueId p : f.params) live[p] = true;
  for (ValueId id = static_cast<ValueId>(f.nodes.size()) - 1; id >= 0; --id) {
    if (!live[id]) continue;
    for (ValueId operand : f.node(id).operands) live[operand] = true;
  }
  if (std::find(live.begin(), live.end(), false) == live.end()) return false;
  CompactFunction(f, live);
  return true;
}

bool EliminateUnreadWeights(Module& module) {
  std::set<std::string, std::less<>> read;
  for (const Function& f : module.functions) {
    for (const Node& node : f.nodes) {
      if (node.op == Op::kConstant) read.insert(node.StringAttr("weight"));
    }
  }
  size_t before = module.weights.size();
  std::erase_if(module.weights, [&](const WeightDecl& w) { return !read.count(w.name); });
  return module.weights.size() != before;
}

class DeadCodeElimination : public Pass {
 public:
  absl::StatusOr<bool> Run(Module& module) override {
    bool changed = false;
    for (Function& f : module.functions) changed |= EliminateDeadNodes(f);
    changed |= EliminateUnreadWeights(module);
    return changed;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreateDeadCodeElimination(const PassOptions&) {
  return std::make_unique<DeadCodeElimination>();
}

}  // namespace kiln
