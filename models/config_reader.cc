#include "models/config_reader.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/json_nesting.h"
#include "base/status_macros.h"

namespace kiln {

namespace {

constexpr int kMaxNesting = 32;  // real configs nest 3 deep

}  // namespace

absl::StatusOr<ConfigReader> ConfigReader::Parse(const std::string& text) {
  if (JsonNestingDepth(text) > kMaxNesting) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.json: nesting of objects and arrays is deeper than ", kMaxNesting, " levels"));
  }
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    if (text.find("NaN") != std::string::npos || text.find("Infinity") != std::string::npos) {
      return absl::InvalidArgumentError(
          "config.json contains NaN or Infinity, which no config field may hold");
    }
    return absl::InvalidArgumentError("config.json is not valid JSON");
  }
  if (!json.is_object()) return absl::InvalidArgumentError("config.json is not a JSON object");
  return ConfigReader(std::move(json));
}

absl::StatusOr<ConfigReader> ConfigReader::ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<ConfigReader> reader = Parse(buffer.str());
  if (!reader.ok()) {
    return absl::Status(reader.status().code(), absl::StrCat(path, ": ", reader.status().message()));
  }
  return reader;
}

const nlohmann::json* ConfigReader::Find(const std::string& key) const {
  auto it = json_.find(key);
  if (it == json_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool ConfigReader::Has(const std::string& key) const { return Find(key) != nullptr; }

absl::Status ConfigReader::FieldError(const std::string& key, const std::string& message) const {
  return absl::InvalidArgumentError(absl::StrCat(origin_, ": '", key, "' ", message));
}

absl::StatusOr<int64_t> ConfigReader::PositiveInt(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return FieldError(key, "is required");
  if (!v->is_number_integer() || v->get<int64_t>() <= 0) {
    return FieldError(key, absl::StrCat("must be a positive integer, got ", v->dump()));
  }
  if (v->get<int64_t>() > kMaxConfigInt) {
    return FieldError(key, absl::StrCat("is ", v->dump(), ", above Kiln's limit of ",
                                        kMaxConfigInt, " for any size"));
  }
  return v->get<int64_t>();
}

absl::StatusOr<int64_t> ConfigReader::PositiveInt(const std::string& key, int64_t fallback) const {
  return Has(key) ? PositiveInt(key) : fallback;
}

absl::StatusOr<int64_t> ConfigReader::LayerCount() const {
  KILN_ASSIGN_OR_RETURN(int64_t layers, PositiveInt("num_hidden_layers"));
  if (layers > kMaxLayers) {
    return FieldError("num_hidden_layers", absl::StrCat("is ", layers, ", above Kiln's limit of ",
                                                        kMaxLayers, " layers"));
  }
  return layers;
}

absl::StatusOr<double> ConfigReader::PositiveNumber(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return FieldError(key, "is required");
  if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() <= 0) {
    return FieldError(key, absl::StrCat("must be a positive finite number, got ", v->dump()));
  }
  return v->get<double>();
}

absl::StatusOr<double> ConfigReader::PositiveNumber(const std::string& key, double fallback) const {
  return Has(key) ? PositiveNumber(key) : fallback;
}

absl::StatusOr<bool> ConfigReader::Bool(const std::string& key, bool fallback) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) return FieldError(key, absl::StrCat("must be true or false, got ", v->dump()));
  return v->get<bool>();
}

absl::StatusOr<std::string> ConfigReader::String(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return FieldError(key, "is required");
  if (!v->is_string()) return FieldError(key, absl::StrCat("must be a string, got ", v->dump()));
  return v->get<std::string>();
}

absl::StatusOr<std::string> ConfigReader::String(const std::string& key,
                                                 const std::string& fallback) const {
  return Has(key) ? String(key) : fallback;
}

absl::StatusOr<ConfigReader> ConfigReader::Object(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return FieldError(key, "is required");
  if (!v->is_object()) return FieldError(key, absl::StrCat("must be an object, got ", v->dump()));
  return ConfigReader(*v, absl::StrCat(origin_, ": '", key, "'"));
}

absl::StatusOr<std::vector<int64_t>> ConfigReader::IntList(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  std::vector<int64_t> out;
  if (v == nullptr) return out;
  auto bad = [&]() {
    return FieldError(key, absl::StrCat("must be an integer or a list of integers, got ", v->dump()));
  };
  if (v->is_number_integer()) {
    out.push_back(v->get<int64_t>());
  } else if (v->is_array()) {
    for (const nlohmann::json& item : *v) {
      if (!item.is_number_integer()) return bad();
      out.push_back(item.get<int64_t>());
    }
  } else {
    return bad();
  }
  return out;
}

}  // namespace kiln
