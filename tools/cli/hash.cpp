// `hash PATH [--tensors] [--check SUMS] [--json]`: SHA-256 of each file (sha256sum's digest; the
// files of a sharded checkpoint hashed in parallel), per-tensor digests and the content hash
// (docs/FORMAT.md "Content hash"), and verification against a sha256sum-format list.
#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "checkpoint_input.hpp"
#include "command.hpp"
#include "core/try.hpp"
#include "output.hpp"
#include "parallel.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/sharded.hpp"
#include "sha256.hpp"

namespace safetensors::cli {
namespace fs = std::filesystem;
namespace {

struct hash_options {
  std::string path;
  bool tensors = false;
  std::string check;
  bool json = false;
  bool quiet = false;
};

/// The files of PATH: a regular file itself; a folder or an index: the shards and the index.
result<std::vector<fs::path>> files_of(const std::string& path) {
  std::error_code ec;
  const bool is_index = path.ends_with(".index.json");
  if (fs::is_regular_file(path, ec) && !is_index) return std::vector<fs::path>{path};
  open_options o;
  o.header_only = true;
  const auto ck = ST_TRY(checkpoint::open(path, o));
  std::vector<fs::path> out;
  for (const auto& f : ck.shards()) out.push_back(f.path());
  if (ck.is_sharded()) out.push_back(ck.index_path());
  return out;
}

struct file_digest {
  fs::path path;
  std::uint64_t bytes = 0;
  std::optional<sha256_digest> digest;
  std::optional<error> failure;
  std::optional<std::string> expected;  // --check: the listed digest (absent: not listed)
};

std::vector<file_digest> hash_files(const std::vector<fs::path>& files, bool quiet) {
  std::vector<file_digest> out(files.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    out[i].path = files[i];
    std::error_code ec;
    out[i].bytes = fs::file_size(files[i], ec);
    if (!ec) total += out[i].bytes;
  }
  progress_bar bar("hash", total, quiet);
  std::atomic<std::uint64_t> done{0};
  parallel_for(
      files.size(),
      [&](std::size_t i) {
        auto d = sha256_file(files[i], [&](std::uint64_t n) { done += n; });
        if (d)
          out[i].digest = *d;
        else
          out[i].failure = d.error();
      },
      bar, done);
  return out;
}

struct tensor_digest {
  const input_tensor* t = nullptr;
  sha256_digest digest{};
};

void put_u64(sha256& h, std::uint64_t v) {
  std::array<std::byte, 8> b{};
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
  h.update(b);
}

/// docs/FORMAT.md "Content hash": tensors in byte-wise name order; per tensor the name, the
/// dtype name (each u64le length + bytes), the rank and dims (u64le) and the SHA-256 of its
/// bytes.
sha256_digest content_hash(const std::vector<tensor_digest>& digests) {
  sha256 h;
  for (const auto& d : digests) {
    put_u64(h, d.t->name.size());
    h.update(d.t->name);
    const auto dt = dtype_name(d.t->type);
    put_u64(h, dt.size());
    h.update(dt);
    put_u64(h, d.t->shape.size());
    for (auto dim : d.t->shape) put_u64(h, dim);
    h.update(std::as_bytes(std::span(d.digest)));
  }
  return h.finish();
}

result<std::vector<tensor_digest>> hash_tensors(const checkpoint_input& in, bool quiet) {
  const auto& ts = in.tensors();
  std::vector<tensor_digest> out(ts.size());
  std::vector<std::optional<error>> failures(ts.size());
  std::uint64_t total = 0;
  for (const auto& t : ts) total += t.nbytes;
  progress_bar bar("hash tensors", total, quiet);
  std::atomic<std::uint64_t> done{0};
  parallel_for(
      ts.size(),
      [&](std::size_t i) {
        out[i].t = &ts[i];
        auto t = in.get(ts[i]);
        if (!t) {
          failures[i] = t.error();
          return;
        }
        out[i].digest = sha256_of(t->bytes());
        done += ts[i].nbytes;
      },
      bar, done);
  for (auto& f : failures)
    if (f) return tl::unexpected(*f);
  return out;
}

// ---------------------------------------------------------------------------------------------
// --check

struct sums_entry {
  std::string digest;
  std::string path;
  bool used = false;
};

/// sha256sum format: `<64 hex><space><space or *><path>`; empty lines are skipped.
result<std::vector<sums_entry>> read_sums(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(errc::io, fmt::format("{}: cannot open", file));
  std::vector<sums_entry> out;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const bool ok = line.size() > 66 && line[64] == ' ' && (line[65] == ' ' || line[65] == '*') &&
                    line.find_first_not_of("0123456789abcdefABCDEF") == 64;
    if (!ok) {
      return fail(errc::invalid_argument,
                  fmt::format("{}:{}: not a sha256sum line (<64 hex digits>  <file>)", file, n));
    }
    std::string digest = line.substr(0, 64);
    for (auto& c : digest) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back({digest, line.substr(66)});
  }
  return out;
}

/// The entry for `path`: the same path (lexically), else the only entry with its file name.
sums_entry* entry_for(std::vector<sums_entry>& sums, const fs::path& path) {
  const auto want = path.lexically_normal();
  for (auto& e : sums)
    if (fs::path(e.path).lexically_normal() == want) return &e;
  sums_entry* found = nullptr;
  for (auto& e : sums) {
    if (fs::path(e.path).filename() != path.filename()) continue;
    if (found != nullptr) return nullptr;  // ambiguous
    found = &e;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Output

std::string render_text(const std::vector<file_digest>& files, const std::vector<sums_entry>* sums,
                        const std::vector<tensor_digest>* tensors) {
  std::string out;
  for (const auto& f : files) {
    const auto name = control_chars_escaped(f.path.string());
    if (!f.digest) continue;  // reported on stderr
    if (sums == nullptr) {
      if (tensors == nullptr) out += fmt::format("{}  {}\n", hex(*f.digest), name);
    } else if (!f.expected) {
      out += fmt::format("{}: FAILED (not listed in the checksum file)\n", name);
    } else {
      out += fmt::format("{}: {}\n", name, *f.expected == hex(*f.digest) ? "OK" : "FAILED");
    }
  }
  if (sums != nullptr) {
    for (const auto& e : *sums)
      if (!e.used) out += fmt::format("{}: skipped (not a file of the checkpoint)\n", e.path);
  }
  if (tensors != nullptr) {
    text_table t({{"name"}, {"dtype"}, {"shape"}, {"sha256"}});
    for (const auto& d : *tensors) {
      t.add_row({control_chars_escaped(d.t->name), std::string(dtype_name(d.t->type)),
                 format_shape(d.t->shape), hex(d.digest)});
    }
    out += t.render();
    out += fmt::format("content sha256: {}  ({} tensors)\n", hex(content_hash(*tensors)),
                       tensors->size());
  }
  return out;
}

std::string render_json(const hash_options& opts, const std::vector<file_digest>& files,
                        const std::vector<tensor_digest>* tensors) {
  json_writer w;
  w.begin_object().key("path").value(opts.path).key("files").begin_array();
  for (const auto& f : files) {
    w.begin_object().key("path").value(f.path.string()).key("bytes").value(f.bytes);
    w.key("sha256");
    if (f.digest)
      w.value(hex(*f.digest));
    else
      w.null();
    if (f.failure) w.key("error").value(f.failure->message);
    if (!opts.check.empty()) {
      w.key("expected");
      if (f.expected)
        w.value(*f.expected);
      else
        w.null();
      w.key("ok").value(f.digest && f.expected && *f.expected == hex(*f.digest));
    }
    w.end_object();
  }
  w.end_array();
  if (tensors != nullptr) {
    w.key("tensors").begin_array();
    for (const auto& d : *tensors) {
      w.begin_object().key("name").value(d.t->name).key("dtype").value(dtype_name(d.t->type));
      w.key("shape").begin_array();
      for (auto dim : d.t->shape) w.value(dim);
      w.end_array().key("bytes").value(d.t->nbytes).key("sha256").value(hex(d.digest));
      w.end_object();
    }
    w.end_array().key("content_sha256").value(hex(content_hash(*tensors)));
  }
  w.end_object();
  return w.take() + '\n';
}

int run_hash(const hash_options& opts) {
  if (auto ok = sha256_available(); !ok) return report_error(ok.error());
  const bool quiet = opts.quiet || opts.json;
  std::vector<file_digest> files;
  std::vector<sums_entry> sums;
  std::optional<std::vector<tensor_digest>> tensors;
  std::optional<checkpoint_input> input;
  if (opts.tensors) {
    auto in = checkpoint_input::open(opts.path);
    if (!in) return report_error(in.error(), opts.path);
    input = std::move(*in);
    auto d = hash_tensors(*input, quiet);
    if (!d) return report_error(d.error(), opts.path);
    tensors = std::move(*d);
  }
  if (!opts.check.empty() || !opts.tensors) {
    auto paths = files_of(opts.path);
    if (!paths) return report_error(paths.error(), opts.path);
    files = hash_files(*paths, quiet);
  }
  if (!opts.check.empty()) {
    auto s = read_sums(opts.check);
    if (!s) {
      print_error(s.error().message);
      return s.error().code == errc::io ? exit_io : exit_invalid;
    }
    sums = std::move(*s);
    for (auto& f : files) {
      if (auto* e = entry_for(sums, f.path)) {
        e->used = true;
        f.expected = e->digest;
      }
    }
  }
  int rc = exit_ok;
  for (const auto& f : files) {
    if (f.failure) {
      print_error(f.failure->message);
      rc = exit_io;
    } else if (!opts.check.empty() && (!f.expected || *f.expected != hex(*f.digest)) &&
               rc == exit_ok) {
      rc = exit_invalid;
    }
  }
  const auto* t = tensors ? &*tensors : nullptr;
  const auto out = opts.json ? render_json(opts, files, t)
                             : render_text(files, opts.check.empty() ? nullptr : &sums, t);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return rc;
}

std::function<int()> setup_hash(CLI::App& sub) {
  auto opts = std::make_shared<hash_options>();
  sub.add_option("path", opts->path,
                 "a file (any: .safetensors, .bin, ...), a sharded folder or its index.json")
      ->required();
  sub.add_flag("--tensors", opts->tensors,
               "per-tensor SHA-256 and the content hash (independent of order, alignment and "
               "sharding; .bin inputs too)");
  sub.add_option("--check", opts->check,
                 "verify against a sha256sum-format file (entries matched by path, else by file "
                 "name)");
  sub.add_flag("--json", opts->json, "print one JSON document");
  sub.add_flag("--quiet,-q", opts->quiet, "no progress bar");
  return [opts] { return run_hash(*opts); };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("hash", "SHA-256 of a checkpoint's files (as sha256sum) or of its tensors",
                        setup_hash);

}  // namespace safetensors::cli
