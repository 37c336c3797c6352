// Emulated device memory: host allocations that the emulator knows the
// bounds of, so every access a kernel makes can be checked against them.
//
// An allocation is 256-byte aligned (as cudaMalloc's) and filled with 0xFF
// bytes (NaN as float, -1 as int), so a kernel that reads memory nobody
// wrote produces a visible difference instead of a lucky zero. Between
// allocations lie red zones that belong to none (and that ASan builds
// poison), so an access just past the end is out of bounds even before
// the checker's table is consulted.
#ifndef KILN_RUNTIME_EMULATOR_DEVICE_MEMORY_H_
#define KILN_RUNTIME_EMULATOR_DEVICE_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::emulator {

// One allocation's usable bytes [begin, end).
struct DeviceRange {
  uintptr_t begin = 0;
  uintptr_t end = 0;
};

// The allocations of the emulated device, process-wide (as a CUDA context
// is) and safe to use from several host threads.
class DeviceMemory {
 public:
  static DeviceMemory& Global();

  // `bytes` (0 gives a 1-byte allocation, so the pointer is unique).
  absl::StatusOr<void*> Allocate(size_t bytes);
  // InvalidArgument for a pointer Allocate did not return (or freed).
  absl::Status Free(void* pointer);

  // The live allocations, sorted by address: what a launch checks against
  // (kernels cannot allocate, so the table is fixed while one runs).
  std::vector<DeviceRange> Snapshot() const;
  // The allocation containing [pointer, pointer + bytes), if any.
  bool Contains(const void* pointer, size_t bytes) const;
  size_t live_bytes() const;

 private:
  struct Block {
    void* raw = nullptr;  // what was malloc'd, red zones included
    size_t bytes = 0;
  };
  mutable std::mutex mutex_;
  std::map<uintptr_t, Block> blocks_;  // by usable begin
  size_t live_bytes_ = 0;
};

// Finds the allocation holding [address, address + bytes) in a snapshot.
const DeviceRange* FindRange(const std::vector<DeviceRange>& ranges, uintptr_t address,
                             size_t bytes);

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_DEVICE_MEMORY_H_
