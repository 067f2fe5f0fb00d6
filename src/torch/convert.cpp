// convert(): resolve inputs and outputs, stream every tensor (cast on the fly) into the
// atomic writer, then reopen the output and compare it with the source.
#include "safetensors/torch/convert.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "core/parallel.hpp"
#include "core/shard_set.hpp"
#include "core/try.hpp"
#include "core/write_plan.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/writer.hpp"
#include "torch/convert_cast.hpp"
#include "torch/convert_plan.hpp"
#include "torch/convert_sources.hpp"

namespace safetensors::torch {
namespace fs = std::filesystem;
namespace core_detail = safetensors::detail;
using detail::source_set;
using detail::source_tensor;
using detail::stream_target;
using detail::target_type;

namespace {

struct progress_state {
  std::uint64_t done = 0, total = 0;
  const progress_fn* fn = nullptr;
  void add(std::uint64_t n) {
    done += n;
    if (fn && *fn) (*fn)(done, total);
  }
};

std::vector<tensor_source> writer_sources(const source_set& set, const convert_options& opts,
                                          progress_state& progress) {
  std::vector<tensor_source> out;
  for (const auto& s : set.tensors) {
    tensor_source t;
    t.name = s.name;
    t.type = target_type(s.type, opts);
    t.shape = s.shape;
    dtype to = t.type;
    const source_tensor* src = &s;
    if (to == s.type && s.read) {
      t.read = [src, &progress](std::uint64_t at, std::span<std::byte> dst) -> result<void> {
        ST_TRY(src->read(at, dst));
        progress.add(dst.size());
        return {};
      };
    } else {
      t.produce = [src, to, &progress](const byte_sink& sink) -> result<void> {
        return stream_target(*src, to, [&](std::span<const std::byte> c) -> result<void> {
          progress.add(c.size());
          return sink(c);
        });
      };
    }
    out.push_back(std::move(t));
  }
  return out;
}

/// Read-back check of every written file: each tensor's dtype, shape and bytes against its
/// source (pread into per-thread buffers: no mapping grows the resident set). Runs on each temp
/// file before it replaces its target, while the writer's fsync proceeds; tensors (and 4 MiB
/// pieces of large ones) are compared on every usable CPU.
class verifier {
 public:
  verifier(const source_set& set, const convert_options& opts) : opts_(opts) {
    for (const auto& s : set.tensors) by_name_.emplace(s.name, &s);
  }
  file_check check() {
    return [this](const fs::path& written) { return verify_file(written); };
  }
  /// After the last file: every source tensor was found in exactly one written file.
  result<void> all_seen() const {
    if (seen_ != by_name_.size())
      return fail(errc::invalid_checkpoint,
                  fmt::format("verify: the output holds {} tensors, {} were written", seen_,
                              by_name_.size()));
    return {};
  }

 private:
  static constexpr std::size_t block = 4u << 20;

  struct buffers {
    std::unique_ptr<std::byte[]> written = std::make_unique_for_overwrite<std::byte[]>(block);
    std::unique_ptr<std::byte[]> source = std::make_unique_for_overwrite<std::byte[]>(block);
  };
  /// One tensor, or bytes [at, at + length) of a tensor read from both sides with pread.
  struct piece {
    const tensor_info* info;
    const source_tensor* source;
    std::uint64_t at = 0, length = 0;
    bool whole = true;
  };

  result<void> verify_file(const fs::path& written) {
    open_options oo;
    oo.io = backend::pread;
    const auto out = ST_TRY(file::open(written, oo));
    std::vector<piece> pieces;
    for (const auto& info : out.tensors()) {
      const auto it = by_name_.find(info.name);
      if (it == by_name_.end())
        return fail(errc::invalid_checkpoint,
                    fmt::format("verify: tensor '{}' in the output has no source", info.name));
      const source_tensor& s = *it->second;
      if (info.type != target_type(s.type, opts_) || info.shape != s.shape)
        return fail(
            errc::invalid_checkpoint,
            fmt::format("verify: tensor '{}' has another dtype or shape in the output", s.name));
      if (info.type == s.type && s.read && info.nbytes() == s.nbytes) {
        for (std::uint64_t at = 0; at < s.nbytes; at += block)
          pieces.push_back({&info, &s, at, std::min<std::uint64_t>(block, s.nbytes - at), false});
      } else {
        pieces.push_back({&info, &s});
      }
      ++seen_;
    }
    std::atomic<std::size_t> next{0};
    std::mutex lock;
    std::optional<error> first;  // the first difference or read error stops every thread
    core_detail::run_on_threads(
        std::min<unsigned>(core_detail::usable_cpus(), static_cast<unsigned>(pieces.size())), [&] {
          buffers b;
          for (std::size_t k; (k = next.fetch_add(1)) < pieces.size();) {
            {
              std::lock_guard g(lock);
              if (first) return;
            }
            const auto r =
                pieces[k].whole ? compare(out, pieces[k], b) : compare_range(out, pieces[k], b);
            if (!r) {
              std::lock_guard g(lock);
              if (!first) first = r.error();
              return;
            }
          }
        });
    if (first) return tl::unexpected(*first);
    return {};
  }

  /// Both sides pread: the common case (same dtype, a contiguous run of the source file).
  static result<void> compare_range(const file& out, const piece& p, buffers& b) {
    const std::span<std::byte> theirs(b.source.get(), static_cast<std::size_t>(p.length));
    const std::span<std::byte> mine(b.written.get(), static_cast<std::size_t>(p.length));
    ST_TRY(p.source->read(p.at, theirs));
    ST_TRY(out.read_bytes(*p.info, p.at, mine));
    if (std::memcmp(mine.data(), theirs.data(), mine.size()) != 0)
      return fail(errc::invalid_checkpoint,
                  fmt::format("verify: tensor '{}' differs near byte {}", p.source->name, p.at));
    return {};
  }

  /// A cast or gathered tensor: the source streams its (converted) bytes, compared in order.
  static result<void> compare(const file& out, const piece& p, buffers& b) {
    const tensor_info& info = *p.info;
    const source_tensor& s = *p.source;
    std::uint64_t at = 0;
    // Compares the next c.size() bytes of the output with `c`, a block at a time.
    const auto same = [&](std::span<const std::byte> c) -> result<void> {
      for (std::size_t done = 0; done < c.size();) {
        if (at == info.nbytes())
          return fail(errc::invalid_checkpoint,
                      fmt::format("verify: tensor '{}' is longer in the source", s.name));
        const std::span<std::byte> mine(b.written.get(),
                                        static_cast<std::size_t>(std::min<std::uint64_t>(
                                            {block, c.size() - done, info.nbytes() - at})));
        ST_TRY(out.read_bytes(info, at, mine));
        if (std::memcmp(mine.data(), c.data() + done, mine.size()) != 0)
          return fail(errc::invalid_checkpoint,
                      fmt::format("verify: tensor '{}' differs near byte {}", s.name, at));
        at += mine.size();
        done += mine.size();
      }
      return {};
    };
    ST_TRY(stream_target(s, info.type, same));
    if (at != info.nbytes())
      return fail(errc::invalid_checkpoint,
                  fmt::format("verify: tensor '{}' has extra bytes", s.name));
    return {};
  }

  const convert_options& opts_;
  std::unordered_map<std::string_view, const source_tensor*> by_name_;
  std::size_t seen_ = 0;
};

/// Copies a file beside the output (config, tokenizer) through a temp file + rename.
result<void> copy_atomic(const fs::path& from, const fs::path& to, bool fsync) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return fail(errc::io, fmt::format("cannot read {}", from.string()));
  auto out = ST_TRY(core_detail::atomic_file::create(to));
  std::vector<char> chunk(1u << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    ST_TRY(out.write(std::as_bytes(std::span(chunk.data(), got))));
  }
  if (in.bad()) return fail(errc::io, fmt::format("cannot read {}", from.string()));
  return out.commit(fsync);
}

write_options writer_options(const convert_options& opts, verifier* check) {
  write_options w;
  w.alignment = opts.alignment;
  w.fsync = opts.fsync;
  if (check) w.check = check->check();
  return w;
}

result<std::uint64_t> total_bytes(const source_set& set, const convert_options& opts) {
  std::uint64_t total = 0;
  for (const auto& s : set.tensors)
    total += ST_TRY(detail::target_bytes(s, target_type(s.type, opts)));
  return total;
}

/// Writes one set of sources to `path` under a temp name (read back and compared with the
/// sources, when verifying, while it is fsynced); publish() puts it in place.
result<core_detail::atomic_file> prepare_file(const source_set& set, const fs::path& path,
                                              const convert_options& opts,
                                              progress_state& progress) {
  auto sources = writer_sources(set, opts, progress);
  std::optional<verifier> check;
  if (opts.verify) check.emplace(set, opts);
  auto f = ST_TRY(core_detail::write_prepared(path, sources, set.metadata,
                                              writer_options(opts, check ? &*check : nullptr)));
  if (check) ST_TRY(check->all_seen());
  return f;
}

/// Writes one set of sources as one file or as shards (each file verified before it replaces
/// its target, when verifying); returns the files written.
result<std::vector<fs::path>> write_set(const source_set& set, const detail::output_plan& plan,
                                        const convert_options& opts, progress_state& progress) {
  if (!plan.sharded) {
    auto f = ST_TRY(prepare_file(set, plan.file, opts, progress));
    ST_TRY(f.publish());
    return std::vector<fs::path>{plan.file};
  }
  auto sources = writer_sources(set, opts, progress);
  std::optional<verifier> check;
  if (opts.verify) check.emplace(set, opts);
  shard_options so;
  so.max_shard_size = plan.max_shard_size;
  so.prefix = plan.prefix;
  so.write = writer_options(opts, check ? &*check : nullptr);
  auto files = ST_TRY(write_sharded(plan.dir, sources, set.metadata, so));
  if (check) ST_TRY(check->all_seen());
  return files;
}

result<void> check_alignment(const convert_options& opts) {
  if (opts.alignment != 8 && opts.alignment != 64 && opts.alignment != 4096)
    return fail(errc::invalid_argument,
                fmt::format("alignment {} (use 8, 64 or 4096)", opts.alignment));
  if (opts.cast && *opts.cast != dtype::F16 && *opts.cast != dtype::BF16 &&
      *opts.cast != dtype::F32)
    return fail(errc::invalid_argument, "cast target must be F16, BF16 or F32");
  return {};
}

/// Sharded torch folder without --max-shard-size: one safetensors shard per torch shard, named,
/// indexed and published together by the core's shard_set (as write_sharded does).
result<void> convert_shards_one_to_one(const detail::output_plan& plan, const convert_options& opts,
                                       convert_report& report) {
  core_detail::shard_set shards(plan.dir, plan.prefix, plan.torch_inputs.size(), opts.fsync);
  for (std::size_t i = 0; i < shards.count(); ++i) {
    source_set set;
    ST_TRY(detail::add_torch_file(set, plan.torch_inputs[i], opts));
    set.metadata = detail::torch_metadata(set.aliases);
    progress_state progress{0, ST_TRY(total_bytes(set, opts)), &opts.progress};
    auto f = ST_TRY(prepare_file(set, shards.shard_path(i), opts, progress));
    std::vector<std::string_view> names;
    for (const auto& s : set.tensors) names.push_back(s.name);
    ST_TRY(shards.add(std::move(f), names, progress.total));
    report.tensors += set.tensors.size();
    report.bytes += progress.total;
    report.aliases.insert(report.aliases.end(), set.aliases.begin(), set.aliases.end());
    report.notes.insert(report.notes.end(), set.notes.begin(), set.notes.end());
  }
  report.written = ST_TRY(shards.publish());
  if (opts.verify) ST_TRY(checkpoint::open(shards.index_path()));
  report.verified = opts.verify;
  return {};
}

}  // namespace

fs::path default_output(const fs::path& input) { return detail::default_output_path(input); }

result<convert_report> convert(const fs::path& input, const fs::path& output,
                               const convert_options& opts) {
  ST_TRY(check_alignment(opts));
  const auto plan = ST_TRY(detail::plan_output(input, output, opts));
  convert_report report;
  std::error_code ec;
  if (!plan.dir.empty()) fs::create_directories(plan.dir, ec);
  if (ec)
    return fail(errc::io, fmt::format("cannot create {}: {}", plan.dir.string(), ec.message()));
  if (plan.one_to_one) {
    ST_TRY(convert_shards_one_to_one(plan, opts, report));
  } else {
    source_set set;
    if (plan.safetensors_input) {
      ST_TRY(detail::add_safetensors(
          set, plan.safetensors_path.empty() ? input : plan.safetensors_path));
    } else {
      for (const auto& f : plan.torch_inputs) ST_TRY(detail::add_torch_file(set, f, opts));
      set.metadata = detail::torch_metadata(set.aliases);
    }
    progress_state progress{0, ST_TRY(total_bytes(set, opts)), &opts.progress};
    report.written = ST_TRY(write_set(set, plan, opts, progress));
    if (opts.verify) {
      open_options headers;
      headers.header_only = true;
      for (const auto& f :
           report.written)  // a sharded output: the index names exactly the shards written
        if (f.string().ends_with(".index.json")) ST_TRY(checkpoint::open(f, headers));
      report.verified = true;
    }
    report.tensors = set.tensors.size();
    report.bytes = progress.total;
    report.aliases = set.aliases;
    report.notes = set.notes;
  }
  report.notes.insert(report.notes.begin(), plan.notes.begin(), plan.notes.end());
  for (const auto& f : plan.copies) {
    ST_TRY(copy_atomic(f, plan.dir / f.filename(), opts.fsync));

    report.copied.push_back(plan.dir / f.filename());
  }
  return report;
}

}  // namespace safetensors::torch
