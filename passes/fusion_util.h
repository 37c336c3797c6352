// Shared matching helpers for the fuse-* passes.
#ifndef KILN_PASSES_FUSION_UTIL_H_
#define KILN_PASSES_FUSION_UTIL_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "ir/module.h"

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

  Function& function() { return f_; }

 private:
  Function& f_;
};

}  // namespace kiln

#endif  // KILN_PASSES_FUSION_UTIL_H_
