// Zero-filled memory that costs nothing until it is touched.
#ifndef KILN_BASE_ZEROED_PAGES_H_
#define KILN_BASE_ZEROED_PAGES_H_

#include <cstddef>
#include <cstdint>

namespace kiln {

// Owns one private anonymous mapping of at least `bytes` bytes, page
// aligned (so 64-byte aligned for every SIMD load), reading as zeros.
//
// Why not aligned_alloc + memset: an executor sizes its KV caches and
// activation arena for the engine's largest batch, sequence and bucket,
// hundreds of MiB, of which a short request touches a few. memset faults
// every page in at load; a fresh mapping is zero by definition, and the
// kernel supplies each page on its first touch. Zero() gives pages back
// the same way (MADV_DONTNEED), so resetting a cache costs in proportion to
// what the last sequence wrote, not to the cache's capacity.
//
// Move-only. data() is nullptr (and bytes() 0) when the mapping failed: out
// of address space (RLIMIT_AS), a request the kernel's overcommit policy
// refuses (more than RAM plus swap under the default heuristic, or over the
// commit limit when overcommit is off): the owner reports that. A request
// of 0 bytes maps one page, so data() is never nullptr on success.
//
// The cost of committing lazily: memory that runs out within what the
// kernel let us map shows up as the OOM killer (which may pick this process
// or another) at the first touch of a page, in the middle of a long
// request, rather than at load. kiln-memory's fit check (which counts every
// page) is the guard against that.
class ZeroedPages {
 public:
  ZeroedPages() = default;
  explicit ZeroedPages(int64_t bytes);
  ~ZeroedPages();
  ZeroedPages(ZeroedPages&& other) noexcept;
  ZeroedPages& operator=(ZeroedPages&& other) noexcept;
  ZeroedPages(const ZeroedPages&) = delete;
  ZeroedPages& operator=(const ZeroedPages&) = delete;

  uint8_t* data() const { return data_; }
  // The size asked for (the mapping is that, rounded up to whole pages).
  int64_t bytes() const { return bytes_; }

  // Makes every byte zero again: drops the pages, so the next touch of each
  // maps a zero page; where the kernel refuses (locked pages: EINVAL), it
  // writes zeros instead.
  void Zero();

 private:
  void Unmap();

  uint8_t* data_ = nullptr;
  int64_t bytes_ = 0;
  size_t mapped_ = 0;  // bytes_ rounded up to whole pages
};

}  // namespace kiln

#endif  // KILN_BASE_ZEROED_PAGES_H_
