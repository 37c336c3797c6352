#include "tests/runtime/op_test_support.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ir/builder.h"
#include "ir/text.h"

namespace kiln::op_test {
namespace {

int64_t Count(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

TensorType DeclaredType(const Arg& arg) {
  TensorType type{arg.value.host.dtype, {}};
  for (size_t d = 0; d < arg.value.host.shape.size(); ++d) {
    type.shape.push_back(d < arg.symbols.size() ? Dim::Symbol(arg.symbols[d])
                                                : Dim::Static(arg.value.host.shape[d]));
  }
  return type;
}

double Nmse(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return norm > 0 ? err / norm : err;
}

// Equal values, NaN equal to NaN, and the sign of zero preserved.
bool SameValue(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

}  // namespace

// ---------------------------------------------------------------- seeds

// ---------------------------------------------------------------- inputs

Input FromHost(HostTensor host) {
  f64::Tensor ref{host.shape, {}};
  if (IsFloat(host.dtype)) {
    ref.data.assign(host.floats.begin(), host.floats.end());
  } else {
    ref.data.assign(host.ints.begin(), host.ints.end());
  }
  return {std::move(host), std::move(ref)};
}

Input Floats(DType dtype, std::vector<int64_t> shape, std::vector<float> values) {
  return FromHost(HostTensor::FromFloats(dtype, std::move(shape), std::move(values)));
}

Input Ints(DType dtype, std::vector<int64_t> shape, std::vector<int64_t> values) {
  return FromHost(HostTensor::FromInts(dtype, std::move(shape), std::move(values)));
}

Input Uniform(Rng& rng, DType dtype, std::vector<int64_t> shape, double lo, double hi) {
  int64_t n = Count(shape);
  if (!IsFloat(dtype)) {
    std::uniform_int_distribution<int64_t> dist(static_cast<int64_t>(lo),
                                                static_cast<int64_t>(hi) - 1);
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (int64_t& e : v) e = dist(rng);
    return Ints(dtype, std::move(shape), std::move(v));
  }
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = static_cast<float>(dist(rng));
  return Floats(dtype, std::move(shape), std::move(v));
}

Input Normal(Rng& rng, DType dtype, std::vector<int64_t> shape, double mean, double sd) {
  std::normal_distribution<double> dist(mean, sd);
  std::vector<float> v(static_cast<size_t>(Count(shape)));
  for (float& e : v) e = static_cast<float>(dist(rng));
  return Floats(dtype, std::move(shape), std::move(v));
}

Input ContiguousPositions(Rng& rng, int64_t batch, int64_t seq, int64_t lo, int64_t capacity) {
  std::uniform_int_distribution<int64_t> dist(lo, capacity - seq);
  std::vector<int64_t> v;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t start = dist(rng);
    for (int64_t s = 0; s < seq; ++s) v.push_back(start + s);
  }
  return Ints(kI32, {batch, seq}, std::move(v));
}

Input DistinctPositions(Rng& rng, int64_t batch, int64_t seq, int64_t capacity) {
  std::vector<int64_t> v;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> all(static_cast<size_t>(capacity));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    v.insert(v.end(), all.begin(), all.begin() + seq);
  }
  return Ints(kI64, {batch, seq}, std::move(v));
}

// ---------------------------------------------------------------- modules

Arg Weight(std::string name, Input value) { return {std::move(name), std::move(value), {}, true}; }

Prepared OneOp(Op op, std::vector<Arg> args, Attrs attrs, f64::Tensor expected,
               const TensorType& target) {
  Prepared p;
  Module module;
  module.name = "one_op";
  FunctionBuilder fb(module, "f");
  std::vector<ValueId> operands;
  WeightMap weights;
  for (Arg& arg : args) {
    if (arg.weight) {
      operands.push_back(fb.Weight(arg.name, DeclaredType(arg)));
      weights[arg.name] = std::move(arg.value.host);
    } else {
      operands.push_back(fb.Parameter(arg.name, DeclaredType(arg)));
      p.inputs.push_back(std::move(arg.value.host));
    }
  }
  ValueId out = op == Op::kReshape ? fb.Reshape(operands[0], target.shape, "out")
                : op == Op::kCast  ? fb.Cast(operands[0], target.dtype, "out")
                                   : fb.Add(op, operands, std::move(attrs), "out");
  absl::Status built = fb.Finish({out});
  p.executor = built.ok() ? ReferenceExecutor::Create(std::move(module), std::move(weights))
                          : absl::StatusOr<ReferenceExecutor>(built);
  p.expected.push_back(std::move(expected));
  return p;
}

ReferenceExecutor FromText(const std::string& text, WeightMap weights) {
  absl::StatusOr<Module> module = ParseModule(text);
  EXPECT_TRUE(module.ok()) << module.status();
  absl::StatusOr<ReferenceExecutor> executor =
      ReferenceExecutor::Create(*std::move(module), std::move(weights));
  EXPECT_TRUE(executor.ok()) << executor.status();
  return *std::move(executor);
}

// ---------------------------------------------------------------- metrics

std::map<std::string, OpStats>& Stats() {
  static auto* stats = new std::map<std::string, OpStats>();
  return *stats;
}

void StatsPrinter::TearDown() {
  std::printf("\nworst error per op (%s)\n", SeedNote().c_str());
  std::printf("%-15s %5s %11s %11s %9s %11s %9s\n", "op", "runs", "f32 NMSE", "f16 NMSE",
              "f16 e/tol", "bf16 NMSE", "bf16 e/tol");
  for (const auto& [op, s] : Stats()) {
    if (s.nmse.empty()) {
      std::printf("%-15s %5d   exact: %" PRId64 " elements, all equal\n", op.c_str(), s.runs,
                  s.exact_elements);
      continue;
    }
    auto cell = [](const std::map<DType, double>& m, DType d, const char* fmt) {
      auto it = m.find(d);
      return it == m.end() ? std::string("-") : absl::StrFormat(fmt, it->second);
    };
    std::printf("%-15s %5d %11s %11s %9s %11s %9s\n", op.c_str(), s.runs,
                cell(s.nmse, kF32, "%.2e").c_str(), cell(s.nmse, kF16, "%.2e").c_str(),
                cell(s.tol_ratio, kF16, "%.3f").c_str(), cell(s.nmse, kBF16, "%.2e").c_str(),
                cell(s.tol_ratio, kBF16, "%.3f").c_str());
  }
}

void ExpectClose(const std::string& op, const HostTensor& got, const f64::Tensor& want,
                 const f64::Tensor* terms) {
  ASSERT_EQ(got.shape, want.shape);
  ASSERT_EQ(got.floats.size(), want.data.size());
  OpStats& stats = Stats()[op];
  double nmse = Nmse(got.floats, want.data);
  stats.nmse[got.dtype] = std::max(stats.nmse[got.dtype], nmse);
  if (got.dtype == kF32) {
    EXPECT_LE(nmse, 1e-7) << op << " f32";
    return;
  }
  double rms = 0;
  for (double w : want.data) rms += w * w / static_cast<double>(want.data.size());
  double scale = std::max(1.0, std::sqrt(rms));
  double atol = 1e-3 * scale, rtol = got.dtype == kF16 ? 1e-3 : 1.6e-2;
  double worst = 0;
  int64_t bad = 0, first_bad = -1;
  for (size_t i = 0; i < want.data.size(); ++i) {
    double m = terms ? terms->data[i] : 0.0;
    double ratio =
        std::fabs(got.floats[i] - want.data[i]) / (atol + rtol * (std::fabs(want.data[i]) + m));
    if (!(ratio <= 1.0) && bad++ == 0) first_bad = static_cast<int64_t>(i);
    worst = std::max(worst, std::isnan(ratio) ? INFINITY : ratio);
  }
  stats.tol_ratio[got.dtype] = std::max(stats.tol_ratio[got.dtype], worst);
  EXPECT_EQ(bad, 0) << op << " " << DTypeName(got.dtype) << ": " << bad << " of "
                    << want.data.size() << " elements outside (atol " << atol << ", rtol " << rtol
                    << "); first at flat index " << first_bad << ": got "
                    << got.floats[std::max<int64_t>(first_bad, 0)] << ", want "
                    << want.data[std::max<int64_t>(first_bad, 0)];
}

void ExpectExact(const std::string& op, const HostTensor& got, const f64::Tensor& want) {
  ASSERT_EQ(got.shape, want.shape);
  f64::Tensor got64 = FromHost(got).ref;
  ASSERT_EQ(got64.data.size(), want.data.size());
  int64_t bad = 0;
  for (size_t i = 0; i < want.data.size(); ++i) {
    if (SameValue(got64.data[i], want.data[i])) continue;
    if (bad++ < 5) {
      ADD_FAILURE() << op << " " << DTypeName(got.dtype) << " flat index " << i << ": got "
                    << got64.data[i] << ", want " << want.data[i];
    }
  }
  EXPECT_EQ(bad, 0) << op << ": " << bad << " of " << want.data.size() << " elements differ";
  Stats()[op].exact_elements += static_cast<int64_t>(want.data.size());
}

}  // namespace kiln::op_test
