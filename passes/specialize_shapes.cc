// Shape specialisation: binds symbolic dims to sizes.
//
// Options name the symbols Kiln's builders use (batch, seq, cache) with the
// size to bind, e.g. specialize-shapes{batch=1,seq=1,cache=2048} for a
// decode step, or seq=k+1's value for a speculative verify step. With
// `function=F` only @F is specialised; with `as=G` the pass leaves @F as it
// is and adds a specialised copy named @G, so one pipeline can stamp out a
// function per (batch, length) bucket from one generic forward pass.
//
// Plan:
//   1. parse and check the options (sizes positive, `as` needs `function`);
//   2. pick the target functions (a copy renamed to `as`, if given);
//   3. replace every bound symbol in every node type by its size.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ir/verifier.h"
#include "passes/passes.h"

namespace kiln {
namespace {

constexpr const char* kSymbols[] = {"batch", "seq", "cache"};

class SpecializeShapes : public Pass {
 public:
  SpecializeShapes(std::map<std::string, int64_t> sizes, std::string function, std::string as)
      : sizes_(std::move(sizes)), function_(std::move(function)), as_(std::move(as)) {}

  absl::StatusOr<bool> Run(Module& module) override {
    if (!as_.empty()) {
      const Function* source = module.FindFunction(function_);
      if (source == nullptr) return NoFunction();
      if (module.FindFunction(as_) != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("specialize-shapes: @", as_, " already exists"));
      }
      Function copy = *source;
      copy.name = as_;
      Specialize(copy);
      module.functions.push_back(std::move(copy));
      return true;
    }
    bool changed = false, found = false;
    for (Function& f : module.functions) {
      if (!function_.empty() && f.name != function_) continue;
      found = true;
      changed |= Specialize(f);
    }
    if (!found && !function_.empty()) return NoFunction();
    return changed;
  }

 private:
  absl::Status NoFunction() const {
    return absl::InvalidArgumentError(absl::StrCat("specialize-shapes: no function @", function_));
  }

  bool Specialize(Function& f) const {
    bool changed = false;
    for (Node& node : f.nodes) {
      for (Dim& dim : node.type.shape) {
        if (dim.is_static()) continue;
        auto it = sizes_.find(dim.symbol);
        if (it == sizes_.end()) continue;
        dim = Dim::Static(it->second);
        changed = true;
      }
    }
    return changed;
  }

  std::map<std::string, int64_t> sizes_;
  std::string function_;
  std::string as_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Pass>> CreateSpecializeShapes(const PassOptions& options) {
  std::map<std::string, int64_t> sizes;
  for (const char* symbol : kSymbols) {
    auto it = options.find(symbol);
    if (it == options.end()) continue;
    int64_t size = 0;
    if (!absl::SimpleAtoi(it->second, &size) || size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("specialize-shapes: option '", symbol,
                                                     "' must be a positive integer, got '",
                                                     it->second, "'"));
    }
    sizes[symbol] = size;
  }
  auto get = [&](const char* key) {
    auto it = options.find(key);
    return it == options.end() ? std::string() : it->second;
  };
  std::string function = get("function"), as = get("as");
  if (!as.empty() && function.empty()) {
    return absl::InvalidArgumentError("specialize-shapes: 'as' needs 'function' (the source)");
  }
  if (!as.empty() && !IsValidIdentifier(as)) {
    return absl::InvalidArgumentError(absl::StrCat("specialize-shapes: '", as,
                                                   "' is not a valid function name"));
  }
  return std::make_unique<SpecializeShapes>(std::move(sizes), std::move(function), std::move(as));
}

}  // namespace kiln
