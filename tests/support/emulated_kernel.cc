#include "tests/support/emulated_kernel.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "runtime/emulator/device_memory.h"
#include "tests/support/error_metrics.h"

namespace kiln::testing {
namespace {

size_t ElementBytes(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

}  // namespace

EmulatedBuffer EmulatedBuffer::Uninitialized(size_t bytes) {
  absl::StatusOr<void*> p = emulator::DeviceMemory::Global().Allocate(bytes);
  // Allocation fails only when the host is out of memory: not a test result.
  if (!p.ok()) std::abort();
  return EmulatedBuffer(*p, bytes);
}

EmulatedBuffer EmulatedBuffer::Of(const void* data, size_t bytes) {
  EmulatedBuffer b = Uninitialized(bytes);
  if (bytes > 0) std::memcpy(b.ptr, data, bytes);
  return b;
}

EmulatedBuffer EmulatedBuffer::OfFloats(const std::vector<float>& values, DType dtype) {
  if (dtype == DType::kF32) return Of(values.data(), values.size() * 4);
  std::vector<uint16_t> bits;
  bits.reserve(values.size());
  for (float v : values) bits.push_back(dtype == DType::kF16 ? FloatToF16(v) : FloatToBF16(v));
  return Of(bits.data(), bits.size() * 2);
}

EmulatedBuffer EmulatedBuffer::OfInts(const std::vector<int32_t>& values) {
  return Of(values.data(), values.size() * 4);
}

EmulatedBuffer::EmulatedBuffer(EmulatedBuffer&& other) noexcept
    : ptr(std::exchange(other.ptr, nullptr)), bytes_(other.bytes_) {}

EmulatedBuffer::~EmulatedBuffer() {
  if (ptr != nullptr) (void)emulator::DeviceMemory::Global().Free(ptr);
}

std::vector<float> EmulatedBuffer::Floats(size_t n, DType dtype) const {
  std::vector<float> out(n);
  const char* base = static_cast<const char*>(ptr);
  if (n * ElementBytes(dtype) > bytes_) std::abort();  // a test's sizing bug
  for (size_t i = 0; i < n; ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(&out[i], base + 4 * i, 4);
    } else {
      uint16_t b;
      std::memcpy(&b, base + 2 * i, 2);
      out[i] = dtype == DType::kF16 ? F16ToFloat(b) : BF16ToFloat(b);
    }
  }
  return out;
}

std::vector<int32_t> EmulatedBuffer::Ints(size_t n) const {
  if (n * 4 > bytes_) std::abort();
  std::vector<int32_t> out(n);
  if (n > 0) std::memcpy(out.data(), ptr, n * 4);
  return out;
}

absl::StatusOr<const emulator::EmulatedKernel*> EmulatedKernelCache::Get(
    const std::string& cuda_source, absl::string_view name) {
  std::shared_ptr<emulator::KernelModule>& module = modules_[cuda_source];
  if (module == nullptr) {
    absl::StatusOr<std::shared_ptr<emulator::KernelModule>> compiled =
        emulator::KernelModule::Compile(cuda_source, name);
    if (!compiled.ok()) {
      modules_.erase(cuda_source);
      return compiled.status();
    }
    module = *std::move(compiled);
  }
  return module->Kernel(name);
}

absl::Status EmulatedKernelCache::CompileAll(
    const std::vector<std::pair<std::string, std::string>>& texts) {
  std::vector<std::pair<std::string, std::string>> todo;
  for (const auto& t : texts) {
    if (modules_.count(t.first) == 0) todo.push_back(t);
  }
  std::vector<absl::StatusOr<std::shared_ptr<emulator::KernelModule>>> results(
      todo.size(), absl::UnknownError("not compiled"));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < todo.size();) {
      results[i] = emulator::KernelModule::Compile(todo[i].first, todo[i].second);
    }
  };
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::min<size_t>(cores, todo.size()); ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < todo.size(); ++i) {
    if (!results[i].ok()) return results[i].status();
    modules_[todo[i].first] = *std::move(results[i]);
  }
  return absl::OkStatus();
}

Agreement CompareWithTwin(const std::vector<float>& got, const std::vector<float>& twin) {
  Agreement a;
  a.compared = static_cast<int64_t>(twin.size());
  for (size_t i = 0; i < twin.size() && i < got.size(); ++i) {
    // Bit-identical: equal bits (so NaN == NaN and -0 != +0 as a GPU's
    // bytes would compare).
    uint32_t x, y;
    std::memcpy(&x, &got[i], 4);
    std::memcpy(&y, &twin[i], 4);
    a.bit_identical += x == y;
    a.max_abs_vs_twin =
        MaxKeepingNan(a.max_abs_vs_twin, std::fabs(static_cast<double>(got[i]) - twin[i]));
  }
  if (got.size() != twin.size()) a.max_abs_vs_twin = NAN;
  return a;
}

absl::Status EmulatorTally::Launch(const emulator::EmulatedKernel& kernel,
                                   const emulator::LaunchConfig& config,
                                   const std::vector<void*>& args) {
  ++launches;
  absl::Status s = emulator::Launch(kernel, config, args, &stats);
  if (!s.ok()) ++faults;
  return s;
}

void EmulatorTally::Add(const Agreement& a) {
  compared += a.compared;
  bit_identical += a.bit_identical;
}

std::string EmulatorTally::Summary(absl::string_view family, int schedules) const {
  return absl::StrCat(family, ": ", kernels, " kernels x ", configurations, " configurations x ",
                      schedules, " schedules = ", launches, " launches (", stats.blocks,
                      " blocks, ", stats.rendezvous, " rendezvous); ", faults,
                      " emulator faults (race/divergence/bounds/alignment), ", mismatches,
                      " mismatches; ", bit_identical, " of ", compared,
                      " elements bit-identical to the twin");
}

}  // namespace kiln::testing
