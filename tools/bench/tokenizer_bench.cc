// Encode throughput of Kiln's tokenizer, single thread, on a text corpus
// split into paragraphs (at blank lines), the same workload as
// tools/reference/bench_hf_tokenizers.py runs with HF tokenizers.
//
//   bazel run -c opt //tools/bench:tokenizer_bench -- \
//       --corpus=/tmp/corpus.txt --tokenizer=gpt2=/tmp/gpt2.json [--tokenizer=name=path ...]
// (make the corpus with bench_hf_tokenizers.py --make-corpus). Benchmark's own
// flags (--benchmark_repetitions, ...) pass through.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "runtime/tokenizer/load.h"

namespace {

std::vector<std::string> Paragraphs(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = text.find("\n\n", pos);
    if (next == std::string::npos) next = text.size();
    if (next > pos) out.push_back(text.substr(pos, next - pos));
    pos = next + 2;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus_path;
  std::vector<std::pair<std::string, std::string>> tokenizers;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--corpus=", 0) == 0) {
      corpus_path = arg.substr(9);
    } else if (arg.rfind("--tokenizer=", 0) == 0) {
      const std::string spec = arg.substr(12);
      const size_t eq = spec.find('=');
      tokenizers.emplace_back(eq == std::string::npos ? spec : spec.substr(0, eq),
                              eq == std::string::npos ? spec : spec.substr(eq + 1));
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (corpus_path.empty() || tokenizers.empty()) {
    std::cerr << "usage: tokenizer_bench --corpus=FILE --tokenizer=NAME=PATH [...]\n";
    return 1;
  }
  std::ifstream f(corpus_path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  static const std::vector<std::string> docs = Paragraphs(ss.str());
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();
  std::cerr << "corpus: " << bytes << " bytes in " << docs.size() << " paragraphs\n";
  static std::vector<std::unique_ptr<kiln::tokenizer::Tokenizer>> loaded;
  for (const auto& [name, path] : tokenizers) {
    auto tok = kiln::tokenizer::LoadTokenizer(path);
    if (!tok.ok()) {
      std::cerr << tok.status() << "\n";
      return 1;
    }
    loaded.push_back(std::move(*tok));
    const kiln::tokenizer::Tokenizer* t = loaded.back().get();
    benchmark::RegisterBenchmark(("encode/" + name).c_str(), [t, bytes](benchmark::State& state) {
      size_t tokens = 0;
      for (auto _ : state) {
        tokens = 0;
        for (const std::string& d : docs) tokens += t->Encode(d, false)->size();
        benchmark::DoNotOptimize(tokens);
      }
      state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
      state.counters["tokens"] = static_cast<double>(tokens);
    })->Unit(benchmark::kMillisecond)->MinTime(2.0);
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
