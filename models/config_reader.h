// Typed, validated access to the fields of a Hugging Face config.json.
#ifndef KILN_MODELS_CONFIG_READER_H_
#define KILN_MODELS_CONFIG_READER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kiln {

// Reads fields of a parsed config.json. Every error names the field and
// says what was expected and what was found, e.g.
//   config.json: 'num_key_value_heads' must be a positive integer, got -2
class ConfigReader {
 public:
  // No size in a config may exceed 2^24 (16.7 M; vocabularies reach ~260 K,
  // hidden sizes ~30 K): products of two sizes then fit easily in int64 and
  // an absurd layer count fails here rather than exhausting memory.
  static constexpr int64_t kMaxConfigInt = int64_t{1} << 24;
  // The deepest published decoders have ~130 layers (Llama-3.1-405B: 126);
  // every layer is a few dozen IR nodes, so 2^24 of them would exhaust
  // memory long before the size cap above stops anything.
  static constexpr int64_t kMaxLayers = 4096;

  // Parses `text`; a non-object, invalid JSON, or a NaN/Infinity literal
  // (which Python's json module writes) is an error.
  static absl::StatusOr<ConfigReader> Parse(const std::string& text);
  static absl::StatusOr<ConfigReader> ReadFile(const std::string& path);

  explicit ConfigReader(nlohmann::json json, std::string origin = "config.json")
      : json_(std::move(json)), origin_(std::move(origin)) {}

  bool Has(const std::string& key) const;  // present and not null

  // A positive integer up to kMaxConfigInt; `fallback` (when given) if
  // absent or null.
  absl::StatusOr<int64_t> PositiveInt(const std::string& key) const;
  absl::StatusOr<int64_t> PositiveInt(const std::string& key, int64_t fallback) const;
  // 'num_hidden_layers': a positive integer up to kMaxLayers.
  absl::StatusOr<int64_t> LayerCount() const;
  // A finite, strictly positive number.
  absl::StatusOr<double> PositiveNumber(const std::string& key) const;
  absl::StatusOr<double> PositiveNumber(const std::string& key, double fallback) const;
  absl::StatusOr<bool> Bool(const std::string& key, bool fallback) const;
  absl::StatusOr<std::string> String(const std::string& key) const;
  absl::StatusOr<std::string> String(const std::string& key, const std::string& fallback) const;
  // A nested object, read with the same rules; its errors name "outer.key".
  absl::StatusOr<ConfigReader> Object(const std::string& key) const;
  // An integer or list of integers (e.g. eos_token_id); empty if absent.
  absl::StatusOr<std::vector<int64_t>> IntList(const std::string& key) const;

  // An error about `key` in the reader's origin, for cross-field checks.
  absl::Status FieldError(const std::string& key, const std::string& message) const;

  const nlohmann::json& json() const { return json_; }

 private:
  const nlohmann::json* Find(const std::string& key) const;

  nlohmann::json json_;
  std::string origin_;
};

}  // namespace kiln

#endif  // KILN_MODELS_CONFIG_READER_H_
