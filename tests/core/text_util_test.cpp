// The one UTF-8 validator and decoding step (core/text_util, core/utf8.hpp) and the ASCII
// escaping of names in messages.
#include "core/text_util.hpp"

#include <gtest/gtest.h>

#include "core/utf8.hpp"

using namespace safetensors::detail;

namespace {

// Every kind of invalid sequence, with the maximal subpart a lossy decoder replaces.
struct invalid_case {
  const char* bytes;
  std::uint8_t subpart;
};
const invalid_case invalid[] = {
    {"\x80", 1},              // stray continuation
    {"\xC0\xAF", 1},          // overlong lead, never valid
    {"\xC1\xBF", 1},          // overlong lead, never valid
    {"\xE0\x80\x80", 1},      // overlong 3-byte form
    {"\xED\xA0\x80", 1},      // surrogate U+D800
    {"\xF0\x80\x80\x80", 1},  // overlong 4-byte form
    {"\xF4\x90\x80\x80", 1},  // above U+10FFFF
    {"\xF5\x80\x80\x80", 1},  // lead never valid
    {"\xFF", 1},
    {"\xE2\x82", 2},      // truncated at the end
    {"\xE2\x82x", 2},     // continuation missing
    {"\xF0\x9F\x98", 3},  // truncated 4-byte form
    {"\xC3", 1},          // lone lead at the end
};

}  // namespace

TEST(Utf8, DecodesValidSequences) {
  const std::pair<std::string_view, char32_t> valid[] = {{"A", U'A'},
                                                         {"\xC3\xA9", 0xE9},
                                                         {"\xE6\xBC\xA2", 0x6F22},
                                                         {"\xF0\x9F\x98\x80", 0x1F600},
                                                         {"\xF4\x8F\xBF\xBF", 0x10FFFF},
                                                         {"\xED\x9F\xBF", 0xD7FF},
                                                         {"\xEE\x80\x80", 0xE000}};
  for (const auto& [bytes, cp] : valid) {
    const auto step = decode_utf8_at(bytes, 0);
    EXPECT_TRUE(step.valid) << bytes;
    EXPECT_EQ(step.code_point, cp) << bytes;
    EXPECT_EQ(step.length, bytes.size()) << bytes;
    EXPECT_TRUE(is_valid_utf8(bytes));
    EXPECT_EQ(first_invalid_utf8(bytes), bytes.size());
  }
}

TEST(Utf8, InvalidSequencesAndTheirMaximalSubparts) {
  for (const auto& c : invalid) {
    const std::string bytes = std::string("ok") + c.bytes;
    const auto step = decode_utf8_at(bytes, 2);
    EXPECT_FALSE(step.valid) << testing::PrintToString(bytes);
    EXPECT_EQ(step.length, c.subpart) << testing::PrintToString(bytes);
    // The SIMD validator and the decoder agree on every case.
    EXPECT_FALSE(is_valid_utf8(bytes)) << testing::PrintToString(bytes);
    EXPECT_EQ(first_invalid_utf8(bytes), 2u) << testing::PrintToString(bytes);
  }
  EXPECT_TRUE(is_valid_utf8(""));
}

TEST(AsciiEscaped, KeepsPrintableAsciiAndEscapesTheRest) {
  EXPECT_EQ(ascii_escaped("a.weight"), "a.weight");
  EXPECT_EQ(ascii_escaped("it's a\\b"), "it\\'s a\\\\b");
  EXPECT_EQ(ascii_escaped("\n\xC3\xA9"), "\\x0a\\xc3\\xa9");
  EXPECT_EQ(ascii_escaped(std::string(250, 'x')), std::string(200, 'x') + "...");
}
