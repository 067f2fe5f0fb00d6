// Tokenizer unit tests: golden vectors (docs/MODEL.md "Golden vectors"), hand cases whose expected
// values were produced by Hugging Face tokenizers 0.22 (npm @anush008/tokenizers), truncation,
// pairs, offsets, decoding and every loading error.
#include "safetensors/model/tokenizer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/test_files.hpp"

namespace fs = std::filesystem;
using safetensors::errc;
using safetensors::model::encode_options;
using safetensors::model::encoding;
using safetensors::model::tokenizer;
using safetensors::model::truncation_side;
using safetensors::test::temp_dir;
using safetensors::test::write_all;
using ids = std::vector<std::int32_t>;
using offsets = std::vector<std::pair<std::size_t, std::size_t>>;

namespace {

// The tokenizer's state is private: no nested type or member of it is part of the API.
template <class T>
concept exposes_state = requires(const T& t) {
  typename T::impl;
}
|| requires { typename T::state; }
|| requires(const T& t) { t.state_; };
static_assert(!exposes_state<tokenizer>);

// distilbert-base-uncased's tokenizer files, kept with the example model (sources:
// tests/data/README.md). Its tokenizer_config.json sets model_max_length 256 (a bare tokenizer.json
// defaults to 512).
fs::path data_dir() { return fs::path(SAFETENSORS_SOURCE_DIR) / "examples" / "distilbert-imdb"; }

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The shared tokenizer.json with one substring replaced (the file is pretty-printed).
std::string patched_json(std::string_view from, std::string_view to) {
  std::string text = read(data_dir() / "tokenizer.json");
  const auto pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) text.replace(pos, from.size(), to);
  return text;
}

tokenizer load_json_text(const temp_dir& dir, const std::string& text) {
  write_all(dir.path() / "tokenizer.json", text);
  auto t = tokenizer::from_tokenizer_json(dir.path() / "tokenizer.json");
  if (!t) {
    ADD_FAILURE() << t.error().message;
    return *tokenizer::from_tokenizer_json(data_dir() / "tokenizer.json");
  }
  return std::move(*t);
}

const tokenizer& json_tok() {
  static tokenizer t = *tokenizer::from_tokenizer_json(data_dir() / "tokenizer.json");
  return t;
}

const tokenizer& vocab_tok() {
  static tokenizer t =
      *tokenizer::from_vocab(data_dir() / "vocab.txt", data_dir() / "tokenizer_config.json");
  return t;
}

ids encode_ids(const tokenizer& t, std::string_view text, const encode_options& o = {}) {
  auto e = t.encode(text, o);
  EXPECT_TRUE(e) << e.error().message;
  return e ? e->ids : ids{};
}

}  // namespace

TEST(TokenizerGolden, Vectors) {
  for (const tokenizer* t : {&json_tok(), &vocab_tok()}) {
    EXPECT_EQ(encode_ids(*t, "Hello, my dog is cute"),
              (ids{101, 7592, 1010, 2026, 3899, 2003, 10140, 102}));
    EXPECT_EQ(encode_ids(*t, "Hello world"), (ids{101, 7592, 2088, 102}));
    EXPECT_EQ(encode_ids(*t, "The quick brown fox jumps over the lazy dog."),
              (ids{101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102}));
    EXPECT_EQ(encode_ids(*t, "I've been waiting for a HuggingFace course my whole life."),
              (ids{101, 1045, 1005, 2310, 2042, 3403, 2005, 1037, 17662, 12172, 2607, 2026, 2878,
                   2166, 1012, 102}));
    EXPECT_EQ(encode_ids(*t, "I hate this so much!"),
              (ids{101, 1045, 5223, 2023, 2061, 2172, 999, 102}));
    EXPECT_EQ(encode_ids(*t, "So have I!"), (ids{101, 2061, 2031, 1045, 999, 102}));
  }
}

TEST(TokenizerGolden, TokensOffsetsAndMasks) {
  auto e = json_tok().encode("I've been waiting for a HuggingFace course my whole life.");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->tokens, (std::vector<std::string>{"[CLS]", "i", "'", "ve", "been", "waiting", "for",
                                                 "a", "hugging", "##face", "course", "my", "whole",
                                                 "life", ".", "[SEP]"}));
  EXPECT_EQ(e->offsets[8], (std::pair<std::size_t, std::size_t>{24, 31}));
  EXPECT_EQ(e->offsets[9], (std::pair<std::size_t, std::size_t>{31, 35}));
  EXPECT_EQ(e->offsets.front(), (std::pair<std::size_t, std::size_t>{0, 0}));
  EXPECT_EQ(e->special_tokens_mask.front(), 1);
  EXPECT_EQ(e->special_tokens_mask[1], 0);
  EXPECT_EQ(e->special_tokens_mask.back(), 1);
  EXPECT_EQ(e->type_ids, std::vector<std::int32_t>(16, 0));
  EXPECT_FALSE(e->truncated);
}

TEST(TokenizerUnicode, HandCases) {
  const tokenizer& t = json_tok();
  EXPECT_EQ(encode_ids(t, "h\xC3\xA9llo w\xC3\xB6rld"),
            (ids{101, 7592, 2088, 102}));                                      // héllo wörld
  EXPECT_EQ(encode_ids(t, "\xC4\xB0x"), (ids{101, 11814, 102}));               // İx
  EXPECT_EQ(encode_ids(t, "\xF0\x9F\xA5\xB0 a"), (ids{101, 100, 1037, 102}));  // 🥰 a
  EXPECT_EQ(encode_ids(t,
                       "a\xE2\x80\x8B"
                       "b"),
            (ids{101, 11113, 102}));  // zero-width space
  EXPECT_EQ(encode_ids(t,
                       "a\xE2\x80\x8D"
                       "b"),
            (ids{101, 11113, 102}));  // zero-width joiner
  EXPECT_EQ(encode_ids(t,
                       "a\x0B"
                       "b"),
            (ids{101, 11113, 102}));  // \v is deleted
  EXPECT_EQ(encode_ids(t,
                       "a\x1C"
                       "b"),
            (ids{101, 11113, 102}));
  EXPECT_EQ(encode_ids(t, std::string("a\0b", 3)), (ids{101, 11113, 102}));
  EXPECT_EQ(encode_ids(t,
                       "a\xEF\xBF\xBD"
                       "b"),
            (ids{101, 11113, 102}));  // U+FFFD deleted
  EXPECT_EQ(encode_ids(t,
                       "a\xC2\xA0"
                       "b\xE3\x80\x80"
                       "c"),
            (ids{101, 1037, 1038, 1039, 102}));
  EXPECT_EQ(encode_ids(t, "x\xEE\x80\x80y"), (ids{101, 1060, 2100, 102}));  // private use deleted
  EXPECT_EQ(encode_ids(t, "x\xCD\xB8y"), (ids{101, 100, 102}));             // unassigned kept
  EXPECT_EQ(encode_ids(t, "\xE1\x84\x80\xEA\xB0\x81"),
            (ids{101, 1455, 29991, 30006, 30020, 102}));                // ᄀ각
  EXPECT_EQ(encode_ids(t, "\xC2\xAD-x"), (ids{101, 1011, 1060, 102}));  // soft hyphen
}

TEST(TokenizerUnicode, CjkAndOffsets) {
  // "é😀漢字b": é and 😀 form one word -> [UNK]; CJK chars are split out.
  auto e = json_tok().encode(
      "\xC3\xA9\xF0\x9F\x98\x80\xE6\xBC\xA2\xE5\xAD\x97"
      "b");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ids, (ids{101, 100, 1904, 100, 1038, 102}));
  EXPECT_EQ(e->offsets, (offsets{{0, 0}, {0, 6}, {6, 9}, {9, 12}, {12, 13}, {0, 0}}));
  // Stripped combining marks keep the byte offsets of what remains.
  auto m = json_tok().encode("x\xCC\x81\xCC\x80y");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->tokens, (std::vector<std::string>{"[CLS]", "x", "##y", "[SEP]"}));
  EXPECT_EQ(m->offsets, (offsets{{0, 0}, {0, 1}, {5, 6}, {0, 0}}));
}

// The reference's Unicode versions (docs/MODEL.md "Unicode versions"); expected values measured
// with the npm reference.
TEST(TokenizerUnicode, ReferenceVersions) {
  const tokenizer& t = json_tok();
  // U+0890 (Cf since 14.0) and U+2E43 (Po since 9.0) are unassigned for the reference's 8.0
  // classes: kept inside the word, not deleted or split.
  EXPECT_EQ(t.normalize("a\xE0\xA2\x90"
                        "b"),
            "a\xE0\xA2\x90"
            "b");
  EXPECT_EQ(encode_ids(t,
                       "a\xE2\xB9\x83"
                       "b"),
            (ids{101, 100, 102}));
  // U+166D was Po in 8.0 (split), U+1885 Lo (kept, although Mn since 9.0).
  auto e = t.encode(
      "a\xE1\xA2\x85"
      "b a\xE1\x99\xAD"
      "b");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->tokens, (std::vector<std::string>{"[CLS]", "[UNK]", "a", "[UNK]", "b", "[SEP]"}));
  EXPECT_EQ(t.normalize("\xE1\xB2\x89x"), "\xE1\xB2\x8Ax");  // U+1C89 -> U+1C8A (Unicode 16.0)
  EXPECT_EQ(t.normalize("\xF0\x91\xA4\xB8"), "\xF0\x91\xA4\xB8");  // U+11938: no NFD (13.0)
  // Canonical ordering after decomposition: U+302E (ccc 224) moves after U+1B44 (ccc 9).
  EXPECT_EQ(t.normalize("a\xE3\x80\xAE\xE1\xAD\x84"
                        "b"),
            "a\xE1\xAD\x84\xE3\x80\xAE"
            "b");
}

TEST(TokenizerUnicode, LongRunOfMarksIsOrdered) {
  // 100,000 marks after one base character: canonical ordering of the whole run (stable, by
  // combining class), as the reference's sort does.
  std::string text = "a";
  std::string want = "a";
  for (int i = 0; i < 50000; ++i) text += "\xE3\x80\xAE\xE1\xAD\x84";  // U+302E U+1B44
  for (int i = 0; i < 50000; ++i) want += "\xE1\xAD\x84";
  for (int i = 0; i < 50000; ++i) want += "\xE3\x80\xAE";
  EXPECT_EQ(json_tok().normalize(text), want);
}

TEST(TokenizerUnicode, CharOffsets) {
  encode_options opts;
  opts.offsets = safetensors::model::offset_unit::chars;
  // Code points, not UTF-16 units: the emoji counts one.
  auto e = json_tok().encode(
      "\xC3\xA9\xF0\x9F\x98\x80\xE6\xBC\xA2\xE5\xAD\x97"
      "b",
      opts);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->offsets, (offsets{{0, 0}, {0, 2}, {2, 3}, {3, 4}, {4, 5}, {0, 0}}));
  // A maximal invalid subpart is one character (the U+FFFD it reads as).
  auto bad = json_tok().encode(
      "ab\xFF"
      "cd \xE2\x82 x",
      opts);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->offsets, (offsets{{0, 0}, {0, 4}, {4, 5}, {8, 9}, {0, 0}}));
  // Pairs: second-sequence offsets count in the second text.
  auto p = json_tok().encode_pair("\xC3\xA9t\xC3\xA9", "\xC3\xA0 la", opts);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->tokens,
            (std::vector<std::string>{"[CLS]", "et", "##e", "[SEP]", "a", "la", "[SEP]"}));
  EXPECT_EQ(p->offsets, (offsets{{0, 0}, {0, 2}, {2, 3}, {0, 0}, {0, 1}, {2, 4}, {0, 0}}));
}

TEST(TokenizerUnicode, InvalidUtf8IsReplacedThenDropped) {
  // Each maximal invalid subpart reads as U+FFFD, which clean_text deletes; offsets stay bytes.
  auto e = json_tok().encode(
      "ab\xFF"
      "cd \xE2\x82 x");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->tokens, (std::vector<std::string>{"[CLS]", "abc", "##d", "x", "[SEP]"}));
  EXPECT_EQ(e->offsets, (offsets{{0, 0}, {0, 4}, {4, 5}, {9, 10}, {0, 0}}));
  EXPECT_EQ(json_tok().normalize("a\xED\xA0\x80"
                                 "b\xF4\x90\x80\x80"
                                 "c\xC0\xAF"),
            "abc");
}

TEST(TokenizerUnicode, AccentOptions) {
  temp_dir dir;
  const std::string text = "H\xC3\x89llo Cr\xC3\xA8me \xC4\xB0x";  // HÉllo Crème İx
  EXPECT_EQ(json_tok().normalize(text), "hello creme ix");
  auto keep =
      load_json_text(dir, patched_json("\"strip_accents\": null", "\"strip_accents\": false"));
  EXPECT_EQ(keep.normalize(text),
            "h\xC3\xA9llo cr\xC3\xA8me i\xCC\x87x");  // İ lowercases to i + U+0307
  auto strip =
      load_json_text(dir, patched_json("\"strip_accents\": null,\n    \"lowercase\": true",
                                       "\"strip_accents\": true,\n    \"lowercase\": false"));
  EXPECT_EQ(strip.normalize(text), "HEllo Creme Ix");
  auto none = load_json_text(dir, patched_json("\"lowercase\": true", "\"lowercase\": false"));
  EXPECT_EQ(none.normalize(text), text);
  EXPECT_EQ(encode_ids(none, "Hello"),
            (ids{101, 100, 102}));  // "Hello" is not in the uncased vocab
}

TEST(TokenizerWordPiece, LongWordsAndUnknowns) {
  const tokenizer& t = json_tok();
  auto hundred = t.encode(std::string(100, 'a'));
  ASSERT_TRUE(hundred);
  EXPECT_GT(hundred->size(), 3u);
  EXPECT_EQ(std::count(hundred->ids.begin(), hundred->ids.end(), 100), 0);
  auto long_word = t.encode(std::string(101, 'b') + " ok");
  ASSERT_TRUE(long_word);
  EXPECT_EQ(long_word->ids, (ids{101, 100, 7929, 102}));
  EXPECT_EQ(long_word->offsets[1], (std::pair<std::size_t, std::size_t>{0, 101}));
  // 101 two-byte chars: counted in characters, not bytes.
  std::string e101;
  for (int i = 0; i < 101; ++i) e101 += "\xC3\xA9";
  EXPECT_EQ(encode_ids(t, e101), (ids{101, 100, 102}));
}

TEST(TokenizerSpecial, SpecialTokensInText) {
  auto e = json_tok().encode("[SEP]x[sep]");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ids, (ids{101, 102, 1060, 1031, 19802, 1033, 102}));
  EXPECT_EQ(e->offsets, (offsets{{0, 0}, {0, 5}, {5, 6}, {6, 7}, {7, 10}, {10, 11}, {0, 0}}));
  EXPECT_EQ(encode_ids(vocab_tok(), "[SEP]x[sep]"), (ids{101, 102, 1060, 1031, 19802, 1033, 102}));
  EXPECT_EQ(encode_ids(json_tok(), "[MASK][PAD]"), (ids{101, 103, 0, 102}));
}

TEST(TokenizerSpecial, AddedTokenRules) {
  temp_dir dir;
  const std::string extra =
      R"({"id":1,"content":"<hi>","single_word":false,"lstrip":true,"rstrip":true,"normalized":false,"special":false},)"
      R"({"id":2,"content":"word","single_word":true,"lstrip":false,"rstrip":false,"normalized":false,"special":false},)"
      R"({"id":3,"content":"Norm","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":false},)";
  auto t = load_json_text(dir, patched_json("\"added_tokens\": [", "\"added_tokens\": [" + extra));
  auto a = t.encode("a  <hi>  b");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ids,
            (ids{101, 1037, 30522, 1038, 102}));  // stored ids are not used: new id after the vocab
  EXPECT_EQ(a->tokens[2], "  <hi>  ");
  EXPECT_EQ(a->offsets[2], (std::pair<std::size_t, std::size_t>{1, 9}));
  EXPECT_EQ(encode_ids(t, "word words aword word."),
            (ids{101, 2773, 2616, 22091, 8551, 2773, 1012, 102}));
  EXPECT_EQ(encode_ids(t, "Norm norm NORM"), (ids{101, 30523, 30523, 30523, 102}));
  EXPECT_EQ(t.token_to_id("<hi>"), 30522);
  EXPECT_EQ(t.id_to_token(30523), "Norm");
  EXPECT_EQ(t.vocab_size(), 30524u);
}

TEST(TokenizerInput, EmptyAndWhitespace) {
  EXPECT_EQ(encode_ids(json_tok(), ""), (ids{101, 102}));
  EXPECT_EQ(encode_ids(json_tok(), " \t\n\r "), (ids{101, 102}));
  encode_options o;
  o.add_special_tokens = false;
  EXPECT_EQ(encode_ids(json_tok(), "", o), ids{});
  EXPECT_EQ(encode_ids(json_tok(), "Hello world", o), (ids{7592, 2088}));
}

TEST(TokenizerTruncation, SingleBothDirections) {
  encode_options o;
  o.max_length = 5;
  auto right = json_tok().encode("Hello, my dog is cute", o);
  ASSERT_TRUE(right);
  EXPECT_EQ(right->ids, (ids{101, 7592, 1010, 2026, 102}));
  EXPECT_TRUE(right->truncated);
  o.direction = truncation_side::left;
  auto left = json_tok().encode("Hello, my dog is cute", o);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->ids, (ids{101, 3899, 2003, 10140, 102}));
  EXPECT_EQ(left->offsets[1], (std::pair<std::size_t, std::size_t>{10, 13}));
  o.max_length = 8;
  auto exact = json_tok().encode("Hello, my dog is cute", o);
  ASSERT_TRUE(exact);
  EXPECT_FALSE(exact->truncated);
  o.max_length = 1;
  auto too_small = json_tok().encode("Hello", o);
  ASSERT_FALSE(too_small);
  EXPECT_EQ(too_small.error().code, errc::invalid_argument);
  o.max_length = 2;
  EXPECT_EQ(encode_ids(json_tok(), "Hello", o), (ids{101, 102}));
}

TEST(TokenizerTruncation, DefaultIsModelMaxLength) {
  std::string text;
  for (int i = 0; i < 600; ++i) text += "word ";
  auto e = json_tok().encode(text);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->size(), 512u);
  EXPECT_TRUE(e->truncated);
  encode_options off;
  off.truncate = false;
  EXPECT_EQ(json_tok().encode(text, off)->size(), 602u);
}

TEST(TokenizerPairs, TypeIdsAndLongestFirst) {
  auto p = json_tok().encode_pair("I hate this so much!", "So have I!");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ids, (ids{101, 1045, 5223, 2023, 2061, 2172, 999, 102, 2061, 2031, 1045, 999, 102}));
  EXPECT_EQ(p->type_ids, (std::vector<std::int32_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(p->offsets[8], (std::pair<std::size_t, std::size_t>{0, 2}));  // into the second text
  encode_options o;
  o.max_length = 8;  // 5 word pieces for 6 + 4: the shorter keeps 2, the longer 3
  auto t = json_tok().encode_pair("Hello, my dog is cute", "So have I!", o);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->ids, (ids{101, 7592, 1010, 2026, 102, 2061, 2031, 102}));
  EXPECT_TRUE(t->truncated);
  o.max_length = 6;  // 3 pieces for 1 + 3: the short one is kept whole
  auto s = json_tok().encode_pair("Hello", "So have I!", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ids, (ids{101, 7592, 102, 2061, 2031, 102}));
  o.direction = truncation_side::left;
  auto l = json_tok().encode_pair("Hello", "So have I!", o);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->ids, (ids{101, 7592, 102, 1045, 999, 102}));
}

TEST(TokenizerDecode, WordPieceCleanup) {
  const tokenizer& t = json_tok();
  const ids life{101,   1045,  1005, 2310, 2042, 3403, 2005, 1037,
                 17662, 12172, 2607, 2026, 2878, 2166, 1012, 102};
  EXPECT_EQ(*t.decode(life), "i ' ve been waiting for a huggingface course my whole life.");
  EXPECT_EQ(*t.decode(life, false),
            "[CLS] i ' ve been waiting for a huggingface course my whole life. [SEP]");
  const ids mixed{7592, 1010, 2026, 2123, 1005, 1056, 2064, 1005, 1049, 1012, 2003, 1029, 999};
  EXPECT_EQ(*t.decode(mixed), "hello, my don ' t can ' m. is?!");
  auto bad = t.decode(ids{7592, 99999});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::invalid_argument);
  EXPECT_EQ(bad.error().message, "token id 99999: not in the vocabulary");
  EXPECT_EQ(*t.decode(ids{}), "");
}

TEST(TokenizerVocab, Lookups) {
  for (const tokenizer* t : {&json_tok(), &vocab_tok()}) {
    EXPECT_EQ(t->token_to_id("[CLS]"), 101);
    EXPECT_EQ(t->token_to_id("##face"), 12172);
    EXPECT_EQ(t->token_to_id("no-such-token"), std::nullopt);
    EXPECT_EQ(t->id_to_token(7592), "hello");
    EXPECT_EQ(t->id_to_token(-1), std::nullopt);
    EXPECT_EQ(t->id_to_token(30522), std::nullopt);
    EXPECT_EQ(t->vocab_size(), 30522u);
    // from_vocab reads tokenizer_config.json (256); tokenizer.json alone has the default 512.
    EXPECT_EQ(t->model_max_length(), t == &vocab_tok() ? 256u : 512u);
    EXPECT_EQ(t->pad_id(), 0);
  }
}

TEST(TokenizerLoad, FolderVariants) {
  temp_dir dir;
  fs::copy_file(data_dir() / "vocab.txt", dir.path() / "vocab.txt");
  write_all(dir.path() / "tokenizer_config.json",
            R"({"do_lower_case": true, "model_max_length": 128})");
  auto from_vocab = tokenizer::load(dir.path());
  ASSERT_TRUE(from_vocab) << from_vocab.error().message;
  EXPECT_EQ(from_vocab->model_max_length(), 128u);
  EXPECT_EQ(encode_ids(*from_vocab, "Hello world"), (ids{101, 7592, 2088, 102}));
  fs::copy_file(data_dir() / "tokenizer.json", dir.path() / "tokenizer.json");
  auto from_json = tokenizer::load(dir.path());  // tokenizer.json wins; the config's limit applies
  ASSERT_TRUE(from_json);
  EXPECT_EQ(from_json->model_max_length(), 128u);
  auto file = tokenizer::load(dir.path() / "tokenizer.json");  // a path to the file itself
  ASSERT_TRUE(file);
  EXPECT_EQ(file->model_max_length(), 512u);
  write_all(dir.path() / "tokenizer_config.json",
            R"({"model_max_length": 1000000000000000019884624838656})");
  EXPECT_EQ(tokenizer::load(dir.path())->model_max_length(), 512u);  // "no limit" -> default
}

TEST(TokenizerLoad, VocabConfigOptions) {
  temp_dir dir;
  fs::copy_file(data_dir() / "vocab.txt", dir.path() / "vocab.txt");
  write_all(dir.path() / "tokenizer_config.json",
            R"({"do_lower_case": false, "cls_token": {"content": "[CLS]"}})");
  auto cased = tokenizer::load(dir.path());
  ASSERT_TRUE(cased) << cased.error().message;
  EXPECT_EQ(cased->normalize("H\xC3\x89llo"), "H\xC3\x89llo");
  write_all(dir.path() / "tokenizer_config.json",
            R"({"strip_accents": false, "tokenize_chinese_chars": false})");
  auto keep = tokenizer::load(dir.path());
  ASSERT_TRUE(keep);
  EXPECT_EQ(keep->normalize("H\xC3\x89llo\xE6\xBC\xA2\xE5\xAD\x97"),
            "h\xC3\xA9llo\xE6\xBC\xA2\xE5\xAD\x97");
  // vocab.txt with CRLF line ends reads the same tokens.
  std::string vocab = read(data_dir() / "vocab.txt");
  std::string crlf;
  for (char c : vocab) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  write_all(dir.path() / "vocab.txt", crlf);
  auto windows = tokenizer::load(dir.path());
  ASSERT_TRUE(windows);
  EXPECT_EQ(encode_ids(*windows, "hello world"), (ids{101, 7592, 2088, 102}));
}

TEST(TokenizerLoad, EquivalentComponents) {
  temp_dir dir;
  auto bert =
      load_json_text(dir, patched_json("\"type\": \"TemplateProcessing\"",
                                       "\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 102], "
                                       "\"cls\": [\"[CLS]\", 101], \"unused\": 0"));
  EXPECT_EQ(encode_ids(bert, "Hello world"), (ids{101, 7592, 2088, 102}));
  EXPECT_EQ(bert.encode_pair("Hello", "world")->type_ids,
            (std::vector<std::int32_t>{0, 0, 0, 1, 1}));
  std::string seq_text = patched_json("\"lowercase\": true\n  },", "\"lowercase\": true\n  }]},");
  seq_text.replace(seq_text.find("\"normalizer\": {"), 15,
                   "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{");
  auto seq = load_json_text(dir, seq_text);
  EXPECT_EQ(seq.normalize("H\xC3\x89llo"), "hello");
}

namespace {

// Loads a patched tokenizer.json and expects one invalid_model error mentioning `needle`.
void expect_json_error(std::string_view from, std::string_view to, std::string_view needle) {
  temp_dir dir;
  const auto file = dir.path() / "tokenizer.json";
  write_all(file, patched_json(from, to));
  auto t = tokenizer::from_tokenizer_json(file);
  ASSERT_FALSE(t) << "no error for " << to;
  EXPECT_EQ(t.error().code, errc::invalid_model);
  EXPECT_NE(t.error().message.find(needle), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("tokenizer.json"), std::string::npos) << t.error().message;
  // The same text from memory, named as the file: the same error.
  auto from_text = tokenizer::from_tokenizer_json_text(patched_json(from, to), file.string());
  ASSERT_FALSE(from_text);
  EXPECT_EQ(from_text.error().code, t.error().code);
  EXPECT_EQ(from_text.error().message, t.error().message);
}

}  // namespace

TEST(TokenizerLoad, TokenizerJsonFromMemory) {
  auto t = tokenizer::from_tokenizer_json_text(read(data_dir() / "tokenizer.json"));
  ASSERT_TRUE(t) << t.error().message;
  const std::string text = "Hello, unbelievable world! [MASK]";
  EXPECT_EQ(t->encode(text)->ids, json_tok().encode(text)->ids);
  auto bad = tokenizer::from_tokenizer_json_text("{\"model\": 1}", "where/tokenizer.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("where/tokenizer.json"), std::string::npos)
      << bad.error().message;
}

TEST(TokenizerLoad, TokenizerJsonErrors) {
  expect_json_error("\"version\": \"1.0\"", "\"version\": \"1.0\",,", "invalid JSON");
  expect_json_error("\"type\": \"WordPiece\",\n    \"unk_token\"",
                    "\"type\": \"BPE\",\n    \"unk_token\"", "model.type");
  expect_json_error("\"unk_token\": \"[UNK]\"", "\"unk_token\": \"[NOPE]\"", "model.unk_token");
  expect_json_error("\"[PAD]\": 0,", "\"[PAD]\": -1,", "model.vocab[\"[PAD]\"]");
  expect_json_error("\"[PAD]\": 0,", "\"[PAD]\": \"zero\",", "model.vocab[\"[PAD]\"]");
  expect_json_error("\"type\": \"BertNormalizer\"", "\"type\": \"NFKC\"", "normalizer.type");
  expect_json_error("\"lowercase\": true", "\"lowercase\": 1", "normalizer.lowercase");
  expect_json_error("\"type\": \"BertPreTokenizer\"", "\"type\": \"ByteLevel\"",
                    "pre_tokenizer.type");
  expect_json_error("\"type\": \"TemplateProcessing\"", "\"type\": \"RobertaProcessing\"",
                    "post_processor.type");
  expect_json_error("\"ids\": [\n          101", "\"ids\": [\n          \"x\"",
                    "post_processor.special_tokens");
  expect_json_error("\"type\": \"WordPiece\",\n    \"prefix\"",
                    "\"type\": \"Metaspace\",\n    \"prefix\"", "decoder.type");
  expect_json_error("\"truncation\": null",
                    "\"truncation\": {\"max_length\": 8, \"strategy\": \"Middle\"}",
                    "truncation.strategy");
  expect_json_error("\"added_tokens\": [", "\"added_tokens\": [{\"id\": 5},",
                    "field 'added_tokens[0].content': is missing");
  expect_json_error("\"[PAD]\": 0,", "\"[PAD]\": 0, \"[PAD]\": 0,",
                    "field 'model.vocab[\"[PAD]\"]': duplicate key");
  expect_json_error("\"version\": \"1.0\"", "\"version\": \"1.0\", \"decoder\": null",
                    "field 'decoder': duplicate key");
}

TEST(TokenizerLoad, FifoFilesAreRefusedWithoutBlocking) {
  temp_dir dir;
  for (const char* name : {"tokenizer.json", "vocab.txt"}) {
    const auto fifo = dir.path() / name;
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // Each would block in open() if the reader opened it for reading the ordinary way.
    auto t = std::string_view(name) == "vocab.txt" ? tokenizer::from_vocab(fifo, {})
                                                   : tokenizer::from_tokenizer_json(fifo);
    ASSERT_FALSE(t) << name;
    EXPECT_EQ(t.error().code, errc::io) << t.error().message;
    EXPECT_NE(t.error().message.find("FIFO"), std::string::npos) << t.error().message;
    std::filesystem::remove(fifo);
  }
  write_all(dir.path() / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\n[PAD]\n[MASK]\nhello\n");
  ASSERT_EQ(::mkfifo((dir.path() / "tokenizer_config.json").c_str(), 0600), 0);
  auto config = tokenizer::load(dir.path());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, errc::io) << config.error().message;
  EXPECT_NE(config.error().message.find("tokenizer_config.json"), std::string::npos)
      << config.error().message;
}

TEST(TokenizerLoad, EmptyVocabAndTopLevel) {
  temp_dir dir;
  write_all(dir.path() / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  auto empty = tokenizer::from_tokenizer_json(dir.path() / "tokenizer.json");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, errc::invalid_model);
  EXPECT_NE(empty.error().message.find("model.vocab"), std::string::npos);
  write_all(dir.path() / "tokenizer.json", "[1, 2]");
  EXPECT_EQ(tokenizer::from_tokenizer_json(dir.path() / "tokenizer.json").error().code,
            errc::invalid_model);
  write_all(dir.path() / "tokenizer.json", R"({"normalizer": null})");
  auto no_model = tokenizer::from_tokenizer_json(dir.path() / "tokenizer.json");
  ASSERT_FALSE(no_model);
  EXPECT_NE(no_model.error().message.find("'model'"), std::string::npos);
  // A minimal file: defaults everywhere, no normalizer, pre-tokenizer or post-processor.
  write_all(dir.path() / "tokenizer.json",
            R"({"model": {"vocab": {"[UNK]": 0, "Hi": 1, "##!": 2}}})");
  auto minimal = tokenizer::from_tokenizer_json(dir.path() / "tokenizer.json");
  ASSERT_TRUE(minimal) << minimal.error().message;
  EXPECT_EQ(encode_ids(*minimal, "Hi!"), (ids{1, 2}));
  EXPECT_EQ(encode_ids(*minimal, "Hi !"), (ids{0}));  // one word: no pre-tokenizer
  EXPECT_EQ(*minimal->decode(ids{1, 2}), "Hi ##!");   // no decoder: tokens joined with spaces
}

TEST(TokenizerLoad, FolderAndVocabErrors) {
  temp_dir dir;
  auto missing = tokenizer::load(dir.path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, errc::io);
  auto empty_dir = tokenizer::load(dir.path());
  ASSERT_FALSE(empty_dir);
  EXPECT_EQ(empty_dir.error().code, errc::invalid_model);
  EXPECT_NE(empty_dir.error().message.find("vocab.txt"), std::string::npos);
  write_all(dir.path() / "vocab.txt", "");
  auto empty_vocab = tokenizer::load(dir.path());
  ASSERT_FALSE(empty_vocab);
  EXPECT_EQ(empty_vocab.error().code, errc::invalid_model);
  EXPECT_NE(empty_vocab.error().message.find("empty"), std::string::npos);
  write_all(dir.path() / "vocab.txt", "hello\nworld\n");
  auto no_unk = tokenizer::load(dir.path());
  ASSERT_FALSE(no_unk);
  EXPECT_NE(no_unk.error().message.find("[UNK]"), std::string::npos);
  write_all(dir.path() / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\n[PAD]\nhello\n");
  auto no_mask = tokenizer::load(dir.path());
  ASSERT_FALSE(no_mask);
  EXPECT_NE(no_mask.error().message.find("[MASK]"), std::string::npos);
  write_all(dir.path() / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\n[PAD]\n[MASK]\nhello\n\xFF\n");
  EXPECT_NE(tokenizer::load(dir.path()).error().message.find("UTF-8"), std::string::npos);
  write_all(dir.path() / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\n[PAD]\n[MASK]\nhello\n");
  EXPECT_EQ(encode_ids(*tokenizer::load(dir.path()), "hello"), (ids{1, 5, 2}));
  write_all(dir.path() / "tokenizer_config.json", R"({"do_lower_case": "yes"})");
  auto bad_field = tokenizer::load(dir.path());
  ASSERT_FALSE(bad_field);
  EXPECT_EQ(bad_field.error().code, errc::invalid_model);
  EXPECT_NE(bad_field.error().message.find("do_lower_case"), std::string::npos);
  EXPECT_NE(bad_field.error().message.find("tokenizer_config.json"), std::string::npos);
  write_all(dir.path() / "tokenizer_config.json", R"({"model_max_length": -3})");
  EXPECT_NE(tokenizer::load(dir.path()).error().message.find("model_max_length"),
            std::string::npos);
  write_all(dir.path() / "tokenizer_config.json", "{");
  EXPECT_NE(tokenizer::load(dir.path()).error().message.find("invalid JSON"), std::string::npos);
}

TEST(TokenizerInput, RandomBytesKeepInvariants) {
  // Deterministic mixes of ASCII, valid multi-byte sequences, specials and invalid bytes: every
  // encoding has in-range, ordered byte offsets and known ids, and stays within max_length.
  const char* pieces[] = {"a",     " ", "Hello", "\xC3\xA9", "\xE6\xBC\xA2", "\xF0\x9F\x98\x80",
                          "[SEP]", "[", "\xFF",  "\xE2\x82", "\xED\xA0\x80", "\xCC\x81",
                          "\t",    "!", "##",    "\x00"};
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;
  const auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  encode_options o;
  o.max_length = 24;
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const auto n = next() % 40;
    for (std::uint64_t i = 0; i < n; ++i) {
      const char* p = pieces[next() % std::size(pieces)];
      text += p[0] == '\0' && std::string_view(p).empty() ? std::string(1, '\0') : std::string(p);
    }
    o.direction = round % 2 ? truncation_side::left : truncation_side::right;
    auto e = round % 3 ? json_tok().encode(text, o) : json_tok().encode_pair(text, text, o);
    ASSERT_TRUE(e) << e.error().message;
    ASSERT_LE(e->size(), 24u);
    ASSERT_EQ(e->offsets.size(), e->size());
    for (std::size_t i = 0; i < e->size(); ++i) {
      EXPECT_LE(e->offsets[i].first, e->offsets[i].second);
      EXPECT_LE(e->offsets[i].second, text.size());
      EXPECT_TRUE(json_tok().id_to_token(e->ids[i]).has_value());
    }
  }
}
