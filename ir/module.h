// Modules, functions and nodes of Kiln IR.
#ifndef KILN_IR_MODULE_H_
#define KILN_IR_MODULE_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/op.h"
#include "ir/type.h"

namespace kiln {

using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

// A node's attributes by name. The printer writes them in schema order.
using Attrs = std::map<std::string, AttrValue, std::less<>>;

// Index of a node within its function.
using ValueId = int32_t;

// One SSA value: the op that defines it, its operands (earlier nodes of the
// same function), attributes and result type. Parameters are nodes too, so
// every value of a function is a node.
struct Node {
  Op op = Op::kParameter;
  std::string name;  // printed as %name; unique within the function
  TensorType type;
  std::vector<ValueId> operands;
  Attrs attrs;

  // Typed attribute access; `fallback` when the attribute is absent.
  int64_t IntAttr(std::string_view key, int64_t fallback = 0) const;
  double FloatAttr(std::string_view key, double fallback = 0.0) const;
  std::string StringAttr(std::string_view key, std::string fallback = "") const;
  std::vector<int64_t> IntsAttr(std::string_view key) const;
};

// A function: nodes in definition order (operands always precede their
// users), the parameters among them in signature order, and the returned
// values.
struct Function {
  std::string name;
  std::vector<Node> nodes;
  std::vector<ValueId> params;
  std::vector<ValueId> results;

  const Node& node(ValueId id) const { return nodes[static_cast<size_t>(id)]; }
  Node& node(ValueId id) { return nodes[static_cast<size_t>(id)]; }
};

// A weight the module reads: a name in the weight store and its type.
struct WeightDecl {
  std::string name;
  TensorType type;
  bool operator==(const WeightDecl&) const = default;
};

// A module: the weights its functions read (as `constant` nodes) and the
// functions. Weights are declared once and shared by every function, so a
// prefill and a decode function of one model read the same tensors.
struct Module {
  std::string name;
  std::vector<WeightDecl> weights;
  std::vector<Function> functions;

  const WeightDecl* FindWeight(std::string_view weight_name) const;
  const Function* FindFunction(std::string_view function_name) const;
};

}  // namespace kiln

#endif  // KILN_IR_MODULE_H_
