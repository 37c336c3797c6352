#include "runtime/emulator/shared_checker.h"

#include <algorithm>

namespace kiln::emulator {

void SharedRegionChecker::Reset(uintptr_t begin, size_t bytes) {
  begin_ = begin;
  bytes_ = bytes;
  cells_.assign(bytes, Cell{});
  generation_ = 1;
}

// An earlier access is ordered before `now` when a block barrier separates
// them, or both are lanes of one warp with a whole-warp __syncwarp in
// between.
bool SharedRegionChecker::Ordered(const AccessSite& earlier, const AccessSite& now) {
  if (earlier.block_epoch != now.block_epoch) return true;
  return earlier.warp == now.warp && earlier.warp_epoch != now.warp_epoch;
}

const AccessSite* SharedRegionChecker::RacingRead(const Cell& cell, const AccessSite& site) {
  const AccessSite& latest = cell.latest_read;
  if (latest.thread == kNoThread || latest.block_epoch != site.block_epoch) return nullptr;
  // A read from another warp in this block epoch: nothing orders it.
  if (latest.warp != site.warp) return &latest;
  if (cell.reads_span_warps) return &cell.other_warp_read;
  // All reads are this warp's: the latest one by a thread other than the
  // writer is the last chance of one after the warp's last __syncwarp.
  const AccessSite& other = latest.thread != site.thread ? latest : cell.other_thread_read;
  if (other.thread == kNoThread || Ordered(other, site)) return nullptr;
  return &other;
}

void SharedRegionChecker::RecordRead(Cell& cell, const AccessSite& site) {
  AccessSite& latest = cell.latest_read;
  if (latest.thread == kNoThread || latest.block_epoch != site.block_epoch) {
    cell.reads_span_warps = false;
    cell.other_thread_read.thread = kNoThread;
    cell.other_warp_read.thread = kNoThread;
  } else {
    // The previous latest read is the latest by its thread and its warp.
    if (latest.thread != site.thread) cell.other_thread_read = latest;
    if (latest.warp != site.warp) {
      cell.other_warp_read = latest;
      cell.reads_span_warps = true;
    }
  }
  latest = site;
}

std::optional<SharedConflict> SharedRegionChecker::Access(uintptr_t address, size_t bytes,
                                                          bool is_write, const AccessSite& site) {
  const size_t first = address - begin_;
  const size_t last = std::min(first + bytes, bytes_);
  for (size_t offset = first; offset < last; ++offset) {
    Cell& cell = cells_[offset];
    if (cell.generation != generation_) {
      cell = Cell();
      cell.generation = generation_;
    }
    if (cell.has_writer && cell.writer.thread != site.thread && !Ordered(cell.writer, site)) {
      return SharedConflict{SharedConflict::kRace, offset, true, cell.writer};
    }
    if (!is_write) {
      if (!cell.written) {
        SharedConflict uninitialized;
        uninitialized.kind = SharedConflict::kUninitializedRead;
        uninitialized.offset = offset;
        return uninitialized;
      }
      RecordRead(cell, site);
      continue;
    }
    if (const AccessSite* read = RacingRead(cell, site); read != nullptr) {
      return SharedConflict{SharedConflict::kRace, offset, false, *read};
    }
    cell.written = true;
    cell.has_writer = true;
    cell.writer = site;
    cell.latest_read.thread = kNoThread;
  }
  return std::nullopt;
}

}  // namespace kiln::emulator
