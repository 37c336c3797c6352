// Shared matching helpers for the fuse-* passes.
#ifndef KILN_PASSES_FUSION_UTIL_H_
#define KILN_PASSES_FUSION_UTIL_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "ir/module.h"
#include "passes/pass.h"

namespace kiln {

// Read-only matching over one function: which node defines a value, whether
// it is already fused, and labelling a matched set as one fusion group.
// A group is labelled only when none of its nodes belongs to another group.
class FusionMatcher {
 public:
  explicit FusionMatcher(Function& f) : f_(f) {}

  // The node defining `id` if its op is one of `ops` and it is not fused
  // yet; nullptr otherwise.
  const Node* Match(ValueId id, std::initializer_list<Op> ops) const;

  // Labels `members` with fusion=<name> when all are unfused; returns
  // whether it did.
  bool Label(const std::vector<ValueId>& members, const std::string& name);

  const Function& function() const { return f_; }

 private:
  Function& f_;
};

// A pass that labels fusion groups. For each node, in definition order, of
// every function, MatchAt proposes the members of a group anchored there;
// they are labelled with the anchor's name when none is fused yet.
class FusionPass : public Pass {
 public:
  absl::StatusOr<bool> Run(Module& module) final;

 protected:
  // The group's members (the anchor `id` among them), or empty for no match.
  virtual std::vector<ValueId> MatchAt(const FusionMatcher& m, ValueId id) const = 0;
};

}  // namespace kiln

#endif  // KILN_PASSES_FUSION_UTIL_H_
