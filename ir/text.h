// The text form of Kiln IR: a printer and a parser that round-trip
// byte-identically on printed text.
//
//   module @tiny {
//     weight "lm_head.weight" : f32[256,64]
//     func @forward(%x: f32[batch,seq,64]) {
//       %w = constant() {weight="lm_head.weight"} : f32[256,64]
//       %logits = matmul_nt(%x, %w) : f32[batch,seq,256]
//       return %logits
//     }
//   }
//
// `//` starts a comment that runs to the end of the line. Attributes are
// printed in the op's schema order; floats in their shortest round-trip form.
#ifndef KILN_IR_TEXT_H_
#define KILN_IR_TEXT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ir/module.h"

namespace kiln {

std::string PrintModule(const Module& module);

// An attribute value as the printer writes it: 3, 1e-06, "str", [0,2,1].
std::string AttrToString(const AttrValue& value);

// Parses and verifies a module. Syntax errors give the line and column.
absl::StatusOr<Module> ParseModule(std::string_view text);

}  // namespace kiln

#endif  // KILN_IR_TEXT_H_
