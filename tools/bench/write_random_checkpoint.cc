// write-random-checkpoint: a random-weight Hugging Face checkpoint at the
// shape a config.json describes (random_checkpoint.h), for benchmarks on a
// machine without Transformers or a CUDA PyTorch.
//
//   write-random-checkpoint --config tools/bench/configs/llama-3.2-1b
//       --out /tmp/kiln-bench-models/llama-3.2-1b-bf16 [--dtype bf16] [--seed 0]
//       [--tokenizer tests/fixtures/tokenizers/bytes256/tokenizer.json] [--threads N]
//
// An existing --out is left as it is (exit 0, "exists") unless --force: a
// rerun on the same machine then skips the writing.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "base/dtype.h"
#include "tools/bench/random_checkpoint.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, config, "", "directory holding config.json");
ABSL_FLAG(std::string, out, "", "checkpoint directory to write");
ABSL_FLAG(std::string, dtype, "bf16", "f32, bf16 or f16");
ABSL_FLAG(uint64_t, seed, 0, "seed of the weights' draws");
ABSL_FLAG(std::string, tokenizer, "tests/fixtures/tokenizers/bytes256/tokenizer.json",
          "byte-level tokenizer.json, padded to the model's vocabulary");
ABSL_FLAG(int32_t, threads, 0, "threads drawing the values (0: one per hardware thread)");
ABSL_FLAG(bool, force, false, "replace an existing --out");

namespace kiln::bench {
namespace {

absl::Status Run() {
  RandomCheckpointOptions options;
  options.config_dir = absl::GetFlag(FLAGS_config);
  options.out = absl::GetFlag(FLAGS_out);
  if (options.config_dir.empty() || options.out.empty()) {
    return absl::InvalidArgumentError("--config and --out are required");
  }
  std::optional<DType> dtype = DTypeFromName(absl::GetFlag(FLAGS_dtype));
  if (!dtype) return absl::InvalidArgumentError("--dtype must be f32, bf16 or f16");
  options.dtype = *dtype;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.tokenizer = absl::GetFlag(FLAGS_tokenizer);
  options.threads = absl::GetFlag(FLAGS_threads);
  if (std::filesystem::exists(options.out)) {
    if (!absl::GetFlag(FLAGS_force)) {
      std::printf("%s: exists (pass --force to replace it)\n", options.out.c_str());
      return absl::OkStatus();
    }
    std::filesystem::remove_all(options.out);
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<RandomCheckpointReport> report = WriteRandomCheckpoint(options);
  if (!report.ok()) return report.status();
  std::printf("%s: %lld tensors, %.1f M parameters, %lld bytes, %.1f s\n", options.out.c_str(),
              static_cast<long long>(report->tensors), report->parameters / 1e6,
              static_cast<long long>(report->bytes),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  kiln::ParseToolFlags(argc, argv,
                       "write-random-checkpoint --config DIR --out DIR [--dtype bf16] [--seed N] "
                       "[--tokenizer tokenizer.json] [--threads N] [--force]");
  return kiln::ReportToolStatus("write-random-checkpoint", kiln::bench::Run());
}
