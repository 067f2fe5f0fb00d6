// `stats PATH [--filter GLOB] [--json]`: per tensor min, max, mean, std, abs-max and the NaN,
// Inf and zero counts, for every float dtype (through the core's conversions), the integer
// dtypes and BOOL (C64: over its components). The core's scan_values reads and accumulates
// (values.hpp add_stats): chunks of every tensor shared by all threads, read with pread.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint_input.hpp"
#include "command.hpp"
#include "output.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/values.hpp"

namespace safetensors::cli {
namespace {

struct stats_options {
  std::string path;
  std::string filter;
  bool json = false;
  bool quiet = false;
};

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
    w.key("values").value(s.values()).key("finite").value(s.finite);
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
  // pread into per-thread buffers (the core's scan_values): nothing stays mapped.
  auto in = checkpoint_input::open(opts.path, {}, backend::pread);
  if (!in) return report_error(in.error(), opts.path);
  std::vector<const input_tensor*> selected;
  std::vector<value_source> sources;
  std::uint64_t total = 0;
  for (const auto& t : in->tensors()) {
    if (!opts.filter.empty() && !glob_match(opts.filter, t.name)) continue;
    auto src = in->value_source_of(t);
    if (!src) return report_error(src.error(), opts.path);
    selected.push_back(&t);
    sources.push_back(std::move(*src));
    total += t.nbytes;
  }
  progress_bar bar("stats", total, opts.quiet || opts.json);
  value_scan_options so;
  so.stats = true;
  so.progress = [&bar](std::uint64_t n) { bar.advance(n); };
  const auto results = scan_values(sources, so);
  bar.finish();
  std::vector<value_stats> stats;
  for (std::size_t i = 0; i < selected.size(); ++i) {
    if (const auto& f = results[i].failure) {
      return report_error(
          {f->code, fmt::format("{}: tensor '{}': {}", opts.path, selected[i]->name, f->message)});
    }
    stats.push_back(results[i].stats);
  }
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
