// Micro-benchmark of runtime/cpu/quant_gemm, one thread unless named:
//   decode (m = 1) at SmolLM2-135M's shapes: GB/s of weight bytes streamed,
//       rotating over enough copies of the weights (>= 256 MiB) that they
//       come from DRAM, not cache, as in a real decode step;
//   decode_2t: the same on two threads, each GemmRows over half of n (the
//       second thread is kept spinning between products, as a pool would);
//   decode_hot: one decode shape with the weights in L2 (compute bound);
//   verify (m = 2, 4, 8) with the weights from DRAM, as in a verify step
//       (1 and 2 threads), n1536 and n49152 (SmolLM2's MLP and LM head)
//       at k = 576, or at k = 1536 for the k-quants; the formats with
//       verify tiles of their own (q4_0, q4_1, q4_k) and q8_0;
//   prefill (m = 2, 4, 8: verify steps; 16, 64, 256: prompts; m = 64 at a
//       Llama-3.2-1B MLP shape, and m = 512 at its down projection):
//       GFLOP/s (2 m n k per product);
//   memcpy of 256 MiB: the machine's copy bandwidth for reference (counted
//       as bytes read, as the weight streams are);
//   f32_library: Kiln's f32 kernel and oneDNN's sgemm side by side at
//       m = 4 ... 256, where the executor switches from one to the other.
// Run: bazel run -c opt //tools/bench:quant_gemm_bench [-- --benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/dtype.h"
#include "base/half.h"
#include "runtime/cpu/onednn_sgemm.h"
#include "runtime/cpu/quant_gemm.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kStreamBytes = int64_t{256} << 20;

std::vector<uint8_t> RandomWeights(DType t, int64_t count, std::mt19937& rng) {
  if (!IsBlockQuantized(t)) {
    std::normal_distribution<float> normal(0, 1);
    std::vector<float> v(count);
    for (auto& x : v) x = normal(rng);
    return EncodeFloats(v, t);
  }
  std::vector<uint8_t> b(*StorageBytes(t, count));
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  const uint16_t d = FloatToF16(0.01f);
  for (int64_t i = 0; i < count / BlockSize(t); ++i) {
    uint8_t* p = b.data() + i * BlockBytes(t);
    std::memcpy(p + (t == DType::kQ6_K ? 208 : 0), &d, 2);
    if (t == DType::kQ4_1 || t == DType::kQ4_K || t == DType::kQ5_K) std::memcpy(p + 2, &d, 2);
  }
  return b;
}

// A second thread that runs one job per Run() alongside the caller's own.
// Both wait by polling with yields: no futex wake-up in the timings, and a
// thread sharing its core with other work (builds) still gets to run.
class Helper {
 public:
  Helper() : thread_([this] { Loop(); }) {}
  ~Helper() {
    stop_ = true;
    posted_.fetch_add(1);
    thread_.join();
  }
  void Run(const std::function<void()>& theirs, const std::function<void()>& mine) {
    job_ = &theirs;
    const int64_t g = posted_.fetch_add(1, std::memory_order_release) + 1;
    mine();
    while (done_.load(std::memory_order_acquire) != g) std::this_thread::yield();
  }

 private:
  void Loop() {
    for (int64_t seen = 0;;) {
      while (posted_.load(std::memory_order_acquire) == seen) std::this_thread::yield();
      ++seen;
      if (stop_) return;
      (*job_)();
      done_.store(seen, std::memory_order_release);
    }
  }
  const std::function<void()>* job_ = nullptr;
  std::atomic<int64_t> posted_{0}, done_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void BM_Gemm(benchmark::State& state, SimdLevel level, DType t, int64_t m, int64_t n, int64_t k,
             bool cold, int threads) {
  std::mt19937 rng(42);
  std::vector<uint8_t> w = RandomWeights(t, n * k, rng);
  const int64_t bytes = static_cast<int64_t>(w.size());
  // Copies laid end to end so that successive products read cold memory.
  const int64_t copies = cold ? std::max<int64_t>(1, kStreamBytes / bytes) : 1;
  std::vector<uint8_t> pool(bytes * copies);
  for (int64_t c = 0; c < copies; ++c) std::memcpy(pool.data() + c * bytes, w.data(), bytes);
  std::vector<float> x(m * k), out(m * n);
  std::normal_distribution<float> normal(0, 1);
  for (auto& v : x) v = normal(rng);
  std::vector<uint8_t> act(ActivationBytes(t, m, k) + 64);
  void* act_p = act.data() + (64 - reinterpret_cast<uintptr_t>(act.data()) % 64) % 64;
  const void* in = IsBlockQuantized(t) ? act_p : static_cast<const void*>(x.data());
  int64_t c = 0;
  std::unique_ptr<Helper> helper = threads == 2 ? std::make_unique<Helper>() : nullptr;
  const int64_t half = n / 2;
  const std::function<void()> first = [&] {
    GemmRows(level, t, in, pool.data() + c * bytes, m, n, k, 0, half, out.data(), n);
  };
  const std::function<void()> second = [&] {
    GemmRows(level, t, in, pool.data() + c * bytes, m, n, k, half, n, out.data(), n);
  };
  for (auto _ : state) {
    PrepareActivations(level, t, x.data(), m, k, 0, m, act_p);
    if (helper) {
      helper->Run(second, first);
    } else {
      GemmRows(level, t, in, pool.data() + c * bytes, m, n, k, 0, n, out.data(), n);
    }
    benchmark::DoNotOptimize(out.data());
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations() * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

// PanelGemmRows (the CPU executor's choice on AVX2 for prompts through
// q8_0, q6_k, f16 and bf16 weights, and f32 without oneDNN) on the same
// products, one thread, with the activations prepared each time as for
// GemmRows (prefill/ cases), so the two time the same work.
void BM_Panel(benchmark::State& state, DType t, int64_t m, int64_t n, int64_t k) {
  std::mt19937 rng(42);
  const std::vector<uint8_t> w = RandomWeights(t, n * k, rng);
  std::vector<float> x(m * k), out(m * n);
  std::normal_distribution<float> normal(0, 1);
  for (auto& v : x) v = normal(rng);
  std::vector<uint8_t> act(ActivationBytes(t, m, k) + 64), scratch(PanelScratchBytes(m) + 64);
  void* a = act.data() + (64 - reinterpret_cast<uintptr_t>(act.data()) % 64) % 64;
  void* s = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
  const void* in = IsBlockQuantized(t) ? a : static_cast<const void*>(x.data());
  for (auto _ : state) {
    PrepareActivations(SimdLevel::kAvx2, t, x.data(), m, k, 0, m, a);
    PanelGemmRows(SimdLevel::kAvx2, t, in, w.data(), m, k, 0, n, out.data(), n, s);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
}

// oneDNN's f32 GEMM (the CPU executor's choice for f32 weights from
// kOnednnMinRows rows) on the same product, one thread.
void BM_OnednnF32(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  const OnednnSgemm* library = OnednnSgemm::Get();
  if (library == nullptr) {
    state.SkipWithError(OnednnSgemm::UnavailableReason().c_str());
    return;
  }
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> w(n * k), x(m * k), out(m * n);
  for (auto& v : w) v = normal(rng);
  for (auto& v : x) v = normal(rng);
  for (auto _ : state) {
    library->Rows(x.data(), w.data(), m, k, 0, n, out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
}

void BM_Memcpy(benchmark::State& state) {
  std::vector<uint8_t> a(kStreamBytes, 1), b(kStreamBytes);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), a.size());
    benchmark::DoNotOptimize(b.data());
  }
  state.SetBytesProcessed(state.iterations() * kStreamBytes);
}

void RegisterAll() {
  benchmark::RegisterBenchmark("memcpy_256MiB", BM_Memcpy)->Unit(benchmark::kMillisecond);
  // SmolLM2-135M's shapes, then Llama-3.2-1B's (whole 256-blocks, for the
  // k-quants: of SmolLM2's only k = 1536 is).
  const struct { int64_t n, k; } decode[] = {{576, 576},   {192, 576},   {1536, 576},
                                             {576, 1536},  {49152, 576}, {2048, 2048},
                                             {8192, 2048}, {2048, 8192}};
  const DType types[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ8_0, DType::kQ4_K,
                         DType::kQ5_K, DType::kQ6_K, DType::kF16,  DType::kBF16, DType::kF32};
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (level > DetectSimdLevel()) continue;
    const std::string lv(SimdLevelName(level));
    for (DType t : types) {
      const std::string tn(DTypeName(t));
      for (auto s : decode) {
        if (s.k % BlockSize(t) != 0) continue;
        benchmark::RegisterBenchmark(
            ("decode/" + lv + "/" + tn + "/n" + std::to_string(s.n) + "_k" + std::to_string(s.k))
                .c_str(),
            BM_Gemm, level, t, 1, s.n, s.k, true, 1)
            ->Unit(benchmark::kMicrosecond);
        if (level == DetectSimdLevel()) {
          benchmark::RegisterBenchmark(("decode_2t/" + lv + "/" + tn + "/n" + std::to_string(s.n) +
                                        "_k" + std::to_string(s.k))
                                           .c_str(),
                                       BM_Gemm, level, t, 1, s.n, s.k, true, 2)
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();
        }
      }
      const int64_t k = t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K ? 1536 : 576;
      // The same product with the weights in L2: the kernel's compute bound.
      benchmark::RegisterBenchmark(
          ("decode_hot/" + lv + "/" + tn + "/n576_k" + std::to_string(k)).c_str(), BM_Gemm, level,
          t, 1, 576, k, false, 1)
          ->Unit(benchmark::kMicrosecond);
      // Verify steps: a few activation rows against weights from DRAM.
      const bool verify_tiles =
          t == DType::kQ4_0 || t == DType::kQ4_1 || t == DType::kQ4_K || t == DType::kQ8_0;
      if (level == DetectSimdLevel() && verify_tiles) {
        for (int64_t n : {int64_t{1536}, int64_t{49152}}) {
          for (int64_t m : {2, 4, 8}) {
            for (int threads : {1, 2}) {
              benchmark::RegisterBenchmark(
                  ("verify" + std::string(threads == 2 ? "_2t/" : "/") + lv + "/" + tn + "/m" +
                   std::to_string(m) + "_n" + std::to_string(n) + "_k" + std::to_string(k))
                      .c_str(),
                  BM_Gemm, level, t, m, n, k, true, threads)
                  ->Unit(benchmark::kMicrosecond)
                  ->UseRealTime();
            }
          }
        }
      }
      for (int64_t m : {2, 4, 8, 16, 64, 256}) {
        benchmark::RegisterBenchmark(("prefill/" + lv + "/" + tn + "/m" + std::to_string(m) +
                                      "_n1536_k" + std::to_string(k)).c_str(),
                                     BM_Gemm, level, t, m, 1536, k, false, 1)
            ->Unit(benchmark::kMillisecond);
      }
      // A Llama-3.2-1B MLP product: weights far larger than L2.
      benchmark::RegisterBenchmark(("prefill/" + lv + "/" + tn + "/m64_n8192_k2048").c_str(),
                                   BM_Gemm, level, t, 64, 8192, 2048, false, 1)
          ->Unit(benchmark::kMillisecond);
      // Its down projection on a 512-token prompt: activations (6 MB of
      // blocks) far larger than L2 too. The best level only (0.1-0.5 s a
      // product).
      if (level == DetectSimdLevel()) {
        benchmark::RegisterBenchmark(("prefill/" + lv + "/" + tn + "/m512_n2048_k8192").c_str(),
                                     BM_Gemm, level, t, 512, 2048, 8192, false, 1)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  // Kiln's f32 kernel against oneDNN's around the executor's switch-over.
  for (int64_t m : {4, 8, 16, 32, 64, 256}) {
    const std::string shape = "m" + std::to_string(m) + "_n1536_k576";
    benchmark::RegisterBenchmark(("f32_library/kiln/" + shape).c_str(), BM_Gemm, DetectSimdLevel(),
                                 DType::kF32, m, 1536, 576, false, 1)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("f32_library/onednn/" + shape).c_str(), BM_OnednnF32, m, 1536,
                                 576)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("f32_library/onednn/m64_n8192_k2048", BM_OnednnF32, 64, 8192, 2048)
      ->Unit(benchmark::kMillisecond);
  // The f32 panels, against the prefill rows above of the same products.
  if (DetectSimdLevel() >= SimdLevel::kAvx2) {
    for (DType t : {DType::kQ8_0, DType::kQ6_K, DType::kF16, DType::kBF16, DType::kF32}) {
      const int64_t k = BlockSize(t) == 256 ? 1536 : 576;  // as the prefill rows
      const struct {
        int64_t m, n, k;
      } panel[] = {{64, 1536, k}, {256, 1536, k}, {64, 8192, 2048}, {512, 2048, 8192}};
      for (auto s : panel) {
        benchmark::RegisterBenchmark(
            ("panel/avx2/" + std::string(DTypeName(t)) + "/m" + std::to_string(s.m) + "_n" +
             std::to_string(s.n) + "_k" + std::to_string(s.k))
                .c_str(),
            BM_Panel, t, s.m, s.n, s.k)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu

int main(int argc, char** argv) {
  kiln::cpu::RegisterAll();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
