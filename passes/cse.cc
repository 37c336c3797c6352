// Common-subexpression elimination.
//
// Every op is pure (kv_cache_write returns a new cache value), so two nodes
// with the same op, operands, attributes and type compute the same value.
// Plan, per function, in definition order:
//   1. key each node by (op, operands, attributes, type), with operands
//      already redirected to their surviving equivalents;
//   2. a node whose key was seen before is redirected to the earlier node;
//   3. drop the redirected nodes.
#include <map>

#include "absl/strings/str_cat.h"
#include "ir/rewrite.h"
#include "ir/text.h"
#include "passes/passes.h"

namespace kiln {
namespace {

std::string NodeKey(const Node& node) {
  std::string key = std::string(GetOpInfo(node.op).name);
  for (ValueId operand : node.operands) absl::StrAppend(&key, ",", operand);
  for (const auto& [name, value] : node.attrs) {
    absl::StrAppend(&key, "|", name, "=", AttrToString(value));
  }
  return absl::StrCat(key, ":", TypeToString(node.type));
}

bool EliminateCommonSubexpressions(Function& f) {
  std::map<std::string, ValueId> first;
  std::vector<bool> keep(f.nodes.size(), true);
  std::vector<ValueId> replacement(f.nodes.size());
  for (ValueId id = 0; id < static_cast<ValueId>(f.nodes.size()); ++id) {
    replacement[id] = id;
    Node& node = f.node(id);
    for (ValueId& operand : node.operands) operand = replacement[operand];
    if (node.op == Op::kParameter) continue;
    auto [it, inserted] = first.emplace(NodeKey(node), id);
    if (!inserted) {
      replacement[id] = it->second;
      keep[id] = false;
    }
  }
  for (ValueId& r : f.results) r = replacement[r];
  if (std::find(keep.begin(), keep.end(), false) == keep.end()) return false;
  CompactFunction(f, keep);
  return true;
}

class CommonSubexpressionElimination : public Pass {
 public:
  absl::StatusOr<bool> Run(Module& module) override {
    bool changed = false;
    for (Function& f : module.functions) changed |= EliminateCommonSubexpressions(f);
    return changed;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreateCommonSubexpressionElimination(const PassOptions&) {
  return std::make_unique<CommonSubexpressionElimination>();
}

}  // namespace kiln
