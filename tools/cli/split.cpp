// `split IN OUTDIR --max-shard-size SIZE` and `reshard IN OUTDIR --max-shard-size SIZE`: any
// checkpoint as a Hugging Face shard set (model-0000N-of-0000M.safetensors + index), through the
// core pipeline. One operation under the two names people look for: split a file, re-cut a set.
#include <fmt/format.h>

#include <chrono>

#include "command.hpp"
#include "format_option.hpp"
#include "output.hpp"
#include "pipeline_options.hpp"

namespace safetensors::cli {
namespace {

struct split_args {
  std::string verb, input, output, prefix = "model";
  pipeline_args pipe;
  bool no_copy = false;
  std::optional<torch::checkpoint_format> format;
};

int run(const split_args& a) {
  const auto rules = selection_rules(a.pipe);
  if (!rules) return exit_usage;
  const auto size = parse_size(a.pipe.max_shard_size);
  if (!size) {
    print_error(fmt::format("--max-shard-size '{}': use e.g. 5GB, 500MB", a.pipe.max_shard_size));
    return exit_usage;
  }
  if (a.prefix.empty() || a.prefix.find('/') != std::string::npos) {
    print_error(fmt::format("--prefix '{}': a file name prefix without '/'", a.prefix));
    return exit_usage;
  }
  const auto start = std::chrono::steady_clock::now();
  auto set = open_selected(a.input, a.format, *rules);
  if (!set) return report_error(set.error(), a.input);
  pipeline_progress bar(a.verb, a.pipe.quiet || a.pipe.json);
  auto o = output_options_for(a.pipe, bar.callback());
  o.max_shard_size = *size;
  o.prefix = a.prefix;
  if (!a.no_copy) o.companions_of = a.input;
  auto r = write_shards(*set, a.output, o);
  bar.finish();
  if (!r) return report_error(r.error(), a.output);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_pipeline_report(
      {a.verb == "split" ? "split" : "resharded", a.input, r->written, r->removed, r->copied,
       set->aliases, set->notes, r->tensors, r->bytes, r->verified, seconds},
      a.pipe.json, a.pipe.quiet);
  return exit_ok;
}

std::function<int()> setup(CLI::App& sub, const char* verb) {
  auto a = std::make_shared<split_args>();
  a->verb = verb;
  sub.add_option("input", a->input,
                 "checkpoint: .safetensors, sharded folder or index.json, PyTorch .bin/.pt")
      ->required();
  sub.add_option("outdir", a->output,
                 "folder for the shards and the index (created; may be the input's folder with "
                 "--force)")
      ->required();
  sub.add_option("--max-shard-size", a->pipe.max_shard_size,
                 "bytes of tensor data per shard (e.g. 5GB, 500MB, 2GiB)")
      ->required();
  sub.add_option("--prefix", a->prefix,
                 "shard names: PREFIX-00001-of-0000N.safetensors (default model)");
  add_format_option(sub, a->format);
  add_selection_options(sub, a->pipe);
  sub.add_flag("--no-copy", a->no_copy,
               "do not copy the input folder's other files (config.json, tokenizer...)");
  add_output_options(sub, a->pipe);
  return [a] { return run(*a); };
}

SAFETENSORS_CLI_COMMAND("split", "Cut a checkpoint into Hugging Face shards + index",
                        [](CLI::App& sub) { return setup(sub, "split"); });
SAFETENSORS_CLI_COMMAND("reshard", "Re-cut a sharded checkpoint at another shard size",
                        [](CLI::App& sub) { return setup(sub, "reshard"); });

}  // namespace
}  // namespace safetensors::cli
