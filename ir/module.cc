#include "ir/module.h"

namespace kiln {
namespace {

template <typename T>
const T* FindAttrValue(const Attrs& attrs, std::string_view key) {
  auto it = attrs.find(key);
  if (it == attrs.end()) return nullptr;
  return std::get_if<T>(&it->second);
}

}  // namespace

int64_t Node::IntAttr(std::string_view key, int64_t fallback) const {
  const int64_t* v = FindAttrValue<int64_t>(attrs, key);
  return v ? *v : fallback;
}

double Node::FloatAttr(std::string_view key, double fallback) const {
  const double* v = FindAttrValue<double>(attrs, key);
  return v ? *v : fallback;
}

std::string Node::StringAttr(std::string_view key, std::string fallback) const {
  const std::string* v = FindAttrValue<std::string>(attrs, key);
  return v ? *v : fallback;
}

std::vector<int64_t> Node::IntsAttr(std::string_view key) const {
  const std::vector<int64_t>* v = FindAttrValue<std::vector<int64_t>>(attrs, key);
  return v ? *v : std::vector<int64_t>{};
}

const WeightDecl* Module::FindWeight(std::string_view weight_name) const {
  for (const WeightDecl& w : weights) {
    if (w.name == weight_name) return &w;
  }
  return nullptr;
}

const Function* Module::FindFunction(std::string_view function_name) const {
  for (const Function& f : functions) {
    if (f.name == function_name) return &f;
  }
  return nullptr;
}

}  // namespace kiln
