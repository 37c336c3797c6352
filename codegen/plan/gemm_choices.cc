#include "codegen/plan/gemm_choices.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kiln {
namespace {

using Json = nlohmann::json;

Json ShapeJson(const GemmShape& s) {
  return {{"m", s.m},
          {"n", s.n},
          {"k", s.k},
          {"dtype", std::string(DTypeName(s.dtype))},
          {"bias", s.bias}};
}

Json AlgoJson(const LtAlgoConfig& a) {
  return {{"algo_id", a.algo_id},
          {"tile", a.tile},
          {"split_k", a.split_k},
          {"reduction_scheme", a.reduction_scheme},
          {"swizzle", a.swizzle},
          {"custom_option", a.custom_option},
          {"stages", a.stages},
          {"inner_shape", a.inner_shape},
          {"cluster_shape", a.cluster_shape}};
}

// Whether the integer `v` is within T's range: out-of-range values are
// damage, not something to truncate.
template <typename T>
bool FitsIn(const Json& v) {
  const uint64_t max = static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= max;
  const int64_t x = v.get<int64_t>();
  return x >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
         (x <= 0 || static_cast<uint64_t>(x) <= max);
}

// Reads j[key] into `out` when it has out's JSON type; false otherwise.
template <typename T>
bool Read(const Json& j, const char* key, T& out) {
  if (!j.is_object() || !j.contains(key)) return false;
  const Json& v = j.at(key);
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return false;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return false;
  } else if constexpr (std::is_floating_point_v<T>) {
    // 1e999 parses to inf, which JSON cannot print back.
    if (!v.is_number() || !std::isfinite(v.get<double>())) return false;
  } else {
    if (!v.is_number_integer() || !FitsIn<T>(v)) return false;
  }
  out = v.get<T>();
  return true;
}

absl::Status Damaged(const std::string& what) {
  return absl::DataLossError(
      absl::StrCat(kGemmChoicesFile, ": ", what, " is missing or malformed; recompile the engine"));
}

absl::StatusOr<GemmShape> ParseShape(const Json& j) {
  GemmShape s;
  std::string dtype;
  if (!Read(j, "m", s.m) || !Read(j, "n", s.n) || !Read(j, "k", s.k) || !Read(j, "bias", s.bias) ||
      !Read(j, "dtype", dtype) || s.m <= 0 || s.n <= 0 || s.k <= 0) {
    return Damaged("a GEMM shape");
  }
  const std::optional<DType> parsed = DTypeFromName(dtype);
  if (!parsed.has_value()) return Damaged("a GEMM shape's dtype");
  s.dtype = *parsed;
  return s;
}

absl::StatusOr<LtAlgoConfig> ParseAlgo(const Json& j) {
  LtAlgoConfig a;
  if (!Read(j, "algo_id", a.algo_id) || !Read(j, "tile", a.tile) ||
      !Read(j, "split_k", a.split_k) || !Read(j, "reduction_scheme", a.reduction_scheme) ||
      !Read(j, "swizzle", a.swizzle) || !Read(j, "custom_option", a.custom_option) ||
      !Read(j, "stages", a.stages) || !Read(j, "inner_shape", a.inner_shape) ||
      !Read(j, "cluster_shape", a.cluster_shape) || a.algo_id < 0) {
    return Damaged("an algorithm");
  }
  return a;
}

}  // namespace

std::string GemmShape::Key() const {
  return absl::StrCat("m", m, " n", n, " k", k, " ", std::string(DTypeName(dtype)),
                      bias ? " +bias" : "");
}

const GemmChoice* GemmChoices::Find(const GemmShape& shape) const {
  for (const GemmChoice& c : choices) {
    if (c.shape == shape) return &c;
  }
  return nullptr;
}

std::string GemmChoicesJson(const GemmChoices& c) {
  Json j = {{"tuned", c.tuned}, {"arch", c.arch}, {"shapes", Json::array()}};
  if (c.tuned) {
    j["device"] = c.device;
    j["cublaslt_version"] = c.cublaslt_version;
  } else {
    j["reason"] = c.reason;
  }
  for (const GemmShape& s : c.shapes) j["shapes"].push_back(ShapeJson(s));
  Json& choices = j["choices"] = Json::array();
  for (const GemmChoice& choice : c.choices) {
    choices.push_back({{"shape", ShapeJson(choice.shape)},
                       {"algo", AlgoJson(choice.algo)},
                       {"workspace_bytes", choice.workspace_bytes},
                       {"candidates", choice.candidates},
                       {"best_us", choice.best_us},
                       {"heuristic_us", choice.heuristic_us}});
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<GemmChoices> ParseGemmChoices(const std::string& text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Damaged("the JSON object");
  GemmChoices c;
  if (!Read(j, "tuned", c.tuned) || !Read(j, "arch", c.arch)) return Damaged("'tuned' or 'arch'");
  if (c.tuned ? !Read(j, "device", c.device) || !Read(j, "cublaslt_version", c.cublaslt_version)
              : !Read(j, "reason", c.reason)) {
    return Damaged(c.tuned ? "'device' or 'cublaslt_version'" : "'reason'");
  }
  if (!j.contains("shapes") || !j["shapes"].is_array() || !j.contains("choices") ||
      !j["choices"].is_array()) {
    return Damaged("'shapes' or 'choices'");
  }
  for (const Json& s : j["shapes"]) {
    absl::StatusOr<GemmShape> shape = ParseShape(s);
    if (!shape.ok()) return shape.status();
    c.shapes.push_back(*shape);
  }
  for (const Json& e : j["choices"]) {
    GemmChoice choice;
    absl::StatusOr<GemmShape> shape =
        ParseShape(e.is_object() && e.contains("shape") ? e["shape"] : Json());
    absl::StatusOr<LtAlgoConfig> algo =
        ParseAlgo(e.is_object() && e.contains("algo") ? e["algo"] : Json());
    if (!shape.ok()) return shape.status();
    if (!algo.ok()) return algo.status();
    choice.shape = *shape;
    choice.algo = *algo;
    if (!Read(e, "workspace_bytes", choice.workspace_bytes) ||
        !Read(e, "candidates", choice.candidates) || !Read(e, "best_us", choice.best_us) ||
        !Read(e, "heuristic_us", choice.heuristic_us) || choice.workspace_bytes < 0) {
      return Damaged("a choice's measurements");
    }
    c.choices.push_back(choice);
  }
  if (c.tuned && c.choices.size() != c.shapes.size()) {
    return Damaged(absl::StrCat("a choice for each of the ", c.shapes.size(), " shapes"));
  }
  return c;
}

absl::Status ChoicesApplyHere(const GemmChoices& c, const std::string& device,
                              const std::string& arch, int64_t cublaslt_version) {
  if (!c.tuned) {
    return absl::FailedPreconditionError(
        absl::StrCat("the engine's GEMM algorithms were not measured (", c.reason, ")"));
  }
  if (c.device != device || c.arch != arch) {
    return absl::FailedPreconditionError(
        absl::StrCat("the engine's GEMM algorithms were measured on ", c.device, " (", c.arch,
                     "), not this ", device, " (", arch, ")"));
  }
  if (c.cublaslt_version != cublaslt_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("the engine's GEMM algorithms were measured with cuBLASLt ",
                     c.cublaslt_version, ", this is ", cublaslt_version));
  }
  return absl::OkStatus();
}

}  // namespace kiln
