#include "ir/builder.h"

#include "absl/strings/str_cat.h"
#include "ir/infer.h"
#include "ir/verifier.h"

namespace kiln {

FunctionBuilder::FunctionBuilder(Module& module, std::string function_name) : module_(module) {
  function_.name = std::move(function_name);
}

std::string FunctionBuilder::UniqueName(const std::string& hint) {
  std::string base = hint.empty() ? "v" : hint;
  if (!names_.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = absl::StrCat(base, ".", i);
    if (!names_.count(candidate)) return candidate;
  }
}

ValueId FunctionBuilder::Append(Node node, const std::string& name_hint, bool infer) {
  if (!status_.ok()) return kNoValue;
  for (ValueId operand : node.operands) {
    if (operand < 0 || operand >= static_cast<ValueId>(function_.nodes.size())) {
      status_ = absl::InternalError(absl::StrCat("builder: operand of ", name_hint,
                                                 " is not a value of this function"));
      return kNoValue;
    }
  }
  node.name = UniqueName(name_hint);
  if (infer) {
    absl::StatusOr<TensorType> type = InferType(module_, function_, node);
    if (!type.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat("building %", node.name, " (",
                                                        std::string(GetOpInfo(node.op).name),
                                                        "): ", type.status().message()));
      return kNoValue;
    }
    node.type = *std::move(type);
  }
  ValueId id = static_cast<ValueId>(function_.nodes.size());
  names_[node.name] = id;
  function_.nodes.push_back(std::move(node));
  return id;
}

ValueId FunctionBuilder::Parameter(const std::string& name, TensorType type) {
  Node node{Op::kParameter, "", std::move(type), {}, {}};
  ValueId id = Append(std::move(node), name, /*infer=*/false);
  if (id != kNoValue) function_.params.push_back(id);
  return id;
}

ValueId FunctionBuilder::Weight(const std::string& weight_name, const TensorType& type) {
  if (!status_.ok()) return kNoValue;
  const WeightDecl* existing = module_.FindWeight(weight_name);
  if (existing == nullptr) {
    module_.weights.push_back(WeightDecl{weight_name, type});
  } else if (existing->type != type) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("weight \"", weight_name, "\" used as ", TypeToString(type),
                     " but declared as ", TypeToString(existing->type)));
    return kNoValue;
  }
  auto it = weight_values_.find(weight_name);
  if (it != weight_values_.end()) return it->second;
  ValueId id = Add(Op::kConstant, {}, {{"weight", weight_name}}, weight_name);
  weight_values_[weight_name] = id;
  return id;
}

ValueId FunctionBuilder::Add(Op op, std::vector<ValueId> operands, Attrs attrs,
                             const std::string& name_hint) {
  Node node{op, "", {}, std::move(operands), std::move(attrs)};
  return Append(std::move(node), name_hint, /*infer=*/true);
}

ValueId FunctionBuilder::Reshape(ValueId x, Shape shape, const std::string& name_hint) {
  if (!status_.ok()) return kNoValue;
  Node node{Op::kReshape, "", TensorType{type(x).dtype, std::move(shape)}, {x}, {}};
  return Append(std::move(node), name_hint, /*infer=*/true);
}

ValueId FunctionBuilder::Cast(ValueId x, DType dtype, const std::string& name_hint) {
  if (!status_.ok()) return kNoValue;
  Node node{Op::kCast, "", TensorType{dtype, type(x).shape}, {x}, {}};
  return Append(std::move(node), name_hint, /*infer=*/true);
}

const TensorType& FunctionBuilder::type(ValueId id) const { return function_.node(id).type; }

absl::Status FunctionBuilder::Finish(std::vector<ValueId> results) {
  if (!status_.ok()) return status_;
  function_.results = std::move(results);
  absl::Status status = VerifyFunction(module_, function_);
  if (!status.ok()) return status;
  module_.functions.push_back(std::move(function_));
  return absl::OkStatus();
}

}  // namespace kiln
