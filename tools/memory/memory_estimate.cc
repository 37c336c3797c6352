#include "tools/memory/memory_estimate.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "codegen/compile_engine.h"
#include "codegen/plan/arena_plan.h"
#include "codegen/weight_storage.h"
#include "ir/step_function.h"
#include "models/config_reader.h"
#include "models/gguf_model.h"
#include "models/registry.h"
#include "passes/pipeline.h"
#include "runtime/cpu/cpu_memory.h"

namespace kiln {
namespace {

// The model as kiln-memory reads it: its config and, for a GGUF, the header
// and tensor table (the file is mapped; no tensor data is touched).
struct Source {
  nlohmann::json config;
  std::string origin;
  std::optional<GgufCheckpoint> gguf;
};

absl::StatusOr<Source> OpenSource(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("--model is required");
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("--model ", path,
                                            " does not exist: give a model directory, its "
                                            "config.json, or a .gguf file"));
  }
  Source source;
  std::string config_path;
  if (std::filesystem::is_directory(path)) {
    config_path = path + "/config.json";
  } else if (absl::EndsWith(absl::AsciiStrToLower(path), ".json")) {
    config_path = path;
  }
  if (!config_path.empty()) {
    KILN_ASSIGN_OR_RETURN(ConfigReader config, ConfigReader::ReadFile(config_path));
    source.config = config.json();
    source.origin = config_path;
    return source;
  }
  KILN_ASSIGN_OR_RETURN(GgufCheckpoint gguf, GgufCheckpoint::Open(path));
  source.config = gguf.config();
  source.origin = path + " (metadata)";
  source.gguf.emplace(std::move(gguf));
  return source;
}

// What compile-model flags a format stands for.
struct FormatFlags {
  DType dtype = DType::kF32;
  WeightStorageOptions storage;
  std::string flags;  // as a user would pass them
};

absl::StatusOr<FormatFlags> FlagsOf(const std::string& format, const std::string& target,
                                    bool gguf) {
  FormatFlags flags;
  const bool cpu = target == "cpu";
  if (format == "stored") {
    if (!gguf)
      return absl::InvalidArgumentError("--dtype stored: only a GGUF file has stored block types");
    if (!cpu) {
      return absl::InvalidArgumentError(
          "--dtype stored needs --target cpu (the CUDA backend dequantises a GGUF's blocks)");
    }
    flags.flags = "--dtype f32 (block types kept)";
    return flags;  // f32 activations, block types kept
  }
  if (std::optional<DType> d = DTypeFromName(format); d && IsFloat(*d)) {
    flags.dtype = *d;
    // A float format of a GGUF is compile-model's --dequantize.
    flags.storage.allow_blocks = false;
    flags.flags = absl::StrCat("--dtype ", format, gguf ? " --dequantize" : "");
    return flags;
  }
  absl::StatusOr<DType> quantize = ParseQuantizeFlag(format);
  if (!quantize.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dtype '", format, "': give stored, f32, bf16, f16, q8_0, q4_0, q4_1 or q4_k"));
  }
  if (!cpu) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dtype ", format, " needs --target cpu (the CUDA backend keeps f16/bf16 weights)"));
  }
  flags.storage.quantize = *quantize;
  // For a GGUF this is the size compile-model gives with --requantize (a
  // second rounding of the file's blocks); the flags say so.
  flags.storage.requantize = true;
  flags.flags = absl::StrCat("--quantize ", format, gguf ? " --requantize" : "");
  return flags;
}

// The decoder layer a weight belongs to ("model.layers.7" for
// "model.layers.7.mlp.up_proj.weight"): its name up to the first all-digit
// component, or the whole name outside the layers.
std::string LayerOf(const std::string& weight) {
  std::vector<std::string> parts = absl::StrSplit(weight, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].empty() && std::all_of(parts[i].begin(), parts[i].end(), absl::ascii_isdigit)) {
      return absl::StrJoin(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(i) + 1, ".");
    }
  }
  return weight;
}

void SummariseWeights(const std::vector<PlannedWeight>& plan, FormatEstimate& row) {
  std::map<std::string, int64_t> layers;
  std::map<std::string, int> types;
  for (const PlannedWeight& w : plan) {
    row.weights += w.bytes;
    layers[LayerOf(w.name)] += w.bytes;
    ++types[std::string(DTypeName(w.dtype))];
  }
  for (const auto& [layer, bytes] : layers) {
    if (bytes > row.largest_layer) {
      row.largest_layer = bytes;
      row.largest_layer_name = layer;
    }
  }
  std::vector<std::string> parts;
  for (const auto& [type, count] : types) parts.push_back(absl::StrCat(count, " ", type));
  row.weight_types = absl::StrJoin(parts, ", ");
}

absl::Status CheckKvDtype(const MemoryEstimateOptions& o, DType dtype) {
  if (o.kv_dtype && !IsFloat(*o.kv_dtype)) {
    return absl::InvalidArgumentError("--kv-dtype must be f32, bf16 or f16");
  }
  if (o.kv_dtype && *o.kv_dtype != dtype && o.target != "cpu") {
    return absl::InvalidArgumentError(
        "--kv-dtype other than the weights' float dtype needs the cpu target (the CUDA kernels "
        "keep the cache in the model dtype)");
  }
  return absl::OkStatus();
}

// Sizes the engine of one format at `max_seq` (resolved).
absl::StatusOr<FormatEstimate> EstimateFormat(const Source& source, const MemoryEstimateOptions& o,
                                              const std::string& format, int64_t max_seq) {
  KILN_ASSIGN_OR_RETURN(FormatFlags flags, FlagsOf(format, o.target, source.gguf.has_value()));
  KILN_RETURN_IF_ERROR(CheckKvDtype(o, flags.dtype));
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModel(ConfigReader(source.config, source.origin),
                                                     BuildOptions{flags.dtype, o.kv_dtype}));
  FormatEstimate row;
  row.format = format;
  row.flags = flags.flags;
  row.kv_dtype = o.kv_dtype.value_or(flags.dtype);
  KILN_ASSIGN_OR_RETURN(
      std::vector<PlannedWeight> weights,
      PlanWeightStorage(model.module, source.gguf ? &*source.gguf : nullptr, flags.storage));
  ApplyWeightStorage(model.module, weights);
  SummariseWeights(weights, row);
  KILN_ASSIGN_OR_RETURN(std::vector<BucketSpec> specs,
                        EngineBucketSpecs(o.buckets, o.max_batch, max_seq, o.verify_tokens));
  KILN_RETURN_IF_ERROR(CompileBuckets(model.module, kForwardFunction, specs, max_seq));
  KILN_ASSIGN_OR_RETURN(PlannedEngine plans, BuildEnginePlans(model.module, o.target));
  if (o.target == "cpu") {
    KILN_ASSIGN_OR_RETURN(cpu::CpuMemory m, cpu::PlanCpuMemory(plans.layout, plans.plans,
                                                               std::max(1, o.cpu_threads)));
    row.kv_cache = m.caches;
    row.activations = m.scratch;
    row.workspace = m.step_inputs + m.rope_tables + m.workspace();
    row.total = row.weights + m.total();
    return row;
  }
  // The CUDA executor's one arena (weights included, each region aligned)
  // and the cuBLASLt workspace beside it.
  const DeviceArenaPlan arena = PlanDeviceArena(plans.layout, plans.plans);
  auto region = [&](const char* name) {
    const ArenaRegion* r = arena.Find(name);
    return r == nullptr ? int64_t{0} : r->bytes;
  };
  row.kv_cache = region("kv_cache");
  row.activations = region("scratch");
  row.total = arena.total_bytes + kCudaGemmWorkspaceBytes;
  row.workspace = row.total - row.weights - row.kv_cache - row.activations;
  return row;
}

// compile-model's formats for `target`; on a CUDA target, where the KV
// cache is kept in the weights' float dtype, only --kv-dtype's when given.
std::vector<std::string> DefaultFormats(const std::string& target, bool gguf,
                                        std::optional<DType> kv_dtype) {
  std::vector<std::string> formats;
  if (gguf && target == "cpu") formats.push_back("stored");
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
    if (target == "cpu" || !kv_dtype || *kv_dtype == d) formats.emplace_back(DTypeName(d));
  }
  if (target == "cpu") {
    for (const char* f : {"q8_0", "q4_0", "q4_k"}) formats.push_back(f);
  }
  return formats;
}

absl::Status CheckOptions(const MemoryEstimateOptions& o) {
  if (o.target != "cpu" && o.target != "sm_80" && o.target != "sm_90") {
    return absl::InvalidArgumentError("--target must be cpu, sm_80 or sm_90");
  }
  if (o.max_batch < 1) return absl::InvalidArgumentError("--max-batch must be at least 1");
  if (o.max_seq < 0)
    return absl::InvalidArgumentError("--max-seq must be positive (0: the default)");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MemoryEstimate> EstimateMemory(const MemoryEstimateOptions& options) {
  KILN_RETURN_IF_ERROR(CheckOptions(options));
  KILN_ASSIGN_OR_RETURN(Source source, OpenSource(options.model));
  // The model's own sizes, from the f32 build compile-model would start from.
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModel(ConfigReader(source.config, source.origin),
                                                     BuildOptions{DType::kF32, std::nullopt}));
  MemoryEstimate out;
  out.architecture = model.info.architecture;
  out.target = options.target;
  out.max_batch = options.max_batch;
  out.cpu_threads = std::max(1, options.cpu_threads);
  out.max_positions = model.info.max_positions;
  for (const WeightDecl& w : model.module.weights) {
    int64_t n = 1;
    for (const Dim& d : w.type.shape) n *= d.size;
    out.parameters += n;
  }
  KILN_ASSIGN_OR_RETURN(out.max_seq, ResolveMaxSeq(options.max_seq, model.info.max_positions));
  const std::vector<std::string> formats =
      options.formats.empty()
          ? DefaultFormats(options.target, source.gguf.has_value(), options.kv_dtype)
          : options.formats;
  for (const std::string& format : formats) {
    KILN_ASSIGN_OR_RETURN(out.rows.emplace_back(),
                          EstimateFormat(source, options, format, out.max_seq));
  }
  return out;
}

absl::StatusOr<int64_t> LargestFittingMaxSeq(const MemoryEstimateOptions& options,
                                             const std::string& format, int64_t available) {
  KILN_RETURN_IF_ERROR(CheckOptions(options));
  KILN_ASSIGN_OR_RETURN(Source source, OpenSource(options.model));
  KILN_ASSIGN_OR_RETURN(BuiltModel model, BuildModel(ConfigReader(source.config, source.origin),
                                                     BuildOptions{DType::kF32, std::nullopt}));
  // The total grows with max_seq (KV cache, RoPE tables, attention scratch),
  // so the answer is a binary search over [shortest bucket,
  // max_position_embeddings]: compile-model drops the buckets longer than
  // max_seq and refuses a max_seq below all of them.
  KILN_ASSIGN_OR_RETURN(std::vector<BucketSpec> all,
                        EngineBucketSpecs(options.buckets, 1, model.info.max_positions));
  int64_t shortest = model.info.max_positions;
  for (const BucketSpec& b : all) {
    if (absl::StartsWith(b.function, "prefill_")) shortest = std::min(shortest, b.seq);
  }
  auto total_at = [&](int64_t max_seq) -> absl::StatusOr<int64_t> {
    KILN_ASSIGN_OR_RETURN(FormatEstimate row, EstimateFormat(source, options, format, max_seq));
    return row.total;
  };
  // Invariant: total(lo) fits, total(hi) does not. The total is close to
  // affine in max_seq (the KV cache and RoPE tables are linear in it; the
  // attention scratch grows by 256-key chunks), so the next probe is the
  // secant's crossing, falling back to bisection when that does not halve
  // the bracket: a few compiles instead of log2(max_positions).
  int64_t lo = shortest, hi = model.info.max_positions;
  KILN_ASSIGN_OR_RETURN(int64_t total_lo, total_at(lo));
  if (total_lo > available) return 0;
  KILN_ASSIGN_OR_RETURN(int64_t total_hi, total_at(hi));
  if (total_hi <= available) return hi;
  bool bisect = false;
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (!bisect && total_hi > total_lo) {
      const double t =
          static_cast<double>(available - total_lo) / static_cast<double>(total_hi - total_lo);
      mid = std::clamp<int64_t>(lo + static_cast<int64_t>(t * static_cast<double>(hi - lo)), lo + 1,
                                hi - 1);
    }
    const int64_t width = hi - lo;
    KILN_ASSIGN_OR_RETURN(int64_t total, total_at(mid));
    if (total <= available) {
      lo = mid;
      total_lo = total;
    } else {
      hi = mid;
      total_hi = total;
    }
    bisect = hi - lo > width / 2;  // the secant step left most of the bracket
  }
  return lo;
}

}  // namespace kiln
