// In-place rewriting helpers for functions: compaction.
#ifndef KILN_IR_REWRITE_H_
#define KILN_IR_REWRITE_H_

#include <vector>

#include "ir/module.h"

namespace kiln {

// Removes the nodes with keep[id] == false and renumbers the rest, keeping
// their order. Removed nodes must have no remaining users; parameters must
// be kept.
void CompactFunction(Function& f, const std::vector<bool>& keep);

}  // namespace kiln

#endif  // KILN_IR_REWRITE_H_
