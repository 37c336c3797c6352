#include "codegen/engine_format.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace kiln {

bool IsKernelFile(const std::string& name) {
  return name == kEngineKernelIndexFile || name.rfind("kernel.", 0) == 0;
}

nlohmann::json ManifestToJson(const EngineManifest& m) {
  nlohmann::json j = {
      {"format_version", m.format_version},
      {"architecture", m.architecture},
      {"target", m.target},
      {"dtype", std::string(DTypeName(m.dtype))},
      {"max_batch", m.max_batch},
      {"max_seq", m.max_seq},
      {"eos_token_ids", m.eos_token_ids},
      {"tokenizer", m.tokenizer},
      {"chat_template", m.chat_template},
      {"generation_config", m.generation_config},
  };
  if (!m.kernel_index.empty()) j["kernel_index"] = m.kernel_index;
  if (m.verify_tokens > 0) j["verify_tokens"] = m.verify_tokens;
  j["bos_token_id"] = m.bos_token_id ? nlohmann::json(*m.bos_token_id) : nlohmann::json(nullptr);
  for (const EngineBucket& b : m.buckets) {
    j["buckets"].push_back({{"function", b.function}, {"batch", b.batch}, {"seq", b.seq}});
  }
  for (const EngineFile& f : m.files) {
    j["files"].push_back({{"path", f.path}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  }
  return j;
}

absl::StatusOr<EngineManifest> ManifestFromJson(const nlohmann::json& j) {
  EngineManifest m;
  std::string field;
  // An integer field. nlohmann's get<int64_t> converts a float such as
  // 1e29 with undefined behaviour, and a large unsigned value wraps, so
  // both are refused as the wrong type.
  struct NotAnInteger {};
  auto integer = [](const nlohmann::json& v) -> int64_t {
    if (!v.is_number_integer() ||
        (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX})) {
      throw NotAnInteger{};
    }
    return v.get<int64_t>();
  };
  // Reads j[key] into `out`, remembering the key for the error message.
  auto read = [&](const char* key, auto& out) {
    field = key;
    out = j.at(field).get<std::remove_reference_t<decltype(out)>>();
  };
  try {
    field = "format_version";
    if (!j.at(field).is_number_integer() || j.at(field).get<int64_t>() != kEngineFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "engine format version ", j.at(field).dump(), ", but this Kiln reads version ",
          kEngineFormatVersion, ": recompile with compile-model"));
    }
    m.format_version = kEngineFormatVersion;
    read("architecture", m.architecture);
    read("target", m.target);
    std::string dtype;
    read("dtype", dtype);
    std::optional<DType> parsed = DTypeFromName(dtype);
    if (!parsed) return absl::DataLossError("manifest.json: unknown dtype '" + dtype + "'");
    m.dtype = *parsed;
    field = "max_batch";
    m.max_batch = integer(j.at(field));
    field = "max_seq";
    m.max_seq = integer(j.at(field));
    // The runtime allocates caches from these: bound them before it does.
    if (m.max_batch < 1 || m.max_batch > kMaxEngineBatch || m.max_seq < 1 ||
        m.max_seq > kMaxEngineSeq) {
      return absl::DataLossError(absl::StrCat(
          "manifest.json: max_batch ", m.max_batch, " and max_seq ", m.max_seq,
          " must be in [1, ", kMaxEngineBatch, "] and [1, ", kMaxEngineSeq, "]"));
    }
    field = "eos_token_ids";
    if (!j.at(field).is_array()) throw NotAnInteger{};  // a scalar would iterate as one id
    for (const nlohmann::json& id : j.at(field)) m.eos_token_ids.push_back(integer(id));
    field = "bos_token_id";
    if (!j.at(field).is_null()) m.bos_token_id = integer(j.at(field));
    read("tokenizer", m.tokenizer);
    field = "chat_template";
    if (j.contains(field)) read("chat_template", m.chat_template);
    field = "generation_config";
    if (j.contains(field)) read("generation_config", m.generation_config);
    field = "kernel_index";
    if (j.contains(field)) read("kernel_index", m.kernel_index);
    field = "verify_tokens";
    if (j.contains(field)) {
      m.verify_tokens = integer(j.at(field));
      if (m.verify_tokens < 0 || m.verify_tokens >= m.max_seq) {
        return absl::DataLossError(absl::StrCat("manifest.json: verify_tokens ", m.verify_tokens,
                                                " must be in [0, max_seq ", m.max_seq, ")"));
      }
    }
    field = "buckets";
    for (const nlohmann::json& b : j.at(field)) {
      m.buckets.push_back(
          {b.at("function").get<std::string>(), integer(b.at("batch")), integer(b.at("seq"))});
    }
    field = "files";
    for (const nlohmann::json& f : j.at(field)) {
      m.files.push_back({f.at("path").get<std::string>(), integer(f.at("bytes")),
                         f.at("sha256").get<std::string>()});
    }
  } catch (const NotAnInteger&) {
    return absl::DataLossError(
        absl::StrCat("manifest.json: field '", field, "' is not an integer in range"));
  } catch (const nlohmann::json::exception&) {
    return absl::DataLossError(
        absl::StrCat("manifest.json: field '", field, "' is missing or has the wrong type"));
  }
  return m;
}

}  // namespace kiln
