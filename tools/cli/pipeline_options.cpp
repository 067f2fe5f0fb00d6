#include "pipeline_options.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdio>

#include "safetensors/json_writer.hpp"
#include "safetensors/torch/convert.hpp"

namespace safetensors::cli {

void add_selection_options(CLI::App& sub, pipeline_args& a) {
  sub.add_option("--filter", a.filter,
                 "only tensors whose name matches this glob (fnmatch; repeat for several)")
      ->allow_extra_args(false);
  sub.add_option("--exclude", a.exclude, "leave out tensors whose name matches this glob")
      ->allow_extra_args(false);
  sub.add_option("--rename", a.rename,
                 "REGEX=REPLACEMENT on every name (ECMAScript regex, $1 groups; in order; "
                 "e.g. '^model\\.=' strips a prefix)")
      ->allow_extra_args(false);
  sub.add_option(
      "--dtype", a.dtype,
      "cast floating tensors to this floating dtype (f16, bf16, f32, f64, f8_e4m3, ...)");
}

void add_output_options(CLI::App& sub, pipeline_args& a) {
  sub.add_option("--align", a.align, "alignment of the data section: 8, 64 or 4096")
      ->check(CLI::IsMember({8, 64, 4096}));
  sub.add_flag("--no-verify", a.no_verify,
               "skip reading the output back (strict reader, checksums of every tensor's bytes)");
  sub.add_flag("--force", a.force, "overwrite existing outputs");
  sub.add_flag("--json", a.json, "print the result as JSON");
  sub.add_flag("--quiet,-q", a.quiet, "no progress bar and no summary");
}

std::optional<dtype> parse_float_dtype(std::string_view name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::pair<const char*, dtype> aliases[] = {
      {"FLOAT16", dtype::F16}, {"HALF", dtype::F16},  {"BFLOAT16", dtype::BF16},
      {"FLOAT32", dtype::F32}, {"FLOAT", dtype::F32}, {"FLOAT64", dtype::F64},
      {"DOUBLE", dtype::F64}};
  for (auto [alias, t] : aliases)
    if (up == alias) return t;
  const auto t = dtype_from_name(up);
  if (t && dtype_is_float(*t)) return t;
  return std::nullopt;
}

std::optional<select_rules> selection_rules(const pipeline_args& a) {
  select_rules r;
  r.include = a.filter;
  r.exclude = a.exclude;
  for (const auto& text : a.rename) {
    auto rule = rename_rule::parse(text);
    if (!rule) {
      print_error("--" + rule.error().message);
      return std::nullopt;
    }
    r.rename.push_back(std::move(*rule));
  }
  if (!a.dtype.empty()) {
    r.cast = parse_float_dtype(a.dtype);
    if (!r.cast) {
      print_error(fmt::format(
          "--dtype '{}': use a floating dtype (f16, bf16, f32, f64, f8_e4m3, f8_e5m2, ...)",
          a.dtype));
      return std::nullopt;
    }
  }
  return r;
}

result<tensor_set> open_selected(const std::string& input,
                                 const std::optional<torch::checkpoint_format>& format,
                                 const select_rules& rules) {
  torch::source_options so;
  so.format = format;
  auto set = torch::open_source(input, so);
  if (set) {
    if (auto applied = apply_rules(*set, rules); !applied) return tl::unexpected(applied.error());
  }
  return set;
}

output_options output_options_for(const pipeline_args& a, progress_fn progress) {
  output_options o;
  o.alignment = a.align;
  o.verify = !a.no_verify;
  o.force = a.force;
  o.progress = std::move(progress);
  return o;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.'))
    ++end;
  if (end == 0) return std::nullopt;
  double value = 0;
  try {
    value = std::stod(std::string(text.substr(0, end)));
  } catch (...) {
    return std::nullopt;
  }
  std::string unit(text.substr(end));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::pair<const char*, double> units[] = {{"", 1},
                                                         {"B", 1},
                                                         {"KB", 1e3},
                                                         {"MB", 1e6},
                                                         {"GB", 1e9},
                                                         {"TB", 1e12},
                                                         {"KIB", 1024.0},
                                                         {"MIB", 1048576.0},
                                                         {"GIB", 1073741824.0},
                                                         {"TIB", 1099511627776.0}};
  for (auto [name, factor] : units)
    if (unit == name) {
      double bytes = value * factor;
      if (!(bytes >= 1) || bytes > 1.8e19) return std::nullopt;
      return static_cast<std::uint64_t>(bytes);
    }
  return std::nullopt;
}

progress_fn pipeline_progress::callback() {
  return [this](std::uint64_t done, std::uint64_t total) {
    if (!bar_ || total != total_) {
      bar_.reset();
      bar_.emplace(label_, total, quiet_);
      total_ = total;
    }
    bar_->update(done);
  };
}

void pipeline_progress::finish() {
  if (bar_) bar_->finish();
}

void print_pipeline_report(const pipeline_summary& s, bool json, bool quiet) {
  const auto files = [](json_writer& w, const char* key,
                        const std::vector<std::filesystem::path>& v) {
    w.key(key).begin_array();
    for (const auto& f : v) w.value(f.string());
    w.end_array();
  };
  if (json) {
    json_writer w;
    w.begin_object().key("input").value(s.input);
    files(w, "written", s.written);
    files(w, "removed", s.removed);
    files(w, "copied", s.copied);
    w.key("tensors").value(static_cast<std::uint64_t>(s.tensors)).key("bytes").value(s.bytes);
    w.key("aliases").begin_object();
    for (const auto& [dropped, kept] : s.aliases) w.key(dropped).value(kept);
    w.end_object().key("notes").begin_array();
    for (const auto& n : s.notes) w.value(n);
    w.end_array().key("verified").value(s.verified).key("seconds").value(s.seconds).end_object();
    std::puts(w.str().c_str());
    return;
  }
  if (quiet) return;
  for (const auto& n : s.notes) std::printf("note: %s\n", control_chars_escaped(n).c_str());
  for (const auto& [dropped, kept] : s.aliases)
    std::printf("alias: %s -> %s (shares the storage; recorded in __metadata__)\n",
                control_chars_escaped(dropped).c_str(), control_chars_escaped(kept).c_str());
  for (const auto& f : s.copied)
    std::printf("copied: %s\n", control_chars_escaped(f.string()).c_str());
  for (const auto& f : s.removed)
    std::printf("removed: %s (stale shard of the replaced set)\n",
                control_chars_escaped(f.string()).c_str());
  for (const auto& f : s.written)
    std::printf("wrote: %s\n", control_chars_escaped(f.string()).c_str());
  const double rate = s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0;
  std::printf("%s %zu tensors, %s in %.2f s (%s/s)%s\n", s.verb.c_str(), s.tensors,
              human_bytes(s.bytes).c_str(), s.seconds,
              human_bytes(static_cast<std::uint64_t>(rate)).c_str(),
              s.verified ? ", verified" : "");
}

}  // namespace safetensors::cli
