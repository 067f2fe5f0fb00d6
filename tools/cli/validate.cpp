// `validate PATH...`: full validation of safetensors or PyTorch files, sharded folders and
// index.json files (header or pickle, offsets, every tensor's byte range, index against shards),
// warnings about things a user should know (non-canonical order, unaligned data start; NaN/Inf
// and non-0/1 BOOL bytes with --check-values), one line per problem, and an exit code for
// scripts.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "command.hpp"
#include "core/try.hpp"
#include "format_option.hpp"
#include "output.hpp"
#include "remote.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/checkpoint.hpp"
#include "safetensors/torch/sharded.hpp"
#include "safetensors/values.hpp"

namespace safetensors::cli {
namespace {

struct validate_options {
  std::vector<std::string> paths;
  bool json = false;
  bool check_values = false;
  bool quiet = false;
  std::optional<torch::checkpoint_format> format;
  remote_options remote;
};

struct problem {
  std::string kind;     ///< errc name, or a warning kind ("order", "alignment", "values")
  std::string tensor;   ///< empty when the problem is not about one tensor
  std::string message;  ///< one line, names the file
};

struct validation {
  std::string path;
  bool io_error = false;
  std::vector<problem> errors;
  std::vector<problem> warnings;
  std::vector<std::string> notes;  ///< e.g. which format of a folder holding both is read
  std::size_t tensors = 0;
  bool valid() const noexcept { return errors.empty(); }
};

/// The tensor a library message names ("...: tensor 'x': ..."), or "".
std::string tensor_named_in(std::string_view message) {
  static constexpr std::string_view marker = "tensor '";
  const auto start = message.find(marker);
  if (start == std::string_view::npos) return {};
  const auto begin = start + marker.size();
  const auto end = message.find("': ", begin);
  const auto last = message.rfind('\'');
  if (end != std::string_view::npos) return std::string(message.substr(begin, end - begin));
  if (last != std::string_view::npos && last >= begin)
    return std::string(message.substr(begin, last - begin));
  return {};
}

problem problem_of(const error& e, const std::string& path) {
  return {std::string(errc_name(e.code)), tensor_named_in(e.message), with_path(path, e.message)};
}

// ---------------------------------------------------------------------------------------------
// Warnings

/// The reference writer's order: dtype descending (enum order), then name byte-wise.
bool canonical_less(const tensor_info& a, const tensor_info& b) {
  if (a.type != b.type) return a.type > b.type;
  return a.name < b.name;
}

void check_order(const std::string& path, const std::vector<tensor_info>& ts, validation& v) {
  std::vector<const tensor_info*> canon;
  canon.reserve(ts.size());
  for (const auto& t : ts) canon.push_back(&t);
  std::stable_sort(canon.begin(), canon.end(),
                   [](auto* a, auto* b) { return canonical_less(*a, *b); });
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (canon[i]->name == ts[i].name) continue;
    v.warnings.push_back(
        {"order", ts[i].name,
         fmt::format("{}: tensors are not in the canonical writer order (dtype, then name): "
                     "tensor '{}' is at position {} where '{}' belongs",
                     path, ts[i].name, i, canon[i]->name)});
    return;
  }
}

void check_alignment(const std::string& path, std::uint64_t data_start, validation& v) {
  if (data_start % 8 == 0) return;
  v.warnings.push_back(
      {"alignment", "",
       fmt::format("{}: the data section starts at byte {}, not a multiple of 8: typed "
                   "zero-copy access may be misaligned",
                   path, data_start)});
}

// ---------------------------------------------------------------------------------------------
// --check-values: scan_values reads every checked tensor with pread into per-thread buffers,
// several chunks in parallel, so the resident set stays small whatever the checkpoint size.

void report_values(const std::string& file_path, std::string_view name, std::uint64_t numel,
                   const value_counts& c, validation& v) {
  if (c.nan > 0 || c.inf > 0) {
    v.warnings.push_back(
        {"values", std::string(name),
         fmt::format("{}: tensor '{}': {} NaN and {} Inf values (of {})", file_path, name,
                     group_digits(c.nan), group_digits(c.inf), group_digits(numel))});
  }
  if (c.bad_bool > 0) {
    v.warnings.push_back({"values", std::string(name),
                          fmt::format("{}: tensor '{}': {} BOOL bytes are neither 0 nor 1",
                                      file_path, name, group_digits(c.bad_bool))});
  }
}

/// One tensor of either format: where it is, what it is, and how to read its bytes.
struct checked_tensor {
  std::string file_path;
  std::string_view name;
  std::uint64_t numel;
  value_source source;
};

void check_values(const std::vector<checked_tensor>& tensors, const validate_options& opts,
                  validation& v) {
  std::vector<value_source> sources;
  std::uint64_t total = 0;
  for (const auto& t : tensors) {
    sources.push_back(t.source);
    total += value_checked(t.source.type) ? t.source.nbytes : 0;
  }
  progress_bar bar("validate " + v.path, total, opts.quiet);
  value_scan_options so;
  so.progress = [&bar](std::uint64_t n) { bar.advance(n); };
  const auto results = scan_values(sources, so);
  bar.finish();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (results[i].failure)
      v.errors.push_back(problem_of(*results[i].failure, tensors[i].file_path));
    else
      report_values(tensors[i].file_path, tensors[i].name, tensors[i].numel, results[i].counts, v);
  }
}

// ---------------------------------------------------------------------------------------------
// One input

void check_declared_size(std::optional<std::uint64_t> declared, std::uint64_t held,
                         const std::filesystem::path& index, validation& v) {
  if (!declared || *declared == held) return;
  v.warnings.push_back(
      {"index", "",
       fmt::format("{}: metadata.total_size is {} but the shards hold {} bytes of tensor data",
                   index.string(), *declared, held)});
}

void validate_safetensors(const std::string& path, const validate_options& opts, validation& v) {
  open_options oo;
  // Value checks pread every byte: a mapping would keep every page it touched resident.
  if (opts.check_values) oo.io = backend::pread;
  auto ck = checkpoint::open(path, oo);
  if (!ck) {
    v.io_error = ck.error().code == errc::io;
    v.errors.push_back(problem_of(ck.error(), path));
    return;
  }
  v.tensors = ck->tensors().size();
  check_declared_size(ck->declared_total_size(), ck->total_size(), ck->index_path(), v);
  for (const auto& f : ck->shards()) {
    check_alignment(f.path().string(), f.data_start(), v);
    check_order(f.path().string(), f.tensors(), v);
  }
  if (!opts.check_values) {                // every tensor's byte range through the mapping
    for (const auto& e : ck->tensors()) {  // from its shard: one name lookup, not two
      const file& shard = ck->shards()[e.shard];
      if (auto t = shard.get(e.info->name); !t)
        v.errors.push_back(problem_of(t.error(), shard.path().string()));
    }
    return;
  }
  std::vector<checked_tensor> tensors;
  for (const auto& e : ck->tensors()) {
    const file* f = &ck->shards()[e.shard];
    const tensor_info* info = e.info;
    tensors.push_back({f->path().string(), info->name, info->numel(),
                       value_source{info->type,
                                    info->nbytes(),
                                    [f, info](std::uint64_t at, std::span<std::byte> out) {
                                      return f->read_bytes(*info, at, out);
                                    },
                                    {}}});
  }
  check_values(tensors, opts, v);
}

void validate_torch(const std::filesystem::path& path, const validate_options& opts,
                    validation& v) {
  auto ck = torch::sharded_torch_checkpoint::open(path);
  if (!ck) {
    v.io_error = ck.error().code == errc::io;
    v.errors.push_back(problem_of(ck.error(), path.string()));
    return;
  }
  v.tensors = ck->tensors().size();
  check_declared_size(ck->declared_total_size(), ck->total_size(), ck->index_path(), v);
  if (!opts.check_values) return;  // opening checked every tensor's extent in its storage
  // File order (torch.save writes the storage records sorted by key as text, not in pickle
  // order): a cold read then runs front to back through each shard instead of seeking.
  auto entries = ck->tensors();
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
    const auto at = [&](const auto& e) {
      return ck->shards()[e.shard].storages()[e.tensor->storage].bytes.data();
    };
    return a.shard != b.shard ? a.shard < b.shard : std::less<>{}(at(a), at(b));
  });
  std::vector<checked_tensor> tensors;
  for (const auto& e : entries) {
    const torch::torch_checkpoint* c = &ck->shards()[e.shard];
    const torch::torch_tensor* t = e.tensor;
    value_source src{t->type, t->nbytes(), {}, {}};
    if (t->contiguous())
      src.read = [c, t](std::uint64_t at, std::span<std::byte> out) {
        return c->read_bytes(*t, at, out);
      };
    else
      src.stream = [c, t](const byte_sink& sink) { return c->stream(*t, sink); };
    tensors.push_back({c->path().string(), t->name, t->numel(), std::move(src)});
  }
  check_values(tensors, opts, v);
}

/// A URL: every header rule and the index against its shards, from the headers alone (data
/// bytes are not downloaded, so --check-values does not apply).
validation validate_remote(const std::string& url, const validate_options& opts) {
  validation v;
  v.path = url;
  auto ck = fetch_remote(url, opts.remote);
  if (!ck) {
    v.io_error = ck.error().code == errc::io;
    v.errors.push_back(problem_of(ck.error(), url));
    return v;
  }
  for (const auto& f : ck->files) {
    v.tensors += f.info.tensors.size();
    check_alignment(f.url, 8 + f.info.header_size, v);
    check_order(f.url, f.info.tensors, v);
  }
  return v;
}

validation validate_path(const std::string& path, const validate_options& opts) {
  if (is_remote(path)) return validate_remote(path, opts);
  validation v;
  v.path = path;
  const auto where = torch::resolve_checkpoint(path, opts.format);
  if (!where) {
    v.errors.push_back(problem_of(where.error(), path));
    return v;
  }
  if (!where->note.empty()) v.notes.push_back(where->note);
  if (where->format == torch::checkpoint_format::pytorch)
    validate_torch(where->path, opts, v);
  else
    validate_safetensors(path, opts, v);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Output

void print_text(const validation& v, const validate_options& opts) {
  std::string out;
  for (const auto& n : v.notes) out += fmt::format("note: {}\n", control_chars_escaped(n));
  for (const auto& p : v.errors)
    out += fmt::format("{} [{}]\n", control_chars_escaped(p.message), p.kind);
  for (const auto& p : v.warnings)
    out += fmt::format("warning: {} [{}]\n", control_chars_escaped(p.message), p.kind);
  if (v.valid() && !opts.quiet)
    out += fmt::format("OK {} ({} tensors)\n", control_chars_escaped(v.path), v.tensors);
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void json_problems(json_writer& w, std::string_view key, const std::vector<problem>& ps) {
  w.key(key).begin_array();
  for (const auto& p : ps) {
    w.begin_object().key("kind").value(p.kind).key("tensor");
    if (p.tensor.empty())
      w.null();
    else
      w.value(p.tensor);
    w.key("message").value(p.message).end_object();
  }
  w.end_array();
}

std::string render_json(const std::vector<validation>& all) {
  json_writer w;
  w.begin_array();
  for (const auto& v : all) {
    w.begin_object().key("path").value(v.path).key("valid").value(v.valid());
    json_problems(w, "errors", v.errors);
    json_problems(w, "warnings", v.warnings);
    w.key("notes").begin_array();
    for (const auto& n : v.notes) w.value(n);
    w.end_array();
    w.key("tensors").value(static_cast<std::uint64_t>(v.tensors)).end_object();
  }
  w.end_array();
  return w.take() + '\n';
}

int run_validate(const validate_options& opts) {
  std::vector<validation> all;
  bool any_invalid = false, any_io = false;
  for (const auto& path : opts.paths) {
    all.push_back(validate_path(path, opts));
    any_invalid = any_invalid || !all.back().valid();
    any_io = any_io || all.back().io_error;
    if (!opts.json) print_text(all.back(), opts);
  }
  if (opts.json) {
    const std::string out = render_json(all);
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  if (any_io) return exit_io;
  return any_invalid ? exit_invalid : exit_ok;
}

std::function<int()> setup_validate(CLI::App& sub) {
  auto opts = std::make_shared<validate_options>();
  sub.add_option("paths", opts->paths,
                 "safetensors or PyTorch files, sharded folders or their index.json files, local, "
                 "or safetensors as http(s):// or hf:// URLs (headers only)")
      ->required();
  add_format_option(sub, opts->format);
  sub.add_flag("--json", opts->json,
               "print a JSON array of {path, valid, errors, warnings, notes, tensors}");
  sub.add_flag(
      "--check-values", opts->check_values,
      "also read every value: count NaN/Inf in float tensors and BOOL bytes other than 0/1");
  sub.add_flag("-q,--quiet", opts->quiet, "print problems only (no OK lines, no progress bar)");
  add_remote_options(sub, opts->remote);
  return [opts] { return run_validate(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND(
    "validate", "Validate safetensors or PyTorch files, sharded folders or index.json files",
    setup_validate);

}  // namespace safetensors::cli
