#include "runtime/reference/executor.h"

#include <algorithm>
#include <climits>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/verifier.h"
#include "runtime/reference/ops.h"

namespace kiln {
namespace {

using SymbolSizes = std::map<std::string, int64_t, std::less<>>;

absl::Status CheckStorage(const HostTensor& t, const std::string& what) {
  size_t expected = static_cast<size_t>(t.numel());
  size_t held = HasFloatValues(t.dtype) ? t.floats.size() : t.ints.size();
  if (held != expected) {
    return absl::InvalidArgumentError(absl::StrCat(what, " holds ", held, " elements but its shape ",
                                                   ShapeString(t.shape), " needs ", expected));
  }
  return absl::OkStatus();
}

// Checks `value` against the declared `type`, binding symbols on first sight.
absl::Status BindShape(const TensorType& type, const HostTensor& value, const std::string& what,
                       SymbolSizes& sizes) {
  auto mismatch = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", std::string(DTypeName(value.dtype)),
                                                   ShapeString(value.shape), " but must be ",
                                                   TypeToString(type)));
  };
  if (value.dtype != type.dtype || value.rank() != type.rank()) return mismatch();
  for (int d = 0; d < type.rank(); ++d) {
    const Dim& dim = type.shape[d];
    int64_t actual = value.shape[d];
    if (actual < 0) return mismatch();
    if (dim.is_static()) {
      if (dim.size != actual) return mismatch();
      continue;
    }
    auto [it, inserted] = sizes.emplace(dim.symbol, actual);
    if (!inserted && it->second != actual) {
      return absl::InvalidArgumentError(absl::StrCat(what, " binds '", dim.symbol, "' to ", actual,
                                                     " but an earlier input bound it to ",
                                                     it->second));
    }
  }
  return CheckStorage(value, what);
}

absl::StatusOr<std::vector<int64_t>> ResolveShape(const Shape& shape, const SymbolSizes& sizes) {
  std::vector<int64_t> out;
  out.reserve(shape.size());
  for (const Dim& d : shape) {
    if (d.is_static()) {
      out.push_back(d.size);
      continue;
    }
    auto it = sizes.find(d.symbol);
    if (it == sizes.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("symbol '", d.symbol, "' is not bound by any input"));
    }
    out.push_back(it->second);
  }
  return out;
}

// For each node, the index of the last node using it (INT_MAX for results).
std::vector<int> LastUses(const Function& f) {
  std::vector<int> last(f.nodes.size(), -1);
  for (int id = 0; id < static_cast<int>(f.nodes.size()); ++id) {
    for (ValueId operand : f.node(id).operands) last[operand] = id;
  }
  for (ValueId r : f.results) last[r] = INT_MAX;
  return last;
}

}  // namespace

absl::StatusOr<ReferenceExecutor> ReferenceExecutor::Create(Module module, WeightMap weights) {
  KILN_RETURN_IF_ERROR(VerifyModule(module));
  for (const WeightDecl& decl : module.weights) {
    auto it = weights.find(decl.name);
    if (it == weights.end()) {
      return absl::NotFoundError(absl::StrCat("weight \"", decl.name, "\" is missing"));
    }
    SymbolSizes none;
    KILN_RETURN_IF_ERROR(BindShape(decl.type, it->second, absl::StrCat("weight \"", decl.name, "\""),
                                   none));
  }
  return ReferenceExecutor(std::move(module), std::move(weights));
}

absl::StatusOr<ReferenceExecutor> ReferenceExecutor::Create(Module module,
                                                            const WeightStore& weights) {
  KILN_ASSIGN_OR_RETURN(WeightMap host, weights.ToHostTensors());
  return Create(std::move(module), std::move(host));
}

absl::StatusOr<std::vector<HostTensor>> ReferenceExecutor::Run(
    std::string_view function, std::vector<HostTensor> inputs) const {
  const Function* f = module_.FindFunction(function);
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("no function @", std::string(function)));
  }
  if (inputs.size() != f->params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("@", f->name, " takes ", f->params.size(),
                                                   " inputs, got ", inputs.size()));
  }
  SymbolSizes sizes;
  std::vector<HostTensor> owned(f->nodes.size());
  std::vector<HostTensor*> values(f->nodes.size(), nullptr);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Node& param = f->node(f->params[i]);
    KILN_RETURN_IF_ERROR(BindShape(param.type, inputs[i], absl::StrCat("input %", param.name), sizes));
    owned[f->params[i]] = std::move(inputs[i]);
    values[f->params[i]] = &owned[f->params[i]];
  }
  std::vector<int> last_use = LastUses(*f);
  std::vector<HostTensor*> operands;
  for (int id = 0; id < static_cast<int>(f->nodes.size()); ++id) {
    const Node& node = f->node(id);
    if (node.op == Op::kParameter) continue;
    if (node.op == Op::kConstant) {
      // Weights are read in place; the const_cast is safe because an op only
      // moves from an operand it owns (may_consume_first below).
      values[id] = const_cast<HostTensor*>(&weights_.find(node.StringAttr("weight"))->second);
      continue;
    }
    operands.clear();
    for (ValueId operand : node.operands) operands.push_back(values[operand]);
    ValueId first = node.operands.empty() ? -1 : node.operands[0];
    bool consume = first >= 0 && last_use[first] == id && f->node(first).op != Op::kConstant &&
                   std::count(node.operands.begin(), node.operands.end(), first) == 1;
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ResolveShape(node.type.shape, sizes));
    KILN_ASSIGN_OR_RETURN(owned[id], EvalOp(node, operands, shape, consume));
    values[id] = &owned[id];
    for (ValueId operand : node.operands) {
      if (last_use[operand] == id && f->node(operand).op != Op::kConstant) {
        owned[operand] = HostTensor();
      }
    }
  }
  // Move each owned result out at its last mention; copy weights and repeats.
  std::vector<HostTensor> results;
  for (size_t i = 0; i < f->results.size(); ++i) {
    ValueId r = f->results[i];
    bool mentioned_later =
        std::find(f->results.begin() + i + 1, f->results.end(), r) != f->results.end();
    if (values[r] == &owned[r] && !mentioned_later) {
      results.push_back(std::move(owned[r]));
    } else {
      results.push_back(*values[r]);
    }
  }
  return results;
}

}  // namespace kiln
