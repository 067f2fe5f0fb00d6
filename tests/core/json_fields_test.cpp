// The strict JSON field reader (src/core/json_fields): typed fields, paths in messages,
// duplicate keys anywhere, the unknown-field policy; and the bounded small-file reader.
#include "core/json_fields.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/mapped_file.hpp"
#include "support/test_files.hpp"

using namespace safetensors;
using safetensors::detail::json_document;

namespace {

json_document parse_ok(std::string_view text) {
  auto doc = json_document::parse(text, "t.json", errc::invalid_model);
  EXPECT_TRUE(doc) << doc.error().message;
  return std::move(*doc);
}

void expect_message(const error& e, std::string_view message) {
  EXPECT_EQ(e.code, errc::invalid_model);
  EXPECT_EQ(e.message, message);
}

}  // namespace

TEST(JsonFields, TypedFieldsAndDefaults) {
  const auto doc =
      parse_ok(R"({"s": "x", "n": 7, "b": false, "f": 1.5, "o": {"k": [1, 2]}, "z": null})");
  const auto root = doc.root();
  EXPECT_EQ(*root.required("s")->string(), "x");
  EXPECT_EQ(*root.required("n")->u64(7), 7u);
  EXPECT_EQ(*root.required("b")->boolean(), false);
  EXPECT_EQ(*root.required("f")->number(), 1.5);
  EXPECT_EQ(*root.required("n")->number(), 7.0);
  const auto k = root.required("o")->object()->required("k")->array();
  ASSERT_TRUE(k);
  ASSERT_EQ(k->size(), 2u);
  EXPECT_EQ(*k->at(1).u64(), 2u);
  EXPECT_EQ(k->items()[0].path(), "o.k[0]");
  // Absent and null give the fallback in the *_or readers; find() still sees the null.
  EXPECT_EQ(*root.string_or("absent", "d"), "d");
  EXPECT_EQ(*root.string_or("z", "d"), "d");
  EXPECT_EQ(*root.bool_or("z", true), true);
  EXPECT_EQ(*root.u64_or("n", 10, 3), 7u);
  EXPECT_TRUE(root.find("z").has_value());
  EXPECT_FALSE(root.optional("z").has_value());
  EXPECT_FALSE(root.find("absent").has_value());
  const auto members = root.members();
  ASSERT_EQ(members.size(), 6u);
  EXPECT_EQ(members[4].first, "o");
  EXPECT_EQ(members[4].second.path(), "o");
}

TEST(JsonFields, ErrorsNameTheFileAndTheFieldPath) {
  const auto doc = parse_ok(
      R"({"s": 1, "n": -1, "big": 9, "f": 1.5, "o": {"a.b": {"x": "y"}, "0": true}, "list": [{"q": 1}]})");
  const auto root = doc.root();
  expect_message(root.required("s")->string().error(), "t.json: field 's': must be a string");
  expect_message(root.required("n")->u64().error(),
                 "t.json: field 'n': must be a non-negative integer");
  expect_message(root.required("f")->u64().error(),
                 "t.json: field 'f': must be a non-negative integer");
  expect_message(root.required("big")->u64(8).error(),
                 "t.json: field 'big': 9 is above the limit 8");
  expect_message(root.required("s")->boolean().error(), "t.json: field 's': must be true or false");
  expect_message(root.required("s")->object().error(), "t.json: field 's': must be an object");
  expect_message(root.required("s")->array().error(), "t.json: field 's': must be an array");
  expect_message(root.required("o")->number().error(), "t.json: field 'o': must be a number");
  expect_message(root.required("missing").error(), "t.json: field 'missing': is missing");
  const auto o = *root.required("o")->object();
  const auto ab = *o.required("a.b")->object();
  expect_message(ab.required("x")->u64().error(),
                 R"(t.json: field 'o["a.b"].x': must be a non-negative integer)");
  expect_message(o.required("0")->string().error(), R"(t.json: field 'o["0"]': must be a string)");
  const auto q = root.required("list")->array()->at(0).object()->required("q");
  expect_message(q->string().error(), "t.json: field 'list[0].q': must be a string");
  expect_message(o.bad("has no 'c'"), "t.json: field 'o': has no 'c'");
  EXPECT_EQ(detail::json_key_path("w", "it's"), R"(w["it\'s"])");
}

TEST(JsonFields, DuplicateKeysAreRefusedAnywhere) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"a": 1, "a": 1})", "t.json: field 'a': duplicate key"},
      {R"({"o": {"x": {"k": 1, "k": 2}}})", "t.json: field 'o.x.k': duplicate key"},
      {R"({"l": [1, {"m": [{"t.u": 1, "t.u": 1}]}]})",
       R"(t.json: field 'l[1].m[0]["t.u"]': duplicate key)"},
  };
  for (const auto& [text, message] : cases) {
    auto doc = json_document::parse(text, "t.json", errc::invalid_model);
    ASSERT_FALSE(doc) << text;
    expect_message(doc.error(), message);
  }
  // A large object (a vocabulary) is checked as well as a small one.
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  EXPECT_TRUE(
      json_document::parse(big.substr(0, big.size() - 1) + "}", "t.json", errc::invalid_model));
  auto dup = json_document::parse(big + "\"k57\": 0}", "t.json", errc::invalid_model);
  ASSERT_FALSE(dup);
  expect_message(dup.error(), "t.json: field 'k57': duplicate key");
  // Equal keys in different objects are not duplicates.
  EXPECT_TRUE(
      json_document::parse(R"({"a": {"a": 1}, "b": {"a": 2}})", "t.json", errc::invalid_model));
}

TEST(JsonFields, WholeDocumentErrorsAndTheUnknownFieldPolicy) {
  auto bad = json_document::parse(R"({"a": 1,})", "t.json", errc::invalid_index);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_index);
  EXPECT_EQ(bad.error().message.rfind("t.json: invalid JSON: ", 0), 0u) << bad.error().message;
  auto list = json_document::parse("[1]", "t.json", errc::invalid_index);
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().message, "t.json: not a JSON object");
  EXPECT_FALSE(json_document::parse("", "t.json", errc::invalid_index));
  const auto doc = parse_ok(R"({"known": 1, "other": {"x": 1}})");
  EXPECT_TRUE(doc.root().required("other")->object()->only({"x"}));
  expect_message(doc.root().only({"known"}).error(), "t.json: field 'other': unknown field");
  EXPECT_TRUE(doc.root().only({"other", "known"}));
}

TEST(SmallFile, ReadsBoundedRegularFilesOnly) {
  safetensors::test::temp_dir dir;
  safetensors::test::write_all(dir / "a.json", "{\"a\": 1}");
  auto text = detail::read_small_file(dir / "a.json", 8);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, "{\"a\": 1}");
  auto big = detail::read_small_file(dir / "a.json", 7);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, errc::limit_exceeded);
  EXPECT_EQ(big.error().message,
            (dir / "a.json").string() + ": file of 8 bytes is above the limit of 7 bytes");
  auto missing = detail::read_small_file(dir / "none.json", 8);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::io);
  EXPECT_NE(missing.error().message.find("none.json"), std::string::npos);
  ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
  auto fifo = detail::read_small_file(dir / "fifo.json", 8);  // would block in open() otherwise
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code, errc::io);
  EXPECT_NE(fifo.error().message.find("FIFO"), std::string::npos);
  auto folder = detail::read_small_file(dir.path(), 8);
  ASSERT_FALSE(folder);
  EXPECT_EQ(folder.error().code, errc::io);
}
