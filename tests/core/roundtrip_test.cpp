// Write -> read round trips: random tensors of every dtype and rank 0..8, empty tensors, unusual
// names, metadata edge cases, and the real files of tests/data/real-safetensors re-serialized.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "safetensors/header.hpp"
#include "safetensors/reader.hpp"
#include "safetensors/writer.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::test;
using namespace std::string_literals;

namespace {

struct owned_tensor {
  std::string name;
  dtype type;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;
};

std::vector<tensor_source> sources_of(const std::vector<owned_tensor>& tensors) {
  std::vector<tensor_source> out;
  for (const auto& t : tensors) out.push_back(source(t.name, t.type, t.shape, t.data));
  return out;
}

// A random shape of `rank` dims in 0..3 whose bit count is a whole number of bytes. A sub-byte
// scalar (rank 0 F4/F6) cannot exist, so those get one dim of 0 or 8.
std::vector<std::uint64_t> random_shape(std::mt19937_64& rng, dtype t, int rank) {
  if (rank == 0 && dtype_bits(t) % 8 != 0) return {rng() % 2 * 8};
  for (;;) {
    std::vector<std::uint64_t> shape;
    std::uint64_t numel = 1;
    for (int d = 0; d < rank; ++d) {
      shape.push_back(rng() % 4);
      numel *= shape.back();
    }
    if (numel * dtype_bits(t) % 8 == 0) return shape;
  }
}

// Names mix ASCII, escapes and multi-byte UTF-8 so that byte-wise ordering matters.
std::string random_name(std::mt19937_64& rng, int d, int rank) {
  static const char* pieces[] = {"a",
                                 "Z",
                                 ".",
                                 "_",
                                 "\"",
                                 "\\",
                                 "\n",
                                 "\x01",
                                 "\xc3\xa9",
                                 "\xe2\x80\xa8",
                                 "\xf0\x9f\x98\x80",
                                 "\x7f"};
  std::string name = fmt::format("t{}_{}", d, rank);
  const auto n = rng() % 4;
  for (std::uint64_t i = 0; i < n; ++i) name += pieces[rng() % std::size(pieces)];
  return name;
}

std::vector<owned_tensor> random_tensors(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<owned_tensor> out;
  for (int d = 0; d < dtype_count; ++d) {
    const auto type = static_cast<dtype>(d);
    for (int rank = 0; rank <= 8; ++rank) {
      owned_tensor t{random_name(rng, d, rank), type, random_shape(rng, type, rank), {}};
      std::uint64_t numel = 1;
      for (auto x : t.shape) numel *= x;
      t.data.resize(*dtype_byte_size(type, numel));
      for (auto& b : t.data) b = static_cast<std::byte>(rng());
      out.push_back(std::move(t));
    }
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

}  // namespace

namespace {

// The parsed file holds exactly `tensors` (any order) with the same bytes.
void expect_file_holds(std::span<const std::byte> file, const std::vector<owned_tensor>& tensors) {
  auto h = parse_buffer(file);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->tensors.size(), tensors.size());
  const auto data = file.subspan(8 + h->header_size);
  for (const auto& t : tensors) {
    const auto* info = h->find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->type, t.type) << t.name;
    EXPECT_EQ(info->shape, t.shape) << t.name;
    EXPECT_EQ(as_string(data.subspan(info->begin, info->nbytes())), as_string(t.data)) << t.name;
  }
}

std::vector<std::byte> must_serialize(const std::vector<owned_tensor>& tensors,
                                      const metadata_map& m = {}, const write_options& o = {}) {
  auto out = serialize(sources_of(tensors), m, o);
  EXPECT_TRUE(out) << out.error().message;
  return out ? *out : std::vector<std::byte>{};
}

// Sources that borrow an open file's tensors, in its offset order.
std::vector<tensor_source> sources_of(const file& f, std::vector<tensor>& keep) {
  std::vector<tensor_source> out;
  for (const auto& info : f.tensors()) {
    auto t = f.get(info.name);
    EXPECT_TRUE(t) << t.error().message;
    keep.push_back(*t);
  }
  for (std::size_t i = 0; i < keep.size(); ++i) {
    const auto& info = f.tensors()[i];
    out.push_back(source(info.name, info.type, info.shape, keep[i].bytes()));
  }
  return out;
}

}  // namespace

TEST(RoundTrip, RandomTensorsOfEveryDtypeAndRank) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    const auto tensors = random_tensors(seed);
    const auto out = must_serialize(tensors);
    expect_file_holds(out, tensors);
    // Parsing and writing again gives the same bytes.
    auto h = parse_buffer(out);
    ASSERT_TRUE(h);
    std::vector<tensor_source> again;
    for (const auto& info : h->tensors) {
      again.push_back(
          source(info.name, info.type, info.shape,
                 std::span(out).subspan(8 + h->header_size + info.begin, info.nbytes())));
    }
    EXPECT_EQ(*serialize(again, {}), out) << "seed " << seed;
  }
}

TEST(RoundTrip, FilesThroughBothBackendsAndAlignments) {
  temp_dir dir;
  const auto tensors = random_tensors(42);
  for (std::uint64_t align : {8ULL, 64ULL, 4096ULL}) {
    write_options o;
    o.alignment = align;
    o.fsync = false;
    const auto path = dir / fmt::format("a{}.safetensors", align);
    ASSERT_TRUE(write_file(path, sources_of(tensors), meta({{"align", std::to_string(align)}}), o));
    for (auto io : {backend::mmap, backend::pread}) {
      open_options oo;
      oo.io = io;
      auto f = file::open(path, oo);
      ASSERT_TRUE(f) << f.error().message;
      EXPECT_EQ(f->data_start() % align, 0u);
      ASSERT_EQ(f->tensors().size(), tensors.size());
      for (const auto& t : tensors) {
        auto got = f->get(t.name);
        ASSERT_TRUE(got) << got.error().message;
        EXPECT_EQ(as_string(got->bytes()), as_string(t.data)) << t.name;
        EXPECT_EQ(got->shape(), t.shape);
        EXPECT_EQ(got->type(), t.type);
      }
      ASSERT_NE(f->metadata().find("align"), nullptr);
      EXPECT_EQ(*f->metadata().find("align"), std::to_string(align));
    }
  }
}

TEST(RoundTrip, EmptyTensors) {
  const std::vector<owned_tensor> tensors = {
      {"zero", dtype::F32, {0}, {}},          {"zero_mid", dtype::F32, {3, 0, 2}, {}},
      {"zero_bf16", dtype::BF16, {0, 5}, {}}, {"one", dtype::F32, {1}, to_bytes({1, 2, 3, 4})},
      {"zero_f4", dtype::F4, {7, 0}, {}},     {"scalar_u8", dtype::U8, {}, to_bytes({9})},
  };
  const auto out = must_serialize(tensors);
  expect_file_holds(out, tensors);
  auto h = parse_buffer(out);
  ASSERT_TRUE(h);
  // F32 group in name order: one [0,4], zero [4,4], zero_mid [4,4].
  EXPECT_EQ(h->find("zero")->begin, 4u);
  EXPECT_EQ(h->find("zero_mid")->end, 4u);
}

TEST(RoundTrip, UnusualNames) {
  std::vector<owned_tensor> tensors;
  const std::vector<std::string> names = {"",
                                          "\"quoted\"",
                                          "back\\slash\\",
                                          "ctl\x01\x02\x1f\b\f\n\r\t",
                                          "nul"s + '\0' + "inside",
                                          "caf\xc3\xa9",
                                          "\xe4\xb8\xad\xe6\x96\x87",
                                          "emoji\xf0\x9f\x98\x80",
                                          "line\xe2\x80\xa8sep",
                                          "del\x7f",
                                          "slash/and spaces",
                                          std::string(10000, 'n'),
                                          "__metadata",
                                          "{\"dtype\":\"F32\"}"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    tensors.push_back({names[i], dtype::U8, {1}, to_bytes({static_cast<int>(i)})});
  }
  expect_file_holds(must_serialize(tensors), tensors);
}

TEST(RoundTrip, MetadataEdgeCases) {
  const std::vector<owned_tensor> one = {{"x", dtype::U8, {1}, to_bytes({1})}};
  const std::vector<metadata_map> cases = {
      metadata_map{},
      meta({}),
      meta({{"", ""}}),
      meta({{"format", "pt"}, {"b.weight", "a.weight"}, {"Z", "upper"}}),
      meta({{"k\n\"\\", "v\x01\x7f\xe2\x80\xa8"}, {"caf\xc3\xa9", "\xf0\x9f\x98\x80"}}),
      meta({{"big", std::string(100000, 'v')}}),
      meta({{"json", R"({"nested": [1, 2, {"a": null}]})"}}),
  };
  for (const auto& m : cases) {
    for (const auto* tensors : {&one, static_cast<const std::vector<owned_tensor>*>(nullptr)}) {
      const std::vector<owned_tensor> none;
      const auto& t = tensors ? *tensors : none;
      const auto out = must_serialize(t, m);
      expect_file_holds(out, t);
      auto h = parse_buffer(out);
      ASSERT_TRUE(h) << h.error().message;
      EXPECT_EQ(h->metadata.present, m.present);
      auto sorted = m.entries;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(h->metadata.entries, sorted);
    }
  }
}

// Every real file written by another tool re-serializes to the same bytes. All three files in
// tests/data/real-safetensors are in the reference writer's canonical order (one dtype group
// sorted by name, or F64 before U8) with the header padded to 8, so byte equality is expected.
TEST(RoundTrip, RealFilesReserializeToTheSameBytes) {
  const std::filesystem::path dir =
      std::filesystem::path(SAFETENSORS_SOURCE_DIR) / "tests/data/real-safetensors";
  std::vector<std::string> seen;
  temp_dir out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    seen.push_back(e.path().filename().string());
    auto f = file::open(e.path());
    ASSERT_TRUE(f) << e.path() << ": " << f.error().message;
    std::vector<tensor> keep;
    const auto sources = sources_of(*f, keep);
    const auto original = read_all(e.path());
    auto bytes = serialize(sources, f->metadata());
    ASSERT_TRUE(bytes) << bytes.error().message;
    EXPECT_EQ(*bytes, original) << e.path();
    // And through write_file, over a copy of the file that is mapped while being replaced.
    const auto copy = out / e.path().filename().string();
    std::filesystem::copy_file(e.path(), copy);
    auto mapped = file::open(copy);
    ASSERT_TRUE(mapped);
    std::vector<tensor> keep2;
    ASSERT_TRUE(write_file(copy, sources_of(*mapped, keep2), mapped->metadata()));
    EXPECT_EQ(read_all(copy), original) << e.path();
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"mnist_tinygrad_model.safetensors",
                                            "narsil_safetensors_distributed_test.safetensors",
                                            "zig_ml_test.safetensors"}));
}
