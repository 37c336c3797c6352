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
                      " elements bit-identical to the reference");
}

KernelRunner EmulatedRunner(EmulatedKernelCache& cache, EmulatorTally& tally,
                            const emulator::Schedule& schedule, size_t shared_limit_bytes) {
  return [&cache, &tally, schedule, shared_limit_bytes](KernelJob& job) -> absl::Status {
    std::vector<EmulatedBuffer> buffers;
    std::vector<void*> pointers;  // nullptr for an empty buffer
    buffers.reserve(job.buffers.size());
    for (const std::vector<uint8_t>& b : job.buffers) {
      buffers.push_back(b.empty() ? EmulatedBuffer::Uninitialized(16)
                                  : EmulatedBuffer::Of(b.data(), b.size()));
      pointers.push_back(b.empty() ? nullptr : buffers.back().ptr);
    }
    for (KernelCall& call : job.calls) {
      absl::StatusOr<const emulator::EmulatedKernel*> kernel = cache.Get(call.source, call.function);
      if (!kernel.ok()) return kernel.status();
      emulator::LaunchConfig config;
      config.grid = {call.grid.x, call.grid.y, call.grid.z};
      config.block = {call.block.x, call.block.y, call.block.z};
      config.dynamic_shared_bytes = call.dynamic_shared_bytes;
      config.shared_limit_bytes = std::max(config.shared_limit_bytes, shared_limit_bytes);
      config.schedule = schedule;
      // The in-order pass also runs the other schedules and requires the
      // same bytes from each: what no checker sees (a race in global
      // memory) shows as a difference.
      config.compare_schedules = schedule.kind == emulator::Schedule::kInOrder;
      std::vector<void*> args;
      for (KernelParam& p : call.params) {
        args.push_back(p.buffer >= 0 ? static_cast<void*>(&pointers.at(p.buffer))
                                     : static_cast<void*>(p.scalar.data()));
      }
      const absl::Status launched = tally.Launch(**kernel, config, args);
      if (!launched.ok()) return launched;
    }
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (!job.buffers[i].empty()) std::memcpy(job.buffers[i].data(), buffers[i].ptr, job.buffers[i].size());
    }
    return absl::OkStatus();
  };
}

}  // namespace kiln::testing
