// `convert IN [OUT]`: torch checkpoints (or safetensors) to canonical safetensors. The work is
// safetensors::torch::convert(); this file parses options and prints the outcome.
#include "safetensors/torch/convert.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>

#include "command.hpp"
#include "format_option.hpp"
#include "output.hpp"
#include "safetensors/json_writer.hpp"

namespace safetensors::cli {
namespace {

struct convert_args {
  std::string input, output, dtype, max_shard_size, key;
  std::uint64_t align = 8;
  std::uint64_t max_view_expansion = torch::unpickler_limits{}.max_view_expansion;
  bool flatten = false, hf_compat = false, no_verify = false, no_copy = false, force = false;
  bool json = false, quiet = false;
  std::optional<torch::checkpoint_format> format;
};

/// "2GB", "500MB", "1.5GiB", "4096": decimal (KB/MB/GB/TB) or binary (KiB/MiB/GiB/TiB) units.
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

std::optional<dtype> parse_dtype(std::string_view s) {
  if (s == "f16" || s == "F16" || s == "float16") return dtype::F16;
  if (s == "bf16" || s == "BF16" || s == "bfloat16") return dtype::BF16;
  if (s == "f32" || s == "F32" || s == "float32") return dtype::F32;
  return std::nullopt;
}

void print_json(const convert_args& a, const torch::convert_report& r, double seconds) {
  json_writer w;
  w.begin_object().key("input").value(a.input).key("written").begin_array();
  for (const auto& f : r.written) w.value(f.string());
  w.end_array().key("copied").begin_array();
  for (const auto& f : r.copied) w.value(f.string());
  w.end_array()
      .key("tensors")
      .value(static_cast<std::uint64_t>(r.tensors))
      .key("bytes")
      .value(r.bytes);
  w.key("aliases").begin_object();
  for (const auto& [dropped, kept] : r.aliases) w.key(dropped).value(kept);
  w.end_object().key("notes").begin_array();
  for (const auto& n : r.notes) w.value(n);
  w.end_array().key("verified").value(r.verified).key("seconds").value(seconds).end_object();
  std::puts(w.str().c_str());
}

void print_text(const torch::convert_report& r, double seconds) {
  for (const auto& n : r.notes) std::printf("note: %s\n", control_chars_escaped(n).c_str());
  for (const auto& [dropped, kept] : r.aliases)
    std::printf("alias: %s -> %s (shares the storage; recorded in __metadata__)\n",
                control_chars_escaped(dropped).c_str(), control_chars_escaped(kept).c_str());
  for (const auto& f : r.copied)
    std::printf("copied: %s\n", control_chars_escaped(f.string()).c_str());
  double rate = seconds > 0 ? static_cast<double>(r.bytes) / seconds : 0;
  for (const auto& f : r.written)
    std::printf("wrote: %s\n", control_chars_escaped(f.string()).c_str());
  std::printf("converted %zu tensors, %s in %.2f s (%s/s)%s\n", r.tensors,
              human_bytes(r.bytes).c_str(), seconds,
              human_bytes(static_cast<std::uint64_t>(rate)).c_str(),
              r.verified ? ", verified" : "");
}

int run(const convert_args& a) {
  torch::convert_options o;
  if (!a.dtype.empty()) {
    o.cast = parse_dtype(a.dtype);
    if (!o.cast) {
      print_error(fmt::format("--dtype '{}': use f16, bf16 or f32", a.dtype));
      return exit_usage;
    }
  }
  if (!a.max_shard_size.empty()) {
    o.max_shard_size = parse_size(a.max_shard_size);
    if (!o.max_shard_size) {
      print_error(fmt::format("--max-shard-size '{}': use e.g. 2GB, 500MB", a.max_shard_size));
      return exit_usage;
    }
  }
  o.alignment = a.align;
  o.select.key = a.key;
  o.select.flatten = a.flatten;
  o.limits.max_view_expansion = a.max_view_expansion;
  o.sharing = a.hf_compat ? torch::share_policy::hf_compat : torch::share_policy::exact;
  o.verify = !a.no_verify;
  o.copy_other_files = !a.no_copy;
  o.force = a.force;
  o.format = a.format;
  std::optional<progress_bar>
      bar;  // one bar per output file (its total is known on the first call)
  std::uint64_t bar_total = 0;
  o.progress = [&](std::uint64_t done, std::uint64_t total) {
    if (!bar || total != bar_total || done < 1) {
      bar.reset();
      bar.emplace("convert", total, a.quiet || a.json);
      bar_total = total;
    }
    bar->update(done);
  };
  auto start = std::chrono::steady_clock::now();
  auto r = torch::convert(a.input, a.output, o);
  if (bar) bar->finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!r) return report_error(r.error(), a.input);
  if (a.json)
    print_json(a, *r, seconds);
  else if (!a.quiet)
    print_text(*r, seconds);
  return exit_ok;
}

std::function<int()> setup(CLI::App& sub) {
  auto a = std::make_shared<convert_args>();
  sub.add_option("input", a->input,
                 "torch file (.bin/.pt/.pth/.ckpt), model folder or its index.json, or "
                 "safetensors file/folder")
      ->required();
  add_format_option(sub, a->format);
  sub.add_option("output", a->output,
                 "output file or folder (default: beside the input, pytorch_model -> model)");
  sub.add_option("--dtype", a->dtype, "cast floating tensors to f16, bf16 or f32");
  sub.add_option("--align", a->align, "alignment of the data section: 8, 64 or 4096")
      ->check(CLI::IsMember({8, 64, 4096}));
  sub.add_option("--max-shard-size", a->max_shard_size, "shard the output (e.g. 2GB, 500MB)");
  sub.add_option("--key", a->key,
                 "convert the sub-dict at this path ('/'-separated keys, e.g. state_dict)");
  sub.add_flag("--flatten", a->flatten, "convert nested dicts/lists too, named a.b.c");
  sub.add_option("--max-view-expansion", a->max_view_expansion,
                 "refuse views (stride 0, overlaps) above this many times their storage's bytes "
                 "(default 16; views up to 64 MiB always pass)")
      ->check(CLI::PositiveNumber);
  sub.add_flag("--hf-compat", a->hf_compat,
               "drop shared tensors like Hugging Face convert.py (_remove_duplicate_names)");
  sub.add_flag("--no-verify", a->no_verify,
               "skip re-reading the output and comparing every tensor");
  sub.add_flag("--no-copy", a->no_copy,
               "do not copy the folder's other files (config.json, tokenizer...)");
  sub.add_flag("--force", a->force, "overwrite existing outputs");
  sub.add_flag("--json", a->json, "print the result as JSON");
  sub.add_flag("--quiet,-q", a->quiet, "no progress bar and no summary");
  return [a] { return run(*a); };
}

SAFETENSORS_CLI_COMMAND(
    "convert",
    "Convert a PyTorch checkpoint (without running pickle code) or re-serialize safetensors",
    setup);

}  // namespace
}  // namespace safetensors::cli
