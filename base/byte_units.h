// Byte counts for people: binary units, as memory is sized.
#ifndef KILN_BASE_BYTE_UNITS_H_
#define KILN_BASE_BYTE_UNITS_H_

#include <cstdint>
#include <string>

namespace kiln {

// "512 B", "12.0 KiB", "96.6 MiB", "13.49 GiB" (GiB with two decimals, as
// the sizes users compare against are quoted that way).
std::string HumanBytes(int64_t bytes);

}  // namespace kiln

#endif  // KILN_BASE_BYTE_UNITS_H_
