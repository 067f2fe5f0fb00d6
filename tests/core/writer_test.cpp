// Writer: the reference implementation's golden vectors, escaping, ordering, alignment,
// producer checks, error kinds and atomic output.
#include "safetensors/writer.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "safetensors/header.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/reader.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using namespace safetensors::test;
using namespace std::string_literals;

namespace {

std::vector<std::byte> must_serialize(std::span<const tensor_source> t, const metadata_map& m = {},
                                      const write_options& o = {}) {
  auto out = serialize(t, m, o);
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message);
  return out ? *out : std::vector<std::byte>{};
}

std::optional<errc> serialize_error(std::span<const tensor_source> t, const metadata_map& m = {},
                                    const write_options& o = {}) {
  auto out = serialize(t, m, o);
  if (out) return std::nullopt;
  EXPECT_FALSE(out.error().message.empty());
  return out.error().code;
}

header must_parse(std::span<const std::byte> file) {
  auto h = parse_buffer(file);
  EXPECT_TRUE(h.has_value()) << (h ? "" : h.error().message);
  return h ? *h : header{};
}

const std::vector<std::byte> f32_0_to_5 = le_bytes<float>({0, 1, 2, 3, 4, 5});

// A producer that pushes `data` in chunks of `chunk` bytes, then `extra` more bytes.
std::function<result<void>(const byte_sink&)> chunked(std::span<const std::byte> data,
                                                      std::size_t chunk, std::size_t extra = 0) {
  return [=](const byte_sink& sink) -> result<void> {
    for (std::size_t i = 0; i < data.size(); i += chunk) {
      if (auto r = sink(data.subspan(i, std::min(chunk, data.size() - i))); !r) return r;
    }
    std::vector<std::byte> more(extra, std::byte{7});
    if (extra) return sink(more);
    return {};
  };
}

// A reader over `data`.
byte_reader reader_of(std::span<const std::byte> data) {
  return [=](std::uint64_t at, std::span<std::byte> out) -> result<void> {
    if (at > data.size() || out.size() > data.size() - at)
      return fail(errc::invalid_argument, "read past the end");
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(at), out.size(), out.begin());
    return {};
  };
}

}  // namespace

// ---- golden vectors of the reference (docs/FORMAT.md s.8) --------------------------------

TEST(WriterGolden, SerializationF32Is96Bytes) {  // tensor.rs test_serialization
  const tensor_source t[] = {source("attn.0", dtype::F32, {1, 2, 3}, f32_0_to_5)};
  const auto expected =
      to_bytes({64, 0,  0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 46,  48,
                34, 58, 123, 34,  100, 116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,
                44, 34, 115, 104, 97,  112, 101, 34,  58,  91,  49,  44,  50,  44,  51,  93,
                44, 34, 100, 97,  116, 97,  95,  111, 102, 102, 115, 101, 116, 115, 34,  58,
                91, 48, 44,  50,  52,  93,  125, 125, 0,   0,   0,   0,   0,   0,   128, 63,
                0,  0,  0,   64,  0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64});
  const auto out = must_serialize(t);
  EXPECT_EQ(out.size(), 96u);
  EXPECT_EQ(out, expected);
  EXPECT_EQ(must_parse(out).tensors.size(), 1u);
}

TEST(WriterGolden, Fp4) {  // tensor.rs test_serialization_fp4
  const auto data = to_bytes({0});
  const tensor_source t[] = {source("attn.0", dtype::F4, {1, 2}, data)};
  const auto expected = to_bytes(
      {64,  0,   0,   0,   0,   0,   0,  0,  123, 34,  97,  116, 116, 110, 46,  48,  34,  58,  123,
       34,  100, 116, 121, 112, 101, 34, 58, 34,  70,  52,  34,  44,  34,  115, 104, 97,  112, 101,
       34,  58,  91,  49,  44,  50,  93, 44, 34,  100, 97,  116, 97,  95,  111, 102, 102, 115, 101,
       116, 115, 34,  58,  91,  48,  44, 49, 93,  125, 125, 32,  32,  32,  32,  0});
  EXPECT_EQ(must_serialize(t), expected);
}

TEST(WriterGolden, Fp4OddCountIsMisaligned) {  // test_serialization_fp4_misaligned
  const auto data = to_bytes({0, 1});
  const tensor_source t[] = {source("attn.0", dtype::F4, {1, 3}, data)};
  EXPECT_EQ(serialize_error(t), errc::misaligned_slice);
}

TEST(WriterGolden, Fp4WrongByteCount) {  // test_serialization_fp4_invalid
  const auto data = to_bytes({0, 1});
  const tensor_source t[] = {source("attn.0", dtype::F4, {1, 2}, data)};
  EXPECT_EQ(serialize_error(t), errc::invalid_tensor_view);
}

TEST(WriterGolden, EmptyIsBracesAndSixSpaces) {  // test_empty
  EXPECT_EQ(must_serialize({}),
            to_bytes({8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}));
}

TEST(WriterGolden, EmptyWithMetadataN40) {  // test_empty with {"framework":"pt"}
  const auto expected =
      to_bytes({40,  0,   0,   0,  0,  0,  0,   0,   123, 34,  95,  95,  109, 101, 116, 97,
                100, 97,  116, 97, 95, 95, 34,  58,  123, 34,  102, 114, 97,  109, 101, 119,
                111, 114, 107, 34, 58, 34, 112, 116, 34,  125, 125, 32,  32,  32,  32,  32});
  EXPECT_EQ(must_serialize({}, meta({{"framework", "pt"}})), expected);
}

TEST(WriterGolden, ForcedAlignmentN72) {  // test_serialization_forced_alignement
  const tensor_source t[] = {source("attn0", dtype::F32, {1, 1, 2, 3}, f32_0_to_5)};
  const auto expected = to_bytes(
      {72,  0,   0,   0,   0,   0,   0,   0,   123, 34, 97, 116, 116, 110, 48,  34,  58,  123,
       34,  100, 116, 121, 112, 101, 34,  58,  34,  70, 51, 50,  34,  44,  34,  115, 104, 97,
       112, 101, 34,  58,  91,  49,  44,  49,  44,  50, 44, 51,  93,  44,  34,  100, 97,  116,
       97,  95,  111, 102, 102, 115, 101, 116, 115, 34, 58, 91,  48,  44,  50,  52,  93,  125,
       125, 32,  32,  32,  32,  32,  32,  32,  0,   0,  0,  0,   0,   0,   128, 63,  0,   0,
       0,   64,  0,   0,   64,  64,  0,   0,   128, 64, 0,  0,   160, 64});
  const auto out = must_serialize(t);
  EXPECT_EQ(out, expected);
  const auto h = must_parse(out);
  EXPECT_EQ((8 + h.header_size) % 4, 0u);
}

TEST(WriterGolden, PythonI32) {  // test_simple.py test_serialization
  auto data = le_bytes<std::int32_t>({0, 0, 0, 0});
  const tensor_source t[] = {source("test", dtype::I32, {2, 2}, data)};
  const auto header =
      "@\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}    "s;
  EXPECT_EQ(as_string(must_serialize(t)), header + std::string(16, '\0'));
  data = le_bytes<std::int32_t>({0, 0, 0, 1});
  const tensor_source t2[] = {source("test", dtype::I32, {2, 2}, data)};
  EXPECT_EQ(as_string(must_serialize(t2)), header + std::string(12, '\0') + "\x01\0\0\0"s);
}

TEST(WriterGolden,
     PythonForcesAlignmentAndOrderInvariance) {  // test_serialization_forces_alignment
  const std::vector<std::byte> i32(16), f16(8);
  const tensor_source a[] = {source("test1", dtype::I32, {2, 2}, i32),
                             source("test2", dtype::F16, {2, 2}, f16)};
  const tensor_source b[] = {source("test2", dtype::F16, {2, 2}, f16),
                             source("test1", dtype::I32, {2, 2}, i32)};
  const auto expected =
      "\x80\0\0\0\0\0\0\0{\"test1\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
      "\"test2\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[16,24]}}      "s +
      std::string(24, '\0');
  EXPECT_EQ(as_string(must_serialize(a)), expected);
  EXPECT_EQ(must_serialize(a), must_serialize(b));
}

TEST(WriterGolden, PythonMetadataN96) {  // test_serialization_metadata
  const std::vector<std::byte> i32(16);
  const tensor_source t[] = {source("test1", dtype::I32, {2, 2}, i32)};
  const auto expected =
      "`\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":\"pt\"},\"test1\":{\"dtype\":\"I32\","
      "\"shape\":[2,2],"
      "\"data_offsets\":[0,16]}} "s +
      std::string(16, '\0');
  EXPECT_EQ(as_string(must_serialize(t, meta({{"framework", "pt"}}))), expected);
}

TEST(WriterGolden, TorchComplex64) {  // test_pt_comparison.py C64 case
  std::vector<std::byte> c64(32);
  const auto last = le_bytes<float>({-1.0f, 1.0f});
  std::copy(last.begin(), last.end(), c64.end() - 8);
  const tensor_source t[] = {source("test", dtype::C64, {2, 2}, c64)};
  const auto expected =
      "@\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"C64\",\"shape\":[2,2],\"data_offsets\":[0,32]}}    "s +
      std::string(24, '\0') + "\0\0\x80\xbf\0\0\x80?"s;
  EXPECT_EQ(as_string(must_serialize(t)), expected);
}

// ---- ordering, metadata, escaping ------------------------------------------------------------

TEST(Writer, SortsByDtypeDescendingThenNameBytewise) {
  std::vector<std::byte> storage(64);
  std::vector<tensor_source> t;
  for (int d = 0; d < dtype_count; ++d) {
    const auto type = static_cast<dtype>(d);
    const std::uint64_t n = dtype_bits(type) < 8 ? 8 : 1;  // whole bytes for F4/F6
    std::string name = "t";
    name.append(dtype_name(type));
    t.push_back(source(name, type, {n}, std::span(storage).first(*dtype_byte_size(type, n))));
  }
  t.push_back(
      source("\xc3\xa9", dtype::U8, {1}, std::span(storage).first(1)));  // é sorts after ASCII
  t.push_back(source("B", dtype::U8, {1}, std::span(storage).first(1)));
  t.push_back(source("a", dtype::U8, {1}, std::span(storage).first(1)));
  auto plan = plan_header(t, {});
  ASSERT_TRUE(plan) << plan.error().message;
  std::vector<std::string> names;
  for (const auto& info : plan->tensors) names.push_back(info.name);
  const std::vector<std::string> expected = {
      "tU64", "tI64", "tF64", "tC64",         "tF32",         "tU32",     "tI32",     "tBF16",
      "tF16", "tU16", "tI16", "tF8_E5M2FNUZ", "tF8_E4M3FNUZ", "tF8_E8M0", "tF8_E4M3", "tF8_E5M2",
      "tI8",  "B",    "a",    "tU8",          "\xc3\xa9",     "tF6_E3M2", "tF6_E2M3", "tF4",
      "tBOOL"};
  EXPECT_EQ(names, expected);
  std::uint64_t offset = 0;
  for (std::size_t k = 0; k < plan->tensors.size(); ++k) {
    EXPECT_EQ(plan->tensors[k].begin, offset);
    offset = plan->tensors[k].end;
    EXPECT_EQ(t[plan->order[k]].name, plan->tensors[k].name);
  }
}

TEST(Writer, MetadataKeysSortedBytewiseAndFirst) {
  const std::vector<std::byte> one(1);
  const tensor_source t[] = {source("a", dtype::U8, {1}, one)};
  auto plan = plan_header(t, meta({{"b", "2"}, {"\xc3\xa9", "4"}, {"a", "1"}, {"B", "3"}}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(
      plan->json.rfind(
          R"({"__metadata__":{"B":"3","a":"1","b":"2","é":"4"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
          0),
      0u);
}

TEST(Writer, EmptyMetadataWithoutTensorsIsAValidHeader) {  // avoids the reference's bug (a)
  const auto out = must_serialize({}, meta({}));
  EXPECT_EQ(as_string(out), "\x18\0\0\0\0\0\0\0{\"__metadata__\":{}}     "s);
  const auto h = must_parse(out);
  EXPECT_TRUE(h.metadata.present);
  EXPECT_TRUE(h.metadata.entries.empty());
  EXPECT_TRUE(h.tensors.empty());
}

TEST(Writer, AbsentMetadataIsNotWritten) {
  const auto out = must_serialize({}, metadata_map{});
  EXPECT_EQ(as_string(out).find("__metadata__"), std::string::npos);
  EXPECT_FALSE(must_parse(out).metadata.present);
}

TEST(JsonQuote, SerdeEscaping) {
  EXPECT_EQ(json_quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quote("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(json_quote("\x01\x1f"s + '\0'), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(json_quote("\x0b"), R"("\u000b")");  // lowercase hex
  EXPECT_EQ(json_quote("/\x7f"), "\"/\x7f\"");   // slash and DEL raw
  EXPECT_EQ(json_quote("\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80"),
            "\"\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\"");  // é U+2028 😀 raw
}

TEST(JsonWriter, NumbersLikeSerde) {
  auto num = [](auto v) { return json_writer().value(v).take(); };
  EXPECT_EQ(num(std::uint64_t{18446744073709551615ULL}), "18446744073709551615");
  EXPECT_EQ(num(std::int64_t{-5}), "-5");
  EXPECT_EQ(num(1.0), "1.0");
  EXPECT_EQ(num(0.0), "0.0");
  EXPECT_EQ(num(-0.0), "-0.0");
  EXPECT_EQ(num(0.1), "0.1");
  EXPECT_EQ(num(-2.5), "-2.5");
  EXPECT_EQ(num(123456.789), "123456.789");
  EXPECT_EQ(num(1e15), "1000000000000000.0");
  EXPECT_EQ(num(1e16), "1e16");
  EXPECT_EQ(num(1.5e17), "1.5e17");
  EXPECT_EQ(num(0.0001), "0.0001");
  EXPECT_EQ(num(0.00001), "0.00001");
  EXPECT_EQ(num(1e-6), "1e-6");
  EXPECT_EQ(num(1.25e-7), "1.25e-7");
  EXPECT_EQ(num(5e-324), "5e-324");
  EXPECT_EQ(num(1.7976931348623157e308), "1.7976931348623157e308");
  EXPECT_EQ(num(std::numeric_limits<double>::infinity()), "null");
}

TEST(JsonWriter, NestingAndCommas) {
  json_writer w;
  w.begin_object().key("a").begin_array().value(1).value("x").null().value(true).end_array();
  w.key("b").begin_object().end_object().key("c").raw("[1]").end_object();
  EXPECT_EQ(w.str(), R"({"a":[1,"x",null,true],"b":{},"c":[1]})");
}

TEST(Writer, EscapesNamesAndMetadataAndReadsBack) {
  const std::vector<std::byte> one(1);
  const std::vector<std::string> names = {"q\"uote",
                                          "back\\slash",
                                          "ctl\x01\x1f\n\t",
                                          "nul"s + '\0' + "x",
                                          "\xc3\xa9t\xc3\xa9",
                                          "sep\xe2\x80\xa8",
                                          "del\x7f",
                                          "",
                                          "sl/ash"};
  std::vector<tensor_source> t;
  for (const auto& n : names) t.push_back(source(n, dtype::U8, {1}, one));
  const auto out = must_serialize(t, meta({{"k\"\n", "v\\\x02\xe2\x80\xa8"}}));
  const auto text = as_string(out);
  EXPECT_NE(text.find(R"("q\"uote")"), std::string::npos);
  EXPECT_NE(text.find(R"("back\\slash")"), std::string::npos);
  EXPECT_NE(text.find(R"("ctl\u0001\u001f\n\t")"), std::string::npos);
  EXPECT_NE(text.find(R"("nul\u0000x")"), std::string::npos);
  EXPECT_NE(text.find("\"sep\xe2\x80\xa8\""), std::string::npos);
  EXPECT_NE(text.find("\"del\x7f\""), std::string::npos);
  EXPECT_NE(text.find(R"({"k\"\n":"v\\\u0002)"), std::string::npos);
  const auto h = must_parse(out);
  ASSERT_EQ(h.tensors.size(), names.size());
  for (const auto& n : names) EXPECT_NE(h.find(n), nullptr) << n;
  ASSERT_EQ(h.metadata.entries.size(), 1u);
  EXPECT_EQ(h.metadata.entries[0].second, "v\\\x02\xe2\x80\xa8");
}

// ---- input errors ----------------------------------------------------------------------------

TEST(WriterErrors, DuplicateTensorNames) {
  const std::vector<std::byte> one(1), two(2);
  const tensor_source t[] = {source("x", dtype::U8, {1}, one), source("x", dtype::F16, {1}, two)};
  EXPECT_EQ(serialize_error(t), errc::duplicate_key);
}

TEST(WriterErrors, DuplicateMetadataKeys) {
  EXPECT_EQ(serialize_error({}, meta({{"a", "1"}, {"a", "2"}})), errc::duplicate_key);
  const auto r = serialize({}, meta({{"a", "1"}, {"a", "2"}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "metadata key `a`: appears twice");
}

TEST(WriterErrors, ReservedName) {
  const std::vector<std::byte> one(1);
  const tensor_source t[] = {source("__metadata__", dtype::U8, {1}, one)};
  EXPECT_EQ(serialize_error(t), errc::invalid_argument);
}

TEST(WriterErrors, InvalidUtf8) {
  const std::vector<std::byte> one(1);
  const tensor_source t[] = {source("bad\xff", dtype::U8, {1}, one)};
  EXPECT_EQ(serialize_error(t), errc::invalid_utf8);
  EXPECT_EQ(serialize_error({}, meta({{"k", "\xc3"}})), errc::invalid_utf8);
}

TEST(WriterErrors, DataSizeMismatchNamesTheTensor) {
  const std::vector<std::byte> data(20);
  const tensor_source t[] = {source("w.0", dtype::F32, {1, 2, 3}, data)};
  auto out = serialize(t, {});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, errc::invalid_tensor_view);
  EXPECT_NE(out.error().message.find("w.0"), std::string::npos);
  EXPECT_NE(out.error().message.find("24"), std::string::npos);
}

TEST(WriterErrors, ShapeOverflow) {
  const tensor_source t[] = {source("big", dtype::F32, {1ULL << 40, 1ULL << 40}, {})};
  EXPECT_EQ(serialize_error(t), errc::validation_overflow);
  const tensor_source t2[] = {source("big", dtype::F64, {1ULL << 62}, {})};
  EXPECT_EQ(serialize_error(t2), errc::validation_overflow);
}

TEST(WriterErrors, ZeroSizedAndScalarTensors) {
  const std::vector<std::byte> four(4);
  const tensor_source t[] = {source("empty", dtype::F32, {2, 0}, {}),
                             source("huge_empty", dtype::F32, {~0ULL, 0}, {}),
                             source("scalar", dtype::I32, {}, four)};
  const auto h = must_parse(must_serialize(t));
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.find("scalar")->nbytes(), 4u);
  EXPECT_EQ(h.find("empty")->nbytes(), 0u);
}

TEST(WriterErrors, HeaderTooLarge) {
  write_options o;
  o.max_header_size = 64;
  // {"__metadata__":{"k":"..."}} is 25 bytes + the value: exactly 64 is allowed, 65 pads to 72.
  EXPECT_FALSE(serialize_error({}, meta({{"k", std::string(39, 'a')}}), o).has_value());
  EXPECT_EQ(serialize_error({}, meta({{"k", std::string(40, 'a')}}), o), errc::header_too_large);
  o.alignment = 4096;
  EXPECT_EQ(serialize_error({}, meta({{"k", "a"}}), o), errc::header_too_large);
}

TEST(WriterErrors, BadAlignment) {
  write_options o;
  for (std::uint64_t a : {0ULL, 4ULL, 12ULL, 100ULL}) {
    o.alignment = a;
    EXPECT_EQ(serialize_error({}, {}, o), errc::invalid_argument) << a;
  }
}

// ---- alignment -------------------------------------------------------------------------------

TEST(Writer, AlignmentPadsTheDataStart) {
  const tensor_source t[] = {source("attn.0", dtype::F32, {1, 2, 3}, f32_0_to_5)};
  for (std::uint64_t a : {8ULL, 64ULL, 4096ULL}) {
    write_options o;
    o.alignment = a;
    const auto out = must_serialize(t, {}, o);
    const auto h = must_parse(out);
    EXPECT_EQ((8 + h.header_size) % a, 0u) << a;
    EXPECT_LT(h.header_size, 8 + 64 + a);
    EXPECT_EQ(as_string(std::span(out).subspan(8 + h.header_size)), as_string(f32_0_to_5));
    const auto json = as_string(std::span(out).subspan(8, h.header_size));
    EXPECT_EQ(json.find_last_not_of(' '), json.find_last_of('}'));
  }
}

// ---- producers -------------------------------------------------------------------------------

TEST(WriterProducer, ChunksAreConcatenated) {
  std::vector<std::byte> data(1000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7);
  tensor_source produced = source("x", dtype::U8, {1000}, {});
  produced.produce = chunked(data, 33);
  const tensor_source a[] = {produced};
  const tensor_source b[] = {source("x", dtype::U8, {1000}, data)};
  EXPECT_EQ(must_serialize(a), must_serialize(b));
}

TEST(WriterProducer, ShortLongAndFailingProducers) {
  const std::vector<std::byte> data(100);
  tensor_source t = source("x", dtype::U8, {100}, {});
  t.produce = chunked(std::span(data).first(99), 10);
  EXPECT_EQ(serialize_error(std::span(&t, 1)), errc::invalid_tensor_view);
  t.produce = chunked(data, 10, 1);
  EXPECT_EQ(serialize_error(std::span(&t, 1)), errc::invalid_tensor_view);
  t.produce = [](const byte_sink&) -> result<void> { return fail(errc::io, "source vanished"); };
  EXPECT_EQ(serialize_error(std::span(&t, 1)), errc::io);
  t.produce = chunked(data, 10);
  t.data = data;  // both a producer and data
  EXPECT_EQ(serialize_error(std::span(&t, 1)), errc::invalid_argument);
}

// ---- files -----------------------------------------------------------------------------------

TEST(WriteFile, MatchesSerializeAndLeavesNoTempFile) {
  temp_dir dir;
  std::vector<std::byte> big(9u << 20);  // larger than the 4 MiB write buffer
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i % 251);
  const tensor_source t[] = {source("big", dtype::U8, {big.size()}, big),
                             source("attn.0", dtype::F32, {1, 2, 3}, f32_0_to_5)};
  for (bool sync : {true, false}) {
    write_options o;
    o.fsync = sync;
    ASSERT_TRUE(write_file(dir / "out.safetensors", t, meta({{"format", "pt"}}), o));
    EXPECT_EQ(read_all(dir / "out.safetensors"), must_serialize(t, meta({{"format", "pt"}}), o));
    EXPECT_EQ(dir.list(), std::vector<std::string>{"out.safetensors"});
  }
}

TEST(WriteFile, BlockAlignedBufferingKeepsEveryByte) {
  // The file writer cuts its writes at 4 MiB file offsets: tensors smaller than, equal to and
  // larger than the buffer, straddling block edges, and a producer with odd chunk sizes.
  temp_dir dir;
  std::vector<std::vector<std::byte>> data;
  const std::size_t sizes[] = {3,    (4u << 20) - 5, 4u << 20, 1, (8u << 20) + 7,
                               4099, (12u << 20) + 1};
  std::uint32_t x = 12345;
  for (std::size_t n : sizes) {
    auto& d = data.emplace_back(n);
    for (auto& b : d) b = static_cast<std::byte>((x = x * 1103515245u + 12345u) >> 24);
  }
  std::vector<tensor_source> t;
  for (std::size_t i = 0; i < data.size(); ++i) {
    t.push_back(
        source(std::string(1, static_cast<char>('a' + i)), dtype::U8, {data[i].size()}, data[i]));
  }
  tensor_source produced = source("p", dtype::U8, {data[4].size()}, {});
  produced.produce = chunked(data[4], 3u << 20 | 17);
  t.push_back(produced);
  tensor_source pulled = source("q", dtype::U8, {data[6].size()}, {});
  pulled.read = reader_of(data[6]);
  t.push_back(pulled);
  ASSERT_TRUE(write_file(dir / "out.safetensors", t, {}));
  const auto in_memory = must_serialize(t);
  t[t.size() - 2].produce = {};
  t[t.size() - 2].data = data[4];
  t.back().read = {};
  t.back().data = data[6];
  const auto expected = must_serialize(t);
  EXPECT_EQ(read_all(dir / "out.safetensors"), expected);
  EXPECT_EQ(in_memory, expected);
}

TEST(WriterReader, ReadsConsecutiveRangesAndReportsItsErrors) {
  temp_dir dir;
  std::vector<std::byte> data((9u << 20) + 3);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i % 253);
  std::uint64_t next = 0;
  tensor_source t = source("x", dtype::U8, {data.size()}, {});
  t.read = [&](std::uint64_t at, std::span<std::byte> out) -> result<void> {
    EXPECT_EQ(at, next);
    next = at + out.size();
    return reader_of(data)(at, out);
  };
  ASSERT_TRUE(write_file(dir / "x.safetensors", std::span(&t, 1), {}));
  EXPECT_EQ(next, data.size());
  const tensor_source plain[] = {source("x", dtype::U8, {data.size()}, data)};
  EXPECT_EQ(read_all(dir / "x.safetensors"), must_serialize(plain));

  write_all(dir / "y.safetensors", "old content");
  t.read = [](std::uint64_t at, std::span<std::byte>) -> result<void> {
    if (at >= (4u << 20)) return fail(errc::io, "source vanished");
    return {};
  };
  auto r = write_file(dir / "y.safetensors", std::span(&t, 1), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::io);
  EXPECT_EQ(as_string(read_all(dir / "y.safetensors")), "old content");
  EXPECT_EQ(dir.list(), (std::vector<std::string>{"x.safetensors", "y.safetensors"}));
  EXPECT_EQ(serialize_error(std::span(&t, 1)),
            std::nullopt);  // in memory: only the first range is read

  t.data = data;  // data and a reader
  EXPECT_EQ(serialize_error(std::span(&t, 1)), errc::invalid_argument);
}

TEST(WriteFile, CheckSeesTheWholeTempFileAndItsErrorKeepsTheTarget) {
  temp_dir dir;
  std::vector<std::byte> big(5u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i % 241);
  const tensor_source t[] = {source("big", dtype::U8, {big.size()}, big)};
  const auto expected = must_serialize(t);
  for (bool sync : {true, false}) {
    write_all(dir / "model.safetensors", "old content");
    write_options o;
    o.fsync = sync;
    std::filesystem::path seen;
    o.check = [&](const std::filesystem::path& written) -> result<void> {
      seen = written;
      EXPECT_NE(written, dir / "model.safetensors");
      EXPECT_EQ(written.parent_path(), dir.path());
      EXPECT_EQ(read_all(written), expected);  // complete before the rename
      EXPECT_EQ(as_string(read_all(dir / "model.safetensors")), "old content");
      return fail(errc::invalid_checkpoint, "read-back differs");
    };
    auto r = write_file(dir / "model.safetensors", t, {}, o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::invalid_checkpoint);
    EXPECT_FALSE(seen.empty());
    EXPECT_EQ(as_string(read_all(dir / "model.safetensors")), "old content");
    EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});

    int calls = 0;
    o.check = [&](const std::filesystem::path&) -> result<void> {
      ++calls;
      return {};
    };
    ASSERT_TRUE(write_file(dir / "model.safetensors", t, {}, o));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(read_all(dir / "model.safetensors"), expected);
    EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});
  }
}

TEST(WriteFile, FailureLeavesTheOldTargetAndNoTempFile) {
  temp_dir dir;
  write_all(dir / "model.safetensors", "old content");
  std::vector<std::byte> data(10u << 20);
  tensor_source t = source("x", dtype::U8, {data.size() + 1}, {});
  t.produce = chunked(data, 1u << 20);  // one byte short, after 10 MiB were written
  auto r = write_file(dir / "model.safetensors", std::span(&t, 1), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_tensor_view);
  EXPECT_EQ(as_string(read_all(dir / "model.safetensors")), "old content");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});
}

TEST(WriteFile, InvalidInputDoesNotCreateTheTarget) {
  temp_dir dir;
  const std::vector<std::byte> one(1);
  const tensor_source t[] = {source("x", dtype::U8, {1}, one), source("x", dtype::U8, {1}, one)};
  EXPECT_FALSE(write_file(dir / "a.safetensors", t, {}));
  EXPECT_TRUE(dir.list().empty());
}

TEST(WriteFile, IoErrorsNameThePath) {
  temp_dir dir;
  auto r = write_file(dir / "missing" / "a.safetensors", {}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::io);
  EXPECT_NE(r.error().message.find("missing"), std::string::npos);
  std::filesystem::create_directory(dir / "adir");
  r = write_file(dir / "adir", {}, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::io);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"adir"});
  EXPECT_TRUE(std::filesystem::is_empty(dir / "adir"));
}

TEST(WriteFile, OverwritesAFileThatIsMappedAsInput) {  // reference regression #762
  temp_dir dir;
  const auto path = dir / "model.safetensors";
  std::vector<std::byte> big(3u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>((i * 13) % 256);
  const tensor_source first[] = {source("a", dtype::U8, {big.size()}, big),
                                 source("b", dtype::F32, {6}, f32_0_to_5)};
  ASSERT_TRUE(write_file(path, first, {}));
  auto in = file::open(path);
  ASSERT_TRUE(in) << in.error().message;
  auto a = in->get("a");
  auto b = in->get("b");
  ASSERT_TRUE(a && b);
  ASSERT_FALSE(in->mapped_data().empty());
  // New file: the mapped tensors plus one more, written over the mapped path.
  const std::vector<std::byte> extra = to_bytes({1, 2, 3});
  const tensor_source second[] = {source("a", dtype::U8, {big.size()}, a->bytes()),
                                  source("b", dtype::F32, {6}, b->bytes()),
                                  source("c", dtype::U8, {3}, extra)};
  ASSERT_TRUE(write_file(path, second, meta({{"rewritten", "yes"}})));
  EXPECT_EQ(as_string(a->bytes()), as_string(big));  // the old mapping is intact
  EXPECT_EQ(read_all(path),
            must_serialize(std::vector<tensor_source>{source("a", dtype::U8, {big.size()}, big),
                                                      source("b", dtype::F32, {6}, f32_0_to_5),
                                                      source("c", dtype::U8, {3}, extra)},
                           meta({{"rewritten", "yes"}})));
  EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});
}
