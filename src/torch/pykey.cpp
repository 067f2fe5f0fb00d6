// Numbers compare by value across bool/int/float (Objects/floatobject.c float_richcompare,
// Objects/longobject.c); hashes only need to agree where values are equal.
#include "torch/pykey.hpp"

#include <cmath>
#include <functional>
#include <string_view>
#include <unordered_map>

namespace safetensors::torch::detail {
namespace {

bool numeric(const node& n) {
  return n.kind == node_kind::boolean || n.kind == node_kind::integer ||
         n.kind == node_kind::bigint || n.kind == node_kind::floating;
}

/// The int64 a float equals exactly, if any.
bool float_as_int(double f, std::int64_t& out) {
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0) || std::trunc(f) != f)
    return false;
  out = static_cast<std::int64_t>(f);
  return true;
}

struct keys {
  const pickle_graph& g;

  std::size_t hash(std::uint32_t id, int depth = 0) const {
    const node& n = g.nodes[id];
    std::int64_t i = 0;
    switch (n.kind) {
      case node_kind::boolean:
      case node_kind::integer:
        return std::hash<std::int64_t>{}(n.integer);
      case node_kind::floating:
        if (float_as_int(n.floating, i)) return std::hash<std::int64_t>{}(i);
        return std::isnan(n.floating) ? 0x7ff8 : std::hash<double>{}(n.floating);
      case node_kind::bigint:  // canonical minimal bytes (unpickler): beyond int64, never a float
        return std::hash<std::string_view>{}(n.text) ^ 0x5bd1e995;
      case node_kind::str:
        return std::hash<std::string_view>{}(n.text) * 3;
      case node_kind::bytes:
        return std::hash<std::string_view>{}(n.text) * 5;
      case node_kind::global:
        return std::hash<std::string_view>{}(n.text) * 7;
      case node_kind::tuple: {
        std::size_t h = 0x345678 + n.items.size();
        if (depth <= 16)
          for (auto c : n.items) h = h * 1000003 ^ hash(c, depth + 1);
        return h;
      }
      default:
        return 0;
    }
  }

  bool equal(std::uint32_t a, std::uint32_t b) const {
    if (a == b) return true;  // identity first, as dict lookup does (a NaN equals itself)
    const node& x = g.nodes[a];
    const node& y = g.nodes[b];
    if (numeric(x) && numeric(y)) {
      if (x.kind == node_kind::bigint || y.kind == node_kind::bigint)
        return x.kind == y.kind && x.text == y.text;
      if (x.kind == node_kind::floating && y.kind == node_kind::floating)
        return x.floating == y.floating;
      if (x.kind == node_kind::floating || y.kind == node_kind::floating) {
        const node& f = x.kind == node_kind::floating ? x : y;
        const node& i = x.kind == node_kind::floating ? y : x;
        std::int64_t v = 0;
        return float_as_int(f.floating, v) && v == i.integer;
      }
      return x.integer == y.integer;
    }
    if (x.kind != y.kind) return false;
    switch (x.kind) {
      case node_kind::none:
        return true;
      case node_kind::str:
      case node_kind::bytes:
      case node_kind::global:
        return x.text == y.text;
      case node_kind::tuple:
        if (x.items.size() != y.items.size()) return false;
        for (std::size_t i = 0; i < x.items.size(); ++i)
          if (!equal(x.items[i], y.items[i])) return false;
        return true;
      default:
        return false;
    }
  }
};

}  // namespace

bool hashable(const std::vector<node>& nodes, std::uint32_t id, int depth) {
  const node& n = nodes[id];
  switch (n.kind) {
    case node_kind::none:
    case node_kind::boolean:
    case node_kind::integer:
    case node_kind::bigint:
    case node_kind::floating:
    case node_kind::str:
    case node_kind::bytes:
    case node_kind::global:
      return true;
    case node_kind::tuple:
      if (depth > 16) return false;
      for (auto c : n.items)
        if (!hashable(nodes, c, depth + 1)) return false;
      return true;
    default:
      return false;
  }
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> dict_entries(const pickle_graph& g,
                                                                  const node& d) {
  const keys k{g};
  const auto h = [&](std::uint32_t id) { return k.hash(id); };
  const auto eq = [&](std::uint32_t a, std::uint32_t b) { return k.equal(a, b); };
  std::unordered_map<std::uint32_t, std::size_t, decltype(h), decltype(eq)> pos(
      d.items.size() / 2 + 1, h, eq);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  for (std::size_t i = 0; i + 1 < d.items.size(); i += 2) {
    auto [it, fresh] = pos.try_emplace(d.items[i], out.size());
    if (fresh)
      out.emplace_back(d.items[i], d.items[i + 1]);
    else
      out[it->second].second = d.items[i + 1];
  }
  return out;
}

}  // namespace safetensors::torch::detail
