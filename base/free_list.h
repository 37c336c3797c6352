// First-fit allocation of byte ranges in one growing arena, shared by
// plan-memory (IR values in definition order) and the CUDA launch plan
// (values in launch order).
#ifndef KILN_BASE_FREE_LIST_H_
#define KILN_BASE_FREE_LIST_H_

#include <cstdint>
#include <iterator>
#include <map>

namespace kiln {

// Free space of an arena as offset -> size, coalesced on release. Allocate
// takes the lowest free block that fits, else grows the arena (reusing a
// free block at its top). Sizes are the caller's (already aligned).
class FreeList {
 public:
  int64_t Allocate(int64_t size) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < size) continue;
      int64_t offset = it->first, left = it->second - size;
      free_.erase(it);
      if (left > 0) free_[offset + size] = left;
      return offset;
    }
    int64_t offset = top_;
    if (!free_.empty()) {
      auto last = std::prev(free_.end());
      if (last->first + last->second == top_) {
        offset = last->first;
        free_.erase(last);
      }
    }
    top_ = offset + size;
    return offset;
  }

  void Release(int64_t offset, int64_t size) {
    auto [it, inserted] = free_.emplace(offset, size);
    auto next = std::next(it);
    if (next != free_.end() && offset + size == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }

  // The arena's size so far: the highest end of any allocation.
  int64_t peak() const { return top_; }

 private:
  std::map<int64_t, int64_t> free_;
  int64_t top_ = 0;
};

}  // namespace kiln

#endif  // KILN_BASE_FREE_LIST_H_
