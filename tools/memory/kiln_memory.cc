// kiln-memory: how much memory a model's Kiln engine needs, from its
// config.json (or a GGUF's header) alone, before anything is downloaded or
// compiled: one row per storage format with the weights (exact bytes of the
// format, block scales and mins included), the largest layer, the static KV
// cache at --max-seq x --max-batch, the activation arena of the memory plan,
// the executor's workspace and the total; whether it fits in this machine's
// free memory (a GPU's when the target is CUDA and one is here, else RAM)
// and the largest --max-seq that would.
//
//   bin/kiln-memory --model tools/bench/configs/mistral-7b
//   bin/kiln-memory --model SmolLM2-135M-Instruct.Q4_1.gguf --max-seq 8192 --json
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/byte_units.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/thread_pool.h"
#include "runtime/cuda/device_api.h"
#include "tools/cli.h"
#include "tools/memory/memory_estimate.h"

ABSL_FLAG(std::string, model, "",
          "a model directory (only its config.json is read), a config.json, or a .gguf file "
          "(only its header and tensor table are read)");
ABSL_FLAG(std::string, dtype, "",
          "comma-separated storage formats: stored (a GGUF's own types), f32, bf16, f16, q8_0, "
          "q4_0, q4_1, q4_k (default: stored for a GGUF, f32, bf16, f16, and on the cpu target "
          "q8_0, q4_0, q4_k)");
ABSL_FLAG(int64_t, max_seq, 0, "KV-cache capacity in tokens (default: compile-model's)");
ABSL_FLAG(int64_t, max_batch, 1, "largest batch the engine serves");
ABSL_FLAG(std::string, kv_dtype, "",
          "the KV cache's dtype, f32, bf16 or f16 (default: each format's activations')");
ABSL_FLAG(std::string, target, "cpu", "cpu, sm_80 or sm_90");
ABSL_FLAG(std::string, buckets, "16,64,256", "prefill lengths, as compile-model's --buckets");
ABSL_FLAG(int64_t, verify_tokens, kiln::kDefaultVerifyTokens,
          "speculative verify steps, as compile-model's --verify-tokens");
ABSL_FLAG(int, threads, 0,
          "cpu target: CPU executor threads (each has its own kernel scratch; default: "
          "KILN_CPU_THREADS, else this machine's physical cores)");
ABSL_FLAG(bool, fit, true, "say whether each row fits, and the largest --max-seq that would");
ABSL_FLAG(bool, json, false, "print JSON (every size in bytes) instead of the table");

namespace kiln {
namespace {

// The memory an engine would run in: the GPU's free memory for a CUDA
// target when a GPU is usable here (the driver is loaded only now), else
// this machine's available RAM.
struct Available {
  int64_t bytes = 0;
  std::string what;
  // Held back for what the process needs besides the engine: on the CPU its
  // libraries, tokenizer and IR (36-38 MiB measured, docs/MEMORY.md); on
  // a GPU the CUDA context, which Kiln does not allocate (an allowance, not
  // a measurement).
  int64_t reserve = 0;
  std::string reserve_what;
};

absl::StatusOr<int64_t> MemAvailable() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = 0;
    if (f.size() >= 2 && f[0] == "MemAvailable:" && absl::SimpleAtoi(f[1], &kib)) return kib * 1024;
  }
  return absl::UnavailableError("cannot read MemAvailable from /proc/meminfo");
}

absl::StatusOr<Available> FindAvailable(const std::string& target) {
  std::string why_not_gpu;
  if (target != "cpu") {
    std::unique_ptr<gpu::DeviceApi> device = gpu::MakeCudaDevice();
    absl::StatusOr<gpu::DeviceDescription> opened = device->Open(0);
    if (opened.ok()) {
      KILN_ASSIGN_OR_RETURN(size_t free_bytes, device->FreeMemory());
      return Available{static_cast<int64_t>(free_bytes),
                       absl::StrCat("the free memory of GPU 0, ", opened->name), int64_t{512} << 20,
                       "an allowance for the CUDA context"};
    }
    why_not_gpu = " (no usable GPU here, so not a GPU's memory)";
  }
  KILN_ASSIGN_OR_RETURN(int64_t bytes, MemAvailable());
  return Available{bytes, absl::StrCat("this machine's available RAM", why_not_gpu),
                   int64_t{64} << 20, "libraries, tokenizer, IR"};
}

// One printed row: the estimate and, with --fit, whether it fits.
struct Row {
  FormatEstimate e;
  bool fits = false;
  int64_t fitting_max_seq = -1;  // -1: not computed
};

std::string Thousands(int64_t n) {
  std::string digits = absl::StrCat(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void PrintTable(const MemoryEstimate& m, const std::vector<Row>& rows, const Available* available) {
  std::printf("%s: %s parameters; target %s; KV cache for %lld tokens x batch %lld\n",
              m.architecture.c_str(), Thousands(m.parameters).c_str(), m.target.c_str(),
              static_cast<long long>(m.max_seq), static_cast<long long>(m.max_batch));
  int types_width = 17;
  for (const Row& r : rows)
    types_width = std::max(types_width, static_cast<int>(r.e.weight_types.size()));
  std::printf("%-7s %-*s %10s %10s %15s %11s %10s %10s%s\n", "format", types_width,
              "weights stored as", "weights", "largest", "KV cache", "activations", "workspace",
              "total", available ? "  fits" : "");
  for (const Row& r : rows) {
    const FormatEstimate& e = r.e;
    const std::string kv =
        absl::StrCat(HumanBytes(e.kv_cache), " ", std::string(DTypeName(e.kv_dtype)));
    std::printf("%-7s %-*s %10s %10s %15s %11s %10s %10s", e.format.c_str(), types_width,
                e.weight_types.c_str(), HumanBytes(e.weights).c_str(),
                HumanBytes(e.largest_layer).c_str(), kv.c_str(), HumanBytes(e.activations).c_str(),
                HumanBytes(e.workspace).c_str(), HumanBytes(e.total).c_str());
    if (available) {
      std::printf("  %s", r.fits ? "yes" : "no");
      if (r.fitting_max_seq == 0) std::printf(" (not even the shortest bucket)");
      if (r.fitting_max_seq > 0) {
        std::printf(" (up to --max-seq %lld%s)", static_cast<long long>(r.fitting_max_seq),
                    r.fitting_max_seq == m.max_positions ? ", the model's limit" : "");
      }
    }
    std::printf("\n");
  }
  std::map<std::string, std::vector<std::string>> largest;  // layer -> formats
  std::vector<std::string> flags;
  for (const Row& r : rows) {
    largest[r.e.largest_layer_name].push_back(r.e.format);
    flags.push_back(absl::StrCat(r.e.format, " = ", r.e.flags));
  }
  std::vector<std::string> names;
  for (const auto& [layer, formats] : largest) {
    names.push_back(
        largest.size() == 1 ? layer : absl::StrCat(layer, " in ", absl::StrJoin(formats, ", ")));
  }
  std::printf("largest: the largest decoder layer, or weight outside the layers (%s)\n",
              absl::StrJoin(names, "; ").c_str());
  std::printf("compile-model flags: %s\n", absl::StrJoin(flags, "; ").c_str());
  std::printf("workspace: step inputs, RoPE tables and kernel scratch%s\n",
              m.target == "cpu" ? absl::StrCat(" for ", m.cpu_threads, " threads").c_str()
                                : ", and cuBLASLt's 32 MiB");
  if (available) {
    std::printf("fits: total + %s for the process (%s) against %s, %s\n",
                HumanBytes(available->reserve).c_str(), available->reserve_what.c_str(),
                available->what.c_str(), HumanBytes(available->bytes).c_str());
  }
}

nlohmann::json ToJson(const std::string& model, const MemoryEstimate& m,
                      const std::vector<Row>& rows, const Available* available) {
  nlohmann::json out = {{"model", model},
                        {"architecture", m.architecture},
                        {"parameters", m.parameters},
                        {"target", m.target},
                        {"max_seq", m.max_seq},
                        {"max_batch", m.max_batch},
                        {"max_position_embeddings", m.max_positions}};
  if (m.target == "cpu") out["cpu_threads"] = m.cpu_threads;
  if (available) {
    out["available"] = {{"bytes", available->bytes},
                        {"what", available->what},
                        {"reserve_bytes", available->reserve},
                        {"reserve_for", available->reserve_what}};
  }
  out["rows"] = nlohmann::json::array();
  for (const Row& r : rows) {
    const FormatEstimate& e = r.e;
    nlohmann::json row = {{"format", e.format},
                          {"compile_model_flags", e.flags},
                          {"weights_stored_as", e.weight_types},
                          {"weights", e.weights},
                          {"largest_layer", e.largest_layer},
                          {"largest_layer_name", e.largest_layer_name},
                          {"kv_cache", e.kv_cache},
                          {"kv_dtype", std::string(DTypeName(e.kv_dtype))},
                          {"activations", e.activations},
                          {"workspace", e.workspace},
                          {"total", e.total}};
    if (available) {
      row["fits"] = r.fits;
      row["largest_fitting_max_seq"] = r.fitting_max_seq;
    }
    out["rows"].push_back(std::move(row));
  }
  return out;
}

absl::Status Run() {
  MemoryEstimateOptions options;
  options.model = absl::GetFlag(FLAGS_model);
  for (absl::string_view f :
       absl::StrSplit(absl::GetFlag(FLAGS_dtype), ',', absl::SkipWhitespace())) {
    options.formats.emplace_back(f);
  }
  options.target = absl::GetFlag(FLAGS_target);
  options.max_seq = absl::GetFlag(FLAGS_max_seq);
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
  options.buckets = absl::GetFlag(FLAGS_buckets);
  options.verify_tokens = absl::GetFlag(FLAGS_verify_tokens);
  if (const std::string kv = absl::GetFlag(FLAGS_kv_dtype); !kv.empty()) {
    options.kv_dtype = DTypeFromName(kv);
    if (!options.kv_dtype || !IsFloat(*options.kv_dtype)) {
      return absl::InvalidArgumentError("--kv-dtype must be f32, bf16 or f16");
    }
  }
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 0) return absl::InvalidArgumentError("--threads must be positive (0: the default)");
  options.cpu_threads = threads > 0 ? threads : cpu::DefaultCpuThreads();
  KILN_ASSIGN_OR_RETURN(MemoryEstimate estimate, EstimateMemory(options));
  std::vector<Row> rows;
  for (const FormatEstimate& e : estimate.rows) rows.push_back({e});
  std::optional<Available> available;
  if (absl::GetFlag(FLAGS_fit)) {
    KILN_ASSIGN_OR_RETURN(available, FindAvailable(options.target));
    const int64_t budget = available->bytes - available->reserve;
    for (Row& r : rows) {
      r.fits = r.e.total <= budget;
      KILN_ASSIGN_OR_RETURN(r.fitting_max_seq, LargestFittingMaxSeq(options, r.e.format, budget));
    }
  }
  const Available* shown = available ? &*available : nullptr;
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(options.model, estimate, rows, shown).dump(2).c_str());
  } else {
    PrintTable(estimate, rows, shown);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "kiln-memory --model DIR|config.json|FILE.gguf [--dtype f32,bf16,q4_k] "
                       "[--max-seq N] [--max-batch B] [--kv-dtype f16] [--target cpu|sm_80|sm_90] "
                       "[--json]");
  return kiln::ReportToolStatus("kiln-memory", kiln::Run());
}
