#include "tools/bench/traffic.h"

#include <map>
#include <string>

namespace kiln::bench {
namespace {

int64_t Bytes(DType dtype, int64_t count) { return StorageBytes(dtype, count).value_or(0); }

int64_t Elements(const TensorType& type) {
  int64_t n = 1;
  for (const Dim& d : type.shape) n *= d.is_static() ? d.size : 1;
  return n;
}

}  // namespace

StepTraffic DecodeTraffic(const Module& module, const std::vector<SessionBucket>& buckets) {
  StepTraffic t;
  const Function* f = module.functions.empty() ? nullptr : &module.functions.front();
  for (const SessionBucket& b : buckets) {
    if (b.seq == 1) f = module.FindFunction(b.function);
  }
  if (f == nullptr) return t;

  // For each weight: does anything but an embedding's table operand read it?
  std::map<std::string, bool> whole;  // weight name -> read in full
  std::map<ValueId, std::string> weight_of;
  for (ValueId id = 0; id < static_cast<ValueId>(f->nodes.size()); ++id) {
    const Node& n = f->node(id);
    if (n.op == Op::kConstant) {
      weight_of[id] = n.StringAttr("weight");
      whole.emplace(weight_of[id], false);
      continue;
    }
    for (size_t k = 0; k < n.operands.size(); ++k) {
      auto w = weight_of.find(n.operands[k]);
      if (w == weight_of.end()) continue;
      if (n.op != Op::kEmbedding || k != 0) whole[w->second] = true;
    }
  }
  int64_t tokens = 1;  // a decode step embeds one token per sequence
  for (const auto& [name, full] : whole) {
    const WeightDecl* decl = module.FindWeight(name);
    if (decl == nullptr) continue;
    int64_t count = Elements(decl->type);
    if (!full && decl->type.rank() == 2) count = tokens * decl->type.shape[1].size;
    t.weight_bytes += Bytes(decl->type.dtype, count);
  }
  // Caches are the parameters after input_ids and positions, shaped
  // [batch, capacity, ...]: the bytes per position are the trailing dims.
  for (size_t i = 2; i < f->params.size(); ++i) {
    const TensorType& type = f->node(f->params[i]).type;
    int64_t per_position = 1;
    for (int d = 2; d < type.rank(); ++d) per_position *= type.shape[d].size;
    t.kv_bytes_per_position += Bytes(type.dtype, per_position);
  }
  return t;
}

}  // namespace kiln::bench
