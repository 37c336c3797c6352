#include "runtime/emulator/device_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KILN_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define KILN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define KILN_POISON(p, n) ((void)(p), (void)(n))
#define KILN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace kiln::emulator {
namespace {

constexpr size_t kAlignment = 256;
constexpr size_t kRedZone = 256;  // on each side

}  // namespace

DeviceMemory& DeviceMemory::Global() {
  static auto* memory = new DeviceMemory();
  return *memory;
}

absl::StatusOr<void*> DeviceMemory::Allocate(size_t bytes) {
  const size_t usable = std::max<size_t>(bytes, 1);
  const size_t rounded = (usable + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < usable || rounded > (size_t{1} << 40)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("emulated device: cannot allocate ", bytes, " bytes"));
  }
  const size_t total = kRedZone + rounded + kRedZone;
  void* raw = std::aligned_alloc(kAlignment, total);
  if (raw == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("emulated device: out of host memory for ", bytes, " bytes"));
  }
  char* begin = static_cast<char*>(raw) + kRedZone;
  std::memset(begin, 0xFF, rounded);
  KILN_POISON(raw, kRedZone);
  KILN_POISON(begin + usable, total - kRedZone - usable);
  std::lock_guard<std::mutex> lock(mutex_);
  blocks_[reinterpret_cast<uintptr_t>(begin)] = Block{raw, usable};
  live_bytes_ += usable;
  return static_cast<void*>(begin);
}

absl::Status DeviceMemory::Free(void* pointer) {
  Block block;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = blocks_.find(reinterpret_cast<uintptr_t>(pointer));
    if (it == blocks_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "emulated device: free of ", absl::Hex(reinterpret_cast<uintptr_t>(pointer)),
          ", which is not a live allocation"));
    }
    block = it->second;
    live_bytes_ -= block.bytes;
    blocks_.erase(it);
  }
  const size_t rounded = (block.bytes + kAlignment - 1) / kAlignment * kAlignment;
  KILN_UNPOISON(block.raw, kRedZone + rounded + kRedZone);
  std::free(block.raw);
  return absl::OkStatus();
}

std::vector<DeviceRange> DeviceMemory::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<DeviceRange> ranges;
  ranges.reserve(blocks_.size());
  for (const auto& [begin, block] : blocks_) ranges.push_back({begin, begin + block.bytes});
  return ranges;
}

bool DeviceMemory::Contains(const void* pointer, size_t bytes) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  auto it = blocks_.upper_bound(address);
  if (it == blocks_.begin()) return false;
  --it;
  return address + bytes <= it->first + it->second.bytes && address + bytes >= address;
}

size_t DeviceMemory::live_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_bytes_;
}

const DeviceRange* FindRange(const std::vector<DeviceRange>& ranges, uintptr_t address,
                             size_t bytes) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), address,
                             [](uintptr_t a, const DeviceRange& r) { return a < r.begin; });
  if (it == ranges.begin()) return nullptr;
  --it;
  if (address + bytes < address || address + bytes > it->end) return nullptr;
  return &*it;
}

}  // namespace kiln::emulator
