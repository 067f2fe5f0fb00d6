// `merge IN OUT.safetensors`: any checkpoint (a shard set, a folder, a PyTorch checkpoint) as
// one safetensors file, through the core pipeline (selection, renaming, casting on the way).
#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "command.hpp"
#include "format_option.hpp"
#include "output.hpp"
#include "pipeline_options.hpp"

namespace safetensors::cli {
namespace {

struct merge_args {
  std::string input, output;
  pipeline_args pipe;
  std::optional<torch::checkpoint_format> format;
};

int run(const merge_args& a) {
  const auto rules = selection_rules(a.pipe);
  if (!rules) return exit_usage;
  std::error_code ec;
  if (std::filesystem::is_directory(a.output, ec)) {
    print_error(fmt::format("{}: is a folder; merge writes one .safetensors file", a.output));
    return exit_usage;
  }
  const auto start = std::chrono::steady_clock::now();
  auto set = open_selected(a.input, a.format, *rules);
  if (!set) return report_error(set.error(), a.input);
  pipeline_progress bar("merge", a.pipe.quiet || a.pipe.json);
  auto r = write_checkpoint(*set, a.output, output_options_for(a.pipe, bar.callback()));
  bar.finish();
  if (!r) return report_error(r.error(), a.output);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_pipeline_report({"merged",
                         a.input,
                         r->written,
                         r->removed,
                         {},
                         set->aliases,
                         set->notes,
                         r->tensors,
                         r->bytes,
                         r->verified,
                         seconds},
                        a.pipe.json, a.pipe.quiet);
  return exit_ok;
}

std::function<int()> setup(CLI::App& sub) {
  auto a = std::make_shared<merge_args>();
  sub.add_option("input", a->input,
                 "checkpoint: sharded folder or index.json, .safetensors, PyTorch .bin/.pt")
      ->required();
  sub.add_option("output", a->output, "the .safetensors file to write")->required();
  add_format_option(sub, a->format);
  add_selection_options(sub, a->pipe);
  add_output_options(sub, a->pipe);
  return [a] { return run(*a); };
}

SAFETENSORS_CLI_COMMAND("merge", "Write a sharded (or any) checkpoint as one safetensors file",
                        setup);

}  // namespace
}  // namespace safetensors::cli
