#include "base/zeroed_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace kiln {

ZeroedPages::ZeroedPages(int64_t bytes) : bytes_(bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t want = static_cast<size_t>(std::max<int64_t>(bytes, 1));
  mapped_ = (want + page - 1) / page * page;
  void* addr = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED) {
    mapped_ = 0;
    bytes_ = 0;
    return;
  }
  data_ = static_cast<uint8_t*>(addr);
}

ZeroedPages::~ZeroedPages() { Unmap(); }

ZeroedPages::ZeroedPages(ZeroedPages&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

ZeroedPages& ZeroedPages::operator=(ZeroedPages&& other) noexcept {
  if (this != &other) {
    Unmap();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

void ZeroedPages::Zero() {
  if (data_ == nullptr) return;
  // On a private anonymous mapping, MADV_DONTNEED discards the pages and
  // the next access of each reads a fresh zero page (madvise(2)).
  if (madvise(data_, mapped_, MADV_DONTNEED) != 0) std::memset(data_, 0, mapped_);
}

void ZeroedPages::Unmap() {
  if (data_ != nullptr) munmap(data_, mapped_);
  data_ = nullptr;
  mapped_ = 0;
  bytes_ = 0;
}

}  // namespace kiln
