// Shape and dtype inference: the result type each op produces from its
// operands and attributes.
#ifndef KILN_IR_INFER_H_
#define KILN_IR_INFER_H_

#include "absl/status/statusor.h"
#include "ir/module.h"

namespace kiln {

// Returns the type `node` produces, given the (already defined) operand
// nodes of `function`. For ops whose target comes from the result type
// (parameter, reshape, cast) the node's declared type is checked against
// its operand and returned. Errors describe the offending operand or
// attribute but not the node itself; the verifier adds that context.
absl::StatusOr<TensorType> InferType(const Module& module, const Function& function,
                                     const Node& node);

// Whether two shapes hold the same number of elements for every binding of
// their symbols: equal products of static dims and the same symbols.
bool SameElementCount(const Shape& a, const Shape& b);

}  // namespace kiln

#endif  // KILN_IR_INFER_H_
