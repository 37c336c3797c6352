// The shared-memory race detector: the emulator's view of which thread
// touched each byte of a block's shared memory since the last barrier.
//
// Two accesses to one byte race when they come from different threads of
// the block, at least one writes, and nothing orders them: no
// __syncthreads* between them (the block's epoch is the same), and, for
// two lanes of one warp, no __syncwarp either (the warp's epoch is the
// same; only a whole-warp __syncwarp advances it, as CUDA orders memory
// for no other collective). Every read since the last write counts, not
// only the latest: a thread may write a byte it read itself while another
// thread's read of it is still unordered. Atomics and explicit PTX loads
// are not recorded. A read of a byte no thread of the block has written is
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
  static constexpr int kNoThread = -1;
  // A byte's history: the last write, and enough of the reads since it to
  // decide whether a write from any thread races with one of them. All the
  // recorded reads share one block epoch (a read in a later epoch starts
  // the record over: every earlier read is ordered before it and before
  // anything after it).
  //   - Once the reads span two warps, every other write in the epoch
  //     races with a read from a warp other than its own.
  //   - Otherwise all reads come from one warp, and a write from that warp
  //     races only with a read by another thread since the warp's last
  //     whole-warp __syncwarp. Warp epochs only grow, so the latest read
  //     by a thread other than the writer decides; the writer is either
  //     not the latest reader (then the latest read decides) or it is
  //     (then the latest read by any other thread does).
  struct Cell {
    uint32_t generation = 0;  // the block this cell's state belongs to
    bool written = false;
    bool has_writer = false;
    bool reads_span_warps = false;
    AccessSite writer;
    AccessSite latest_read{kNoThread};        // kNoThread: no read since the write
    AccessSite other_thread_read{kNoThread};  // latest by a thread other than latest_read's
    AccessSite other_warp_read{kNoThread};    // latest by a warp other than latest_read's
  };
  static bool Ordered(const AccessSite& earlier, const AccessSite& now);
  // A recorded read that races with a write from `site`, if any.
  static const AccessSite* RacingRead(const Cell& cell, const AccessSite& site);
  static void RecordRead(Cell& cell, const AccessSite& site);

  uintptr_t begin_ = 0;
  size_t bytes_ = 0;
  uint32_t generation_ = 1;
  std::vector<Cell> cells_;
};

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_SHARED_CHECKER_H_
