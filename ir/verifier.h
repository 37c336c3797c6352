// The IR verifier: structural checks plus shape and dtype inference.
#ifndef KILN_IR_VERIFIER_H_
#define KILN_IR_VERIFIER_H_

#include "absl/status/status.h"
#include "ir/module.h"

namespace kiln {

// Checks that `module` is well formed: unique names, operands defined
// before use, operand counts and attributes matching each op's schema,
// declared types equal to inferred types, constants naming declared weights
// and results that exist. The error names the function, the node (%name and
// op) and the operand or attribute at fault.
absl::Status VerifyModule(const Module& module);

// Verifies one function of `module`.
absl::Status VerifyFunction(const Module& module, const Function& function);

// Whether `name` may be used as a value, function or module name:
// [A-Za-z0-9_.]+ (printed after % or @ without quoting).
bool IsValidIdentifier(std::string_view name);

}  // namespace kiln

#endif  // KILN_IR_VERIFIER_H_
