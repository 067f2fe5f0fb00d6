// `diff A B [--atol X] [--rtol Y] [--structure-only] [--metadata] [--json]`: tensors only in A
// or B, dtype and shape changes, and for common tensors a value comparison (bit-identical fast
// path; else max abs/rel difference, count beyond tolerance, first differing index). Either side
// may be any checkpoint input, e.g. a .bin against its converted .safetensors.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint_input.hpp"
#include "command.hpp"
#include "core/try.hpp"
#include "output.hpp"
#include "parallel.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/values.hpp"

namespace safetensors::cli {
namespace {

struct diff_options {
  std::string a, b;
  double atol = 0, rtol = 0;
  bool structure_only = false;
  bool metadata = false;
  bool json = false;
  bool quiet = false;
  remote_options remote;
};

enum class verdict { identical, equal, different, not_compared };

const char* verdict_name(verdict v) {
  switch (v) {
    case verdict::identical:
      return "identical";
    case verdict::equal:
      return "equal";
    case verdict::different:
      return "different";
    default:
      return "not_compared";
  }
}

struct pair_diff {
  const input_tensor* a = nullptr;
  const input_tensor* b = nullptr;
  bool structure_changed() const { return a->type != b->type || a->shape != b->shape; }
  verdict result = verdict::not_compared;
  double max_abs = 0, max_rel = 0;
  std::uint64_t beyond = 0;
  std::optional<std::uint64_t> first;  // value index of the first value beyond tolerance
  double first_a = 0, first_b = 0;
  std::optional<error> failure;
};

/// Reads values [first, first + n) of one side into `raw` (pread; a strided torch view is
/// gathered once by get()): the bytes of whole value groups.
class value_reader {
 public:
  value_reader(const checkpoint_input& in, const input_tensor& t) : in_(in), t_(t) {}
  result<std::span<const std::byte>> bytes(std::uint64_t first, std::uint64_t n) {
    const auto layout = value_layout_of(t_.type, t_.numel);
    const unsigned bits = dtype_bits(layout.type);
    const std::uint64_t from = first * bits / 8, to = (first + n) * bits / 8;
    if (!src_) src_ = ST_TRY(in_.value_source_of(t_));
    if (src_->read) {
      raw_.resize(static_cast<std::size_t>(to - from));
      ST_TRY(src_->read(from, raw_));
      return std::span<const std::byte>(raw_);
    }
    if (!whole_) whole_ = ST_TRY(in_.get(t_));
    return whole_->view().bytes().subspan(static_cast<std::size_t>(from),
                                          static_cast<std::size_t>(to - from));
  }

 private:
  const checkpoint_input& in_;
  const input_tensor& t_;
  std::optional<value_source> src_;
  std::optional<tensor> whole_;
  std::vector<std::byte> raw_;
};

/// Compares values as doubles: equal when |a-b| <= atol + rtol*|b| (NumPy's isclose), NaN equal
/// to NaN, infinities equal to themselves. Both sides are read in pieces of `piece` values
/// (memory stays bounded whatever the tensor size); pieces whose bytes are the same in the same
/// dtype are not decoded, and a tensor whose every piece is so is bit-identical.
result<void> compare_values(pair_diff& d, const checkpoint_input& ia, const checkpoint_input& ib,
                            double atol, double rtol) {
  const auto la = value_layout_of(d.a->type, d.a->numel);
  const auto lb = value_layout_of(d.b->type, d.b->numel);
  if (la.count != lb.count) return {};  // C64 against a real dtype: not comparable
  constexpr std::uint64_t piece = 1u << 20, block = 4096;  // multiples of every group
  value_reader ra(ia, *d.a), rb(ib, *d.b);
  std::vector<double> xa(block), xb(block);
  bool identical = d.a->type == d.b->type;
  for (std::uint64_t start = 0; start < la.count; start += piece) {
    const std::uint64_t len = std::min(piece, la.count - start);
    const auto ba = ST_TRY(ra.bytes(start, len));
    const auto bb = ST_TRY(rb.bytes(start, len));
    if (d.a->type == d.b->type && ba.size() == bb.size() &&
        std::memcmp(ba.data(), bb.data(), ba.size()) == 0)
      continue;
    identical = false;
    for (std::uint64_t at = 0; at < len; at += block) {
      const std::uint64_t n = std::min(block, len - at);
      ST_TRY(decode_values(d.a->type, ba, at, std::span(xa.data(), n)));
      ST_TRY(decode_values(d.b->type, bb, at, std::span(xb.data(), n)));
      for (std::uint64_t i = 0; i < n; ++i) {
        const double a = xa[i], b = xb[i];
        bool close;
        double diff = 0;
        if (std::isnan(a) || std::isnan(b)) {
          close = std::isnan(a) && std::isnan(b);
        } else if (std::isinf(a) || std::isinf(b)) {
          close = a == b;
          if (!close) diff = std::numeric_limits<double>::infinity();
        } else {
          diff = std::fabs(a - b);
          close = diff <= atol + rtol * std::fabs(b);
        }
        d.max_abs = std::max(d.max_abs, diff);
        if (diff > 0) {
          const double rel = b == 0 ? std::numeric_limits<double>::infinity() : diff / std::fabs(b);
          d.max_rel = std::max(d.max_rel, rel);
        }
        if (!close) {
          if (!d.first) {
            d.first = start + at + i;
            d.first_a = a;
            d.first_b = b;
          }
          ++d.beyond;
        }
      }
    }
  }
  d.result = identical ? verdict::identical : d.beyond == 0 ? verdict::equal : verdict::different;
  return {};
}

/// The element index (multi-index) of value `v` of a tensor of dtype t and `shape`.
std::vector<std::uint64_t> index_of(std::uint64_t v, dtype t,
                                    const std::vector<std::uint64_t>& shape) {
  std::uint64_t e = t == dtype::C64 ? v / 2 : v;
  std::vector<std::uint64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] == 0 ? 0 : e % shape[d];
    e = shape[d] == 0 ? 0 : e / shape[d];
  }
  return idx;
}

struct metadata_diff {
  std::vector<std::pair<std::string, std::string>> only_a, only_b;
  std::vector<std::tuple<std::string, std::string, std::string>> changed;
  bool empty() const { return only_a.empty() && only_b.empty() && changed.empty(); }
};

metadata_diff diff_metadata(const metadata_map& a, const metadata_map& b) {
  metadata_diff out;
  std::map<std::string, std::string> mb(b.entries.begin(), b.entries.end());
  for (const auto& [k, v] : a.entries) {
    auto it = mb.find(k);
    if (it == mb.end()) {
      out.only_a.emplace_back(k, v);
    } else {
      if (it->second != v) out.changed.emplace_back(k, v, it->second);
      mb.erase(it);
    }
  }
  out.only_b.assign(mb.begin(), mb.end());
  return out;
}

struct diff_result {
  std::vector<const input_tensor*> only_a, only_b;
  std::vector<pair_diff> common;  // by name
  metadata_diff meta;
};

std::string describe(const input_tensor& t) {
  return fmt::format("{} {}", dtype_name(t.type), format_shape(t.shape));
}

std::string render_text(const diff_options& opts, const diff_result& r) {
  std::string out;
  for (const auto* t : r.only_a)
    out += fmt::format("only in A: {}  {}\n", control_chars_escaped(t->name), describe(*t));
  for (const auto* t : r.only_b)
    out += fmt::format("only in B: {}  {}\n", control_chars_escaped(t->name), describe(*t));
  std::map<verdict, std::size_t> counts;
  for (const auto& d : r.common) {
    const auto name = control_chars_escaped(d.a->name);
    if (d.structure_changed())
      out += fmt::format("changed: {}  {} -> {}\n", name, describe(*d.a), describe(*d.b));
    ++counts[d.result];
    if (d.result != verdict::different) continue;
    out += fmt::format(
        "different: {}  max abs diff {:.6g}, max rel diff {:.6g}, {} of {} values beyond "
        "tolerance, first at {} (A {:.9g}, B {:.9g})\n",
        name, d.max_abs, d.max_rel, group_digits(d.beyond),
        group_digits(value_layout_of(d.a->type, d.a->numel).count),
        format_shape(index_of(*d.first, d.a->type, d.a->shape)), d.first_a, d.first_b);
  }
  for (const auto& [k, v] : r.meta.only_a)
    out += fmt::format("metadata only in A: {} = {}\n", control_chars_escaped(k),
                       control_chars_escaped(v));
  for (const auto& [k, v] : r.meta.only_b)
    out += fmt::format("metadata only in B: {} = {}\n", control_chars_escaped(k),
                       control_chars_escaped(v));
  for (const auto& [k, va, vb] : r.meta.changed) {
    out += fmt::format("metadata changed: {}: {} -> {}\n", control_chars_escaped(k),
                       control_chars_escaped(va), control_chars_escaped(vb));
  }
  out += fmt::format("{} common tensors", r.common.size());
  if (!opts.structure_only) {
    out +=
        fmt::format(": {} identical, {} equal within tolerance, {} different",
                    counts[verdict::identical], counts[verdict::equal], counts[verdict::different]);
    if (counts[verdict::not_compared] > 0)
      out += fmt::format(", {} not comparable", counts[verdict::not_compared]);
  }
  out += fmt::format("; {} only in A, {} only in B\n", r.only_a.size(), r.only_b.size());
  return out;
}

void json_meta(json_writer& w, const std::vector<std::pair<std::string, std::string>>& entries) {
  w.begin_object();
  for (const auto& [k, v] : entries) w.key(k).value(v);
  w.end_object();
}

std::string render_json(const diff_options& opts, const diff_result& r, bool equal) {
  json_writer w;
  w.begin_object().key("a").value(opts.a).key("b").value(opts.b).key("equal").value(equal);
  auto names = [&](const char* key, const std::vector<const input_tensor*>& ts) {
    w.key(key).begin_array();
    for (const auto* t : ts) w.value(t->name);
    w.end_array();
  };
  names("only_in_a", r.only_a);
  names("only_in_b", r.only_b);
  w.key("tensors").begin_array();
  for (const auto& d : r.common) {
    w.begin_object().key("name").value(d.a->name);
    w.key("dtype")
        .begin_array()
        .value(dtype_name(d.a->type))
        .value(dtype_name(d.b->type))
        .end_array();
    w.key("shape").begin_array();
    for (const auto* t : {d.a, d.b}) {
      w.begin_array();
      for (auto x : t->shape) w.value(x);
      w.end_array();
    }
    w.end_array();
    w.key("status").value(verdict_name(d.result));
    if (d.result == verdict::equal || d.result == verdict::different) {
      w.key("max_abs_diff").value(d.max_abs).key("max_rel_diff").value(d.max_rel);
      w.key("beyond_tolerance").value(d.beyond).key("first_difference");
      if (d.first) {
        w.begin_array();
        for (auto x : index_of(*d.first, d.a->type, d.a->shape)) w.value(x);
        w.end_array();
      } else {
        w.null();
      }
    }
    w.end_object();
  }
  w.end_array();
  w.key("metadata").begin_object().key("only_in_a");
  json_meta(w, r.meta.only_a);
  w.key("only_in_b");
  json_meta(w, r.meta.only_b);
  w.key("changed").begin_object();
  for (const auto& [k, va, vb] : r.meta.changed)
    w.key(k).begin_array().value(va).value(vb).end_array();
  w.end_object().end_object().end_object();
  return w.take() + '\n';
}

int run_diff(diff_options opts) {
  if (!(opts.atol >= 0) || !(opts.rtol >= 0)) {
    print_error("--atol and --rtol must be non-negative numbers");
    return exit_usage;
  }
  // pread: values are read in pieces, nothing of the data stays mapped
  auto a = checkpoint_input::open(opts.a, opts.remote, backend::pread);
  if (!a) return report_error(a.error(), opts.a);
  auto b = checkpoint_input::open(opts.b, opts.remote, backend::pread);
  if (!b) return report_error(b.error(), opts.b);
  if ((a->is_remote() || b->is_remote()) && !opts.structure_only) {
    std::fputs("note: a URL gives headers only: comparing structure (names, dtypes, shapes)\n",
               stderr);
    opts.structure_only = true;
  }
  diff_result r;
  for (const auto& t : a->tensors()) {
    if (const auto* u = b->find(t.name)) {
      pair_diff d;
      d.a = &t;
      d.b = u;
      r.common.push_back(std::move(d));
    } else {
      r.only_a.push_back(&t);
    }
  }
  for (const auto& t : b->tensors())
    if (a->find(t.name) == nullptr) r.only_b.push_back(&t);
  r.meta = diff_metadata(a->metadata(), b->metadata());
  if (!opts.structure_only) {
    std::uint64_t total = 0;
    for (const auto& d : r.common) total += d.a->nbytes + d.b->nbytes;
    progress_bar bar("diff", total, opts.quiet || opts.json);
    std::atomic<std::uint64_t> done{0};
    parallel_for(
        r.common.size(),
        [&](std::size_t i) {
          auto& d = r.common[i];
          if (d.a->shape != d.b->shape) return;
          if (auto c = compare_values(d, *a, *b, opts.atol, opts.rtol); !c) {
            d.failure = c.error();
            return;
          }
          done += d.a->nbytes + d.b->nbytes;
        },
        bar, done);
    for (const auto& d : r.common)
      if (d.failure) return report_error(*d.failure);
  }
  bool equal = r.only_a.empty() && r.only_b.empty() && (!opts.metadata || r.meta.empty());
  for (const auto& d : r.common) {
    if (d.structure_changed() || d.result == verdict::different) equal = false;
    if (!opts.structure_only && d.result == verdict::not_compared) equal = false;
  }
  const auto out = opts.json ? render_json(opts, r, equal) : render_text(opts, r);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return equal ? exit_ok : exit_invalid;
}

std::function<int()> setup_diff(CLI::App& sub) {
  auto opts = std::make_shared<diff_options>();
  sub.add_option("a", opts->a,
                 "checkpoint A (.safetensors, folder, index.json, .bin/.pt/.pth, or a URL: "
                 "structure only)")
      ->required();
  sub.add_option("b", opts->b, "checkpoint B")->required();
  sub.add_option("--atol", opts->atol, "absolute tolerance (default 0)");
  sub.add_option("--rtol", opts->rtol, "relative tolerance: |a-b| <= atol + rtol*|b| (default 0)");
  sub.add_flag("--structure-only", opts->structure_only,
               "compare names, dtypes and shapes only (reads no tensor data)");
  sub.add_flag("--metadata", opts->metadata, "__metadata__ differences also make the exit code 1");
  sub.add_flag("--json", opts->json, "print one JSON document");
  sub.add_flag("--quiet,-q", opts->quiet, "no progress bar");
  add_remote_options(sub, opts->remote);
  return [opts] { return run_diff(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("diff", "Compare two checkpoints: names, dtypes, shapes, values, metadata",
                        setup_diff);

}  // namespace safetensors::cli
