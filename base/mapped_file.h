// A whole file mapped read-only into memory, for the weight-file readers
// (safetensors, GGUF).
#ifndef KILN_BASE_MAPPED_FILE_H_
#define KILN_BASE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln {

// Owns one read-only MAP_PRIVATE mapping of a whole regular file, unmapped
// on destruction. Move-only; a default-constructed or moved-from MappedFile
// maps nothing and bytes() is empty.
//
// Open() accepts only regular files (a FIFO, directory or device is
// refused without blocking). An empty file yields an empty MappedFile
// (bytes() empty, data() nullptr) rather than an error, since mmap refuses
// length 0; the caller's parser reports what an empty file means for its
// format. Errors, where `what` names the format (e.g. "GGUF file"):
//   "cannot open <what> <path>: <strerror>"  NotFound for ENOENT/ENOTDIR,
//   "cannot stat <path>: <strerror>"         PermissionDenied for
//   "cannot mmap <path>: <strerror>"         EACCES/EPERM, else Unavailable;
//   "<path>: not a regular file"             InvalidArgument.
// The file descriptor is closed before Open returns; the mapping keeps the
// file alive. As with any mmap reader, truncating the file while it is
// mapped makes later reads fault (SIGBUS).
class MappedFile {
 public:
  MappedFile() = default;
  static absl::StatusOr<MappedFile> Open(const std::string& path, std::string_view what);

  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // The whole file; empty for an empty file. Valid while this object lives
  // (and is not moved from or assigned to).
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  MappedFile(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  void Unmap();

  const uint8_t* data_ = nullptr;  // nullptr when nothing is mapped.
  size_t size_ = 0;
};

// Asks the kernel to drop the resident pages lying wholly inside `bytes`, a
// range of a live MappedFile's bytes(). The contents do not change: a later
// read faults the pages back in from the file. For a caller that has copied
// what it needs (a decoded weight) and will not read the range again soon,
// this keeps resident memory at one copy rather than two.
void DropResidentPages(std::span<const uint8_t> bytes);

}  // namespace kiln

#endif  // KILN_BASE_MAPPED_FILE_H_
