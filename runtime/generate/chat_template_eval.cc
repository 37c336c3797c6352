// The chat template evaluator: walks the tree with Jinja2's scoping (a for
// loop body gets a fresh scope per iteration, so `set` inside it does not
// leak; `if` shares its enclosing scope; namespaces are shared references)
// and Python operator semantics. Every step is counted against the Budget.
#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/chat_template_internal.h"

namespace kiln::chat_template_internal {
namespace {

using K = Value::Kind;

class Evaluator {
 public:
  Evaluator(const Program& program, ValueMap globals, int64_t step_limit)
      : prog_(program), budget_(step_limit) {
    scopes_.emplace_back();
    for (auto& [k, v] : globals) scopes_.back()[k] = std::move(v);
    scopes_.emplace_back();  // the template's own top-level scope
  }

  absl::StatusOr<std::string> Run() {
    Flow flow = Flow::kNormal;
    KILN_RETURN_IF_ERROR(Render(prog_.body, flow));
    if (budget_.exhausted()) return budget_.Exhausted();
    return std::move(out_);
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // Adds the location of `pos` to a builtin's plain error.
  absl::Status At(size_t pos, const absl::Status& s) const {
    return absl::Status(s.code(), absl::StrCat("chat template ", Location(prog_.source, pos), ": ", std::string(s.message())));
  }
  absl::Status Fail(size_t pos, std::string_view message) const { return At(pos, absl::InvalidArgumentError(std::string(message))); }
  absl::Status Step(size_t pos) {
    if (!budget_.Spend(1)) return At(pos, budget_.Exhausted());
    return absl::OkStatus();
  }
  // The error Jinja raises on using an undefined value.
  absl::Status UndefinedError(size_t pos, const Value& v) const { return Fail(pos, v.s()); }

  // Appends to the output; also where a budget that a builtin exhausted
  // (leaving `text` meaningless) turns into the error.
  absl::Status Append(size_t pos, std::string_view text) {
    if (budget_.exhausted() || !budget_.SpendBytes(text.size()))
      return At(pos, budget_.Exhausted());
    if (out_.size() + text.size() > kMaxOutputBytes) {
      return At(pos, absl::ResourceExhaustedError("rendered output exceeds 16 MiB"));
    }
    out_.append(text);
    return absl::OkStatus();
  }

  Value Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto hit = it->find(name);
      if (hit != it->end()) return hit->second;
    }
    return Value::Undefined(absl::StrCat("'", name, "' is undefined"));
  }

  // ---- statements ----

  absl::Status Render(const std::vector<Node>& body, Flow& flow) {
    for (const Node& n : body) {
      KILN_RETURN_IF_ERROR(RenderNode(n, flow));
      if (flow != Flow::kNormal) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status RenderNode(const Node& n, Flow& flow) {
    KILN_RETURN_IF_ERROR(Step(n.pos));
    switch (n.kind) {
      case Node::Kind::kText: return Append(n.pos, n.text);
      case Node::Kind::kOutput: {
        KILN_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        return Append(n.pos, ToStr(v, budget_));
      }
      case Node::Kind::kIf:
        for (size_t i = 0; i < n.conds.size(); ++i) {
          KILN_ASSIGN_OR_RETURN(Value c, Eval(*n.conds[i]));
          if (Truthy(c)) return Render(n.bodies[i], flow);
        }
        return Render(n.else_body, flow);
      case Node::Kind::kFor: return RenderFor(n, flow);
      case Node::Kind::kSet: {
        KILN_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        scopes_.back()[n.targets[0]] = std::move(v);
        return absl::OkStatus();
      }
      case Node::Kind::kSetAttr: {
        Value ns = Lookup(n.targets[0]);
        if (!ns.is(K::kNamespace)) return Fail(n.pos, "cannot assign attribute on non-namespace object");
        KILN_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        const bool cycle = Reaches(v, ns.map.get(), budget_);
        if (budget_.exhausted()) return At(n.pos, budget_.Exhausted());
        if (cycle) {
          return Fail(n.pos, absl::StrCat("cannot store namespace '", n.targets[0],
                                          "' inside itself (through '", n.targets[0], ".",
                                          n.targets[1], "'): the value refers back to it"));
        }
        if (!budget_.SpendKeys(ns.map->size())) return At(n.pos, budget_.Exhausted());
        for (auto& [k, old] : *ns.map) {
          if (k == n.targets[1]) {
            old = std::move(v);
            return absl::OkStatus();
          }
        }
        ns.map->emplace_back(n.targets[1], std::move(v));
        return absl::OkStatus();
      }
      case Node::Kind::kBreak: flow = Flow::kBreak; return absl::OkStatus();
      case Node::Kind::kContinue: flow = Flow::kContinue; return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status Bind(const Node& n, const Value& item) {
    if (n.targets.size() == 1) {
      scopes_.back()[n.targets[0]] = item;
      return absl::OkStatus();
    }
    if (!item.is(K::kList) || item.list->size() != n.targets.size()) {
      return Fail(n.pos, absl::StrCat("cannot unpack ", TypeName(item), " into ", n.targets.size(), " loop variables"));
    }
    for (size_t i = 0; i < n.targets.size(); ++i) scopes_.back()[n.targets[i]] = (*item.list)[i];
    return absl::OkStatus();
  }

  absl::Status RenderFor(const Node& n, Flow& flow) {
    KILN_ASSIGN_OR_RETURN(Value iterable, Eval(*n.expr));
    absl::StatusOr<Value> listed = ApplyFilter("list", iterable, {}, {}, budget_);
    if (!listed.ok()) return At(n.expr->pos, listed.status());
    std::shared_ptr<const ValueList> items = listed->list;
    if (n.filter) {  // `for x in xs if cond`: filter first, then number the kept items
      ValueList kept;
      for (const Value& item : *items) {
        scopes_.emplace_back();
        absl::Status bound = Bind(n, item);
        absl::StatusOr<Value> keep = bound.ok() ? Eval(*n.filter) : absl::StatusOr<Value>(bound);
        scopes_.pop_back();
        if (!keep.ok()) return keep.status();
        if (Truthy(*keep)) kept.push_back(item);
      }
      items = std::make_shared<const ValueList>(std::move(kept));
    }
    if (items->empty()) return Render(n.else_body, flow);
    for (size_t i = 0; i < items->size(); ++i) {
      KILN_RETURN_IF_ERROR(Step(n.pos));
      scopes_.emplace_back();
      if (n.body_names_loop) scopes_.back()["loop"] = LoopObject(*items, i);
      absl::Status status = Bind(n, (*items)[i]);
      Flow inner = Flow::kNormal;
      if (status.ok()) status = Render(n.bodies[0], inner);
      scopes_.pop_back();
      KILN_RETURN_IF_ERROR(status);
      if (inner == Flow::kBreak) break;
    }
    return absl::OkStatus();
  }

  // Jinja's `loop` for item i of items.
  static Value LoopObject(const ValueList& items, size_t i) {
    const int64_t length = static_cast<int64_t>(items.size());
    const int64_t index = static_cast<int64_t>(i);
    ValueMap loop = {{"index", Value::Int(index + 1)},
                     {"index0", Value::Int(index)},
                     {"revindex", Value::Int(length - index)},
                     {"revindex0", Value::Int(length - index - 1)},
                     {"first", Value::Bool(i == 0)},
                     {"last", Value::Bool(i + 1 == items.size())},
                     {"length", Value::Int(length)},
                     {"depth", Value::Int(1)},
                     {"depth0", Value::Int(0)}};
    if (i > 0) loop.emplace_back("previtem", items[i - 1]);
    if (i + 1 < items.size()) loop.emplace_back("nextitem", items[i + 1]);
    return Value::Map(std::move(loop));
  }

  // ---- expressions ----

  // Evaluates e; a budget that a builtin exhausted on the way is the error,
  // at the innermost expression that ran out (an error of another kind may
  // come from a meaningless value made after it ran out).
  absl::StatusOr<Value> Eval(const Expr& e) {
    KILN_RETURN_IF_ERROR(Step(e.pos));
    absl::StatusOr<Value> v = EvalExpr(e);
    if (budget_.exhausted() && v.status().code() != absl::StatusCode::kResourceExhausted) {
      return At(e.pos, budget_.Exhausted());
    }
    return v;
  }

  absl::StatusOr<Value> EvalExpr(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.literal;
      case Expr::Kind::kName: return Lookup(e.name);
      case Expr::Kind::kList: {
        ValueList items;
        for (const auto& a : e.args) {
          KILN_ASSIGN_OR_RETURN(Value v, Eval(*a));
          items.push_back(std::move(v));
        }
        return e.name == "tuple" ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
      }
      case Expr::Kind::kDict: {
        ValueMap items;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          KILN_ASSIGN_OR_RETURN(Value k, Eval(*e.args[i]));
          KILN_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1]));
          if (!k.is(K::kString)) return Fail(e.args[i]->pos, "dict keys must be strings in Kiln's chat templates");
          absl::Status built = budget_.Build(k.s().size());  // the key is copied
          if (!built.ok()) return At(e.args[i]->pos, built);
          // A repeated key keeps its first place and takes the last value, as
          // in Python.
          bool found = false;
          if (!budget_.SpendKeys(items.size())) return Value::None();  // Eval reports it
          for (auto& [key, old] : items) {
            if (key.size() != k.s().size()) continue;
            if (!budget_.Spend(static_cast<int64_t>(key.size() / 16))) return Value::None();
            if (key == k.s()) {
              old = std::move(v);
              found = true;
              break;
            }
          }
          if (!found) items.emplace_back(k.s(), std::move(v));
        }
        return Value::Map(std::move(items));
      }
      case Expr::Kind::kAttr: {
        KILN_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
        return Member(e.pos, obj, Value::String(e.name));
      }
      case Expr::Kind::kItem: {
        KILN_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
        KILN_ASSIGN_OR_RETURN(Value key, Eval(*e.args[1]));
        return Member(e.pos, obj, key);
      }
      case Expr::Kind::kSlice: return EvalSlice(e);
      case Expr::Kind::kCall: return EvalCall(e);
      case Expr::Kind::kFilter:
      case Expr::Kind::kTest: {
        KILN_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
        Args args;
        Kwargs kwargs;
        KILN_RETURN_IF_ERROR(EvalArguments(e, args, kwargs));
        if (e.kind == Expr::Kind::kFilter) {
          absl::StatusOr<Value> r = ApplyFilter(e.name, v, args, kwargs, budget_);
          if (!r.ok()) return At(e.pos, r.status());
          return r;
        }
        absl::StatusOr<bool> r = ApplyTest(e.name, v, args, budget_);
        if (!r.ok()) return At(e.pos, r.status());
        return Value::Bool(*r != e.negated);
      }
      case Expr::Kind::kNot: {
        KILN_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
        return Value::Bool(!Truthy(v));
      }
      case Expr::Kind::kNeg:
      case Expr::Kind::kPos: {
        KILN_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
        if (v.is(K::kUndefined)) return UndefinedError(e.pos, v);
        if (!v.is(K::kInt) && !v.is(K::kBool)) return Fail(e.pos, absl::StrCat("bad operand type for unary -: '", TypeName(v), "'"));
        int64_t x = v.is(K::kBool) ? v.boolean : v.integer;
        if (e.kind == Expr::Kind::kNeg && x == INT64_MIN) return Fail(e.pos, "integer overflow");
        return Value::Int(e.kind == Expr::Kind::kNeg ? -x : x);
      }
      case Expr::Kind::kBinary: return EvalBinary(e);
      case Expr::Kind::kCompare: return EvalCompare(e);
      case Expr::Kind::kCond: {
        KILN_ASSIGN_OR_RETURN(Value c, Eval(*e.args[0]));
        if (Truthy(c)) return Eval(*e.args[1]);
        if (e.args[2]) return Eval(*e.args[2]);
        return Value::Undefined("the inline if expression evaluated to false and no else section was defined");
      }
    }
    return Fail(e.pos, "unknown expression");
  }

  // obj.key / obj[key], as Jinja's environment.getattr/getitem: a missing
  // key or index is undefined; anything of an undefined value is an error.
  absl::StatusOr<Value> Member(size_t pos, const Value& obj, const Value& key) {
    if (obj.is(K::kUndefined)) return UndefinedError(pos, obj);
    if ((obj.is(K::kMap) || obj.is(K::kNamespace)) && key.is(K::kString)) {
      if (const Value* hit = MapFind(*obj.map, key.s(), budget_)) return *hit;
    }
    bool int_key = key.is(K::kInt) || key.is(K::kBool);
    int64_t index = key.is(K::kBool) ? key.boolean : key.integer;
    if (int_key && obj.is(K::kList)) {
      int64_t n = static_cast<int64_t>(obj.list->size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) return (*obj.list)[static_cast<size_t>(index)];
    }
    if (int_key && obj.is(K::kString)) {
      if (!budget_.SpendBytes(obj.s().size())) return Value::None();  // Eval reports it
      std::vector<size_t> starts = CodePointStarts(obj.s());
      int64_t n = static_cast<int64_t>(starts.size()) - 1;
      if (index < 0) index += n;
      if (index >= 0 && index < n) {
        size_t i = static_cast<size_t>(index);
        return Value::String(obj.s().substr(starts[i], starts[i + 1] - starts[i]));
      }
    }
    // Jinja's wording: 'dict object' has no attribute 'x' / list object has no element 0.
    std::string type = obj.is(K::kNone) ? "None" : absl::StrCat(TypeName(obj), " object");
    if (!key.is(K::kString))
      return Value::Undefined(absl::StrCat(type, " has no element ", Repr(key, budget_)));
    return Value::Undefined(absl::StrCat("'", type, "' has no attribute ", Repr(key, budget_)));
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e) {
    KILN_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
    int64_t bound[3] = {0, 0, 1};
    bool given[3] = {false, false, false};
    for (int i = 0; i < 3; ++i) {
      if (!e.args[i + 1]) continue;
      KILN_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1]));
      if (v.is(K::kNone)) continue;
      if (!v.is(K::kInt)) return Fail(e.pos, "slice indices must be integers or None");
      bound[i] = v.integer;
      given[i] = true;
    }
    if (obj.is(K::kUndefined)) return UndefinedError(e.pos, obj);
    std::vector<size_t> starts;
    int64_t n;
    if (obj.is(K::kString)) {
      if (!budget_.SpendBytes(obj.s().size())) return Value::None();  // Eval reports it
      starts = CodePointStarts(obj.s());
      n = static_cast<int64_t>(starts.size()) - 1;
    } else if (obj.is(K::kList)) {
      if (!budget_.Spend(1 + static_cast<int64_t>(obj.list->size()))) return Value::None();
      n = static_cast<int64_t>(obj.list->size());
    } else {
      return Fail(e.pos, absl::StrCat("'", TypeName(obj), "' object is not subscriptable"));
    }
    int64_t step = bound[2];
    if (step == 0) return Fail(e.pos, "slice step cannot be zero");
    // Python's slice.indices(n).
    auto clamp = [&](int64_t v, bool is_given, int64_t dflt) {
      if (!is_given) return dflt;
      if (v < 0) v += n;
      if (step > 0) return std::clamp<int64_t>(v, 0, n);
      return std::clamp<int64_t>(v, -1, n - 1);
    };
    int64_t start = clamp(bound[0], given[0], step > 0 ? 0 : n - 1);
    int64_t stop = clamp(bound[1], given[1], step > 0 ? n : -1);
    std::string s;
    ValueList items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
      size_t k = static_cast<size_t>(i);
      if (obj.is(K::kString)) {
        s.append(obj.s(), starts[k], starts[k + 1] - starts[k]);
      } else {
        items.push_back((*obj.list)[k]);
      }
      if (__builtin_add_overflow(i, step, &i)) break;  // past INT64 is past stop
    }
    if (!obj.is(K::kString)) return Value::List(std::move(items));
    absl::Status built = budget_.Build(s.size());
    if (!built.ok()) return At(e.pos, built);
    return Value::String(std::move(s));
  }

  // The arguments of a call, filter or test: args[1:] and kwargs.
  absl::Status EvalArguments(const Expr& e, Args& args, Kwargs& kwargs) {
    for (size_t i = 1; i < e.args.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(Value a, Eval(*e.args[i]));
      args.push_back(std::move(a));
    }
    for (const auto& [k, x] : e.kwargs) {
      KILN_ASSIGN_OR_RETURN(Value a, Eval(*x));
      kwargs.emplace_back(k, std::move(a));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value> EvalCall(const Expr& e) {
    Args args;
    Kwargs kwargs;
    KILN_RETURN_IF_ERROR(EvalArguments(e, args, kwargs));
    const Expr& callee = *e.args[0];
    if (callee.kind == Expr::Kind::kAttr) {  // obj.method(...)
      KILN_ASSIGN_OR_RETURN(Value obj, Eval(*callee.args[0]));
      if (obj.is(K::kUndefined)) return UndefinedError(callee.pos, obj);
      bool found = false;
      absl::StatusOr<Value> r = CallMethod(obj, callee.name, args, kwargs, budget_, &found);
      if (!r.ok()) return At(e.pos, r.status());
      if (found) return r;
      return Fail(callee.pos, absl::StrCat("'", TypeName(obj), " object' has no method '", callee.name,
                                           "' that Kiln's chat templates support"));
    }
    KILN_ASSIGN_OR_RETURN(Value f, Eval(callee));
    if (f.is(K::kUndefined)) return UndefinedError(callee.pos, f);
    if (!f.is(K::kFunction)) return Fail(callee.pos, absl::StrCat("'", TypeName(f), "' object is not callable"));
    absl::StatusOr<Value> r = CallGlobal(f.s(), args, kwargs, budget_);
    if (!r.ok()) return At(e.pos, r.status());
    return r;
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e) {
    const std::string& op = e.name;
    KILN_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
    if (op == "and") return Truthy(a) ? Eval(*e.args[1]) : a;
    if (op == "or") return Truthy(a) ? a : Eval(*e.args[1]);
    KILN_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1]));
    if (op == "~") return Built(e.pos, ToStr(a, budget_) + ToStr(b, budget_));
    if (a.is(K::kUndefined)) return UndefinedError(e.pos, a);
    if (b.is(K::kUndefined)) return UndefinedError(e.pos, b);
    auto numeric = [](const Value& v) { return v.is(K::kInt) || v.is(K::kBool); };
    auto as_int = [](const Value& v) { return v.is(K::kBool) ? int64_t{v.boolean} : v.integer; };
    if (numeric(a) && numeric(b)) {
      int64_t x = as_int(a), y = as_int(b), r = 0;
      bool overflow = false;
      if (op == "+") overflow = __builtin_add_overflow(x, y, &r);
      else if (op == "-") overflow = __builtin_sub_overflow(x, y, &r);
      else if (op == "*") overflow = __builtin_mul_overflow(x, y, &r);
      else if (op == "//" || op == "%") {
        if (y == 0) return Fail(e.pos, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) return Fail(e.pos, "integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors toward -infinity
          --q;
          m += y;
        }
        r = op == "//" ? q : m;
      } else if (op == "**") {
        if (y < 0) return Fail(e.pos, "negative exponents are not supported (no floats)");
        // By squaring: log2(y) steps, so that 1 ** 7999679996 does not loop
        // eight billion times (fuzzing, bug 18). A square that overflows
        // while bits of y remain means |x| >= 2 and an overflowing result.
        r = 1;
        int64_t base = x;
        for (uint64_t n = static_cast<uint64_t>(y); n != 0 && !overflow;) {
          if (n & 1) overflow = __builtin_mul_overflow(r, base, &r);
          n >>= 1;
          if (n != 0 && !overflow) overflow = __builtin_mul_overflow(base, base, &base);
        }
      }
      if (overflow) return Fail(e.pos, "integer overflow");
      return Value::Int(r);
    }
    if (op == "+" && a.is(K::kString) && b.is(K::kString)) return Built(e.pos, a.s() + b.s());
    if (op == "+" && a.is(K::kList) && b.is(K::kList)) {
      if (a.list->size() + b.list->size() > kMaxListItems) return Fail(e.pos, "list larger than 1M items");
      if (!budget_.Spend(1 + static_cast<int64_t>(a.list->size() + b.list->size())))
        return Value::None();
      ValueList items = *a.list;
      items.insert(items.end(), b.list->begin(), b.list->end());
      return Value::List(std::move(items));
    }
    if (op == "*" && (numeric(a) || numeric(b)) && (a.is(K::kString) || b.is(K::kString))) {
      const std::string& s = a.is(K::kString) ? a.s() : b.s();
      int64_t times = std::max<int64_t>(as_int(numeric(a) ? a : b), 0);
      if (!s.empty() && times > static_cast<int64_t>(kMaxStringBytes / s.size())) {
        return At(e.pos, absl::ResourceExhaustedError("a string built by the template exceeds 16 MiB"));
      }
      // Counted before the copies are made.
      absl::Status built = budget_.Build(s.size() * static_cast<size_t>(times));
      if (!built.ok()) return At(e.pos, built);
      // By doubling: a few large copies, not `times` small ones.
      const size_t total = s.size() * static_cast<size_t>(times);
      std::string out;
      out.reserve(total);
      if (total > 0) out = s;
      while (out.size() < total) out.append(out, 0, std::min(out.size(), total - out.size()));
      return Value::String(std::move(out));
    }
    return Fail(e.pos, absl::StrCat("unsupported operand type(s) for ", op, ": '", TypeName(a), "' and '", TypeName(b), "'"));
  }

  absl::StatusOr<Value> Built(size_t pos, std::string s) {
    absl::Status built = budget_.Build(s.size());
    if (!built.ok()) return At(pos, built);
    return Value::String(std::move(s));
  }

  absl::StatusOr<bool> Contains(size_t pos, const Value& needle, const Value& hay) {
    if (hay.is(K::kString)) {
      if (!needle.is(K::kString)) return Fail(pos, absl::StrCat("'in <string>' requires string as left operand, not ", TypeName(needle)));
      return TextSearch(needle.s(), budget_).Find(hay.s(), 0, budget_) != std::string::npos;
    }
    if (hay.is(K::kMap))
      return needle.is(K::kString) && MapFind(*hay.map, needle.s(), budget_) != nullptr;
    if (hay.is(K::kList)) {
      for (const Value& item : *hay.list) {
        if (Equals(item, needle, budget_)) return true;
      }
      return false;
    }
    if (hay.is(K::kUndefined)) return false;
    return Fail(pos, absl::StrCat("argument of type '", TypeName(hay), "' is not iterable"));
  }

  absl::StatusOr<Value> EvalCompare(const Expr& e) {
    KILN_ASSIGN_OR_RETURN(Value left, Eval(*e.args[0]));
    for (size_t i = 0; i < e.ops.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(Value right, Eval(*e.args[i + 1]));
      const std::string& op = e.ops[i];
      absl::StatusOr<bool> r;
      if (op == "==")
        r = Equals(left, right, budget_);
      else if (op == "!=")
        r = !Equals(left, right, budget_);
      else if (op == "in") r = Contains(e.pos, left, right);
      else if (op == "not in") {
        r = Contains(e.pos, left, right);
        if (r.ok()) r = !*r;
      } else {
        if (left.is(K::kUndefined) || right.is(K::kUndefined)) {
          return UndefinedError(e.pos, left.is(K::kUndefined) ? left : right);
        }
        absl::StatusOr<bool> less =
            op == "<" || op == ">=" ? Less(left, right, budget_) : Less(right, left, budget_);
        if (!less.ok()) return At(e.pos, less.status());
        r = op == "<" || op == ">" ? *less : !*less;
      }
      if (!r.ok()) return r.status();
      if (!*r) return Value::Bool(false);
      left = std::move(right);
    }
    return Value::Bool(true);
  }

  const Program& prog_;
  std::vector<std::unordered_map<std::string, Value>> scopes_;
  std::string out_;
  Budget budget_;
};

}  // namespace

absl::StatusOr<std::string> RenderProgram(const Program& program, ValueMap globals,
                                          int64_t step_limit) {
  return Evaluator(program, std::move(globals), step_limit).Run();
}

}  // namespace kiln::chat_template_internal
