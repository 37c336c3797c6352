#include "tools/bench/random_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/counter_rng.h"
#include "base/file_util.h"
#include "base/half.h"
#include "base/status_macros.h"
#include "models/registry.h"
#include "models/safetensors_writer.h"
#include "nlohmann/json.hpp"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;

// A config or a tokenizer is kilobytes to a few megabytes; more means a
// wrong file.
constexpr size_t kMaxTextBytes = size_t{64} << 20;

// Uniform on [-a, a) has standard deviation a / sqrt(3): a = 0.02 * sqrt(3).
constexpr double kMatrixHalfWidth = 0.034641016151377546;

// Round to nearest even, for the finite values drawn here: five times
// faster than FloatToBF16's general path, which matters at a billion
// elements.
inline uint16_t FiniteToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// Fills `bytes` with the values of elements [0, count) in `dtype`, the
// element range split evenly over `threads`.
void Fill(std::vector<uint8_t>& bytes, DType dtype, int64_t count, uint64_t tensor_seed,
          bool vector, int threads) {
  const int64_t item = dtype == DType::kF32 ? 4 : 2;
  bytes.resize(static_cast<size_t>(count * item));
  auto fill_range = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float v = RandomWeightValue(tensor_seed, static_cast<uint64_t>(i), vector);
      uint8_t* at = bytes.data() + i * item;
      if (dtype == DType::kF32) {
        std::memcpy(at, &v, 4);
      } else {
        const uint16_t bits = dtype == DType::kBF16 ? FiniteToBF16(v) : FloatToF16(v);
        at[0] = static_cast<uint8_t>(bits);
        at[1] = static_cast<uint8_t>(bits >> 8);
      }
    }
  };
  // Small tensors are not worth a thread.
  const int64_t parts = std::clamp<int64_t>(count / (int64_t{1} << 20), 1, threads);
  std::vector<std::thread> workers;
  for (int64_t p = 1; p < parts; ++p) {
    workers.emplace_back(fill_range, count * p / parts, count * (p + 1) / parts);
  }
  fill_range(0, count / parts);
  for (std::thread& w : workers) w.join();
}

absl::StatusOr<std::string> PaddedTokenizer(const std::string& path, int64_t vocab_size) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxTextBytes));
  // nlohmann::json, not ordered_json: ordered_json finds a key by linear
  // search, quadratic over a 128k vocabulary. Key order means nothing here.
  nlohmann::json tokenizer = nlohmann::json::parse(text, nullptr, false);
  if (tokenizer.is_discarded() || !tokenizer.contains("model") ||
      !tokenizer["model"].contains("vocab") || !tokenizer["model"]["vocab"].is_object()) {
    return absl::InvalidArgumentError(path + ": not a tokenizer.json with a model.vocab object");
  }
  nlohmann::json& vocab = tokenizer["model"]["vocab"];
  const int64_t have = static_cast<int64_t>(vocab.size());
  if (have > vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has ", have,
                                                   " tokens, more than the model's vocabulary of ",
                                                   vocab_size));
  }
  for (int64_t i = have; i < vocab_size; ++i) vocab[absl::StrCat("<r", i, ">")] = i;
  return tokenizer.dump();
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError("cannot write " + path);
  return absl::OkStatus();
}

}  // namespace

float RandomWeightValue(uint64_t tensor_seed, uint64_t index, bool vector) {
  const double u = CounterUniformDraw(tensor_seed, index);
  return static_cast<float>(vector ? 0.5 + u : (2 * u - 1) * kMatrixHalfWidth);
}

uint64_t TensorSeed(uint64_t seed, const std::string& name) {
  // FNV-1a of the name, mixed with the run's seed.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return SplitMix64(seed ^ h);
}

absl::StatusOr<RandomCheckpointReport> WriteRandomCheckpoint(
    const RandomCheckpointOptions& options) {
  if (options.dtype != DType::kF32 && options.dtype != DType::kBF16 &&
      options.dtype != DType::kF16) {
    return absl::InvalidArgumentError("the checkpoint dtype must be f32, bf16 or f16");
  }
  if (options.out.empty()) return absl::InvalidArgumentError("no output directory given");
  if (fs::exists(options.out)) {
    return absl::AlreadyExistsError(options.out + " exists; remove it to write a new checkpoint");
  }
  const std::string config_path = options.config_dir + "/config.json";
  KILN_ASSIGN_OR_RETURN(std::string config, ReadFileToString(config_path, kMaxTextBytes));
  KILN_ASSIGN_OR_RETURN(BuiltModel model,
                        BuildModelFromDir(options.config_dir, BuildOptions{options.dtype, std::nullopt}));
  KILN_ASSIGN_OR_RETURN(std::string tokenizer,
                        PaddedTokenizer(options.tokenizer, model.info.vocab_size));

  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  RandomCheckpointReport report;
  std::vector<std::vector<uint8_t>> storage(model.module.weights.size());
  std::vector<TensorToWrite> tensors;
  for (size_t w = 0; w < model.module.weights.size(); ++w) {
    const WeightDecl& decl = model.module.weights[w];
    std::vector<int64_t> shape;
    int64_t count = 1;
    for (const Dim& d : decl.type.shape) {
      if (!d.is_static()) {
        return absl::InvalidArgumentError(
            absl::StrCat("weight ", decl.name, " has a symbolic dimension ", d.symbol));
      }
      shape.push_back(d.size);
      count *= d.size;
    }
    Fill(storage[w], options.dtype, count, TensorSeed(options.seed, decl.name), shape.size() == 1,
         threads);
    tensors.push_back({decl.name, options.dtype, shape, storage[w]});
    report.parameters += count;
  }
  report.tensors = static_cast<int64_t>(tensors.size());

  const std::string partial = options.out + ".partial";
  std::error_code error;
  fs::remove_all(partial, error);
  if (!fs::create_directories(partial, error) && error) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", partial, ": ",
                                                    error.message()));
  }
  KILN_RETURN_IF_ERROR(WriteText(partial + "/config.json", config));
  KILN_RETURN_IF_ERROR(WriteText(partial + "/tokenizer.json", tokenizer));
  KILN_RETURN_IF_ERROR(WriteSafetensors(partial + "/model.safetensors", std::move(tensors),
                                        {{"format", "pt"}}));
  report.bytes = static_cast<int64_t>(fs::file_size(partial + "/model.safetensors", error));
  fs::rename(partial, options.out, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat("cannot rename ", partial, " to ",
                                                    options.out, ": ", error.message()));
  }
  return report;
}

}  // namespace kiln::bench
