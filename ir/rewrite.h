// In-place rewriting helpers for functions: use replacement and compaction.
#ifndef KILN_IR_REWRITE_H_
#define KILN_IR_REWRITE_H_

#include <vector>

#include "ir/module.h"

namespace kiln {

// Makes every use of `from` (operands and results) use `to` instead. `to`
// must be defined before every user of `from` (true when to < from).
void ReplaceAllUsesWith(Function& f, ValueId from, ValueId to);

// Removes the nodes with keep[id] == false and renumbers the rest, keeping
// their order. Removed nodes must have no remaining users; parameters must
// be kept.
void CompactFunction(Function& f, const std::vector<bool>& keep);

// For each node, how many operand slots and results refer to it.
std::vector<int> UseCounts(const Function& f);

}  // namespace kiln

#endif  // KILN_IR_REWRITE_H_
