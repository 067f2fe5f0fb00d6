#include "torch/select.hpp"

#include <fmt/format.h>

#include <unordered_map>

#include "core/try.hpp"
#include "torch/pykey.hpp"

namespace safetensors::torch::detail {
namespace {

constexpr std::size_t max_notes = 40;
constexpr std::size_t max_flat_name = 65536;

std::optional<std::string> key_text(const node& k) {
  if (k.kind == node_kind::str) return k.text;
  if (k.kind == node_kind::integer) return std::to_string(k.integer);
  return std::nullopt;
}

std::string describe(const pickle_graph& g, const node& n) {
  switch (n.kind) {
    case node_kind::dict:
      return fmt::format("dict of {} entries", n.items.size() / 2);
    case node_kind::list:
    case node_kind::tuple:
    case node_kind::set:
      return fmt::format("{} of {} items", kind_name(n), n.items.size());
    case node_kind::str:
      return "str";
    case node_kind::opaque:
      return fmt::format("{} object", n.text);
    default:
      (void)g;
      return std::string(kind_name(n));
  }
}

struct collector {
  const pickle_graph& g;
  const select_options& opts;
  const unpickler_limits& limits;
  std::string_view source;
  selection out;
  std::unordered_map<std::string, std::size_t> names;
  std::uint64_t visits = 0, visit_budget = 0;
  std::uint64_t name_bytes = 0;  ///< memory of the selected tensors, charged to max_memory_bytes
  std::size_t dropped_notes = 0;

  void note(std::string text) {
    if (out.notes.size() < max_notes)
      out.notes.push_back(std::move(text));
    else
      ++dropped_notes;
  }

  /// A view that materializes far more bytes than its storage holds (stride 0, overlapping
  /// strides) would make convert write them all: refused above the max_view_expansion ratio.
  result<void> check_expansion(const std::string& name, const tensor_record& r) {
    const storage_record& st = g.storages[r.storage];
    std::uint64_t bytes = torch_type_at(static_cast<std::size_t>(r.type_index)).element_size;
    for (auto d : r.shape)
      if (__builtin_mul_overflow(bytes, d, &bytes)) bytes = UINT64_MAX;
    constexpr std::uint64_t always_ok = 64ull << 20;
    std::uint64_t allowed = 0;
    if (__builtin_mul_overflow(st.nbytes, limits.max_view_expansion, &allowed))
      allowed = UINT64_MAX;
    if (bytes <= always_ok || bytes <= allowed) return {};
    return fail(errc::limit_exceeded,
                fmt::format("{}: tensor '{}' is a view of {} bytes over a storage of {} bytes "
                            "(shape [{}], strides [{}]): more than {} times its storage "
                            "(--max-view-expansion)",
                            source, name, bytes, st.nbytes, fmt::join(r.shape, ","),
                            fmt::join(r.strides, ","), limits.max_view_expansion));
  }

  result<void> add_tensor(const std::string& name, const node& n) {
    const tensor_record& r = g.tensors[n.ref];
    ST_TRY(check_expansion(name, r));
    name_bytes += sizeof(torch_tensor) + 2 * name.size() + 16 * r.shape.size();
    if (name_bytes > limits.max_memory_bytes)
      return fail(errc::limit_exceeded,
                  fmt::format("{}: the selected tensors' names and shapes take more than {} bytes "
                              "(max_memory_bytes)",
                              source, limits.max_memory_bytes));
    torch_tensor t;
    t.name = name;
    t.type = *torch_type_at(static_cast<std::size_t>(r.type_index)).type;
    t.shape = r.shape;
    t.strides = r.strides;
    t.storage_offset = r.offset;
    t.storage = r.storage;
    if (!names.emplace(name, out.tensors.size()).second)
      return fail(errc::duplicate_key,
                  fmt::format("{}: two tensors named '{}' after flattening", source, name));
    out.tensors.push_back(std::move(t));
    return {};
  }

  result<void> visit(const std::string& name, std::uint32_t id, std::uint32_t depth) {
    if (++visits > visit_budget)
      return fail(errc::limit_exceeded,
                  fmt::format("{}: more than {} entries to flatten (max_visits, and 1,000,000 + "
                              "8 per pickle value: shared lists expand on every path)",
                              source, visit_budget));
    const node& n = g.nodes[id];
    if (n.kind == node_kind::tensor) return add_tensor(name, n);
    if (n.kind == node_kind::bad_tensor)
      return fail(errc::unsupported, fmt::format("{}: tensor '{}': {}", source, name, n.text));
    bool container =
        n.kind == node_kind::dict || n.kind == node_kind::list || n.kind == node_kind::tuple;
    if (container && opts.flatten) {
      if (depth >= limits.max_depth)
        return fail(errc::limit_exceeded, fmt::format("{}: '{}' nested too deeply", source, name));
      return walk(name + ".", n, depth + 1);
    }
    note(fmt::format("'{}' ({}) skipped: not a tensor{}", name, describe(g, n),
                     container ? " (use --flatten)" : ""));
    return {};
  }

  result<void> walk(const std::string& prefix, const node& n, std::uint32_t depth) {
    if (n.kind == node_kind::dict) {
      for (auto [k, v] : dict_entries(g, n)) {
        auto text = key_text(g.nodes[k]);
        if (!text) {
          note(fmt::format("'{}<{} key>' skipped: key is not a str or int", prefix,
                           kind_name(g.nodes[k])));
          continue;
        }
        if (!prefix.empty() && prefix.size() + text->size() > max_flat_name)
          return fail(errc::limit_exceeded,
                      fmt::format("{}: flattened name '{}...' longer than {} bytes", source,
                                  prefix.substr(0, 64), max_flat_name));
        ST_TRY(visit(prefix + *text, v, depth));
      }
      return {};
    }
    for (std::size_t i = 0; i < n.items.size(); ++i)
      ST_TRY(visit(prefix + std::to_string(i), n.items[i], depth));
    return {};
  }
};

const node* lookup(const pickle_graph& g, const node& d, std::string_view key) {
  for (auto [k, v] : dict_entries(g, d)) {
    auto text = key_text(g.nodes[k]);  // int keys match their decimal form ("state/0")
    if (text && *text == key) return &g.nodes[v];
  }
  return nullptr;
}

bool has_tensor_value(const pickle_graph& g, const node& d) {
  for (auto [k, v] : dict_entries(g, d))
    if (g.nodes[v].kind == node_kind::tensor || g.nodes[v].kind == node_kind::bad_tensor)
      return true;
  return false;
}

result<const node*> pick_root(const pickle_graph& g, const select_options& opts,
                              std::string_view source, std::vector<std::string>& notes) {
  const node* cur = &g.nodes[g.root];
  if (!opts.key.empty()) {
    std::string_view path = opts.key;
    while (!path.empty()) {
      auto slash = path.find('/');
      std::string_view part = path.substr(0, slash);
      path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
      if (cur->kind != node_kind::dict)
        return fail(errc::invalid_argument,
                    fmt::format("{}: --key '{}': '{}' is looked up in a {}, not a dict", source,
                                opts.key, part, kind_name(*cur)));
      const node* next = lookup(g, *cur, part);
      if (!next)
        return fail(errc::invalid_argument,
                    fmt::format("{}: --key '{}': no entry '{}'", source, opts.key, part));
      cur = next;
    }
    notes.push_back(fmt::format("using the entry '{}'", opts.key));
  } else if (cur->kind == node_kind::dict && !opts.flatten) {
    const node* sd = lookup(g, *cur, "state_dict");
    const node* model = lookup(g, *cur, "model");
    if (sd && sd->kind == node_kind::dict) {
      notes.push_back("using the 'state_dict' entry (as Hugging Face convert.py)");
      cur = sd;
    } else if (model && model->kind == node_kind::dict && !has_tensor_value(g, *cur)) {
      notes.push_back("using the 'model' entry (the top level holds no tensor)");
      cur = model;
    }
  }
  if (cur->kind != node_kind::dict)
    return fail(
        errc::unsupported,
        fmt::format("{}: the {} is a {}, not a dict of tensors (a whole pickled object?)", source,
                    opts.key.empty() ? std::string("top-level object") : "entry '" + opts.key + "'",
                    kind_name(*cur)));
  return cur;
}

}  // namespace

result<selection> select_tensors(const pickle_graph& g, const select_options& opts,
                                 const unpickler_limits& limits, std::string_view source) {
  std::vector<std::string> notes;
  const node* root = ST_TRY(pick_root(g, opts, source, notes));
  collector c{g, opts, limits, source, {}, {}, 0, 0, 0, 0};
  c.visit_budget = std::min<std::uint64_t>(limits.max_visits, 1'000'000 + 8 * g.nodes.size());
  c.out.notes = std::move(notes);
  ST_TRY(c.walk("", *root, 0));
  if (c.dropped_notes)
    c.out.notes.push_back(fmt::format("... and {} more skipped entries", c.dropped_notes));
  return std::move(c.out);
}

}  // namespace safetensors::torch::detail
