// Benchmark workloads: what to run (tools/bench/workloads/*.json) and the
// exact prompt token ids each run feeds the engine.
//
// A workload file:
//   {
//     "name": "cpu-smoke",
//     "description": "...",
//     "prompts": "../prompts/jargon.jsonl",   // JSONL of {"text": ...}, relative to this file
//     "prompt_tokens": [16, 64],  // prompt lengths in tokens; 0: each prompt as written
//     "new_tokens": [16],         // tokens generated per run (EOS is ignored when ignore_eos)
//     "batch_sizes": [1, 4],      // sequences decoded together
//     "sampling": {"do_sample": false},  // or temperature, top_k, top_p, min_p, seed
//     "ignore_eos": true,
//     "warmup": 1, "reps": 3      // defaults; kiln-bench --warmup/--reps override
//   }
// Cases are the product prompt_tokens x new_tokens x batch_sizes, in that
// order. The lengths are exact token counts so every engine (Kiln,
// Transformers, llama.cpp) runs the same ids: the prompt of run r starts at
// prompt line r, continues over the following lines joined by blank lines,
// is encoded with the tokenizer's special tokens (BOS) and cut at the length.
#ifndef KILN_TOOLS_BENCH_WORKLOAD_H_
#define KILN_TOOLS_BENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/generate/generation_config.h"
#include "runtime/tokenizer/tokenizer.h"

namespace kiln::bench {

// One (prompt length, generated length, batch) point of a workload.
struct BenchCase {
  int64_t prompt_tokens = 0;  // 0: prompts as written
  int64_t new_tokens = 0;
  int64_t batch = 1;
  std::string name;  // "p64_n16_b1"
};

// A parsed workload file. Holds no tokenizer-dependent state: prompt ids
// are built per engine by PromptIds.
struct Workload {
  std::string name;
  std::string description;
  std::string path;                  // the file it was read from
  std::vector<std::string> prompts;  // the prompt texts, in file order
  std::vector<BenchCase> cases;
  GenerationConfig sampling;  // max_new_tokens and eos ids are set per case
  bool ignore_eos = true;
  int warmup = 1;
  int reps = 3;
  nlohmann::json raw;  // the file as read, echoed into results
};

// Reads and validates `path`; every error names the field.
absl::StatusOr<Workload> LoadWorkload(const std::string& path);

// Parses a workload from JSON text; prompt files resolve against `dir`.
absl::StatusOr<Workload> ParseWorkload(const std::string& text, const std::string& dir);

// The prompt ids of run `run` of `c` (see the file comment). Fails when the
// prompts, all joined, hold fewer than c.prompt_tokens tokens.
absl::StatusOr<std::vector<int32_t>> PromptIds(const Workload& workload, const BenchCase& c,
                                               int run, const tokenizer::Tokenizer& tokenizer);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_WORKLOAD_H_
