// `convert IN [OUT]`: torch checkpoints (or safetensors) to canonical safetensors. The work is
// safetensors::torch::convert() (the core pipeline with a torch source); this file parses
// options and prints the outcome.
#include "safetensors/torch/convert.hpp"

#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <string>

#include "command.hpp"
#include "format_option.hpp"
#include "output.hpp"
#include "pipeline_options.hpp"

namespace safetensors::cli {
namespace {

struct convert_args {
  std::string input, output, key;
  pipeline_args pipe;
  std::uint64_t max_view_expansion = torch::unpickler_limits{}.max_view_expansion;
  bool flatten = false, hf_compat = false, no_copy = false;
  std::optional<torch::checkpoint_format> format;
};

int run(const convert_args& a) {
  torch::convert_options o;
  const auto rules = selection_rules(a.pipe);
  if (!rules) return exit_usage;
  o.rules = *rules;
  if (!a.pipe.max_shard_size.empty()) {
    o.max_shard_size = parse_size(a.pipe.max_shard_size);
    if (!o.max_shard_size) {
      print_error(fmt::format("--max-shard-size '{}': use e.g. 2GB, 500MB", a.pipe.max_shard_size));
      return exit_usage;
    }
  }
  o.alignment = a.pipe.align;
  o.select.key = a.key;
  o.select.flatten = a.flatten;
  o.limits.max_view_expansion = a.max_view_expansion;
  o.sharing = a.hf_compat ? torch::share_policy::hf_compat : torch::share_policy::exact;
  o.verify = !a.pipe.no_verify;
  o.copy_other_files = !a.no_copy;
  o.force = a.pipe.force;
  o.format = a.format;
  pipeline_progress bar("convert", a.pipe.quiet || a.pipe.json);
  o.progress = bar.callback();
  const auto start = std::chrono::steady_clock::now();
  auto r = torch::convert(a.input, a.output, o);
  bar.finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!r) return report_error(r.error(), a.input);
  print_pipeline_report({"converted", a.input, r->written, r->removed, r->copied, r->aliases,
                         r->notes, r->tensors, r->bytes, r->verified, seconds},
                        a.pipe.json, a.pipe.quiet);
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
  add_selection_options(sub, a->pipe);
  sub.add_option("--max-shard-size", a->pipe.max_shard_size, "shard the output (e.g. 2GB, 500MB)");
  sub.add_option("--key", a->key,
                 "convert the sub-dict at this path ('/'-separated keys, e.g. state_dict)");
  sub.add_flag("--flatten", a->flatten, "convert nested dicts/lists too, named a.b.c");
  sub.add_option("--max-view-expansion", a->max_view_expansion,
                 "refuse views (stride 0, overlaps) above this many times their storage's bytes "
                 "(default 16; views up to 64 MiB always pass)")
      ->check(CLI::PositiveNumber);
  sub.add_flag("--hf-compat", a->hf_compat,
               "drop shared tensors like Hugging Face convert.py (_remove_duplicate_names)");
  sub.add_flag("--no-copy", a->no_copy,
               "do not copy the folder's other files (config.json, tokenizer...)");
  add_output_options(sub, a->pipe);
  return [a] { return run(*a); };
}

SAFETENSORS_CLI_COMMAND(
    "convert",
    "Convert a PyTorch checkpoint (without running pickle code) or re-serialize safetensors",
    setup);

}  // namespace
}  // namespace safetensors::cli
