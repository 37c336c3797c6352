// Printer half of ir/text.h.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "ir/text.h"

namespace kiln {
namespace {

// Shortest round-trip form, except that whole numbers below 1e15 print as
// integers ("500000", not "5e+05") for readability.
std::string FormatDouble(double value) {
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, end);
}

// Quotes `s`, escaping '"', '\\' and bytes outside printable ASCII as \xx.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c < 0x20 || c > 0x7e) {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "\\%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

std::string AttrToString(const AttrValue& value) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const double* d = std::get_if<double>(&value)) return FormatDouble(*d);
  if (const std::string* s = std::get_if<std::string>(&value)) return Quote(*s);
  std::string out = "[";
  const auto& ints = std::get<std::vector<int64_t>>(value);
  for (size_t i = 0; i < ints.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ints[i]);
  }
  return out + "]";
}

namespace {

void PrintNode(const Function& f, const Node& node, std::string& out) {
  const OpInfo& info = GetOpInfo(node.op);
  absl::StrAppend(&out, "    %", node.name, " = ", std::string(info.name), "(");
  for (size_t i = 0; i < node.operands.size(); ++i) {
    absl::StrAppend(&out, i ? ", %" : "%", f.node(node.operands[i]).name);
  }
  out += ")";
  bool first = true;
  for (std::span<const AttrSpec> specs : {info.attrs, CommonAttrs()}) {
    for (const AttrSpec& spec : specs) {
      auto it = node.attrs.find(spec.name);
      if (it == node.attrs.end()) continue;
      absl::StrAppend(&out, first ? " {" : ", ", std::string(spec.name), "=",
                      AttrToString(it->second));
      first = false;
    }
  }
  if (!first) out += "}";
  absl::StrAppend(&out, " : ", TypeToString(node.type), "\n");
}

void PrintFunction(const Function& f, std::string& out) {
  absl::StrAppend(&out, "  func @", f.name, "(");
  for (size_t i = 0; i < f.params.size(); ++i) {
    const Node& p = f.node(f.params[i]);
    absl::StrAppend(&out, i ? ", %" : "%", p.name, ": ", TypeToString(p.type));
  }
  out += ") {\n";
  for (const Node& node : f.nodes) {
    if (node.op != Op::kParameter) PrintNode(f, node, out);
  }
  out += "    return";
  for (size_t i = 0; i < f.results.size(); ++i) {
    absl::StrAppend(&out, i ? ", %" : " %", f.node(f.results[i]).name);
  }
  out += "\n  }\n";
}

}  // namespace

std::string PrintModule(const Module& module) {
  std::string out = absl::StrCat("module @", module.name, " {\n");
  for (const WeightDecl& w : module.weights) {
    absl::StrAppend(&out, "  weight ", Quote(w.name), " : ", TypeToString(w.type), "\n");
  }
  for (const Function& f : module.functions) PrintFunction(f, out);
  return out + "}\n";
}

}  // namespace kiln
