#include "ir/verifier.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "ir/infer.h"
#include "base/status_macros.h"

namespace kiln {
namespace {

absl::Status Error(const std::string& message) { return absl::InvalidArgumentError(message); }

bool AttrHasKind(const AttrValue& value, AttrKind kind) {
  switch (kind) {
    case AttrKind::kInt:
      return std::holds_alternative<int64_t>(value);
    case AttrKind::kFloat:
      return std::holds_alternative<double>(value);
    case AttrKind::kString:
      return std::holds_alternative<std::string>(value);
    case AttrKind::kInts:
      return std::holds_alternative<std::vector<int64_t>>(value);
  }
  return false;
}

absl::Status VerifyAttrs(const Node& node) {
  const OpInfo& info = GetOpInfo(node.op);
  for (const auto& [key, value] : node.attrs) {
    const AttrSpec* spec = info.FindAttr(key);
    if (spec == nullptr) return Error(absl::StrCat("unknown attribute '", key, "'"));
    if (!AttrHasKind(value, spec->kind)) {
      return Error(absl::StrCat("attribute '", key, "' has the wrong kind"));
    }
  }
  for (const AttrSpec& spec : info.attrs) {
    if (spec.required && !node.attrs.count(spec.name)) {
      return Error(absl::StrCat("missing attribute '", std::string(spec.name), "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyType(const TensorType& type) {
  for (const Dim& d : type.shape) {
    if (d.is_static() && d.size < 0) return Error("negative dimension");
    if (!d.is_static() && !IsValidIdentifier(d.symbol)) {
      return Error(absl::StrCat("invalid dimension symbol '", d.symbol, "'"));
    }
  }
  if (!StaticElementCount(type.shape)) return Error("element count overflows int64");
  return absl::OkStatus();
}

// Checks one node, given that all earlier nodes are valid.
absl::Status VerifyNode(const Module& module, const Function& f, ValueId id) {
  const Node& node = f.node(id);
  const OpInfo& info = GetOpInfo(node.op);
  int count = static_cast<int>(node.operands.size());
  if (count < info.min_operands || count > info.max_operands) {
    return Error(absl::StrCat("takes ", info.min_operands, "..", info.max_operands,
                              " operands, got ", count));
  }
  for (int i = 0; i < count; ++i) {
    ValueId operand = node.operands[static_cast<size_t>(i)];
    if (operand < 0 || operand >= id) {
      return Error(absl::StrCat("operand ", i, " is not defined before its use"));
    }
  }
  KILN_RETURN_IF_ERROR(VerifyAttrs(node));
  KILN_RETURN_IF_ERROR(VerifyType(node.type));
  KILN_ASSIGN_OR_RETURN(TensorType inferred, InferType(module, f, node));
  if (inferred != node.type) {
    return Error(absl::StrCat("declared type ", TypeToString(node.type), " but the op produces ",
                              TypeToString(inferred)));
  }
  return absl::OkStatus();
}

// A fusion group must be computable as one kernel: no value outside the
// group may depend on a member and also feed a member (the kernel would
// need that value mid-way). Walk in definition order, marking outside nodes
// that depend on the group; a member reading a marked node breaks the rule.
absl::Status VerifyFusionGroups(const Function& f) {
  std::map<std::string, std::vector<ValueId>> groups;
  for (ValueId id = 0; id < static_cast<ValueId>(f.nodes.size()); ++id) {
    auto it = f.node(id).attrs.find("fusion");
    if (it != f.node(id).attrs.end()) groups[std::get<std::string>(it->second)].push_back(id);
  }
  for (const auto& [group, members] : groups) {
    std::vector<bool> member(f.nodes.size(), false), downstream(f.nodes.size(), false);
    for (ValueId id : members) member[id] = true;
    for (ValueId id = members.front(); id <= members.back(); ++id) {
      for (ValueId operand : f.node(id).operands) {
        if (member[id] && downstream[operand]) {
          return Error(absl::StrCat("fusion group \"", group, "\" is not convex: %",
                                    f.node(operand).name, " is outside the group, depends on it "
                                    "and feeds its member %", f.node(id).name));
        }
        if (!member[id] && (member[operand] || downstream[operand])) downstream[id] = true;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidIdentifier(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

absl::Status VerifyFunction(const Module& module, const Function& f) {
  std::string where = absl::StrCat("func @", f.name);
  if (!IsValidIdentifier(f.name)) return Error(absl::StrCat(where, ": invalid function name"));
  std::set<std::string, std::less<>> names;
  std::set<ValueId> params(f.params.begin(), f.params.end());
  if (params.size() != f.params.size()) return Error(absl::StrCat(where, ": repeated parameter"));
  for (ValueId id = 0; id < static_cast<ValueId>(f.nodes.size()); ++id) {
    const Node& node = f.node(id);
    std::string at = absl::StrCat(where, ": %", node.name, " (",
                                  std::string(GetOpInfo(node.op).name), "): ");
    if (!IsValidIdentifier(node.name)) return Error(absl::StrCat(at, "invalid value name"));
    if (!names.insert(node.name).second) return Error(absl::StrCat(at, "name defined twice"));
    if ((node.op == Op::kParameter) != (params.count(id) > 0)) {
      return Error(absl::StrCat(at, "parameters must be listed in the signature"));
    }
    absl::Status status = VerifyNode(module, f, id);
    if (!status.ok()) return Error(absl::StrCat(at, status.message()));
  }
  if (f.results.empty()) return Error(absl::StrCat(where, ": returns nothing"));
  absl::Status fusion = VerifyFusionGroups(f);
  if (!fusion.ok()) return Error(absl::StrCat(where, ": ", fusion.message()));
  for (ValueId r : f.results) {
    if (r < 0 || r >= static_cast<ValueId>(f.nodes.size())) {
      return Error(absl::StrCat(where, ": returns an undefined value"));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyModule(const Module& module) {
  if (!IsValidIdentifier(module.name)) return Error("module: invalid module name");
  std::set<std::string, std::less<>> weights;
  for (const WeightDecl& w : module.weights) {
    std::string at = absl::StrCat("weight \"", w.name, "\": ");
    if (w.name.empty()) return Error("weight with an empty name");
    if (!weights.insert(w.name).second) return Error(absl::StrCat(at, "declared twice"));
    KILN_RETURN_IF_ERROR(VerifyType(w.type));
    for (const Dim& d : w.type.shape) {
      if (!d.is_static()) return Error(absl::StrCat(at, "weights need static shapes"));
    }
  }
  std::set<std::string, std::less<>> functions;
  for (const Function& f : module.functions) {
    if (!functions.insert(f.name).second) {
      return Error(absl::StrCat("func @", f.name, ": defined twice"));
    }
    KILN_RETURN_IF_ERROR(VerifyFunction(module, f));
  }
  return absl::OkStatus();
}

}  // namespace kiln
