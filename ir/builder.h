// A convenience API for constructing IR functions with inferred types.
#ifndef KILN_IR_BUILDER_H_
#define KILN_IR_BUILDER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ir/module.h"

namespace kiln {

// Appends one function to a module, node by node, inferring each result
// type with the verifier's rules. The first error is kept and every later
// call becomes a no-op returning kNoValue, so construction code reads
// straight through and checks once, in Finish(). The module must outlive
// the builder; the function is added to it by Finish().
class FunctionBuilder {
 public:
  static constexpr ValueId kNoValue = -1;

  FunctionBuilder(Module& module, std::string function_name);

  ValueId Parameter(const std::string& name, TensorType type);

  // Declares `weight_name` in the module (once; a second declaration must
  // agree on the type) and returns this function's constant reading it.
  ValueId Weight(const std::string& weight_name, const TensorType& type);

  // Appends `op` with the given operands and attributes; the result type is
  // inferred. `name_hint` names the value (made unique with a suffix).
  ValueId Add(Op op, std::vector<ValueId> operands, Attrs attrs = {},
              const std::string& name_hint = "");

  // Ops whose result type is the target: reshape to `shape`, cast to `dtype`.
  ValueId Reshape(ValueId x, Shape shape, const std::string& name_hint = "");
  ValueId Cast(ValueId x, DType dtype, const std::string& name_hint = "");

  const TensorType& type(ValueId id) const;
  const absl::Status& status() const { return status_; }

  // Sets the results, verifies the function and adds it to the module.
  absl::Status Finish(std::vector<ValueId> results);

 private:
  ValueId Append(Node node, const std::string& name_hint, bool infer);
  std::string UniqueName(const std::string& hint);

  Module& module_;
  Function function_;
  std::map<std::string, ValueId, std::less<>> names_;
  std::map<std::string, ValueId, std::less<>> weight_values_;
  absl::Status status_;
};

}  // namespace kiln

#endif  // KILN_IR_BUILDER_H_
