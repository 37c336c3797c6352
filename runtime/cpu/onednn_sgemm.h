// oneDNN's f32 matrix product (dnnl_sgemm), for the CPU executor's
// prefill-sized products of f32 weights, where it runs 2-3x Kiln's own FMA
// kernel (docs/PERFORMANCE.md, "f32 GEMMs"). Block-quantized weights have
// no such library; their kernels stay Kiln's (quant_gemm.h).
//
// The library is Debian's libdnnl.so.2, opened with dlopen on first use, so
// no binary links it and one without it runs Kiln's kernels instead: nothing
// but speed depends on it. Debian builds it on OpenMP; every call here
// limits the calling thread's OpenMP team to itself for its duration (and
// restores the thread's setting after), so oneDNN computes on the thread
// that calls it (each of the executor's pool threads on its own columns,
// the thread running the step among them) and never starts threads of its
// own.
//
// Numerics: f32 products with f32 accumulation, the sums in oneDNN's order
// (its blocking of k, chosen by the sizes), not Kiln's; outputs agree with
// the FMA kernel to f32 rounding, not bit for bit, and a row may differ in
// its last bits with the number of rows beside it and between column splits
// (thread counts). Kiln's own kernels give a row the same bits at any m,
// which is why a prefill's LM head row matches ForwardLast exactly only
// without oneDNN (CpuExecutorOptions::onednn, KILN_CPU_ONEDNN=0).
#ifndef KILN_RUNTIME_CPU_ONEDNN_SGEMM_H_
#define KILN_RUNTIME_CPU_ONEDNN_SGEMM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::cpu {

// One opened libdnnl: its sgemm on the calling thread (Rows), its version
// (name), and how many products it has run. Immutable once opened but for
// that count; Rows may be called from several threads at once.
class OnednnSgemm {
 public:
  // The library for this process, opened once: nullptr when
  // $KILN_CPU_ONEDNN is "0" or it cannot be used (UnavailableReason says
  // why). Thread-safe.
  static const OnednnSgemm* Get();
  // Why Get() returns nullptr; empty when it does not.
  static const std::string& UnavailableReason();

  // Opens `file` (a name for the loader's search, or a path). Fails when it
  // cannot be opened, lacks dnnl_sgemm or dnnl_version, or runs its CPU
  // work on a threading runtime other than OpenMP or sequential (its
  // threads could not be kept to the caller's).
  static absl::StatusOr<std::unique_ptr<OnednnSgemm>> Open(const std::string& file);

  OnednnSgemm(const OnednnSgemm&) = delete;
  OnednnSgemm& operator=(const OnednnSgemm&) = delete;
  ~OnednnSgemm();

  // out[i * ldo + j] = sum_c x[i * k + c] * w[j * k + c] for i < m and j in
  // [n_begin, n_end): x is row-major [m, k], w row-major [n, k]. Runs on the
  // calling thread alone. Returns false (out unspecified in those columns)
  // only if the library reports an error, which valid sizes never cause.
  bool Rows(const float* x, const float* w, int64_t m, int64_t k, int64_t n_begin, int64_t n_end,
            float* out, int64_t ldo) const;

  // "oneDNN 2.6.3" (the loaded library's version).
  const std::string& name() const { return name_; }
  // Products Rows has run (every column range counts once), for tests
  // and diagnostics.
  int64_t calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  using Sgemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t,
                        const float*, int64_t, float, float*, int64_t);
  using SetThreads = void (*)(int);
  using GetThreads = int (*)();
  OnednnSgemm() = default;

  void* handle_ = nullptr;
  Sgemm sgemm_ = nullptr;
  // omp_set_num_threads / omp_get_max_threads; null for a sequential build.
  SetThreads set_threads_ = nullptr;
  GetThreads get_threads_ = nullptr;
  std::string name_;
  mutable std::atomic<int64_t> calls_{0};
};

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_ONEDNN_SGEMM_H_
