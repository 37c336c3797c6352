// The pass contract and the registry that drives both compile pipelines and
// the ir-opt test driver.
#ifndef KILN_PASSES_PASS_H_
#define KILN_PASSES_PASS_H_

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ir/module.h"

namespace kiln {

// A transformation of a module. Run returns true when it changed something,
// false when the module is untouched, and an error when the module cannot be
// transformed (the module may then be partially rewritten and must be
// discarded).
class Pass {
 public:
  virtual ~Pass() = default;
  virtual absl::StatusOr<bool> Run(Module& module) = 0;

  // What the last Run found worth telling a user (e.g. plan-memory's peak);
  // empty when nothing.
  virtual std::string Report() const { return ""; }
};

// Option values by name, as written in `name{key=value,...}`.
using PassOptions = std::map<std::string, std::string, std::less<>>;

struct PassOptionInfo {
  std::string_view name;
  std::string_view help;
};

// One registered pass: its name, a one-line summary, the options it accepts
// and a factory that validates them.
struct PassInfo {
  std::string_view name;
  std::string_view summary;
  std::span<const PassOptionInfo> options;
  std::function<absl::StatusOr<std::unique_ptr<Pass>>(const PassOptions&)> create;
};

// Every pass, in the order `ir-opt --help` lists them.
std::span<const PassInfo> AllPasses();

// Creates a pass from a spec such as "cse" or "specialize-shapes{batch=1}".
absl::StatusOr<std::unique_ptr<Pass>> CreatePass(std::string_view spec);

}  // namespace kiln

#endif  // KILN_PASSES_PASS_H_
