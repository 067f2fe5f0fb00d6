// `stats PATH [--filter GLOB] [--json]`: per tensor min, max, mean, std, abs-max and the NaN,
// Inf and zero counts, for every float dtype (through the core's conversions), the integer
// dtypes and BOOL (C64: over its components). Tensors are cut into pieces that all threads share.
#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint_input.hpp"
#include "command.hpp"
#include "output.hpp"
#include "parallel.hpp"
#include "safetensors/json_writer.hpp"
#include "tensor_values.hpp"

namespace safetensors::cli {
namespace {

struct stats_options {
  std::string path;
  std::string filter;
  bool json = false;
  bool quiet = false;
};

/// Statistics of a run of values. min/max/mean/std/absmax cover the finite values only.
struct value_stats {
  std::uint64_t finite = 0, nan = 0, inf = 0, zeros = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double absmax = 0;
  double mean = 0;
  double m2 = 0;  // sum of squared deviations from the mean

  /// Chan et al.'s pairwise combination of two partial results.
  void merge(const value_stats& o) {
    if (o.finite > 0) {
      const double n = static_cast<double>(finite), m = static_cast<double>(o.finite);
      const double delta = o.mean - mean;
      mean += delta * m / (n + m);
      m2 += o.m2 + delta * delta * n * m / (n + m);
      min = std::min(min, o.min);
      max = std::max(max, o.max);
      absmax = std::max(absmax, o.absmax);
      finite += o.finite;
    }
    nan += o.nan;
    inf += o.inf;
    zeros += o.zeros;
  }

  /// One pass over a block: sums of (x - K) and (x - K)^2 around K, the block's first finite
  /// value (shifted sums stay accurate over a block of a few thousand values).
  void add_block(std::span<const double> v) {
    value_stats b;
    double shift = 0, s1 = 0, s2 = 0;
    bool have_shift = false;
    for (double x : v) {
      if (!std::isfinite(x)) [[unlikely]] {
        if (std::isnan(x))
          ++b.nan;
        else
          ++b.inf;
        continue;
      }
      if (!have_shift) [[unlikely]] {
        shift = x;
        have_shift = true;
      }
      ++b.finite;
      const double d = x - shift;
      s1 += d;
      s2 += d * d;
      b.min = std::min(b.min, x);
      b.max = std::max(b.max, x);
      b.absmax = std::max(b.absmax, std::fabs(x));
      b.zeros += x == 0;
    }
    if (b.finite > 0) {
      const double n = static_cast<double>(b.finite);
      b.mean = shift + s1 / n;
      b.m2 = std::max(0.0, s2 - s1 * s1 / n);
    }
    merge(b);
  }

  double stddev() const { return finite > 0 ? std::sqrt(m2 / static_cast<double>(finite)) : 0; }
};

struct piece {
  std::size_t tensor;  // index into the selected tensors
  std::uint64_t begin, end;
};

constexpr std::uint64_t piece_values = 1u << 22;  // a multiple of every value group

std::string num(double v) { return fmt::format("{:.6g}", v); }

std::string render_text(const std::vector<const input_tensor*>& ts,
                        const std::vector<value_stats>& st) {
  text_table t({{"name"},
                {"dtype"},
                {"shape"},
                {"min", text_table::right},
                {"max", text_table::right},
                {"mean", text_table::right},
                {"std", text_table::right},
                {"absmax", text_table::right},
                {"nan", text_table::right},
                {"inf", text_table::right},
                {"zeros", text_table::right}});
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const auto& s = st[i];
    const bool any = s.finite > 0;
    t.add_row({control_chars_escaped(ts[i]->name), std::string(dtype_name(ts[i]->type)),
               format_shape(ts[i]->shape), any ? num(s.min) : "-", any ? num(s.max) : "-",
               any ? num(s.mean) : "-", any ? num(s.stddev()) : "-", any ? num(s.absmax) : "-",
               group_digits(s.nan), group_digits(s.inf), group_digits(s.zeros)});
  }
  return t.render() + fmt::format("\n{} tensors\n", ts.size());
}

std::string render_json(const stats_options& opts, const std::vector<const input_tensor*>& ts,
                        const std::vector<value_stats>& st) {
  json_writer w;
  w.begin_object().key("path").value(opts.path).key("tensors").begin_array();
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const auto& s = st[i];
    w.begin_object().key("name").value(ts[i]->name).key("dtype").value(dtype_name(ts[i]->type));
    w.key("shape").begin_array();
    for (auto d : ts[i]->shape) w.value(d);
    w.end_array();
    w.key("values").value(s.finite + s.nan + s.inf).key("finite").value(s.finite);
    auto opt = [&](const char* k, double v) {
      w.key(k);
      if (s.finite > 0)
        w.value(v);
      else
        w.null();
    };
    opt("min", s.min);
    opt("max", s.max);
    opt("mean", s.mean);
    opt("std", s.stddev());
    opt("absmax", s.absmax);
    w.key("nan").value(s.nan).key("inf").value(s.inf).key("zeros").value(s.zeros);
    w.end_object();
  }
  w.end_array().end_object();
  return w.take() + '\n';
}

int run_stats(const stats_options& opts) {
  auto in = checkpoint_input::open(opts.path);
  if (!in) return report_error(in.error(), opts.path);
  std::vector<const input_tensor*> selected;
  for (const auto& t : in->tensors())
    if (opts.filter.empty() || glob_match(opts.filter, t.name)) selected.push_back(&t);
  // Views of every selected tensor (mapped: cheap), then pieces of at most piece_values values.
  std::vector<tensor> data;
  std::vector<piece> pieces;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < selected.size(); ++i) {
    auto t = in->get(*selected[i]);
    if (!t) return report_error(t.error(), opts.path);
    data.push_back(std::move(*t));
    const auto layout = value_layout_of(selected[i]->type, selected[i]->numel);
    for (std::uint64_t at = 0; at < layout.count; at += piece_values)
      pieces.push_back({i, at, std::min(layout.count, at + piece_values)});
    total += selected[i]->nbytes;
  }
  std::vector<value_stats> partial(pieces.size());
  std::vector<std::optional<error>> failures(pieces.size());
  progress_bar bar("stats", total, opts.quiet || opts.json);
  std::atomic<std::uint64_t> done{0};
  parallel_for(
      pieces.size(),
      [&](std::size_t k) {
        const auto& p = pieces[k];
        const auto& v = data[p.tensor].view();
        auto r = for_each_value_block(
            v.type(), v.bytes(), p.begin, p.end,
            [&](std::uint64_t, std::span<const double> values) { partial[k].add_block(values); });
        if (!r) failures[k] = r.error();
        const auto layout = value_layout_of(v.type(), v.numel());
        done += layout.count == 0 ? 0 : v.bytes().size() * (p.end - p.begin) / layout.count;
      },
      bar, done);
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    if (failures[k]) {
      return report_error(
          {failures[k]->code, fmt::format("{}: tensor '{}': {}", opts.path,
                                          selected[pieces[k].tensor]->name, failures[k]->message)});
    }
  }
  std::vector<value_stats> stats(selected.size());
  for (std::size_t k = 0; k < pieces.size(); ++k) stats[pieces[k].tensor].merge(partial[k]);
  const auto out = opts.json ? render_json(opts, selected, stats) : render_text(selected, stats);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return exit_ok;
}

std::function<int()> setup_stats(CLI::App& sub) {
  auto opts = std::make_shared<stats_options>();
  sub.add_option("path", opts->path,
                 "a .safetensors file, a sharded folder, its index.json, or a .bin/.pt/.pth")
      ->required();
  sub.add_option("--filter", opts->filter, "only tensors whose name matches this glob (fnmatch)");
  sub.add_flag("--json", opts->json, "print one JSON document");
  sub.add_flag("--quiet,-q", opts->quiet, "no progress bar");
  return [opts] { return run_stats(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("stats", "Per-tensor min, max, mean, std, abs-max and NaN/Inf/zero counts",
                        setup_stats);

}  // namespace safetensors::cli
