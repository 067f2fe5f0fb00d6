// `validate PATH...`: full validation of safetensors files, sharded folders and index.json files
// (header, offsets, every tensor's byte range through the mapping), warnings about things a user
// should know (non-canonical order, unaligned data start; NaN/Inf and non-0/1 BOOL bytes with
// --check-values), one line per problem, and an exit code for scripts.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "command.hpp"
#include "core/try.hpp"
#include "output.hpp"
#include "remote.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/checkpoint.hpp"

namespace safetensors::cli {
namespace {

struct validate_options {
  std::vector<std::string> paths;
  bool json = false;
  bool check_values = false;
  bool quiet = false;
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
// --check-values

struct value_counts {
  std::uint64_t nan = 0, inf = 0, bad_bool = 0;
};

constexpr std::uint64_t chunk_elements = 1u
                                         << 16;  // a multiple of 8: sub-byte chunks end on a byte

void count_floats(std::span<const float> values, value_counts& c) {
  for (float x : values) {
    if (std::isnan(x))
      ++c.nan;
    else if (std::isinf(x))
      ++c.inf;
  }
}

/// NaN/Inf of little-endian F32 or F64 values read in place (memcpy: the data may be unaligned).
template <class T>
void count_native(std::span<const std::byte> bytes, value_counts& c) {
  for (std::size_t i = 0; i + sizeof(T) <= bytes.size(); i += sizeof(T)) {
    T x = 0;
    std::memcpy(&x, bytes.data() + i, sizeof(T));
    if (std::isnan(x))
      ++c.nan;
    else if (std::isinf(x))
      ++c.inf;
  }
}

/// Counts NaN/Inf of a floating (or C64, as pairs of F32) tensor chunk by chunk through an F32
/// buffer, and BOOL bytes other than 0 and 1.
result<value_counts> count_values(dtype type, std::uint64_t numel, std::span<const std::byte> bytes,
                                  progress_bar& bar) {
  value_counts c;
  if (type == dtype::BOOL) {
    for (auto b : bytes) c.bad_bool += static_cast<unsigned char>(b) > 1 ? 1 : 0;
    bar.advance(bytes.size());
    return c;
  }
  if (type == dtype::C64) {
    type = dtype::F32;
    numel *= 2;
  }
  std::vector<float> buffer;
  for (std::uint64_t start = 0; start < numel; start += chunk_elements) {
    const std::uint64_t n = std::min(chunk_elements, numel - start);
    const std::uint64_t offset = ST_TRY(dtype_byte_size(type, start));
    const std::uint64_t length = ST_TRY(dtype_byte_size(type, n));
    const auto src = bytes.subspan(offset, length);
    if (type == dtype::F64) {
      count_native<double>(src, c);
    } else if (type == dtype::F32) {
      count_native<float>(src, c);
    } else {
      buffer.resize(n);
      auto dst = std::as_writable_bytes(std::span<float>(buffer));
      ST_TRY(convert_elements(type, src, dtype::F32, dst, n));
      count_floats(buffer, c);
    }
    bar.advance(length);
  }
  return c;
}

bool value_checked(dtype t) { return dtype_is_float(t) || t == dtype::C64 || t == dtype::BOOL; }

void report_values(const std::string& file_path, const tensor_info& t, const value_counts& c,
                   validation& v) {
  if (c.nan > 0 || c.inf > 0) {
    v.warnings.push_back(
        {"values", t.name,
         fmt::format("{}: tensor '{}': {} NaN and {} Inf values (of {})", file_path, t.name,
                     group_digits(c.nan), group_digits(c.inf), group_digits(t.numel()))});
  }
  if (c.bad_bool > 0) {
    v.warnings.push_back({"values", t.name,
                          fmt::format("{}: tensor '{}': {} BOOL bytes are neither 0 nor 1",
                                      file_path, t.name, group_digits(c.bad_bool))});
  }
}

// ---------------------------------------------------------------------------------------------
// One input

std::uint64_t checked_bytes(const checkpoint& ck) {
  std::uint64_t total = 0;
  for (const auto& e : ck.tensors()) total += value_checked(e.info->type) ? e.info->nbytes() : 0;
  return total;
}

/// Opens every tensor's byte range (and scans values when asked).
void check_tensors(const checkpoint& ck, const validate_options& opts, validation& v) {
  progress_bar bar("validate " + v.path, opts.check_values ? checked_bytes(ck) : 0,
                   opts.quiet || !opts.check_values);
  for (const auto& e : ck.tensors()) {
    const std::string file_path = ck.shards()[e.shard].path().string();
    auto t = ck.get(e.info->name);
    if (!t) {
      v.errors.push_back(problem_of(t.error(), file_path));
      continue;
    }
    if (!opts.check_values || !value_checked(e.info->type)) continue;
    auto counts = count_values(e.info->type, e.info->numel(), t->bytes(), bar);
    if (!counts) {
      v.errors.push_back(problem_of(counts.error(), file_path));
      continue;
    }
    report_values(file_path, *e.info, *counts, v);
  }
  bar.finish();
}

/// A PyTorch checkpoint given to validate gets a clear message instead of a header error.
bool is_torch_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && torch::looks_like_torch_file(path);
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
  if (is_torch_file(path)) {
    v.errors.push_back(
        {std::string(errc_name(errc::unsupported)), "",
         path + ": a PyTorch checkpoint, not a safetensors file (list it with `inspect`, "
                "check it with `scan`, convert it with `convert`)"});
    return v;
  }
  auto ck = checkpoint::open(path);
  if (!ck) {
    v.io_error = ck.error().code == errc::io;
    v.errors.push_back(problem_of(ck.error(), path));
    return v;
  }
  v.tensors = ck->tensors().size();
  if (const auto declared = ck->declared_total_size(); declared && *declared != ck->total_size()) {
    v.warnings.push_back(
        {"index", "",
         fmt::format("{}: metadata.total_size is {} but the shards hold {} bytes of tensor data",
                     ck->index_path().string(), *declared, ck->total_size())});
  }
  for (const auto& f : ck->shards()) {
    check_alignment(f.path().string(), f.data_start(), v);
    check_order(f.path().string(), f.tensors(), v);
  }
  check_tensors(*ck, opts, v);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Output

void print_text(const validation& v, const validate_options& opts) {
  std::string out;
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
                 "safetensors files, sharded folders or index.json files, local or as http(s):// "
                 "or hf:// URLs (headers only)")
      ->required();
  sub.add_flag("--json", opts->json,
               "print a JSON array of {path, valid, errors, warnings, tensors}");
  sub.add_flag(
      "--check-values", opts->check_values,
      "also read every value: count NaN/Inf in float tensors and BOOL bytes other than 0/1");
  sub.add_flag("-q,--quiet", opts->quiet, "print problems only (no OK lines, no progress bar)");
  add_remote_options(sub, opts->remote);
  return [opts] { return run_validate(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("validate",
                        "Validate safetensors files, sharded folders or index.json files",
                        setup_validate);

}  // namespace safetensors::cli
