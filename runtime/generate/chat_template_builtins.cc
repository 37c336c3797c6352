// Chat template filters, tests, methods and globals, each as Jinja2 3.1 /
// Python define it (jinja2/filters.py, jinja2/tests.py, str and dict
// methods, Transformers' raise_exception/namespace/strftime_now/tojson).
// Case mapping (upper, lower, capitalize) is ASCII-only.
#include <algorithm>
#include <ctime>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/generate/chat_template_internal.h"

namespace kiln::chat_template_internal {
namespace {

using K = Value::Kind;

absl::Status Error(std::string_view a, std::string_view b = "", std::string_view c = "") {
  return absl::InvalidArgumentError(absl::StrCat(std::string(a), std::string(b), std::string(c)));
}

std::string AsciiCase(std::string s, bool upper) {
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

absl::StatusOr<Value> Str(std::string s, Budget& budget) {
  KILN_RETURN_IF_ERROR(budget.Build(s.size()));
  return Value::String(std::move(s));
}

// Python's iter(v) as a list: str -> characters, dict -> keys.
absl::StatusOr<ValueList> Items(const Value& v, Budget& budget) {
  switch (v.kind) {
    case K::kUndefined: return ValueList{};
    case K::kList:
      if (!budget.Spend(1 + static_cast<int64_t>(v.list->size()))) return budget.Exhausted();
      return *v.list;
    case K::kMap: {
      if (!budget.Spend(1 + static_cast<int64_t>(v.map->size())) ||
          !budget.SpendBytes(KeyBytes(*v.map))) {
        return budget.Exhausted();
      }
      ValueList keys;
      for (const auto& kv : *v.map) keys.push_back(Value::String(kv.first));
      return keys;
    }
    case K::kString: {
      if (!budget.Spend(1 + static_cast<int64_t>(v.s().size()))) return budget.Exhausted();
      ValueList chars;
      std::vector<size_t> starts = CodePointStarts(v.s());
      for (size_t i = 0; i + 1 < starts.size(); ++i) {
        chars.push_back(Value::String(v.s().substr(starts[i], starts[i + 1] - starts[i])));
      }
      return chars;
    }
    default: return Error("'", TypeName(v), "' object is not iterable");
  }
}

absl::StatusOr<int64_t> Length(const Value& v, Budget& budget) {
  switch (v.kind) {
    case K::kUndefined: return 0;
    case K::kString: {
      if (!budget.SpendBytes(v.s().size())) return budget.Exhausted();
      int64_t n = 0;
      for (char c : v.s()) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      return n;
    }
    case K::kList: return static_cast<int64_t>(v.list->size());
    case K::kMap: return static_cast<int64_t>(v.map->size());
    default: return Error("object of type '", TypeName(v), "' has no len()");
  }
}

const Value* Kwarg(const Kwargs& kwargs, std::string_view name) {
  for (const auto& [k, v] : kwargs) {
    if (k == name) return &v;
  }
  return nullptr;
}

// Positional argument i, else keyword `name`, else nullptr.
const Value* Arg(const Args& args, size_t i, const Kwargs& kwargs, std::string_view name) {
  return i < args.size() ? &args[i] : Kwarg(kwargs, name);
}

absl::StatusOr<std::string> StringArg(const Value* v, std::string_view what) {
  if (v == nullptr || !v->is(K::kString)) return Error(what, " must be a string");
  return v->s();
}

// Jinja's environment.getitem for a dotted attribute path (selectattr, map).
// The undefined's message quotes at most 64 bytes of the name, so that a
// long path costs its scan, not a copy a miss.
Value Attribute(const Value& v, std::string_view path, Budget& budget) {
  if (!budget.SpendBytes(path.size())) return Value::None();  // the caller reports it
  Value cur = v;
  while (true) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    const Value* found = cur.is(K::kMap) ? MapFind(*cur.map, part, budget) : nullptr;
    if (found == nullptr) {
      return Value::Undefined(absl::StrCat("'", TypeName(cur), " object' has no attribute '",
                                           std::string(part.substr(0, 64)),
                                           part.size() > 64 ? "...'" : "'"));
    }
    cur = *found;
    if (dot == std::string_view::npos) return cur;
    path.remove_prefix(dot + 1);
  }
}

// Python str.split(sep, maxsplit).
absl::StatusOr<ValueList> Split(const std::string& s, const Value* sep, int64_t maxsplit,
                                Budget& budget) {
  ValueList parts;
  if (sep == nullptr || sep->is(K::kNone)) {
    // Each part is a value created, and the scan is one pass over s.
    if (!budget.SpendBytes(s.size())) return budget.Exhausted();
    size_t i = 0;
    while (true) {
      while (i < s.size() && PySpaceAt(s, i)) i += PySpaceAt(s, i);
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(Value::String(std::string(PyStrip(std::string_view(s).substr(i), false, true))));
        break;
      }
      size_t j = i;
      while (j < s.size() && !PySpaceAt(s, j)) ++j;
      if (!budget.Spend(1)) return budget.Exhausted();
      parts.push_back(Value::String(s.substr(i, j - i)));
      i = j;
    }
    return parts;
  }
  const std::string& d = sep->s();
  const TextSearch search(d, budget);
  size_t i = 0;
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    size_t j = search.Find(s, i, budget);
    if (!budget.Spend(1)) return budget.Exhausted();
    if (j == std::string::npos) break;
    parts.push_back(Value::String(s.substr(i, j - i)));
    i = j + d.size();
  }
  parts.push_back(Value::String(s.substr(i)));
  return parts;
}

absl::StatusOr<std::string> Replace(const std::string& s, const std::string& from, const std::string& to, int64_t count,
                                    Budget& budget) {
  std::string out;
  const TextSearch search(from, budget);
  size_t i = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t j = search.Find(s, i, budget);
    if (!budget.SpendBytes(to.size())) return budget.Exhausted();
    if (j == std::string::npos) break;
    out.append(s, i, j - i);
    out += to;
    ++done;
    if (out.size() > kMaxStringBytes) return absl::ResourceExhaustedError("replace: result larger than 16 MiB");
    if (from.empty()) {
      if (j >= s.size()) {
        i = s.size() + 1;
        break;
      }
      size_t n = 1;
      while (j + n < s.size() && (static_cast<unsigned char>(s[j + n]) & 0xC0) == 0x80) ++n;
      out.append(s, j, n);
      i = j + n;
    } else {
      i = j + from.size();
    }
  }
  if (i <= s.size()) out.append(s, i);
  KILN_RETURN_IF_ERROR(budget.Build(out.size()));
  return out;
}

absl::StatusOr<std::string> Strip(const std::string& s, const Value* chars, bool left, bool right,
                                  Budget& budget) {
  if (!budget.SpendBytes(s.size())) return budget.Exhausted();
  if (chars == nullptr || chars->is(K::kNone)) return std::string(PyStrip(s, left, right));
  if (!chars->is(K::kString)) return Error("strip arg must be None or str");
  if (!budget.SpendBytes(chars->s().size())) return budget.Exhausted();
  std::vector<size_t> cs = CodePointStarts(chars->s());
  auto in_set = [&](std::string_view ch) {
    if (!budget.SpendKeys(cs.size())) return false;
    for (size_t i = 0; i + 1 < cs.size(); ++i) {
      if (chars->s().substr(cs[i], cs[i + 1] - cs[i]) == ch) return true;
    }
    return false;
  };
  std::vector<size_t> st = CodePointStarts(s);
  size_t b = 0, e = st.size() - 1;
  while (left && b < e && in_set(std::string_view(s).substr(st[b], st[b + 1] - st[b]))) ++b;
  while (right && e > b && in_set(std::string_view(s).substr(st[e - 1], st[e] - st[e - 1]))) --e;
  if (budget.exhausted()) return budget.Exhausted();
  return s.substr(st[b], st[e] - st[b]);
}

// select/reject/selectattr/rejectattr: keep items whose test (or truth)
// equals `keep`.
absl::StatusOr<Value> Select(const Value& v, const Args& args, bool by_attr, bool keep,
                             Budget& budget) {
  KILN_ASSIGN_OR_RETURN(ValueList items, Items(v, budget));
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    KILN_ASSIGN_OR_RETURN(attr, StringArg(next < args.size() ? &args[next++] : nullptr, "attribute name"));
  }
  std::string test;
  if (next < args.size()) {
    KILN_ASSIGN_OR_RETURN(test, StringArg(&args[next++], "test name"));
  }
  if (!test.empty() && !IsKnownTest(test)) return Error("no test named '", test, "'");
  Args test_args(args.begin() + static_cast<std::ptrdiff_t>(next), args.end());
  ValueList out;
  for (const Value& item : items) {
    if (budget.exhausted()) return budget.Exhausted();
    Value subject = by_attr ? Attribute(item, attr, budget) : item;
    bool pass;
    if (test.empty()) {
      pass = Truthy(subject);
    } else {
      KILN_ASSIGN_OR_RETURN(pass, ApplyTest(test, subject, test_args, budget));
    }
    if (pass == keep) out.push_back(item);
  }
  return Value::List(std::move(out));
}

constexpr std::string_view kFilters[] = {
    "trim", "length", "count", "upper", "lower", "capitalize", "first", "last", "join", "list", "string", "int",
    "default", "d", "tojson", "items", "reverse", "replace", "safe", "abs", "select", "reject", "selectattr",
    "rejectattr", "map"};
constexpr std::string_view kTests[] = {
    "defined", "undefined", "none", "string", "number", "integer", "boolean", "true", "false", "mapping", "iterable",
    "sequence", "odd", "even", "divisibleby", "equalto", "eq", "==", "ne", "!=", "lt", "<", "gt", ">", "le", "<=",
    "ge", ">=", "in"};

}  // namespace

bool IsKnownFilter(std::string_view name) {
  for (std::string_view f : kFilters) {
    if (f == name) return true;
  }
  return false;
}

bool IsKnownTest(std::string_view name) {
  for (std::string_view t : kTests) {
    if (t == name) return true;
  }
  return false;
}

absl::Status Budget::Build(size_t n) {
  if (n > kMaxStringBytes) return absl::ResourceExhaustedError("a string built by the template exceeds 16 MiB");
  built_bytes_ += n;
  if (built_bytes_ > kMaxBuiltBytes)
    return absl::ResourceExhaustedError("the template built more than 256 MiB of text");
  if (!SpendBytes(n)) return Exhausted();
  return absl::OkStatus();
}

absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& v, const Args& args, const Kwargs& kwargs,
                                  Budget& budget) {
  if (name == "trim") {
    KILN_ASSIGN_OR_RETURN(
        std::string s, Strip(ToStr(v, budget), Arg(args, 0, kwargs, "chars"), true, true, budget));
    return Str(std::move(s), budget);
  }
  if (name == "length" || name == "count") {
    KILN_ASSIGN_OR_RETURN(int64_t n, Length(v, budget));
    return Value::Int(n);
  }
  if (name == "upper" || name == "lower")
    return Str(AsciiCase(ToStr(v, budget), name == "upper"), budget);
  if (name == "capitalize") {
    std::string s = AsciiCase(ToStr(v, budget), false);
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return Str(std::move(s), budget);
  }
  if (name == "first" || name == "last") {
    KILN_ASSIGN_OR_RETURN(ValueList items, Items(v, budget));
    if (items.empty()) return Value::Undefined(absl::StrCat("No ", std::string(name), " item, sequence was empty."));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    KILN_ASSIGN_OR_RETURN(ValueList items, Items(v, budget));
    const Value* sep = Arg(args, 0, kwargs, "d");
    const Value* attr = Arg(args, 1, kwargs, "attribute");
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i && sep) out += ToStr(*sep, budget);
      out += ToStr(attr && attr->is(K::kString) ? Attribute(items[i], attr->s(), budget) : items[i],
                   budget);
      if (budget.exhausted()) return budget.Exhausted();
      if (out.size() > kMaxStringBytes) return absl::ResourceExhaustedError("join: result larger than 16 MiB");
    }
    return Str(std::move(out), budget);
  }
  if (name == "list") {
    KILN_ASSIGN_OR_RETURN(ValueList items, Items(v, budget));
    return Value::List(std::move(items));
  }
  if (name == "string") return v.is(K::kString) ? v : Str(ToStr(v, budget), budget);
  if (name == "safe") return v;
  if (name == "int") {
    const Value* fallback = Arg(args, 0, kwargs, "default");
    if (v.is(K::kInt) || v.is(K::kBool)) return Value::Int(v.is(K::kBool) ? v.boolean : v.integer);
    if (v.is(K::kString)) {
      if (!budget.SpendBytes(v.s().size())) return budget.Exhausted();
      std::string s(PyStrip(v.s(), true, true));
      size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
      bool digits = i < s.size() && s.size() - i <= 18 && s.find_first_not_of("0123456789", i) == std::string::npos;
      if (digits) return Value::Int(std::stoll(s));
    }
    return fallback ? *fallback : Value::Int(0);
  }
  if (name == "default" || name == "d") {
    const Value* fallback = Arg(args, 0, kwargs, "default_value");
    const Value* boolean = Arg(args, 1, kwargs, "boolean");
    bool use = v.is(K::kUndefined) || (boolean && Truthy(*boolean) && !Truthy(v));
    if (!use) return v;
    return fallback ? *fallback : Value::String("");
  }
  if (name == "tojson") {
    const Value* indent = Arg(args, 0, kwargs, "indent");
    int width = indent && indent->is(K::kInt) ? static_cast<int>(std::min<int64_t>(std::max<int64_t>(indent->integer, 0), 64)) : -1;
    KILN_ASSIGN_OR_RETURN(std::string json, ToJson(v, width, budget));
    return Str(std::move(json), budget);
  }
  if (name == "items") {
    if (v.is(K::kUndefined)) return Value::List({});
    if (!v.is(K::kMap)) return Error("can only get item pairs from a mapping, not '", TypeName(v), "'");
    if (!budget.Spend(1 + static_cast<int64_t>(v.map->size())) ||
        !budget.SpendBytes(KeyBytes(*v.map))) {
      return budget.Exhausted();
    }
    ValueList pairs;
    for (const auto& [k, val] : *v.map) pairs.push_back(Value::Tuple({Value::String(k), val}));
    return Value::List(std::move(pairs));
  }
  if (name == "reverse") {
    KILN_ASSIGN_OR_RETURN(ValueList items, Items(v, budget));
    std::reverse(items.begin(), items.end());
    if (!v.is(K::kString)) return Value::List(std::move(items));
    std::string out;
    for (const Value& c : items) out += c.s();
    return Str(std::move(out), budget);
  }
  if (name == "replace") {
    KILN_ASSIGN_OR_RETURN(std::string from, StringArg(Arg(args, 0, kwargs, "old"), "replace: old"));
    KILN_ASSIGN_OR_RETURN(std::string to, StringArg(Arg(args, 1, kwargs, "new"), "replace: new"));
    const Value* count = Arg(args, 2, kwargs, "count");
    KILN_ASSIGN_OR_RETURN(std::string out,
                          Replace(ToStr(v, budget), from, to,
                                  count && count->is(K::kInt) ? count->integer : -1, budget));
    return Value::String(std::move(out));
  }
  if (name == "abs") {
    if (!v.is(K::kInt)) return Error("bad operand type for abs(): '", TypeName(v), "'");
    if (v.integer == INT64_MIN) return Error("integer overflow");
    return Value::Int(v.integer < 0 ? -v.integer : v.integer);
  }
  if (name == "select" || name == "reject") return Select(v, args, false, name == "select", budget);
  if (name == "selectattr" || name == "rejectattr")
    return Select(v, args, true, name == "selectattr", budget);
  if (name == "map") {
    KILN_ASSIGN_OR_RETURN(ValueList items, Items(v, budget));
    const Value* attr = Kwarg(kwargs, "attribute");
    ValueList out;
    if (attr != nullptr) {
      KILN_ASSIGN_OR_RETURN(std::string path, StringArg(attr, "map: attribute"));
      const Value* fallback = Kwarg(kwargs, "default");
      for (const Value& item : items) {
        if (budget.exhausted()) return budget.Exhausted();
        Value got = Attribute(item, path, budget);
        out.push_back(got.is(K::kUndefined) && fallback ? *fallback : got);
      }
      return Value::List(std::move(out));
    }
    KILN_ASSIGN_OR_RETURN(std::string filter, StringArg(args.empty() ? nullptr : &args[0], "map: filter name"));
    if (!IsKnownFilter(filter)) return Error("no filter named '", filter, "'");
    Args rest(args.begin() + 1, args.end());
    for (const Value& item : items) {
      KILN_ASSIGN_OR_RETURN(Value mapped, ApplyFilter(filter, item, rest, {}, budget));
      out.push_back(std::move(mapped));
    }
    return Value::List(std::move(out));
  }
  return Error("no filter named '", name, "'");
}

absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& v, const Args& args,
                               Budget& budget) {
  const bool numeric = v.is(K::kInt) || v.is(K::kBool);
  if (name == "defined") return !v.is(K::kUndefined);
  if (name == "undefined") return v.is(K::kUndefined);
  if (name == "none") return v.is(K::kNone);
  if (name == "string") return v.is(K::kString);
  if (name == "number") return numeric;
  if (name == "integer") return v.is(K::kInt);
  if (name == "boolean") return v.is(K::kBool);
  if (name == "true") return v.is(K::kBool) && v.boolean;
  if (name == "false") return v.is(K::kBool) && !v.boolean;
  if (name == "mapping") return v.is(K::kMap);
  if (name == "iterable" || name == "sequence") {
    return v.is(K::kUndefined) || v.is(K::kString) || v.is(K::kList) || v.is(K::kMap);
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!numeric) return Error("test '", name, "' needs an integer");
    int64_t x = v.is(K::kBool) ? v.boolean : v.integer;
    int64_t d = 2;
    if (name == "divisibleby") {
      if (args.empty() || !args[0].is(K::kInt) || args[0].integer == 0) return Error("divisibleby needs a nonzero integer");
      d = args[0].integer;
    }
    bool divisible = d == -1 || x % d == 0;  // INT64_MIN % -1 traps
    return name == "odd" ? !divisible : divisible;
  }
  if (args.empty()) return Error("test '", name, "' needs an argument");
  const Value& other = args[0];
  if (name == "equalto" || name == "eq" || name == "==") return Equals(v, other, budget);
  if (name == "ne" || name == "!=") return !Equals(v, other, budget);
  if (name == "lt" || name == "<") return Less(v, other, budget);
  if (name == "gt" || name == ">") return Less(other, v, budget);
  if (name == "le" || name == "<=") {
    KILN_ASSIGN_OR_RETURN(bool gt, Less(other, v, budget));
    return !gt;
  }
  if (name == "ge" || name == ">=") {
    KILN_ASSIGN_OR_RETURN(bool lt, Less(v, other, budget));
    return !lt;
  }
  if (name == "in") {
    if (other.is(K::kString) && v.is(K::kString)) {
      return TextSearch(v.s(), budget).Find(other.s(), 0, budget) != std::string::npos;
    }
    KILN_ASSIGN_OR_RETURN(ValueList items, Items(other, budget));
    for (const Value& item : items) {
      if (Equals(item, v, budget)) return true;
    }
    return false;
  }
  return Error("no test named '", name, "'");
}

absl::StatusOr<Value> CallMethod(const Value& v, std::string_view name, const Args& args, const Kwargs& kwargs,
                                 Budget& budget, bool* found) {
  *found = true;
  if (v.is(K::kString)) {
    const std::string& s = v.s();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      KILN_ASSIGN_OR_RETURN(std::string out, Strip(s, Arg(args, 0, kwargs, "chars"),
                                                   name != "rstrip", name != "lstrip", budget));
      return Str(std::move(out), budget);
    }
    if (name == "startswith" || name == "endswith") {
      const Value* arg = Arg(args, 0, kwargs, "prefix");
      if (arg == nullptr) return Error(name, "() takes at least 1 argument");
      // The tuple is walked in place: copying it would cost its length for
      // a match on its first entry.
      const ValueList single = arg->is(K::kList) ? ValueList{} : ValueList{*arg};
      for (const Value& o : arg->is(K::kList) ? *arg->list : single) {
        if (!o.is(K::kString)) return Error(name, " first arg must be str or a tuple of str");
        const std::string& p = o.s();
        if (!budget.SpendBytes(p.size())) return budget.Exhausted();
        bool hit = name == "startswith" ? s.compare(0, p.size(), p) == 0
                                        : s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
        if (hit) return Value::Bool(true);
      }
      return Value::Bool(false);
    }
    if (name == "split") {
      const Value* sep = Arg(args, 0, kwargs, "sep");
      const Value* maxsplit = Arg(args, 1, kwargs, "maxsplit");
      if (sep && !sep->is(K::kNone) && (!sep->is(K::kString) || sep->s().empty())) return Error("split: bad separator");
      KILN_ASSIGN_OR_RETURN(
          ValueList parts,
          Split(s, sep, maxsplit && maxsplit->is(K::kInt) ? maxsplit->integer : -1, budget));
      return Value::List(std::move(parts));
    }
    if (name == "upper" || name == "lower" || name == "capitalize") return ApplyFilter(name, v, {}, {}, budget);
    if (name == "replace") {
      KILN_ASSIGN_OR_RETURN(std::string from, StringArg(Arg(args, 0, kwargs, "old"), "replace: old"));
      KILN_ASSIGN_OR_RETURN(std::string to, StringArg(Arg(args, 1, kwargs, "new"), "replace: new"));
      const Value* count = Arg(args, 2, kwargs, "count");
      KILN_ASSIGN_OR_RETURN(std::string out, Replace(s, from, to, count && count->is(K::kInt) ? count->integer : -1, budget));
      return Value::String(std::move(out));
    }
    if (name == "join") {
      if (args.size() != 1) return Error("join() takes exactly one argument");
      KILN_ASSIGN_OR_RETURN(ValueList items, Items(args[0], budget));
      for (const Value& item : items) {
        if (!item.is(K::kString)) return Error("join: expected str instance, ", TypeName(item), " found");
      }
      return ApplyFilter("join", args[0], {v}, {}, budget);
    }
  }
  if (v.is(K::kMap)) {
    if (name == "items") return ApplyFilter("items", v, {}, {}, budget);
    if (name == "keys") return ApplyFilter("list", v, {}, {}, budget);
    if (name == "values") {
      if (!budget.Spend(1 + static_cast<int64_t>(v.map->size()))) return budget.Exhausted();
      ValueList values;
      for (const auto& kv : *v.map) values.push_back(kv.second);
      return Value::List(std::move(values));
    }
    if (name == "get") {
      KILN_ASSIGN_OR_RETURN(std::string key, StringArg(args.empty() ? nullptr : &args[0], "get: key"));
      const Value* hit = MapFind(*v.map, key, budget);
      if (hit) return *hit;
      return args.size() > 1 ? args[1] : Value::None();
    }
  }
  *found = false;
  return Value::None();
}

absl::StatusOr<Value> CallGlobal(std::string_view name, const Args& args, const Kwargs& kwargs, Budget& budget) {
  if (name == "raise_exception") {
    std::string message = args.empty() ? "" : ToStr(args[0], budget);
    return absl::InvalidArgumentError(absl::StrCat("the chat template raised an exception: ", message));
  }
  if (name == "namespace" || name == "dict") {
    ValueMap attrs;
    if (!args.empty()) {
      if (!args[0].is(K::kMap)) return Error(name, "() takes keyword arguments or one dict");
      if (!budget.Spend(1 + static_cast<int64_t>(args[0].map->size())) ||
          !budget.SpendBytes(KeyBytes(*args[0].map))) {
        return budget.Exhausted();
      }
      attrs = *args[0].map;
    }
    for (const auto& [k, val] : kwargs) attrs.emplace_back(k, val);
    return name == "dict" ? Value::Map(std::move(attrs)) : Value::Namespace(std::move(attrs));
  }
  if (name == "range") {
    int64_t start = 0, stop = 0, step = 1;
    for (const Value& a : args) {
      if (!a.is(K::kInt)) return Error("range() arguments must be integers");
    }
    if (args.size() == 1) {
      stop = args[0].integer;
    } else if (args.size() == 2 || args.size() == 3) {
      start = args[0].integer;
      stop = args[1].integer;
      if (args.size() == 3) step = args[2].integer;
    } else {
      return Error("range() takes 1 to 3 arguments");
    }
    if (step == 0) return Error("range() arg 3 must not be zero");
    ValueList out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
      if (out.size() >= 100000) return Error("range too big, maximum size for range is 100000");  // Jinja's sandbox
      if (!budget.Spend(1)) return budget.Exhausted();
      out.push_back(Value::Int(i));
      if (__builtin_add_overflow(i, step, &i)) break;  // past INT64 is past stop
    }
    return Value::List(std::move(out));
  }
  if (name == "strftime_now") {
    KILN_ASSIGN_OR_RETURN(std::string format, StringArg(args.empty() ? nullptr : &args[0], "strftime_now: format"));
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buffer[256];
    size_t n = std::strftime(buffer, sizeof(buffer), format.c_str(), &local);
    return Str(std::string(buffer, n), budget);
  }
  return Error("'", name, "' is not callable");
}

}  // namespace kiln::chat_template_internal
