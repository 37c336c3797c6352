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
// them, or both are lanes of one warp with a warp collective in between.
bool SharedRegionChecker::Ordered(const AccessSite& earlier, const AccessSite& now,
                                  int earlier_warp) {
  if (earlier.block_epoch != now.block_epoch) return true;
  return earlier_warp == now.warp && earlier.warp_epoch != now.warp_epoch;
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
    if (cell.has_writer && cell.writer.thread != site.thread &&
        !Ordered(cell.writer, site, cell.writer.warp)) {
      return SharedConflict{SharedConflict::kRace, offset, true, cell.writer};
    }
    if (!is_write) {
      if (!cell.written) {
        SharedConflict uninitialized;
        uninitialized.kind = SharedConflict::kUninitializedRead;
        uninitialized.offset = offset;
        return uninitialized;
      }
      if (cell.reader == -1 || cell.read.block_epoch != site.block_epoch) {
        cell.reader = site.thread;
        cell.reader_warp = site.warp;
      } else if (cell.reader != site.thread) {
        cell.reader = -2;
        if (cell.reader_warp != site.warp) cell.reader_warp = -1;
      }
      cell.read = site;
      continue;
    }
    const bool other_reader = cell.reader == -2 || (cell.reader >= 0 && cell.reader != site.thread);
    if (other_reader && !Ordered(cell.read, site, cell.reader_warp)) {
      return SharedConflict{SharedConflict::kRace, offset, false, cell.read};
    }
    cell.written = true;
    cell.has_writer = true;
    cell.writer = site;
    cell.reader = -1;
    cell.reader_warp = -1;
  }
  return std::nullopt;
}

}  // namespace kiln::emulator
