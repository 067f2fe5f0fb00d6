// convert(): resolve inputs and outputs (convert_plan), read the input as a pipeline source,
// apply the selection rules, and write it with the core pipeline (read back and compared with
// the sources before each file is put in place); then copy the folder's other files.
#include "safetensors/torch/convert.hpp"

#include <fmt/format.h>

#include "core/try.hpp"
#include "torch/convert_plan.hpp"
#include "torch/convert_sources.hpp"

namespace safetensors::torch {
namespace fs = std::filesystem;

fs::path default_output(const fs::path& input) { return detail::default_output_path(input); }

result<convert_report> convert(const fs::path& input, const fs::path& output,
                               const convert_options& opts) {
  const auto plan = ST_TRY(detail::plan_output(input, output, opts));
  source_options so;
  so.select = opts.select;
  so.sharing = opts.sharing;
  so.limits = opts.limits;
  tensor_set set;
  if (plan.safetensors_input)
    set = ST_TRY(
        safetensors::open_source(plan.safetensors_path.empty() ? input : plan.safetensors_path));
  else
    set = ST_TRY(detail::torch_files_source(plan.torch_inputs, so));
  ST_TRY(apply_rules(set, opts.rules));

  output_options out;
  out.alignment = opts.alignment;
  out.max_shard_size = plan.max_shard_size;
  out.prefix = plan.prefix;
  out.keep_shards = plan.one_to_one;
  out.verify = opts.verify;
  out.fsync = opts.fsync;
  out.force = opts.force;
  if (opts.copy_other_files) out.companions_of = input;
  out.progress = opts.progress;
  const auto written = plan.sharded || plan.one_to_one
                           ? ST_TRY(write_shards(set, plan.dir, out))
                           : ST_TRY(write_checkpoint(set, plan.file, out));
  convert_report report;
  report.written = written.written;
  report.removed = written.removed;
  report.copied = written.copied;
  report.tensors = written.tensors;
  report.bytes = written.bytes;
  report.verified = written.verified;
  report.aliases = set.aliases;
  report.notes = plan.notes;
  report.notes.insert(report.notes.end(), set.notes.begin(), set.notes.end());
  return report;
}

}  // namespace safetensors::torch
