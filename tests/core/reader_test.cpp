// safetensors::file: both backends, header-only, real files, error paths of open.
#include "safetensors/reader.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "support/test_files.hpp"

namespace st = safetensors;
using st::errc;

namespace {

std::uint64_t fnv1a(std::span<const std::byte> b) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::byte x : b) {
    h ^= std::to_integer<std::uint64_t>(x);
    h *= 0x100000001b3ull;
  }
  return h;
}

st::open_options with(st::backend b, bool header_only = false) {
  st::open_options o;
  o.io = b;
  o.header_only = header_only;
  return o;
}

struct expected_tensor {
  const char* file;
  const char* name;
  st::dtype type;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin, end, fnv;
};

// Names, dtypes, shapes and FNV-1a of the bytes computed independently with Python's stdlib.
const std::vector<expected_tensor> real_tensors = {
    {"mnist_tinygrad_model",
     "l1.weight",
     st::dtype::F32,
     {128, 784},
     0,
     401408,
     0x075d4ed9724a4c49ull},
    {"mnist_tinygrad_model",
     "l2.weight",
     st::dtype::F32,
     {10, 128},
     401408,
     406528,
     0x2736b8daff0e09ceull},
    {"narsil_safetensors_distributed_test",
     "a",
     st::dtype::F64,
     {2, 2},
     0,
     32,
     0x0c8210784d8af5a5ull},
    {"narsil_safetensors_distributed_test",
     "b",
     st::dtype::U8,
     {2, 3},
     32,
     38,
     0xd7e4fcfa299d713dull},
    {"zig_ml_test", "a", st::dtype::F32, {4, 3}, 0, 48, 0x426c6fafb4e228e2ull},
    {"zig_ml_test", "b", st::dtype::F32, {2, 5}, 48, 88, 0xecd1608489937d6aull},
};

std::filesystem::path real(const char* stem) {
  return st::test::source_dir() / "tests/data/real-safetensors" /
         (std::string(stem) + ".safetensors");
}

}  // namespace

TEST(ReaderReal, EveryShippedFileOpensWithBothBackends) {
  auto dir = st::test::source_dir() / "tests/data/real-safetensors";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    for (auto b : {st::backend::mmap, st::backend::pread}) {
      auto f = st::file::open(entry.path(), with(b));
      ASSERT_TRUE(f) << f.error().message;
      for (const auto& t : f->tensors()) {
        auto got = f->get(t.name);
        ASSERT_TRUE(got) << got.error().message;
        EXPECT_EQ(got->bytes().size(), t.nbytes());
      }
    }
    ++files;
  }
  EXPECT_GE(files, 3);
}

TEST(ReaderReal, NamesDtypesShapesAndChecksums) {
  for (const auto& e : real_tensors) {
    for (auto b : {st::backend::mmap, st::backend::pread}) {
      auto f = st::file::open(real(e.file), with(b));
      ASSERT_TRUE(f) << f.error().message;
      const auto* t = f->find(e.name);
      ASSERT_NE(t, nullptr) << e.file << " " << e.name;
      EXPECT_EQ(t->type, e.type);
      EXPECT_EQ(t->shape, e.shape);
      EXPECT_EQ(t->begin, e.begin);
      EXPECT_EQ(t->end, e.end);
      auto got = f->get(e.name);
      ASSERT_TRUE(got) << got.error().message;
      EXPECT_EQ(fnv1a(got->bytes()), e.fnv) << e.file << " " << e.name;
      EXPECT_EQ(got->owns_data(), b == st::backend::pread);
    }
  }
}

TEST(ReaderReal, TypedValuesOfZigFile) {
  auto f = st::file::open(real("zig_ml_test"));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->file_size(), 216u);
  EXPECT_EQ(f->data_start(), 128u);
  auto a = f->get("a");
  ASSERT_TRUE(a);
  auto values = a->as<float>();
  ASSERT_TRUE(values) << values.error().message;
  ASSERT_EQ(values->size(), 12u);
  EXPECT_EQ((*values)[0], std::bit_cast<float>(0x3f81d8a9u));
  EXPECT_EQ(a->as<double>().error().code, errc::dtype_mismatch);
  EXPECT_FALSE(f->metadata().present);
  EXPECT_EQ(f->mapped_data().size(), 88u);
}

TEST(ReaderApi, NamesSortedAndOffsetOrder) {
  st::test::temp_dir dir;
  auto bytes = st::test::make_file(
      "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]},"
      "\"__metadata__\":{\"k\":\"v\"}}",
      std::string("\x01\x02\x03", 3));
  auto path = dir.write("x.safetensors", bytes);
  auto f = st::file::open(path);
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->tensors()[0].name, "b");
  auto by_name = f->tensors_by_name();
  EXPECT_EQ(by_name[0]->name, "a");
  EXPECT_EQ(by_name[1]->name, "b");
  EXPECT_EQ(*f->metadata().find("k"), "v");
  EXPECT_EQ(f->path(), path);
  auto missing = f->get("zz");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::tensor_not_found);
  EXPECT_NE(missing.error().message.find("x.safetensors"), std::string::npos);
  // read_bytes on both backends, with range checks.
  for (auto b : {st::backend::mmap, st::backend::pread}) {
    auto g = st::file::open(path, with(b));
    ASSERT_TRUE(g);
    std::byte out[2];
    ASSERT_TRUE(g->read_bytes(*g->find("a"), 0, out));
    EXPECT_EQ(out[0], std::byte{2});
    EXPECT_EQ(out[1], std::byte{3});
    ASSERT_TRUE(g->read_bytes(*g->find("a"), 1, std::span<std::byte>(out, 1)));
    EXPECT_EQ(out[0], std::byte{3});
    EXPECT_EQ(g->read_bytes(*g->find("a"), 1, out).error().code, errc::invalid_argument);
    EXPECT_EQ(g->read_bytes(*g->find("a"), UINT64_MAX, std::span<std::byte>(out, 1)).error().code,
              errc::invalid_argument);
    // read_data: the section's bytes across tensor boundaries, with range checks.
    const auto size = g->info().data_size;
    std::vector<std::byte> all(size);
    ASSERT_TRUE(g->read_data(0, all));
    for (const auto& t : g->tensors()) {
      std::vector<std::byte> one(t.nbytes());
      ASSERT_TRUE(g->read_bytes(t, 0, one));
      EXPECT_TRUE(
          std::equal(one.begin(), one.end(), all.begin() + static_cast<std::ptrdiff_t>(t.begin)));
    }
    ASSERT_TRUE(g->read_data(size, {}));
    EXPECT_EQ(g->read_data(1, all).error().code, errc::invalid_argument);
    EXPECT_EQ(g->read_data(UINT64_MAX, std::span<std::byte>(out, 1)).error().code,
              errc::invalid_argument);
  }
}

TEST(ReaderApi, MovedFileKeepsViewsValid) {
  auto f = st::file::open(real("zig_ml_test"));
  ASSERT_TRUE(f);
  auto t = f->get("b");
  ASSERT_TRUE(t);
  st::file moved = std::move(*f);
  EXPECT_EQ(fnv1a(t->bytes()), 0xecd1608489937d6aull);
  EXPECT_EQ(moved.find("b")->end, 88u);
}

TEST(ReaderApi, PopulateAndBothBackendsGiveTheSameBytes) {
  // 6 MiB of data: the pread backend's buffer takes the huge-page path, populate maps it all.
  st::test::temp_dir dir;
  std::string data(6u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto path = dir.write(
      "big.safetensors",
      st::test::make_file(
          "{\"a\":{\"dtype\":\"U8\",\"shape\":[6291456],\"data_offsets\":[0,6291456]}}", data));
  const auto expected = fnv1a(std::as_bytes(std::span(data)));
  for (auto b : {st::backend::mmap, st::backend::pread}) {
    for (bool populate : {false, true}) {
      auto o = with(b);
      o.populate = populate;
      auto f = st::file::open(path, o);
      ASSERT_TRUE(f) << f.error().message;
      auto t = f->get("a");
      ASSERT_TRUE(t) << t.error().message;
      EXPECT_EQ(t->owns_data(), b == st::backend::pread);
      EXPECT_EQ(fnv1a(t->bytes()), expected)
          << (b == st::backend::mmap ? "mmap" : "pread") << populate;
    }
  }
}

TEST(ReaderHeaderOnly, NeverTouchesDataAndRefusesDataAccess) {
  st::test::temp_dir dir;
  // A header that claims 1 GiB of data the file does not have: header-only open still reports
  // the layout error (it needs the size, not the bytes).
  auto lying = dir.write(
      "lying.safetensors",
      st::test::make_file(
          "{\"a\":{\"dtype\":\"F32\",\"shape\":[1024,1024],\"data_offsets\":[0,4194304]}}", 1));
  for (bool header_only : {true, false}) {
    auto f = st::file::open(lying, with(st::backend::pread, header_only));
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code, errc::incomplete_buffer);
  }
  auto path = dir.write(
      "ok.safetensors",
      st::test::make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4));
  for (auto b : {st::backend::mmap, st::backend::pread}) {
    auto f = st::file::open(path, with(b, true));
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->find("a")->nbytes(), 4u);
    EXPECT_TRUE(f->mapped_data().empty());
    auto g = f->get("a");
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, errc::invalid_argument);
    std::byte out[1];
    EXPECT_EQ(f->read_bytes(*f->find("a"), 0, out).error().code, errc::invalid_argument);
    EXPECT_EQ(f->read_data(0, out).error().code, errc::invalid_argument);
  }
}

TEST(ReaderHeaderOnly, ReadsOnlyPrefixAndHeader) {
  // Header-only open holds no mapping and no descriptor: cutting the data off afterwards
  // (which would SIGBUS a mapping on access) changes nothing.
  st::test::temp_dir dir;
  auto path = dir.write(
      "big.safetensors",
      st::test::make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[65536],\"data_offsets\":[0,65536]}}",
                          65536));
  auto f = st::file::open(path, with(st::backend::mmap, true));
  ASSERT_TRUE(f);
  ASSERT_EQ(::truncate(path.c_str(), 10), 0);
  EXPECT_EQ(f->info().data_size, 65536u);
  EXPECT_TRUE(f->mapped_data().empty());
}

TEST(ReaderErrors, OpenErrorsNameThePath) {
  st::test::temp_dir dir;
  auto missing = st::file::open(dir.path() / "nope.safetensors");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::io);
  EXPECT_NE(missing.error().message.find("nope.safetensors"), std::string::npos);
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);

  auto is_dir = st::file::open(dir.path());
  ASSERT_FALSE(is_dir);
  EXPECT_EQ(is_dir.error().code, errc::io);
  EXPECT_NE(is_dir.error().message.find("directory"), std::string::npos);

  auto fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = st::file::open(fifo);  // must not block waiting for a writer
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("FIFO"), std::string::npos);

  auto empty = dir.write("empty.safetensors", std::string_view());
  for (auto b : {st::backend::mmap, st::backend::pread}) {
    auto e = st::file::open(empty, with(b));
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, errc::header_too_small);
    EXPECT_NE(e.error().message.find("empty.safetensors"), std::string::npos);
  }
}

TEST(ReaderErrors, CorruptFilesGiveTheParserErrorsWithThePath) {
  st::test::temp_dir dir;
  struct c {
    std::string name;
    st::test::bytes content;
    errc want;
  };
  std::vector<c> cases = {
      {"short", st::test::to_bytes("abc"), errc::header_too_small},
      {"huge_n", st::test::with_length(200'000'000, "{}"), errc::header_too_large},
      {"past_end", st::test::with_length(100, "{}"), errc::invalid_header_length},
      {"bad_json", st::test::make_file("{x}"), errc::invalid_json},
      {"trailing", st::test::make_file("{}", 1), errc::incomplete_buffer},
  };
  for (const auto& k : cases) {
    auto path = dir.write(k.name, k.content);
    for (auto b : {st::backend::mmap, st::backend::pread}) {
      for (bool header_only : {false, true}) {
        auto f = st::file::open(path, with(b, header_only));
        ASSERT_FALSE(f) << k.name;
        EXPECT_EQ(f.error().code, k.want) << k.name << ": " << f.error().message;
        EXPECT_NE(f.error().message.find(k.name), std::string::npos) << f.error().message;
      }
    }
  }
}

TEST(ReaderErrors, HeaderLimitIsConfigurable) {
  st::test::temp_dir dir;
  auto path = dir.write("x", st::test::make_file("{}        "));
  st::open_options o;
  o.max_header_size = 4;
  EXPECT_EQ(st::file::open(path, o).error().code, errc::header_too_large);
  o.max_header_size = 10;
  EXPECT_TRUE(st::file::open(path, o));
}

TEST(ReaderParse, InPlaceAndCopiedHeadersGiveTheSameResults) {
  // mmap parses the header in place when simdjson's padding fits before the end of the last
  // page, else from a copy; a `-0` forces the rewriting copy. All paths must agree, header-only
  // ones too (mmap maps the header and its padding only: `crossing`'s padding lies on the page
  // after the header's, inside a data section of several pages).
  st::test::temp_dir dir;
  std::string json = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
  const long page = ::sysconf(_SC_PAGESIZE);
  std::string page_end = json;
  page_end.resize(static_cast<std::size_t>(page) - 8 - 2, ' ');  // file ends exactly at a page
  auto exact = dir.write("exact", st::test::make_file(page_end, 2));
  ASSERT_EQ(std::filesystem::file_size(exact), static_cast<std::uintmax_t>(page));
  auto roomy = dir.write("roomy", st::test::make_file(json, 2));
  std::string near_end = "{\"a\":{\"dtype\":\"U8\",\"shape\":[40000],\"data_offsets\":[0,40000]}}";
  near_end.resize(static_cast<std::size_t>(page) - 8 - 10, ' ');
  auto crossing = dir.write("crossing", st::test::make_file(near_end, 40000));
  std::string neg = "{\"a\":{\"dtype\":\"U8\",\"shape\":[-0],\"data_offsets\":[0,0]}}";
  auto negzero = dir.write("negzero", st::test::make_file(neg));
  std::string bad = page_end;
  bad.back() = 'x';
  auto bad_exact = dir.write("bad_exact", st::test::make_file(bad, 2));
  for (auto b : {st::backend::mmap, st::backend::pread}) {
    for (bool header_only : {false, true}) {
      for (const auto& p : {exact, roomy}) {
        auto f = st::file::open(p, with(b, header_only));
        ASSERT_TRUE(f) << f.error().message;
        EXPECT_EQ(f->find("a")->nbytes(), 2u);
      }
      auto f = st::file::open(crossing, with(b, header_only));
      ASSERT_TRUE(f) << f.error().message;
      EXPECT_EQ(f->find("a")->nbytes(), 40000u);
      EXPECT_EQ(f->info().header_size, static_cast<std::uint64_t>(page) - 8 - 10);
      EXPECT_EQ(st::file::open(negzero, with(b, header_only)).error().code, errc::invalid_json);
      EXPECT_EQ(st::file::open(bad_exact, with(b, header_only)).error().code, errc::invalid_json);
    }
  }
}

TEST(ReaderErrors, PreadOfAFileTruncatedAfterOpen) {
  st::test::temp_dir dir;
  auto path = dir.write(
      "t.safetensors",
      st::test::make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[64],\"data_offsets\":[0,64]}}", 64));
  auto f = st::file::open(path, with(st::backend::pread));
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_EQ(::truncate(path.c_str(), 70), 0);
  auto t = f->get("a");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, errc::io);
  EXPECT_NE(t.error().message.find("t.safetensors"), std::string::npos);
  EXPECT_NE(t.error().message.find("truncated"), std::string::npos) << t.error().message;
}

TEST(ReaderErrors, ReadBytesRefusesATensorOfAnotherFile) {
  st::test::temp_dir dir;
  auto small = dir.write(
      "s",
      st::test::make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1));
  auto f = st::file::open(small);
  ASSERT_TRUE(f);
  st::tensor_info foreign{"b", st::dtype::U8, {8}, 100, 108};
  std::byte out[1];
  auto r = f->read_bytes(foreign, 0, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_argument);
}
