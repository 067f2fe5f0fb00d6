// Interpretation of calls on allowlisted symbols: data is built, nothing is executed.
#include "torch/reduce.hpp"

#include <fmt/format.h>

#include "core/try.hpp"
#include "torch/pykey.hpp"
#include "torch/text.hpp"

namespace safetensors::torch::detail {
namespace {

using ids = std::vector<std::uint32_t>;

result<std::uint32_t> make_node(vm_access& vm, node_kind kind, std::string text = {},
                                ids items = {}) {
  node n;
  n.kind = kind;
  n.text = std::move(text);
  n.items = std::move(items);
  return vm.add(std::move(n));
}

bool is_collect(vm_access& vm) { return vm.options().mode == unpickle_mode::collect; }

const node& at(vm_access& vm, std::uint32_t id) { return vm.graph().nodes[id]; }

result<std::uint64_t> non_negative(vm_access& vm, std::uint32_t id, std::string_view what) {
  const node& n = at(vm, id);
  if (n.kind != node_kind::integer || n.integer < 0)
    return vm.bad(fmt::format("{} must be a non-negative int, got {}", what, kind_name(n)));
  return static_cast<std::uint64_t>(n.integer);
}

result<std::vector<std::uint64_t>> int_tuple(vm_access& vm, std::uint32_t id,
                                             std::string_view what) {
  const node& n = at(vm, id);
  if (n.kind != node_kind::tuple)
    return vm.bad(fmt::format("{} must be a tuple, got {}", what, kind_name(n)));
  if (n.items.size() > vm.options().limits.max_rank)
    return vm.bad(fmt::format("{} has {} dimensions (at most {})", what, n.items.size(),
                              vm.options().limits.max_rank));
  std::vector<std::uint64_t> out;
  for (auto item : ids(n.items)) out.push_back(ST_TRY(non_negative(vm, item, what)));
  return out;
}

result<std::uint32_t> bad_tensor(vm_access& vm, std::string why) {
  return make_node(vm, node_kind::bad_tensor, std::move(why));
}

/// Checked extent of a strided view: every element inside the storage's bytes.
result<void> check_extent(vm_access& vm, const tensor_record& t, const storage_record& st,
                          std::uint64_t elem) {
  std::uint64_t numel = 1;
  for (auto d : t.shape)
    if (__builtin_mul_overflow(numel, d, &numel)) return vm.bad("tensor element count overflows");
  if (numel == 0) return {};
  std::uint64_t last = t.offset;
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    std::uint64_t span = 0;
    if (__builtin_mul_overflow(t.shape[i] - 1, t.strides[i], &span) ||
        __builtin_add_overflow(last, span, &last))
      return vm.bad("tensor view extent overflows");
  }
  std::uint64_t end_bytes = 0;
  if (__builtin_add_overflow(last, 1, &end_bytes) ||
      __builtin_mul_overflow(end_bytes, elem, &end_bytes) || end_bytes > st.nbytes)
    return vm.bad(fmt::format(
        "tensor view (offset {}, shape [{}], strides [{}]) reaches past storage '{}' of {} bytes",
        t.offset, fmt::join(t.shape, ","), fmt::join(t.strides, ","), st.key, st.nbytes));
  return {};
}

/// _rebuild_tensor (v1), _rebuild_tensor_v2, _rebuild_tensor_v3.
result<std::uint32_t> rebuild_tensor(vm_access& vm, int version, const ids& args) {
  std::size_t base = version == 1 ? 4 : version == 2 ? 6 : 7;
  if (args.size() != base && !(version > 1 && args.size() == base + 1))
    return vm.bad(
        fmt::format("_rebuild_tensor_v{} takes {} arguments, got {}", version, base, args.size()));
  const node& st_node = at(vm, args[0]);
  if (st_node.kind != node_kind::storage)
    return vm.bad(fmt::format("tensor storage is a {}", kind_name(st_node)));
  tensor_record t;
  t.storage = st_node.ref;
  const storage_record st = vm.graph().storages[t.storage];
  t.type_index = st.type_index;
  t.offset = ST_TRY(non_negative(vm, args[1], "storage offset"));
  t.shape = ST_TRY(int_tuple(vm, args[2], "size"));
  t.strides = ST_TRY(int_tuple(vm, args[3], "stride"));
  if (t.shape.size() != t.strides.size()) return vm.bad("size and stride have different lengths");
  if (version == 3) {
    const node& d = at(vm, args[6]);
    if (d.kind != node_kind::global || !d.known || d.sym.kind != sym::torch_dtype)
      return vm.bad("_rebuild_tensor_v3 dtype is not a torch dtype");
    t.type_index = d.sym.type_index;
  }
  if (args.size() == base + 1) {  // 2.x metadata dict: refuse conj/neg bits
    const node& meta = at(vm, args[base]);
    if (meta.kind == node_kind::dict && !meta.items.empty())
      return bad_tensor(vm, "tensor with conjugate/negative-bit metadata");
  }
  const torch_type& ty = torch_type_at(static_cast<std::size_t>(t.type_index));
  if (st.location.starts_with("meta")) return bad_tensor(vm, "meta tensor (no data)");
  if (!ty.type)
    return bad_tensor(vm, fmt::format("dtype {} has no safetensors equivalent", ty.torch_name));
  ST_TRY(check_extent(vm, t, st, ty.element_size));
  vm.graph().tensors.push_back(std::move(t));
  node n;
  n.kind = node_kind::tensor;
  n.ref = static_cast<std::uint32_t>(vm.graph().tensors.size() - 1);
  return vm.add(std::move(n));
}

result<std::uint32_t> pass_tensor(vm_access& vm, const ids& args, std::size_t arity,
                                  std::string_view fn) {
  if (args.size() != arity)
    return vm.bad(fmt::format("{} takes {} arguments, got {}", fn, arity, args.size()));
  const node& data = at(vm, args[0]);
  if (data.kind != node_kind::tensor && data.kind != node_kind::bad_tensor)
    return vm.bad(fmt::format("{} data is a {}", fn, kind_name(data)));
  return args[0];
}

result<std::uint32_t> call_symbol(vm_access& vm, const node& callee, const ids& args);

/// No attribute to set: None, {}, or (dict_state, slots_state) of those (_set_obj_state).
bool empty_state(vm_access& vm, std::uint32_t id) {
  const node& n = at(vm, id);
  if (n.kind == node_kind::none) return true;
  if (n.kind == node_kind::dict) return n.items.empty();
  if (n.kind != node_kind::tuple || n.items.size() != 2) return false;
  for (auto part : n.items) {
    const node& p = at(vm, part);
    if (p.kind != node_kind::none && !(p.kind == node_kind::dict && p.items.empty())) return false;
  }
  return true;
}

/// A tensor state torch applies with setattr (_rebuild_from_type_v2,
/// _rebuild_parameter_with_state):
/// {"data": other} replaces the data, so any attribute is refused rather than ignored.
result<void> check_tensor_state(vm_access& vm, std::uint32_t state, std::string_view fn) {
  if (empty_state(vm, state)) return {};
  return vm.unmodelled(
      fmt::format("{} sets attributes on a tensor (its state is a non-empty {}: setattr may "
                  "replace .data); not modelled, refused",
                  fn, kind_name(at(vm, state))));
}

/// torch._tensor._rebuild_from_type_v2(func, new_type, args, state) for plain tensors/parameters.
result<std::uint32_t> rebuild_from_type(vm_access& vm, const ids& args) {
  if (args.size() != 4) return vm.bad("_rebuild_from_type_v2 takes 4 arguments");
  const node& func = at(vm, args[0]);
  const node& type = at(vm, args[1]);
  const node& inner = at(vm, args[2]);
  bool func_ok =
      func.kind == node_kind::global && func.known &&
      (func.sym.kind == sym::rebuild_tensor || func.sym.kind == sym::rebuild_tensor_v2 ||
       func.sym.kind == sym::rebuild_tensor_v3 || func.sym.kind == sym::rebuild_parameter ||
       func.sym.kind == sym::rebuild_parameter_with_state || func.sym.kind == sym::rebuild_refused);
  bool type_ok = type.kind == node_kind::global && type.known &&
                 (type.sym.kind == sym::tensor_class || type.sym.kind == sym::parameter_class);
  if (!func_ok || !type_ok)
    return vm.bad("_rebuild_from_type_v2 of something other than a tensor rebuild");
  if (inner.kind != node_kind::tuple) return vm.bad("_rebuild_from_type_v2 args are not a tuple");
  ST_TRY(check_tensor_state(vm, args[3], "_rebuild_from_type_v2"));
  node func_copy = func;
  return call_symbol(vm, func_copy, ids(inner.items));
}

result<std::uint32_t> make_dict(vm_access& vm, const ids& args) {
  if (args.empty()) return make_node(vm, node_kind::dict);
  const node& src = at(vm, args[0]);
  if (args.size() != 1 || (src.kind != node_kind::list && src.kind != node_kind::tuple))
    return vm.bad("OrderedDict() takes nothing or a list of pairs");
  ids kv;
  for (auto p : ids(src.items)) {
    const node& pair = at(vm, p);
    if (pair.kind != node_kind::tuple || pair.items.size() != 2)
      return vm.bad("OrderedDict item is not a pair");
    if (!hashable(vm.graph().nodes, pair.items[0]))
      return vm.bad(
          fmt::format("unhashable OrderedDict key of type {}", kind_name(at(vm, pair.items[0]))));
    kv.insert(kv.end(), pair.items.begin(), pair.items.end());
  }
  return make_node(vm, node_kind::dict, {}, std::move(kv));
}

/// Counter(mapping) copies it; Counter(iterable) maps each element to its count: ints, never
/// tensors, so it is kept as an opaque value (Counter([("w", t)]) is not a state dict).
result<std::uint32_t> make_counter(vm_access& vm, const node& callee, const ids& args) {
  if (args.empty()) return make_node(vm, node_kind::dict);
  const node& src = at(vm, args[0]);
  if (args.size() != 1) return vm.bad("Counter() takes at most one argument");
  if (src.kind == node_kind::dict) return make_node(vm, node_kind::dict, {}, ids(src.items));
  return make_node(vm, node_kind::opaque, callee.text + " of counted elements");
}

result<std::uint32_t> make_device(vm_access& vm, const ids& args) {
  if (args.empty() || args.size() > 2 || at(vm, args[0]).kind != node_kind::str)
    return vm.bad("torch.device takes a string (and an index)");
  std::string text = at(vm, args[0]).text;
  if (args.size() == 2) {
    text += fmt::format(":{}", ST_TRY(non_negative(vm, args[1], "device index")));
  }
  return make_node(vm, node_kind::str, std::move(text));
}

result<std::uint32_t> codecs_encode(vm_access& vm, const ids& args) {
  if (args.size() != 2 || at(vm, args[0]).kind != node_kind::str ||
      at(vm, args[1]).kind != node_kind::str)
    return vm.bad("_codecs.encode takes (str, encoding)");
  const std::string& enc = at(vm, args[1]).text;
  if (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1")
    return vm.bad(fmt::format("_codecs.encode with encoding '{}' (only latin1)", enc));
  auto bytes = utf8_to_latin1(at(vm, args[0]).text);
  if (!bytes) return vm.bad("_codecs.encode: text is not latin1");
  return make_node(vm, node_kind::bytes, std::move(*bytes));
}

result<std::uint32_t> make_set(vm_access& vm, const ids& args) {
  if (args.empty()) return make_node(vm, node_kind::set);
  const node& src = at(vm, args[0]);
  if (args.size() != 1 ||
      (src.kind != node_kind::list && src.kind != node_kind::tuple && src.kind != node_kind::set))
    return vm.bad("set() takes nothing or one list");
  return make_node(vm, node_kind::set, {}, ids(src.items));
}

result<std::uint32_t> call_symbol(vm_access& vm, const node& callee, const ids& args) {
  switch (callee.sym.kind) {
    case sym::ordered_dict:
      return make_dict(vm, args);
    case sym::counter:
      return make_counter(vm, callee, args);
    case sym::rebuild_tensor:
      return rebuild_tensor(vm, 1, args);
    case sym::rebuild_tensor_v2:
      return rebuild_tensor(vm, 2, args);
    case sym::rebuild_tensor_v3:
      return rebuild_tensor(vm, 3, args);
    case sym::rebuild_parameter:
      return pass_tensor(vm, args, 3, "_rebuild_parameter");
    case sym::rebuild_parameter_with_state: {
      const auto t = ST_TRY(pass_tensor(vm, args, 4, "_rebuild_parameter_with_state"));
      ST_TRY(check_tensor_state(vm, args[3], "_rebuild_parameter_with_state"));
      return t;
    }
    case sym::rebuild_from_type_v2:
      return rebuild_from_type(vm, args);
    case sym::rebuild_refused:
      return bad_tensor(vm, fmt::format("{} tensor ({}) has no safetensors equivalent",
                                        callee.sym.detail, callee.text));
    case sym::size:
      if (args.size() != 1 || at(vm, args[0]).kind != node_kind::tuple)
        return vm.bad("torch.Size takes one tuple");
      return args[0];
    case sym::device:
      return make_device(vm, args);
    case sym::codecs_encode:
      return codecs_encode(vm, args);
    case sym::make_set:
      return make_set(vm, args);
    case sym::make_bytes:
      if (args.empty()) return make_node(vm, node_kind::bytes);
      if (args.size() == 1 && at(vm, args[0]).kind == node_kind::bytes) return args[0];
      if (args.size() == 2) return codecs_encode(vm, args);
      return vm.bad("bytearray() with unexpected arguments");
    case sym::opaque_data:
      return make_node(vm, node_kind::opaque, callee.text);
    default:
      return vm.bad(fmt::format("'{}' is not callable here", callee.text));
  }
}

}  // namespace

result<std::uint32_t> apply_reduce(vm_access& vm, std::uint32_t callee, std::uint32_t args) {
  const node c = at(vm, callee);
  const node& a = at(vm, args);
  if (c.kind == node_kind::global && !c.known)
    return make_node(vm, node_kind::opaque, c.text);  // collect mode only
  if (c.kind == node_kind::opaque && is_collect(vm))
    return make_node(vm, node_kind::opaque, c.text);
  if (c.kind != node_kind::global) return vm.bad(fmt::format("REDUCE calls a {}", kind_name(c)));
  if (a.kind != node_kind::tuple)
    return vm.bad(fmt::format("REDUCE arguments are a {}, not a tuple", kind_name(a)));
  ST_TRY(vm.charge_items(a.items.size()));  // the argument copy below
  return call_symbol(vm, c, ids(a.items));
}

result<std::uint32_t> apply_newobj(vm_access& vm, std::uint32_t cls, std::uint32_t args) {
  const node c = at(vm, cls);
  const node& a = at(vm, args);
  if ((c.kind == node_kind::global && !c.known) || (c.kind == node_kind::opaque && is_collect(vm)))
    return make_node(vm, node_kind::opaque, c.text);
  if (a.kind != node_kind::tuple) return vm.bad("NEWOBJ arguments are not a tuple");
  if (c.kind == node_kind::global && c.sym.kind == sym::parameter_class) {
    ids items(a.items);
    if (items.empty() || items.size() > 2)
      return vm.bad("Parameter() takes (data[, requires_grad])");
    const node& data = at(vm, items[0]);
    if (data.kind != node_kind::tensor && data.kind != node_kind::bad_tensor)
      return vm.bad(fmt::format("Parameter() data is a {}", kind_name(data)));
    return items[0];
  }
  if (c.kind == node_kind::global &&
      (c.sym.kind == sym::ordered_dict || c.sym.kind == sym::counter))
    return make_node(vm, node_kind::dict);
  if (is_collect(vm)) return make_node(vm, node_kind::opaque, c.text);
  return fail(errc::unsupported,
              fmt::format("{}: NEWOBJ of '{}' (an object, not tensor data) is refused",
                          vm.options().source, c.text));
}

result<std::uint32_t> apply_persistent_id(vm_access& vm, std::uint32_t pid_id) {
  const node pid = at(vm, pid_id);
  if (pid.kind != node_kind::tuple || pid.items.empty())
    return vm.bad("persistent id is not a tuple");
  const node& type = at(vm, pid.items[0]);
  if (type.kind != node_kind::str && type.kind != node_kind::bytes)
    return vm.bad("persistent id type is not a string");
  vm.note_pid(type.text);
  if (type.text != "storage") {
    if (is_collect(vm)) return make_node(vm, node_kind::opaque, "persistent id " + type.text);
    return fail(errc::unsupported,
                fmt::format("{}: persistent id of type '{}' (only 'storage' is data)",
                            vm.options().source, type.text));
  }
  int arity = vm.options().pid_arity;
  if (arity == 0) return vm.bad("persistent id outside a checkpoint's object pickle");
  if (pid.items.size() != static_cast<std::size_t>(arity))
    return vm.bad(
        fmt::format("storage persistent id has {} fields (expected {})", pid.items.size(), arity));
  if (arity == 6 && at(vm, pid.items[5]).kind != node_kind::none)
    return fail(errc::unsupported,
                fmt::format("{}: legacy storage view (torch < 1.0 view_metadata) is not supported",
                            vm.options().source));
  const node& cls = at(vm, pid.items[1]);
  const node& key = at(vm, pid.items[2]);
  const node& loc = at(vm, pid.items[3]);
  if (cls.kind != node_kind::global || !cls.known || cls.sym.kind != sym::storage_class)
    return vm.bad("persistent id storage type is not a torch storage class");
  if (key.kind != node_kind::str || loc.kind != node_kind::str)
    return vm.bad("storage key/location is not a string");
  const std::uint64_t numel = ST_TRY(non_negative(vm, pid.items[4], "storage size"));
  storage_record st{key.text, cls.sym.type_index, numel, 0, loc.text};
  std::uint64_t elem = torch_type_at(static_cast<std::size_t>(st.type_index)).element_size;
  if (__builtin_mul_overflow(st.numel, elem, &st.nbytes))
    return vm.bad("storage byte size overflows");
  auto& g = vm.graph();
  auto [it, inserted] =
      g.storage_by_key.try_emplace(st.key, static_cast<std::uint32_t>(g.storages.size()));
  if (inserted) {
    g.storages.push_back(std::move(st));
  } else if (g.storages[it->second].nbytes != st.nbytes) {
    return vm.bad(fmt::format("storage '{}' declared with {} and {} bytes", st.key,
                              g.storages[it->second].nbytes, st.nbytes));
  }
  node n;
  n.kind = node_kind::storage;
  n.ref = it->second;
  return vm.add(std::move(n));
}

namespace {
struct graph_walk {
  vm_access& vm;
  std::vector<std::uint8_t> on_path;
  std::uint64_t visits = 0, budget = 0;

  result<void> walk(std::uint32_t id, std::uint32_t depth) {
    const node& n = vm.graph().nodes[id];
    if (n.kind != node_kind::tuple && n.kind != node_kind::list && n.kind != node_kind::dict &&
        n.kind != node_kind::set)
      return {};
    if (++visits > budget)
      return fail(
          errc::limit_exceeded,
          fmt::format("{}: object graph expands to more than {} visits (memo-expansion bomb?)",
                      vm.options().source, budget));
    if (on_path[id])
      return fail(errc::invalid_checkpoint,
                  fmt::format("{}: object graph has a cycle (a {} contains itself)",
                              vm.options().source, kind_name(n)));
    if (depth >= vm.options().limits.max_depth)
      return fail(errc::limit_exceeded,
                  fmt::format("{}: objects nested deeper than {}", vm.options().source,
                              vm.options().limits.max_depth));
    on_path[id] = 1;
    for (std::size_t i = 0; i < vm.graph().nodes[id].items.size(); ++i)
      ST_TRY(walk(vm.graph().nodes[id].items[i], depth + 1));
    on_path[id] = 0;
    return {};
  }
};
}  // namespace

result<void> check_graph(vm_access& vm) {
  graph_walk w{vm, std::vector<std::uint8_t>(vm.graph().nodes.size()), 0, 0};
  w.budget = std::min<std::uint64_t>(vm.options().limits.max_visits,
                                     1'000'000 + 8 * vm.graph().nodes.size());
  return w.walk(vm.graph().root, 0);
}

}  // namespace safetensors::torch::detail
