// libFuzzer target: bytes -> tensors + metadata -> serialize -> parse_buffer -> the same tensors,
// and serializing the parsed file again (each tensor borrowed, produced or read) gives the same
// bytes. Writer errors must be one of the documented input errors. The file is then converted the
// way `safetensors-cli convert` does (torch::convert of a safetensors input into a temp folder;
// random --dtype, --align,
// --max-shard-size, verification): it must succeed and hold every tensor, cast when floating.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "safetensors/header.hpp"
#include "safetensors/sharded.hpp"
#include "safetensors/torch/convert.hpp"
#include "safetensors/writer.hpp"

using namespace safetensors;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool expected_writer_error(errc code) {
  switch (code) {
    case errc::duplicate_key:
    case errc::invalid_utf8:
    case errc::invalid_argument:
    case errc::invalid_tensor_view:
    case errc::misaligned_slice:
    case errc::validation_overflow:
    case errc::header_too_large:
      return true;
    default:
      return false;
  }
}

struct input {
  std::vector<std::vector<std::byte>> data;
  std::vector<tensor_source> tensors;
  metadata_map metadata;
  write_options opts;
};

input make_input(FuzzedDataProvider& fdp) {
  input in;
  const int count = fdp.ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < count; ++i) {
    tensor_source t;
    t.name = fdp.ConsumeRandomLengthString(12);
    t.type = static_cast<dtype>(fdp.ConsumeIntegralInRange(0, dtype_count - 1));
    const int rank = fdp.ConsumeIntegralInRange(0, 4);
    std::uint64_t numel = 1;
    for (int d = 0; d < rank; ++d) {
      t.shape.push_back(fdp.ConsumeIntegralInRange<std::uint64_t>(0, 5));
      numel *= t.shape.back();
    }
    const auto want = dtype_byte_size(t.type, numel);
    // Usually the exact byte count; sometimes one byte off to exercise the size check.
    std::size_t n = want ? static_cast<std::size_t>(*want) : 1;
    if (fdp.ConsumeIntegralInRange(0, 15) == 0) n += 1;
    auto bytes = fdp.ConsumeBytes<std::uint8_t>(n);
    bytes.resize(n);
    std::vector<std::byte> buf(n);
    std::transform(bytes.begin(), bytes.end(), buf.begin(),
                   [](std::uint8_t b) { return std::byte{b}; });
    in.data.push_back(std::move(buf));
    in.tensors.push_back(std::move(t));
  }
  for (std::size_t i = 0; i < in.tensors.size(); ++i) in.tensors[i].data = in.data[i];
  in.metadata.present = fdp.ConsumeBool();
  const int keys = in.metadata.present ? fdp.ConsumeIntegralInRange(0, 4) : 0;
  for (int k = 0; k < keys; ++k) {
    auto key = fdp.ConsumeRandomLengthString(8);
    in.metadata.entries.emplace_back(std::move(key), fdp.ConsumeRandomLengthString(16));
  }
  const std::uint64_t alignments[] = {8, 64, 4096};
  in.opts.alignment = alignments[fdp.ConsumeIntegralInRange(0, 2)];
  return in;
}

void check_same_tensors(const input& in, const header& h, std::span<const std::byte> file) {
  check(h.tensors.size() == in.tensors.size());
  check((8 + h.header_size) % in.opts.alignment == 0);
  const auto data = file.subspan(8 + h.header_size);
  for (const auto& t : in.tensors) {
    const auto* info = h.find(t.name);
    check(info != nullptr && info->type == t.type && info->shape == t.shape);
    check(info->nbytes() == t.data.size());
    check(std::equal(t.data.begin(), t.data.end(),
                     data.begin() + static_cast<std::ptrdiff_t>(info->begin)));
  }
  auto sorted = in.metadata.entries;
  std::sort(sorted.begin(), sorted.end());
  check(h.metadata.present == in.metadata.present && h.metadata.entries == sorted);
}

/// One folder for the whole run (files are overwritten), removed at exit.
const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    std::string templ = (std::filesystem::temp_directory_path() / "roundtrip_fuzz-XXXXXX").string();
    check(mkdtemp(templ.data()) != nullptr);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(work_dir(), ec);
    });
    return std::filesystem::path(templ);
  }();
  return dir;
}

/// torch::convert of the serialized file: every tensor of `h` comes out with its shape and its
/// bytes (converted with convert_elements when cast); unsharded and uncast at the same
/// alignment, the output is the input byte for byte.
void check_convert(FuzzedDataProvider& fdp, std::span<const std::byte> file, const header& h,
                   std::uint64_t alignment) {
  const auto input = work_dir() / "in.safetensors";
  {
    std::ofstream out(input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(file.data()),
              static_cast<std::streamsize>(file.size()));
    check(out.good());
  }
  torch::convert_options o;
  o.force = true;
  o.fsync = false;
  o.verify = fdp.ConsumeBool();
  const std::uint64_t alignments[] = {8, 64, 4096};
  o.alignment = alignments[fdp.ConsumeIntegralInRange(0, 2)];
  const dtype casts[] = {dtype::F16, dtype::BF16,    dtype::F32,
                         dtype::F64, dtype::F8_E4M3, dtype::F8_E5M2};
  if (fdp.ConsumeBool()) o.rules.cast = casts[fdp.ConsumeIntegralInRange(0, 5)];
  const bool sharded = fdp.ConsumeIntegralInRange(0, 3) == 0;
  if (sharded) o.max_shard_size = fdp.ConsumeIntegralInRange<std::uint64_t>(1, 64);
  const auto output = work_dir() / (sharded ? "shards" : "out.safetensors");
  std::error_code ec;
  std::filesystem::remove_all(output, ec);  // no shard of an earlier input may stay
  auto report = torch::convert(input, output, o);
  check(report.has_value() && report->tensors == h.tensors.size());
  // A folder opens as its index, or as its one file when one shard holds everything.
  auto written = checkpoint::open(output);
  check(written.has_value() && written->tensors().size() == h.tensors.size());
  check(written->metadata().present == h.metadata.present &&
        written->metadata().entries == h.metadata.entries);
  const auto data = file.subspan(8 + h.header_size);
  for (const auto& info : h.tensors) {
    auto t = written->get(info.name);
    check(t.has_value() && t->shape() == info.shape);
    const auto src = data.subspan(info.begin, info.nbytes());
    const dtype to = o.rules.cast && dtype_is_float(info.type) ? *o.rules.cast : info.type;
    check(t->type() == to);
    std::vector<std::byte> want(src.begin(), src.end());
    if (to != info.type) {
      want.resize(static_cast<std::size_t>(*dtype_byte_size(to, info.numel())));
      check(convert_elements(info.type, src, to, want, info.numel()).has_value());
    }
    check(std::equal(want.begin(), want.end(), t->bytes().begin(), t->bytes().end()));
  }
  if (!o.rules.cast && o.alignment == alignment) {
    // merge(split(x)) is x: a shard set merged back through the pipeline gives the input's bytes.
    auto merged = output;
    if (sharded) {
      merged = work_dir() / "merged.safetensors";
      auto set = open_source(output);
      check(set.has_value());
      output_options mo;
      mo.alignment = alignment;
      mo.fsync = false;
      mo.force = true;
      check(write_checkpoint(*set, merged, mo).has_value());
    }
    std::ifstream in(merged, std::ios::binary);
    const std::vector<char> got{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
    check(got.size() == file.size() &&
          std::equal(got.begin(), got.end(), reinterpret_cast<const char*>(file.data())));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider fdp(bytes, size);
  const input in = make_input(fdp);
  auto out = serialize(in.tensors, in.metadata, in.opts);
  if (!out) {
    check(expected_writer_error(out.error().code));
    return 0;
  }
  auto h = parse_buffer(*out);
  check(h.has_value());
  check_same_tensors(in, *h, *out);
  // Parsed file -> writer again: identical bytes.
  std::vector<tensor_source> again;
  const auto data = std::span<const std::byte>(*out).subspan(8 + h->header_size);
  for (const auto& info : h->tensors) {
    tensor_source t;
    t.name = info.name;
    t.type = info.type;
    t.shape = info.shape;
    const auto stored = data.subspan(info.begin, info.nbytes());
    // The same bytes borrowed, pushed by a producer in small chunks, or pulled by a reader.
    switch (fdp.ConsumeIntegralInRange(0, 2)) {
      case 0:
        t.data = stored;
        break;
      case 1: {
        const std::size_t chunk = fdp.ConsumeIntegralInRange<std::size_t>(1, 7);
        t.produce = [stored, chunk](const byte_sink& sink) -> result<void> {
          for (std::size_t at = 0; at < stored.size(); at += chunk)
            if (auto r = sink(stored.subspan(at, std::min(chunk, stored.size() - at))); !r)
              return r;
          return {};
        };
        break;
      }
      default:
        t.read = [stored](std::uint64_t at, std::span<std::byte> dst) -> result<void> {
          check(at <= stored.size() && dst.size() <= stored.size() - at);
          std::copy_n(stored.begin() + static_cast<std::ptrdiff_t>(at), dst.size(), dst.begin());
          return {};
        };
    }
    again.push_back(std::move(t));
  }
  auto second = serialize(again, h->metadata, in.opts);
  check(second.has_value() && *second == *out);
  check_convert(fdp, *out, *h, in.opts.alignment);
  return 0;
}
