// Header parsing and validation: the reference's golden vectors, the accept / reject table
// (both: docs/FORMAT.md section 8) and crafted corrupt files (every field broken on purpose).
// GCC 12 reports a false -Wrestrict inside std::string's operator+ at -O3 (GCC bug 105651).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "safetensors/header.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>

#include "support/test_files.hpp"

namespace st = safetensors;
using st::errc;
using st::test::make_file;

namespace {

constexpr const char* u64_max = "18446744073709551615";

st::result<st::header> parse(const st::test::bytes& file,
                             std::string_view source = "t.safetensors") {
  st::parse_options opts;
  opts.source = source;
  return st::parse_buffer(file, opts);
}

std::string entry(std::string_view name, std::string_view dtype, std::string_view shape,
                  std::uint64_t b, std::uint64_t e) {
  std::string out;
  out.append("\"").append(name).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":");
  out.append(shape).append(",\"data_offsets\":[").append(std::to_string(b)).append(",");
  out.append(std::to_string(e)).append("]}");
  return out;
}

}  // namespace

// ---------------------------------------------------------------- golden vectors (FORMAT.md s.8)

TEST(HeaderGolden, SerializationF32_96Bytes) {
  std::string json = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
  json.resize(64, ' ');
  std::string data;
  for (int i = 0; i < 6; ++i) {
    float f = static_cast<float>(i);
    data.append(reinterpret_cast<const char*>(&f), 4);
  }
  auto file = make_file(json, data);
  ASSERT_EQ(file.size(), 96u);
  auto h = parse(file);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->header_size, 64u);
  EXPECT_EQ(h->data_size, 24u);
  ASSERT_EQ(h->tensors.size(), 1u);
  const auto* t = h->find("attn.0");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, st::dtype::F32);
  EXPECT_EQ(t->shape, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(t->begin, 0u);
  EXPECT_EQ(t->end, 24u);
  EXPECT_EQ(t->numel(), 6u);
  EXPECT_FALSE(h->metadata.present);
}

TEST(HeaderGolden, EmptyFile) {
  auto file = make_file("{}      ");
  ASSERT_EQ(file.size(), 16u);
  auto h = parse(file);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_TRUE(h->tensors.empty());
  EXPECT_EQ(h->header_size, 8u);
}

TEST(HeaderGolden, EmptyWithMetadataN40) {
  std::string json = "{\"__metadata__\":{\"framework\":\"pt\"}}";
  json.resize(40, ' ');
  auto h = parse(make_file(json));
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_TRUE(h->metadata.present);
  ASSERT_NE(h->metadata.find("framework"), nullptr);
  EXPECT_EQ(*h->metadata.find("framework"), "pt");
  EXPECT_EQ(h->metadata.find("other"), nullptr);
}

TEST(HeaderGolden, DeserializationI32N60) {
  std::string json = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
  ASSERT_EQ(json.size(), 60u);  // the reference's buffer starts with '<' = 60
  auto file = make_file(json, 16);
  EXPECT_EQ(file[0], std::byte{'<'});
  auto h = parse(file);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->find("test")->type, st::dtype::I32);
}

TEST(HeaderGolden, Fp4OneByte) {
  std::string json = "{\"test\":{\"dtype\":\"F4\",\"shape\":[1,2],\"data_offsets\":[0,1]}}";
  auto h = parse(make_file(json, 1));
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->find("test")->nbytes(), 1u);
}

TEST(HeaderGolden, JsonAttackTenTensorsSameRange) {
  std::string json = "{";
  for (int i = 0; i < 10; ++i) {
    if (i) json += ",";
    json += entry("weight_" + std::to_string(i), "F32", "[2,2]", 0, 16);
  }
  json += "}";
  auto h = parse(make_file(json, 16));
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, errc::invalid_offset);
}

TEST(HeaderGolden, ReferenceMalformedInputs) {
  std::string good = "{" + entry("test", "I32", "[2,2]", 0, 16) + "}";
  auto polyglot = make_file(good, std::string(16, '\0') + "extra_bogus_data_for_polyglot_file");
  EXPECT_EQ(parse(polyglot).error().code, errc::incomplete_buffer);
  EXPECT_EQ(parse(make_file(good, 14)).error().code, errc::incomplete_buffer);
  EXPECT_EQ(parse(st::test::with_length(0xffffff000000003cull, good)).error().code,
            errc::header_too_large);
  EXPECT_EQ(parse({}).error().code, errc::header_too_small);
  EXPECT_EQ(parse(st::test::with_length(60, "")).error().code, errc::invalid_header_length);
  EXPECT_EQ(parse(make_file("\xff")).error().code, errc::invalid_utf8);
  EXPECT_EQ(parse(make_file("{")).error().code, errc::invalid_json);
  EXPECT_TRUE(parse(make_file("{}\r \t\n")));
  EXPECT_TRUE(parse(make_file("\t\n{}\r ")));
  EXPECT_TRUE(parse(make_file("{" + entry("test", "F32", "[2,0]", 0, 0) + "}")));
  EXPECT_EQ(parse(make_file("{" + entry("test", "I32", "[2,2]", 0, 4) + "}", 4)).error().code,
            errc::tensor_invalid_info);
  EXPECT_EQ(
      parse(make_file("{" + entry("test", "I32", "[2,18446744073709551614]", 0, 16) + "}", 16))
          .error()
          .code,
      errc::validation_overflow);
  EXPECT_EQ(parse(make_file("{" + entry("test", "I32", "[2,9223372036854775807]", 0, 16) + "}", 16))
                .error()
                .code,
            errc::validation_overflow);
  EXPECT_TRUE(parse(make_file("{" + entry("test", "I32", "[]", 0, 4) + "}", 4)));
}

// ------------------------------------------------------- accept / reject table (FORMAT.md s.8)

struct table_row {
  const char* what;
  std::string json;
  std::size_t data_len;
  std::optional<errc> expected;  // nullopt: accepted
};

std::ostream& operator<<(std::ostream& os, const table_row& r) { return os << r.what; }

class HeaderTable : public ::testing::TestWithParam<table_row> {};

TEST_P(HeaderTable, MatchesReference) {
  const auto& row = GetParam();
  auto h = parse(make_file(row.json, row.data_len));
  if (!row.expected) {
    EXPECT_TRUE(h) << row.what << ": " << h.error().message;
    return;
  }
  ASSERT_FALSE(h) << row.what << " was accepted";
  EXPECT_EQ(st::errc_name(h.error().code), st::errc_name(*row.expected)) << h.error().message;
  EXPECT_EQ(h.error().message.rfind("t.safetensors: ", 0), 0u) << h.error().message;
  EXPECT_EQ(h.error().message.find('\n'), std::string::npos);
}

namespace {

const std::string f32a = entry("a", "F32", "[2]", 0, 8);  // 8 data bytes
std::string obj(const std::string& inner) { return "{" + inner + "}"; }
std::string with_shape(const std::string& shape) {
  return "{\"a\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,8]}}";
}
std::string with_offsets(const std::string& offsets) {
  return "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":" + offsets + "}}";
}
std::string nested(int levels) {  // `levels` nested containers including the header object
  std::string v = "1";
  for (int i = 2; i < levels; ++i) v = "[" + v + "]";
  return "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":" + v + "}}";
}

std::vector<table_row> accept_rows() {
  std::string rank64 = "[1";
  for (int i = 1; i < 64; ++i) rank64 += ",1";
  rank64 += "]";
  return {
      {"leading and trailing whitespace", "\t\n\r " + obj(f32a) + " \r\n\t", 8, {}},
      {"N not a multiple of 8", obj(f32a), 8, {}},
      {"fields in any order",
       "{\"a\":{\"data_offsets\":[0,8],\"shape\":[2],\"dtype\":\"F32\"}}",
       8,
       {}},
      {"metadata first", "{\"__metadata__\":{\"k\":\"v\"}," + f32a + "}", 8, {}},
      {"metadata last", "{" + f32a + ",\"__metadata__\":{\"k\":\"v\"}}", 8, {}},
      {"metadata null", "{\"__metadata__\":null," + f32a + "}", 8, {}},
      {"metadata empty", "{\"__metadata__\":{}," + f32a + "}", 8, {}},
      {"empty name", obj(entry("", "F32", "[2]", 0, 8)), 8, {}},
      {"\\u0000 in a name", obj(entry("a\\u0000b", "F32", "[2]", 0, 8)), 8, {}},
      {"unicode name",
       obj(entry("\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", "F32", "[2]", 0, 8)),
       8,
       {}},
      {"unknown tensor fields",
       "{\"a\":{\"dtype\":\"F32\",\"x\":[-0,-1,2.5,{\"y\":null}],\"shape\":[2],"
       "\"data_offsets\":[0,8],\"z\":\"w\"}}",
       8,
       {}},
      {"empties at the same offset",
       obj(entry("e1", "F32", "[0]", 0, 0) + "," + entry("e2", "I8", "[3,0]", 0, 0) + "," + f32a),
       8,
       {}},
      {"empty in the middle",
       obj(entry("a", "U8", "[2]", 0, 2) + "," + entry("e", "F32", "[0]", 2, 2) + "," +
           entry("b", "U8", "[2]", 2, 4)),
       4,
       {}},
      {"entries out of offset order",
       obj(entry("b", "U8", "[2]", 2, 4) + "," + entry("a", "U8", "[2]", 0, 2)),
       4,
       {}},
      {"rank 0", obj(entry("s", "F32", "[]", 0, 4)), 4, {}},
      {"rank 64", obj(entry("r", "F32", rank64, 0, 4)), 4, {}},
      {"[MAX,0] shape", obj(entry("z", "F32", std::string("[") + u64_max + ",0]", 0, 0)), 0, {}},
      {"[0,MAX,MAX] shape",
       obj(entry("z", "F32", std::string("[0,") + u64_max + "," + u64_max + "]", 0, 0)),
       0,
       {}},
      {"F6 x4 = 3 bytes", obj(entry("f", "F6_E2M3", "[4]", 0, 3)), 3, {}},
      {"F4 x2 = 1 byte", obj(entry("f", "F4", "[2]", 0, 1)), 1, {}},
      {"C64 element", obj(entry("c", "C64", "[1]", 0, 8)), 8, {}},
      {"127 nesting levels", nested(127), 8, {}},
      {"\\u escapes and DEL", obj(entry("q\\\"\\\\\\n\\u00e9\x7f", "F32", "[2]", 0, 8)), 8, {}},
      {"no tensors", "{}", 0, {}},
  };
}

std::vector<table_row> reject_rows() {
  return {
      {"NUL padding", obj(f32a) + std::string(3, '\0'), 8, errc::invalid_json},
      {"BOM", "\xef\xbb\xbf" + obj(f32a), 8, errc::invalid_json},
      {"comment", "{/* c */" + f32a + "}", 8, errc::invalid_json},
      {"trailing comma", "{" + f32a + ",}", 8, errc::invalid_json},
      {"trailing garbage", obj(f32a) + "x", 8, errc::invalid_json},
      {"two objects", obj(f32a) + "{}", 8, errc::invalid_json},
      {"single quotes", "{'a':{}}", 0, errc::invalid_json},
      {"NaN in shape", with_shape("[NaN]"), 8, errc::invalid_json},
      {"-1 in shape", with_shape("[-1]"), 8, errc::invalid_json},
      {"-0 in shape", with_shape("[-0,2]"), 8, errc::invalid_json},
      {"-0 in offsets", with_offsets("[-0,8]"), 8, errc::invalid_json},
      {"2.0 in shape", with_shape("[2.0]"), 8, errc::invalid_json},
      {"2e0 in shape", with_shape("[2e0]"), 8, errc::invalid_json},
      {"02 in shape", with_shape("[02]"), 8, errc::invalid_json},
      {"number above u64", with_shape("[18446744073709551616]"), 8, errc::invalid_json},
      {"string in shape", with_shape("[\"2\"]"), 8, errc::invalid_json},
      {"null in shape", with_shape("[null]"), 8, errc::invalid_json},
      {"shape not an array", with_shape("2"), 8, errc::invalid_json},
      {"3-element offsets", with_offsets("[0,8,8]"), 8, errc::invalid_json},
      {"1-element offsets", with_offsets("[0]"), 8, errc::invalid_json},
      {"object offsets", with_offsets("{\"0\":0,\"1\":8}"), 8, errc::invalid_json},
      {"2.0 in offsets", with_offsets("[0,8.0]"), 8, errc::invalid_json},
      {"dtype case mismatch", obj(entry("a", "f32", "[2]", 0, 8)), 8, errc::unknown_dtype},
      {"unknown dtype", obj(entry("a", "F8", "[2]", 0, 8)), 8, errc::unknown_dtype},
      {"dtype as a map (serde quirk)",
       "{\"a\":{\"dtype\":{\"F32\":null},\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       errc::invalid_json},
      {"dtype as a number", "{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       errc::invalid_json},
      {"tensor entry as an array (serde quirk)", "{\"a\":[\"F32\",[2],[0,8]]}", 8,
       errc::invalid_json},
      {"metadata number value", "{\"__metadata__\":{\"k\":1}," + f32a + "}", 8, errc::invalid_json},
      {"metadata object value", "{\"__metadata__\":{\"k\":{}}," + f32a + "}", 8,
       errc::invalid_json},
      {"metadata null value", "{\"__metadata__\":{\"k\":null}," + f32a + "}", 8,
       errc::invalid_json},
      {"metadata as a string", "{\"__metadata__\":\"x\"," + f32a + "}", 8, errc::invalid_json},
      {"metadata as an array", "{\"__metadata__\":[]," + f32a + "}", 8, errc::invalid_json},
      {"duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}," + f32a + "}", 8,
       errc::invalid_json},
      {"duplicate dtype field",
       "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       errc::invalid_json},
      {"duplicate shape field",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       errc::invalid_json},
      {"missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, errc::invalid_json},
      {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
       errc::invalid_json},
      {"missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, errc::invalid_json},
      {"top-level string entry", "{\"foo\":\"bar\"," + f32a + "}", 8, errc::invalid_json},
      {"top-level null entry", "{\"foo\":null," + f32a + "}", 8, errc::invalid_json},
      {"root is an array", "[]", 0, errc::invalid_json},
      {"root is null", "null", 0, errc::invalid_json},
      {"empty header (N=0)", "", 0, errc::invalid_json},
      {"whitespace-only header", "        ", 0, errc::invalid_json},
      {"raw control character in a name", obj(entry("a\tb", "F32", "[2]", 0, 8)), 8,
       errc::invalid_json},
      {"lone surrogate escape", obj(entry("\\ud800", "F32", "[2]", 0, 8)), 8, errc::invalid_json},
      {"invalid escape", obj(entry("\\x41", "F32", "[2]", 0, 8)), 8, errc::invalid_json},
      {"128 nesting levels", nested(128), 8, errc::invalid_json},
      {"invalid UTF-8 in a name", obj(entry("a\xc3", "F32", "[2]", 0, 8)), 8, errc::invalid_utf8},
      {"overlong UTF-8", obj(entry("\xc0\xaf", "F32", "[2]", 0, 8)), 8, errc::invalid_utf8},
      {"UTF-8 surrogate", obj(entry("\xed\xa0\x80", "F32", "[2]", 0, 8)), 8, errc::invalid_utf8},
      {"duplicate tensor name (deviation)", obj(f32a + "," + entry("a", "F32", "[2]", 8, 16)), 16,
       errc::duplicate_key},
      {"duplicate tensor name, same range (deviation)", obj(f32a + "," + f32a), 8,
       errc::duplicate_key},
      {"duplicate metadata key (deviation)",
       "{\"__metadata__\":{\"x\":\"1\",\"x\":\"2\"}," + f32a + "}", 8, errc::duplicate_key},
      {"gap", obj(entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 3, 5)), 5,
       errc::invalid_offset},
      {"overlap", obj(entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 1, 3)), 3,
       errc::invalid_offset},
      {"non-zero start", obj(entry("a", "U8", "[2]", 2, 4)), 4, errc::invalid_offset},
      {"begin after end", obj(entry("a", "U8", "[0]", 2, 0)), 2, errc::invalid_offset},
      {"same range twice", obj(entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 0, 2)),
       2, errc::invalid_offset},
      {"trailing data byte", obj(f32a), 9, errc::incomplete_buffer},
      {"missing data byte", obj(f32a), 7, errc::incomplete_buffer},
      {"no tensors but data", "{}", 1, errc::incomplete_buffer},
      {"F4 odd count", obj(entry("f", "F4", "[1,3]", 0, 2)), 2, errc::misaligned_slice},
      {"F6 x2", obj(entry("f", "F6_E3M2", "[2]", 0, 2)), 2, errc::misaligned_slice},
      {"[MAX,MAX,0] shape",
       obj(entry("z", "F32", std::string("[") + u64_max + "," + u64_max + ",0]", 0, 0)), 0,
       errc::validation_overflow},
      {"numel x bits overflow", obj(entry("z", "U8", std::string("[") + u64_max + "]", 0, 0)), 0,
       errc::validation_overflow},
      {"wrong byte count", obj(entry("a", "F32", "[2,2]", 0, 12)), 12, errc::tensor_invalid_info},
      {"empty shape with bytes", obj(entry("a", "F32", "[0,4]", 0, 4)), 4,
       errc::tensor_invalid_info},
      // Order of checks.
      {"per-tensor error wins over buffer length", obj(entry("a", "F32", "[2,2]", 0, 12)), 3,
       errc::tensor_invalid_info},
      {"metadata error wins over a later unknown dtype",
       "{" + entry("a", "XX", "[2]", 0, 8) + ",\"__metadata__\":5}", 8, errc::invalid_json},
      {"schema error wins over duplicates", "{" + f32a + "," + f32a + ",\"b\":5}", 8,
       errc::invalid_json},
      {"duplicate name wins over offsets", obj(f32a + "," + entry("a", "F32", "[2]", 4, 12)), 8,
       errc::duplicate_key},
  };
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Accept, HeaderTable, ::testing::ValuesIn(accept_rows()));
INSTANTIATE_TEST_SUITE_P(Reject, HeaderTable, ::testing::ValuesIn(reject_rows()));

// ------------------------------------------------------------------------------ header length

TEST(HeaderLength, LimitIsInclusiveAndConfigurable) {
  auto prefix = st::test::with_length(100'000'000, "");
  EXPECT_EQ(st::read_header_length(prefix, 100'000'008).value(), 100'000'000u);
  EXPECT_EQ(st::read_header_length(prefix, 100'000'007).error().code, errc::invalid_header_length);
  auto over = st::test::with_length(100'000'001, "");
  EXPECT_EQ(st::read_header_length(over, 200'000'000).error().code, errc::header_too_large);
  st::parse_options big;
  big.max_header_size = 200'000'000;
  EXPECT_TRUE(st::read_header_length(over, 200'000'000, big));
  st::parse_options small;
  small.max_header_size = 4;
  auto h = st::parse_buffer(make_file("{}   "), small);
  EXPECT_EQ(h.error().code, errc::header_too_large);
}

TEST(HeaderLength, HugeLengthsDoNotOverflow) {
  auto prefix = st::test::with_length(UINT64_MAX, "");
  st::parse_options unlimited;
  unlimited.max_header_size = UINT64_MAX;
  EXPECT_EQ(st::read_header_length(prefix, 100, unlimited).error().code,
            errc::invalid_header_length);
  EXPECT_EQ(st::read_header_length(prefix, UINT64_MAX, unlimited).error().code,
            errc::invalid_header_length);
  EXPECT_EQ(st::read_header_length(st::test::to_bytes("1234567"), 7).error().code,
            errc::header_too_small);
}

TEST(HeaderParse, ParseHeaderChecksSizes) {
  EXPECT_EQ(st::parse_header("{}", 9).error().code, errc::invalid_header_length);
  EXPECT_EQ(st::parse_header("{}", 4).error().code, errc::invalid_header_length);
  EXPECT_TRUE(st::parse_header("{}", 10));
  EXPECT_EQ(st::parse_header("{}", 11).error().code, errc::incomplete_buffer);
}

// --------------------------------------------------------------------------- index, metadata

// The name index is private: lookups go through header::find only.
template <class H>
concept exposes_index = requires(H& h) {
  h.by_name;
}
|| requires(H& h) { h.by_name_; };
static_assert(!exposes_index<st::header>);

TEST(HeaderIndex, OffsetOrderNameLookupAndCopies) {
  std::string json = obj(entry("c", "U8", "[1]", 2, 3) + "," + entry("a", "U8", "[2]", 0, 2) + "," +
                         entry("b", "F32", "[0]", 3, 3));
  auto h = parse(make_file(json, 3));
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_EQ(h->tensors.size(), 3u);
  EXPECT_EQ(h->tensors[0].name, "a");
  EXPECT_EQ(h->tensors[1].name, "c");
  EXPECT_EQ(h->tensors[2].name, "b");
  EXPECT_EQ(h->find("c")->begin, 2u);
  EXPECT_EQ(h->find("missing"), nullptr);
  st::header copy;
  {
    st::header temp = *h;  // copy
    copy = temp;           // copy-assign, then temp dies
  }
  ASSERT_NE(copy.find("b"), nullptr);
  EXPECT_EQ(copy.find("b"), &copy.tensors[2]);
  st::header moved = std::move(copy);
  EXPECT_EQ(moved.find("a"), &moved.tensors[0]);
}

TEST(HeaderIndex, NamesWithNulAndUnicode) {
  std::string json =
      obj(entry("x\\u0000y", "U8", "[1]", 0, 1) + "," + entry("x", "U8", "[1]", 1, 2));
  auto h = parse(make_file(json, 2));
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_NE(h->find(std::string_view("x\0y", 3)), nullptr);
  EXPECT_EQ(h->find(std::string_view("x\0y", 3))->begin, 0u);
  EXPECT_EQ(h->find("x")->begin, 1u);
}

TEST(HeaderMetadata, SortedByKeyBytewise) {
  std::string json =
      "{\"__metadata__\":{\"b\":\"2\",\"a\":\"1\",\"B\":\"3\",\"\xc3\xa9\":\"4\",\"\":\"5\"}}";
  auto h = parse(make_file(json));
  ASSERT_TRUE(h) << h.error().message;
  std::vector<std::string> keys;
  for (auto& [k, v] : h->metadata.entries) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"", "B", "a", "b", "\xc3\xa9"}));
  EXPECT_EQ(*h->metadata.find(""), "5");
  EXPECT_EQ(*h->metadata.find("\xc3\xa9"), "4");
}

TEST(HeaderMetadata, NullIsAbsentEmptyIsPresent) {
  auto n = parse(make_file("{\"__metadata__\":null}"));
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->metadata.present);
  auto e = parse(make_file("{\"__metadata__\":{}}"));
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->metadata.present);
  EXPECT_TRUE(e->metadata.entries.empty());
}

// ------------------------------------------------------- crafted corrupt files (test-gguf style)

namespace {

// Two tensors, metadata, 24 data bytes.
const std::string base_json =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"b\":{\"dtype\":\"I16\",\"shape\":[4],\"data_offsets\":[16,24]}}";

std::string replace(std::string s, std::string_view from, std::string_view to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

}  // namespace

TEST(HeaderCorrupt, BaseFileIsValid) {
  auto h = parse(make_file(base_json, 24));
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->tensors.size(), 2u);
}

TEST(HeaderCorrupt, EveryFieldBrokenOnPurpose) {
  struct breakage {
    std::string_view from, to;
    errc expected;
    std::string_view names;  // text the message must contain
  };
  const breakage cases[] = {
      {"\"F32\"", "\"F33\"", errc::unknown_dtype, "tensor 'w'"},
      {"\"I16\"", "\"i16\"", errc::unknown_dtype, "tensor 'b'"},
      {"\"I16\"", "16", errc::invalid_json, "tensor 'b'"},
      {"\"dtype\":\"I16\",", "", errc::invalid_json, "tensor 'b': missing field 'dtype'"},
      {"[2,2]", "[2,3]", errc::tensor_invalid_info, "tensor 'w'"},
      {"[2,2]", "[2,-2]", errc::invalid_json, "tensor 'w'"},
      {"[2,2]", "[2,2.5]", errc::invalid_json, "tensor 'w'"},
      {"[2,2]", "\"2x2\"", errc::invalid_json, "tensor 'w': shape"},
      {"[4]", "[5]", errc::tensor_invalid_info, "tensor 'b'"},
      {"[4]", "[18446744073709551615,2]", errc::validation_overflow, "tensor 'b'"},
      {"[0,16]", "[1,16]", errc::invalid_offset, "tensor 'w'"},
      {"[0,16]", "[0,15]", errc::tensor_invalid_info, "tensor 'w'"},
      {"[0,16]", "[0,17]", errc::tensor_invalid_info, "tensor 'w'"},
      {"[16,24]", "[15,23]", errc::invalid_offset, "tensor 'b'"},
      {"[0,16]", "[16,0]", errc::invalid_offset, "tensor 'w'"},
      {"[0,16]", "[0]", errc::invalid_json, "tensor 'w': data_offsets"},
      {"[16,24]", "[16,23]", errc::tensor_invalid_info, "tensor 'b'"},
      {"[16,24]", "[16,25]", errc::tensor_invalid_info, "tensor 'b'"},
      {"[16,24]", "[17,25]", errc::invalid_offset, "tensor 'b'"},
      {"\"pt\"", "1", errc::invalid_json, "__metadata__ 'format'"},
      {"{\"format\":\"pt\"}", "[]", errc::invalid_json, "__metadata__"},
      {"\"w\":", "\"b\":", errc::duplicate_key, "tensor name 'b'"},
  };
  for (const auto& c : cases) {
    std::string json = replace(base_json, c.from, c.to);
    auto h = parse(make_file(json, 24), "model.safetensors");
    ASSERT_FALSE(h) << c.from << " -> " << c.to;
    EXPECT_EQ(st::errc_name(h.error().code), st::errc_name(c.expected))
        << c.from << " -> " << c.to << ": " << h.error().message;
    EXPECT_NE(h.error().message.find(c.names), std::string::npos) << h.error().message;
    EXPECT_EQ(h.error().message.rfind("model.safetensors: ", 0), 0u) << h.error().message;
  }
}

TEST(HeaderCorrupt, MessageExampleFromTheBrief) {
  auto h = parse(
      make_file("{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12),
      "model.safetensors");
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().message,
            "model.safetensors: tensor 'a.weight': data_offsets [0,12] hold 12 bytes but F32 [2, "
            "2] needs 16");
}

TEST(HeaderCorrupt, LengthPrefixBroken) {
  auto good = make_file(base_json, 24);
  for (int byte = 0; byte < 8; ++byte) {
    auto f = good;
    f[byte] = static_cast<std::byte>(std::to_integer<int>(f[byte]) ^ 0x40);
    auto h = parse(f);
    ASSERT_FALSE(h) << "byte " << byte;
    errc e = h.error().code;
    EXPECT_TRUE(e == errc::header_too_large || e == errc::invalid_header_length ||
                e == errc::invalid_json)
        << byte << ": " << h.error().message;
  }
  auto shorter = good;
  shorter[0] =
      static_cast<std::byte>(std::to_integer<int>(shorter[0]) - 1);  // N-1: '}' lands in the data
  EXPECT_EQ(parse(shorter).error().code, errc::invalid_json);
}

TEST(HeaderCorrupt, TruncatedAtEveryByte) {
  auto good = make_file(base_json, 24);
  const std::size_t n = base_json.size();
  for (std::size_t len = 0; len < good.size(); ++len) {
    st::test::bytes f(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    auto h = parse(f);
    ASSERT_FALSE(h) << "length " << len;
    errc want = len < 8       ? errc::header_too_small
                : len < 8 + n ? errc::invalid_header_length
                              : errc::incomplete_buffer;
    EXPECT_EQ(st::errc_name(h.error().code), st::errc_name(want)) << "length " << len;
  }
  auto longer = good;
  longer.push_back(std::byte{0});
  EXPECT_EQ(parse(longer).error().code, errc::incomplete_buffer);
}

TEST(HeaderCorrupt, EveryHeaderByteFlippedNeverCrashes) {
  auto good = make_file(base_json, 24);
  int accepted = 0;
  for (std::size_t i = 8; i < 8 + base_json.size(); ++i) {
    for (int v : {0x00, 0x22, 0x2c, 0x30, 0x5b, 0x5d, 0x7b, 0x7d, 0x80, 0xff}) {
      auto f = good;
      f[i] = static_cast<std::byte>(v);
      auto h = parse(f);
      if (h) {  // a changed name or metadata character: the layout must still be the valid one
        ++accepted;
        ASSERT_EQ(h->tensors.size(), 2u);
        EXPECT_EQ(h->tensors[0].nbytes() + h->tensors[1].nbytes(), 24u);
        continue;
      }
      EXPECT_FALSE(h.error().message.empty());
      EXPECT_EQ(h.error().message.find('\n'), std::string::npos);
    }
  }
  EXPECT_GT(accepted, 0);
}
