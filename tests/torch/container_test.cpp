// Containers (zip edge cases, ZIP64, legacy stream), checkpoint listing, strided streaming and
// the shared-storage policies.
#include "torch/container.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "pickle_builder.hpp"
#include "safetensors/torch/checkpoint.hpp"
#include "support/test_files.hpp"
#include "torch/dedupe.hpp"

namespace safetensors::torch {
namespace {

using testing::f32s;
using testing::pickle;
using testing::torch_zip;
using testing::zip_builder;

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

result<detail::loaded_pickle> load(const std::string& file) {
  detail::unpickle_options o;
  o.source = "t.pt";
  return detail::load_container(as_bytes(file), o);
}

void expect_error(const std::string& file, errc code, std::string_view needle) {
  auto r = load(file);
  ASSERT_FALSE(r) << needle;
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

pickle one_tensor(unsigned numel = 6) {
  pickle p;
  p.proto(2)
      .ordered_dict()
      .mark()
      .str("w")
      .tensor_v2("0", numel, 0, {2, 3}, {3, 1})
      .byte('u')
      .stop();
  return p;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

/// A V7 tar header (no "ustar") whose name field holds `name`, with a valid checksum.
std::string tar_block(std::string_view name, std::string_view mode = "0000644") {
  std::string h(512, '\0');
  h.replace(0, name.size(), name);
  h.replace(100, mode.size(), mode);
  h.replace(108, 7, "0000000");
  h.replace(116, 7, "0000000");
  h.replace(124, 11, "00000000000");
  h.replace(136, 11, "00000000000");
  h[156] = '0';
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  h.replace(148, 7, fmt::format("{:06o}", sum) + std::string(1, '\0'));
  return h + std::string(1024, '\0');
}

// torch.load tries Python's tarfile first: its header rule, not the ustar magic (Rule table).
TEST(Container, TarIsWhatTarfileAccepts) {
  const std::string plain = tar_block("sys_info");
  EXPECT_EQ(detail::detect_format(as_bytes(plain)), detail::file_format::tar);
  expect_error(plain, errc::unsupported, "tar-format");
  EXPECT_EQ(detail::detect_format(as_bytes(tar_block("x", "  0o6_4 "))), detail::file_format::tar);
  std::string bad_sum = plain;
  bad_sum[150] ^= 1;
  EXPECT_NE(detail::detect_format(as_bytes(bad_sum)), detail::file_format::tar);
  EXPECT_NE(detail::detect_format(as_bytes(tar_block("x", "0000998"))), detail::file_format::tar);
  EXPECT_NE(detail::detect_format(as_bytes(tar_block("x", "7_"))), detail::file_format::tar);
  EXPECT_NE(detail::detect_format(as_bytes(plain.substr(0, 511))), detail::file_format::tar);
  // a tar whose first bytes are also a pickle: two readings
  expect_error(tar_block("\x80\x02N."), errc::malicious, "ambiguous container");
  expect_error(tar_block("cposix\nsystem\n."), errc::malicious, "ambiguous container");
}

TEST(Container, EveryOtherFileIsAPickleStream) {
  pickle p0;  // protocol 0 (no PROTO): torch.load unpickles it; convert refuses its opcodes
  p0.raw("I1001\n.");
  expect_error(p0.bytes, errc::unsupported, "INT");
  expect_error("hello", errc::invalid_checkpoint, "not a torch checkpoint");
}

TEST(Container, ZipAnyPrefixAndZip64) {
  for (bool zip64 : {false, true}) {
    for (const char* prefix : {"archive", "pytorch_model", "weird name"}) {
      const std::string file =
          torch_zip(one_tensor(), {{"0", f32s({1, 2, 3, 4, 5, 6})}}, prefix, zip64);
      auto r = load(file);  // the storage spans point into `file`
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_EQ(r->storage_bytes.size(), 1u);
      EXPECT_EQ(r->storage_bytes[0].size(), 24u);
      float first = 0;
      std::memcpy(&first, r->storage_bytes[0].data(), 4);
      EXPECT_EQ(first, 1.0f);
    }
  }
}

TEST(Container, ZipRefusals) {
  const std::string data = f32s({1, 2, 3, 4, 5, 6});
  zip_builder deflated;
  deflated.add("a/data.pkl", one_tensor().bytes).add("a/data/0", data, 8).add("a/version", "3\n");
  expect_error(deflated.build(), errc::unsupported, "compressed (method 8)");
  zip_builder encrypted;
  encrypted.add("a/data.pkl", one_tensor().bytes, 0, 1).add("a/version", "3\n");
  expect_error(encrypted.build(), errc::unsupported, "encrypted");
  zip_builder script;
  script.add("a/data.pkl", one_tensor().bytes).add("a/constants.pkl", "x").add("a/version", "3\n");
  expect_error(script.build(), errc::unsupported, "TorchScript");
  zip_builder code;
  code.add("a/data.pkl", one_tensor().bytes)
      .add("a/code/__torch__.py", "x")
      .add("a/version", "3\n");
  expect_error(code.build(), errc::unsupported, "TorchScript");
  zip_builder big;
  big.add("a/data.pkl", one_tensor().bytes)
      .add("a/data/0", data)
      .add("a/byteorder", "big")
      .add("a/version", "3\n");
  expect_error(big.build(), errc::unsupported, "big-endian");
  zip_builder dup;
  dup.add("a/data.pkl", one_tensor().bytes)
      .add("a/data.pkl", one_tensor().bytes)
      .add("a/version", "3\n");
  expect_error(dup.build(), errc::malicious,
               "ambiguous zip: entries 'a/data.pkl' and 'a/data.pkl'");
  zip_builder mixed;
  mixed.add("a/data.pkl", one_tensor().bytes).add("b/version", "3\n");
  expect_error(mixed.build(), errc::invalid_checkpoint, "different folders");
  zip_builder flat;
  flat.add("data.pkl", one_tensor().bytes);
  expect_error(flat.build(), errc::invalid_checkpoint, "not inside a folder");
  zip_builder renamed;
  renamed.add("a/data.pkl", one_tensor().bytes).add("a/version", "3\n");
  expect_error(renamed.build("a/other.pkl"), errc::invalid_checkpoint,
               "local header names a different file");
  expect_error(torch_zip(one_tensor(), {{"0", f32s({1, 2})}}), errc::invalid_checkpoint,
               "holds 8 bytes, its storage needs 24");
  expect_error(torch_zip(one_tensor(), {}), errc::invalid_checkpoint,
               "has no record archive/data/0");
  std::string good = torch_zip(one_tensor(), {{"0", data}});
  std::string past_end = good;
  past_end.resize(good.size() - 22);  // EOCD gone
  expect_error(past_end, errc::invalid_checkpoint, "end-of-central-directory");
  expect_error(std::string("ustar"), errc::invalid_checkpoint, "not a torch checkpoint");
}

// With a reader, the local headers (one beside each record) are read with it, not through the
// mapping (whose touched pages map their neighbours in): the same entries, the reader's error
// passed on, and a renamed local header still refused.
TEST(Container, ZipLocalHeadersReadThroughTheReader) {
  const std::string file =
      torch_zip(one_tensor(), {{"0", f32s({1, 2, 3, 4, 5, 6})}}, "archive", false);
  const auto plain = detail::read_zip_directory(as_bytes(file), "t.pt");
  ASSERT_TRUE(plain) << plain.error().message;
  std::vector<std::uint64_t> reads;
  const byte_reader reader = [&](std::uint64_t at, std::span<std::byte> out) -> result<void> {
    reads.push_back(at);
    std::memcpy(out.data(), file.data() + at, out.size());
    return {};
  };
  const auto read = detail::read_zip_directory(as_bytes(file), "t.pt", reader);
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->size(), plain->size());
  ASSERT_EQ(reads.size(), 2 * plain->size());  // fixed part, then the name, of each entry
  for (std::size_t i = 0; i < plain->size(); ++i) {
    EXPECT_EQ((*read)[i].name, (*plain)[i].name);
    EXPECT_EQ((*read)[i].data_offset, (*plain)[i].data_offset);
    EXPECT_EQ(reads[2 * i], (*plain)[i].local_offset);
  }
  const byte_reader failing = [](std::uint64_t, std::span<std::byte>) -> result<void> {
    return fail(errc::io, "t.pt: cannot read: Input/output error");
  };
  const auto broken = detail::read_zip_directory(as_bytes(file), "t.pt", failing);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, errc::io) << broken.error().message;
  zip_builder renamed;
  renamed.add("a/data.pkl", one_tensor().bytes).add("a/version", "3\n");
  const std::string bad = renamed.build("a/other.pkl");
  const byte_reader from_bad = [&](std::uint64_t at, std::span<std::byte> out) -> result<void> {
    std::memcpy(out.data(), bad.data() + at, out.size());
    return {};
  };
  const auto refused = detail::read_zip_directory(as_bytes(bad), "t.pt", from_bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("local header names a different file"), std::string::npos)
      << refused.error().message;
}

// torch.load's zip reader ignores ASCII case: records are found in any case, and two entries
// it would take for one record are refused (docs/TORCH.md, "How torch finds the records").
TEST(Container, ZipRecordsAreFoundInAnyCase) {
  const std::string data = f32s({1, 2, 3, 4, 5, 6});
  zip_builder upper;
  upper.add("a/DATA.PKL", one_tensor().bytes).add("a/Data/0", data).add("a/VERSION", "3\n");
  auto r = load(upper.build());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->storage_bytes.size(), 1u);
  EXPECT_EQ(r->storage_bytes[0].size(), 24u);
  zip_builder dotdata;
  dotdata.add("a/data.pkl", one_tensor().bytes).add("a/data/0", data).add("a/.Data/Version", "3\n");
  EXPECT_TRUE(load(dotdata.build()));
  EXPECT_EQ(detail::zip_lookup_key("Archive/DATA.PKL"), "archive/data.pkl");
  EXPECT_EQ(detail::zip_lookup_key("\xc3\x84/\xc3\xa4"),
            "\xc3\x84/\xc3\xa4");  // ASCII only, as miniz
}

TEST(Container, ZipEntriesWithOneLookupNameAreAmbiguous) {
  const std::string data = f32s({1, 2, 3, 4, 5, 6});
  const std::vector<std::pair<std::string, std::string>> pairs = {{"a/data.pkl", "a/DATA.PKL"},
                                                                  {"a/DATA.PKL", "a/data.pkl"},
                                                                  {"a/data/0", "a/DATA/0"},
                                                                  {"a/data.pkl", "a/data.pkl"}};
  for (const auto& [first, second] : pairs) {
    zip_builder z;  // refused at the second entry, whatever the records hold
    z.add(first, one_tensor().bytes).add(second, data).add("a/version", "3\n");
    expect_error(z.build(), errc::malicious,
                 fmt::format("ambiguous zip: entries '{}' and '{}'", first, second));
  }
}

TEST(Container, ZipTruncatedEverywhereFailsCleanly) {
  const std::string good = torch_zip(one_tensor(), {{"0", f32s({1, 2, 3, 4, 5, 6})}});
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = load(good.substr(0, n));
    ASSERT_FALSE(r) << "cut at " << n;
  }
}

TEST(Container, RealLegacyFileTruncatedAtEveryByte) {
  const std::string file = read_file(std::string(SAFETENSORS_SOURCE_DIR) +
                                     "/tests/data/real-torch/dqn_banana_checkpoint_legacy.pth");
  ASSERT_GT(file.size(), 10000u);
  ASSERT_TRUE(load(file));
  for (std::size_t n = 0; n < file.size(); ++n) {
    auto r = load(file.substr(0, n));
    ASSERT_FALSE(r) << "cut at " << n;
    EXPECT_TRUE(r.error().code == errc::invalid_checkpoint) << n << ": " << r.error().message;
  }
}

TEST(Container, RealZipFileCutsFailCleanly) {
  const std::string file =
      read_file(std::string(SAFETENSORS_SOURCE_DIR) +
                "/tests/data/real-torch/mlp_mnist_statedict_zip_archive_prefix.pt");
  for (std::size_t n = 0; n < file.size(); n += (n < 4096 || n > file.size() - 4096) ? 1 : 997) {
    auto r = load(file.substr(0, n));
    ASSERT_FALSE(r) << "cut at " << n;
  }
}

TEST(Checkpoint, ListsRealFiles) {
  auto c =
      open_torch_checkpoint(std::string(SAFETENSORS_SOURCE_DIR) +
                            "/tests/data/real-torch/mlp_mnist_statedict_zip_archive_prefix.pt");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->kind(), container_kind::zip);
  ASSERT_EQ(c->tensors().size(), 8u);
  EXPECT_EQ(c->tensors()[0].name, "fc1.weight");
  EXPECT_EQ(c->tensors()[0].shape, (std::vector<std::uint64_t>{128, 784}));
  EXPECT_EQ(c->contiguous_bytes(c->tensors()[0]).size(), 128u * 784 * 4);
  auto l = open_torch_checkpoint(std::string(SAFETENSORS_SOURCE_DIR) +
                                 "/tests/data/real-torch/dqn_banana_checkpoint_legacy.pth");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->kind(), container_kind::legacy);
  EXPECT_EQ(l->tensors().size(), 6u);
  EXPECT_EQ(l->globals(), (std::vector<std::string>{"collections.OrderedDict", "torch.FloatStorage",
                                                    "torch._utils._rebuild_tensor_v2"}));
}

TEST(Checkpoint, StreamsStridedViewsInSmallChunks) {
  pickle p;  // base 3x4 (0..11); t = transpose (4x3, strides 1,4); s = [:, ::2] (3x2, strides 4,2),
             // offset 1
  p.proto(2).ordered_dict().mark();
  p.str("t").tensor_v2("0", 12, 0, {4, 3}, {1, 4});
  p.str("s").tensor_v2("0", 12, 1, {3, 2}, {4, 2});
  p.str("e").tensor_v2("0", 12, 0, {3, 2}, {0, 1});
  p.byte('u').stop();
  const safetensors::test::temp_dir dir;
  auto path =
      dir.write("views.pt", torch_zip(p, {{"0", f32s({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})}}));
  auto c = open_torch_checkpoint(path);
  ASSERT_TRUE(c) << c.error().message;
  const std::vector<std::vector<float>> expected = {
      {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, {1, 3, 5, 7, 9, 11}, {0, 1, 0, 1, 0, 1}};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& t = c->tensors()[i];
    EXPECT_FALSE(t.contiguous());
    EXPECT_TRUE(c->contiguous_bytes(t).empty());
    for (std::size_t chunk : {1u, 4u, 8u, 1u << 20}) {
      std::vector<float> got;
      auto r = c->stream(
          t,
          [&](std::span<const std::byte> b) -> result<void> {
            EXPECT_LE(b.size(), std::max<std::size_t>(chunk, 8));
            std::size_t n = got.size();
            got.resize(n + b.size() / 4);
            std::memcpy(got.data() + n, b.data(), b.size());
            return {};
          },
          chunk);
      ASSERT_TRUE(r);
      EXPECT_EQ(got, expected[i]) << t.name << " chunk " << chunk;
    }
  }
}

TEST(Checkpoint, NamesRefusedTensorsAndSkippedEntries) {
  pickle p;
  p.proto(2)
      .ordered_dict()
      .mark()
      .str("ok")
      .tensor_v2("0", 2, 0, {2}, {1})
      .str("cplx")
      .tensor_v2("1", 2, 0, {2}, {1}, "ComplexDoubleStorage")
      .byte('u')
      .stop();
  const safetensors::test::temp_dir dir;
  auto path =
      dir.write("cplx.pt", torch_zip(p, {{"0", f32s({1, 2})}, {"1", std::string(32, '\0')}}));
  auto c = open_torch_checkpoint(path);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, errc::unsupported);
  EXPECT_NE(c.error().message.find("tensor 'cplx': dtype complex128"), std::string::npos)
      << c.error().message;
  pickle q;
  q.proto(2)
      .byte('}')
      .mark()
      .str("w")
      .tensor_v2("0", 2, 0, {2}, {1})
      .str("epoch")
      .integer(3)
      .str("opt")
      .byte('}')
      .byte('u')
      .stop();
  auto c2 = open_torch_checkpoint(dir.write("notes.pt", torch_zip(q, {{"0", f32s({1, 2})}})));
  ASSERT_TRUE(c2) << c2.error().message;
  ASSERT_EQ(c2->notes().size(), 2u);
  EXPECT_EQ(c2->notes()[0], "'epoch' (int) skipped: not a tensor");
  EXPECT_EQ(c2->notes()[1], "'opt' (dict of 0 entries) skipped: not a tensor (use --flatten)");
}

TEST(Dedupe, ExactAndHuggingFacePolicies) {
  std::vector<torch_storage> storages{{"0", 48, {}}, {"1", 16, {}}};
  auto tensor = [](std::string name, std::size_t st, std::uint64_t off,
                   std::vector<std::uint64_t> shape, std::vector<std::uint64_t> strides) {
    torch_tensor t;
    t.name = std::move(name);
    t.storage = st;
    t.storage_offset = off;
    t.shape = std::move(shape);
    t.strides = std::move(strides);
    return t;
  };
  std::vector<torch_tensor> ts{tensor("lm_head", 0, 0, {12}, {1}), tensor("emb", 0, 0, {12}, {1}),
                               tensor("half", 0, 6, {6}, {1}), tensor("a", 1, 0, {2}, {1}),
                               tensor("b", 1, 2, {2}, {1})};
  auto exact = detail::dedupe(ts, storages, share_policy::exact);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->keep, (std::vector<std::size_t>{1, 2, 3, 4}));
  EXPECT_EQ(exact->aliases, (std::vector<std::pair<std::string, std::string>>{{"lm_head", "emb"}}));
  auto hf = detail::dedupe(ts, storages, share_policy::hf_compat);
  ASSERT_TRUE(hf);
  EXPECT_EQ(hf->keep, (std::vector<std::size_t>{1, 3, 4}));
  EXPECT_EQ(hf->aliases, (std::vector<std::pair<std::string, std::string>>{{"half", "emb"},
                                                                           {"lm_head", "emb"}}));
  std::vector<torch_tensor> overlap{tensor("x", 1, 0, {3}, {1}), tensor("y", 1, 1, {3}, {1})};
  auto bad = detail::dedupe(overlap, storages, share_policy::hf_compat);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::unsupported);
  EXPECT_TRUE(detail::dedupe(overlap, storages, share_policy::exact));
}

}  // namespace
}  // namespace safetensors::torch
