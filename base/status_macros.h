// Status propagation macros used across Kiln (the XLA/IREE idiom).
#ifndef KILN_BASE_STATUS_MACROS_H_
#define KILN_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KILN_CONCAT_INNER_(a, b) a##b
#define KILN_CONCAT_(a, b) KILN_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) fails.
#define KILN_RETURN_IF_ERROR(expr)                       \
  do {                                                   \
    absl::Status kiln_status_ = (expr);                  \
    if (!kiln_status_.ok()) return kiln_status_;         \
  } while (false)

// `lhs = value of expr` when the StatusOr `expr` holds one; else returns its
// status. `lhs` may declare a variable: KILN_ASSIGN_OR_RETURN(auto x, F());
#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL_(KILN_CONCAT_(kiln_statusor_, __LINE__), lhs, expr)

#define KILN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#endif  // KILN_BASE_STATUS_MACROS_H_
