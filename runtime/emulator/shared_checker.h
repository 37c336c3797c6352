// The shared-memory race detector: the emulator's view of which thread
// touched each byte of a block's shared memory since the last barrier.
//
// Two accesses to one byte race when they come from different threads of
// the block, at least one writes, and nothing orders them: no
// __syncthreads* between them (the block's epoch is the same), and, for
// two lanes of one warp, no __syncwarp either (the
// warp's epoch is the same; only a whole-warp __syncwarp advances it, as
// CUDA orders memory for no other collective). Atomics and explicit PTX
// loads are not
// recorded. A read of a byte no thread of the block has written is
// reported too: shared memory starts each block with whatever the last one
// left, which no kernel may depend on.
//
// Shadow state is per byte, reset lazily by a block generation number, so
// starting a block costs nothing however large the shared memory is.
#ifndef KILN_RUNTIME_EMULATOR_SHARED_CHECKER_H_
#define KILN_RUNTIME_EMULATOR_SHARED_CHECKER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::emulator {

// Where an access came from: thread, its warp, both epochs, and the code.
struct AccessSite {
  int thread = 0;
  int warp = 0;
  uint32_t block_epoch = 0;
  uint32_t warp_epoch = 0;
  const void* pc = nullptr;
};

// A conflict found: the earlier access and what it was.
struct SharedConflict {
  enum Kind { kRace, kUninitializedRead } kind = kRace;
  size_t offset = 0;            // byte offset in the region
  bool earlier_was_write = false;
  AccessSite earlier;           // meaningless for kUninitializedRead
};

// One region of shared memory (the module's static shared variables, or a
// launch's dynamic shared memory).
class SharedRegionChecker {
 public:
  void Reset(uintptr_t begin, size_t bytes);
  bool Contains(uintptr_t address) const { return address - begin_ < bytes_; }
  uintptr_t begin() const { return begin_; }
  // Starts a block: every byte unwritten, no reader.
  void NewBlock() { ++generation_; }

  // Records an access of [address, address + bytes) clipped to the region;
  // the first conflict, if any.
  std::optional<SharedConflict> Access(uintptr_t address, size_t bytes, bool is_write,
                                       const AccessSite& site);

 private:
  struct Cell {
    uint32_t generation = 0;  // the block this cell's state belongs to
    bool written = false;
    bool has_writer = false;
    AccessSite writer;
    int reader = -1;          // thread, -1 none, -2 several
    int reader_warp = -1;     // the readers' warp, -1 when they span warps
    AccessSite read;          // the latest reader's site
  };
  static bool Ordered(const AccessSite& earlier, const AccessSite& now, int earlier_warp);

  uintptr_t begin_ = 0;
  size_t bytes_ = 0;
  uint32_t generation_ = 1;
  std::vector<Cell> cells_;
};

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_SHARED_CHECKER_H_
