// Runs one IR op on the reference executor: the specification a kernel is
// compared with.
#ifndef KILN_TESTS_SUPPORT_ONE_OP_H_
#define KILN_TESTS_SUPPORT_ONE_OP_H_

#include <vector>

#include "absl/status/statusor.h"
#include "ir/module.h"
#include "base/host_tensor.h"

namespace kiln::testing {

// `op` applied to `inputs` (one function parameter each, static shapes)
// with `attrs`; the result type is inferred by the builder.
absl::StatusOr<HostTensor> RunOneOp(Op op, std::vector<HostTensor> inputs, Attrs attrs = {});

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_ONE_OP_H_
