// vocab.txt + tokenizer_config.json (+ special_tokens_map.json): the tokenizer transformers'
// BertConverter builds from a slow BertTokenizer folder.
#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "core/mapped_file.hpp"
#include "core/text_util.hpp"
#include "core/try.hpp"
#include "model/tokenizer/load.hpp"
#include "model/tokenizer/state.hpp"
#include "model/tokenizer_json.hpp"

namespace safetensors::model {

namespace {

using safetensors::detail::json_object;

constexpr std::size_t max_vocab_lines = std::size_t{1} << 24;

struct bert_config {
  bool do_lower_case = true;
  std::optional<bool> strip_accents;
  bool tokenize_chinese_chars = true;
  std::optional<std::size_t> model_max_length;
  std::string unk = "[UNK]", sep = "[SEP]", pad = "[PAD]", cls = "[CLS]", mask = "[MASK]";
  std::vector<detail::added_token> added;  ///< added_tokens_decoder
};

// vocab.txt: one token per line, id = line number; lines end in \n, \r\n or \r (Python's
// universal newlines, as load_vocab reads the file in text mode).
result<void> read_vocab(const std::filesystem::path& file, detail::tokenizer_state& t) {
  const auto text =
      ST_TRY(safetensors::detail::read_small_file(file, detail::max_tokenizer_file_bytes));
  if (!safetensors::detail::is_valid_utf8(text)) {
    return fail(errc::invalid_model, fmt::format("{}: not valid UTF-8", file.string()));
  }
  std::size_t pos = 0;
  std::int32_t id = 0;
  while (pos < text.size()) {
    if (static_cast<std::size_t>(id) >= max_vocab_lines) {
      return fail(errc::invalid_model,
                  fmt::format("{}: more than {} lines", file.string(), max_vocab_lines));
    }
    std::size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view token = std::string_view(text).substr(pos, end - pos);
    t.model.add(token, id);
    t.set_id(id, token);
    ++id;
    pos = end +
          (end < text.size() && text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n'
               ? 2
               : 1);
  }
  if (id == 0)
    return fail(errc::invalid_model, fmt::format("{}: the vocabulary is empty", file.string()));
  return {};
}

// A special token value: "[UNK]" or {"content": "[UNK]", ...} (older AddedToken form).
result<std::optional<std::string>> token_value(const json_object& obj, std::string_view key) {
  const auto e = obj.optional(key);
  if (!e) return std::nullopt;
  if (e->is_string()) return std::string(ST_TRY(e->string()));
  const auto o = ST_TRY(e->object());
  auto content = ST_TRY(o.string_or("content", ""));
  if (content.empty()) return tl::unexpected(e->bad("must be a token string"));
  return std::optional<std::string>(std::move(content));
}

result<void> read_special_tokens(const json_object& obj, bert_config& c) {
  const std::pair<std::string_view, std::string*> keys[] = {{"unk_token", &c.unk},
                                                            {"sep_token", &c.sep},
                                                            {"pad_token", &c.pad},
                                                            {"cls_token", &c.cls},
                                                            {"mask_token", &c.mask}};
  for (const auto& [key, target] : keys) {
    auto value = ST_TRY(token_value(obj, key));
    if (value) *target = std::move(*value);
  }
  return {};
}

result<void> read_added_tokens_decoder(const json_object& obj, bert_config& c) {
  const auto e = obj.optional("added_tokens_decoder");
  if (!e) return {};
  const auto map = ST_TRY(e->object());
  for (const auto& [key, value] : map.members()) {
    std::uint64_t id = 0;
    const auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || ptr != key.data() + key.size() || id >= max_vocab_lines) {
      return tl::unexpected(value.bad("key must be a token id"));
    }
    const auto token = ST_TRY(value.object());
    detail::added_token a;
    a.id = static_cast<std::int32_t>(id);
    a.content = ST_TRY(token.string_or("content", ""));
    if (a.content.empty())
      return tl::unexpected(token.bad_member("content", "is missing or empty"));
    a.special = ST_TRY(token.bool_or("special", false));
    a.single_word = ST_TRY(token.bool_or("single_word", false));
    a.lstrip = ST_TRY(token.bool_or("lstrip", false));
    a.rstrip = ST_TRY(token.bool_or("rstrip", false));
    a.normalized = ST_TRY(token.bool_or("normalized", !a.special));
    c.added.push_back(std::move(a));
  }
  return {};
}

result<std::optional<std::size_t>> max_length_field(const json_object& obj) {
  const auto e = obj.optional("model_max_length");
  if (!e) return std::nullopt;
  const double value = ST_TRY(e->number());
  if (!(value >= 1)) return tl::unexpected(e->bad("must be a positive number"));
  if (value >= 1e18) return std::nullopt;  // transformers' VERY_LARGE_INTEGER: no limit recorded
  if (value > static_cast<double>(std::uint64_t{1} << 31) || std::floor(value) != value) {
    return tl::unexpected(e->bad(fmt::format("value {} is not a usable length", value)));
  }
  return static_cast<std::size_t>(value);
}

result<void> read_config(const std::filesystem::path& file, bert_config& c) {
  const auto doc = ST_TRY(detail::read_json_file(file, true));
  const auto obj = doc.root();
  c.do_lower_case = ST_TRY(obj.bool_or("do_lower_case", true));
  c.tokenize_chinese_chars = ST_TRY(obj.bool_or("tokenize_chinese_chars", true));
  if (const auto s = obj.optional("strip_accents")) c.strip_accents = ST_TRY(s->boolean());
  c.model_max_length = ST_TRY(max_length_field(obj));
  ST_TRY(read_special_tokens(obj, c));
  return read_added_tokens_decoder(obj, c);
}

result<void> read_special_tokens_map(const std::filesystem::path& file, bert_config& c) {
  const auto doc = ST_TRY(detail::read_json_file(file, false));
  return read_special_tokens(doc.root(), c);
}

result<void> build(const bert_config& c, const std::string& vocab_file,
                   const std::string& config_file, detail::tokenizer_state& t) {
  t.normalizer = {true, true, c.tokenize_chinese_chars, c.strip_accents, c.do_lower_case};
  if (!t.model.finish(c.unk, "##", 100)) {
    return fail(errc::invalid_model,
                fmt::format("{}: unk_token '{}' is not in {}", config_file, c.unk, vocab_file));
  }
  for (const auto& a : c.added) t.added.add(a);
  for (const std::string* name : {&c.unk, &c.sep, &c.pad, &c.cls, &c.mask}) {
    if (t.added.find(*name) >= 0) continue;
    const auto id = t.model.find(*name);
    if (id < 0) {
      return fail(errc::invalid_model, fmt::format("{}: special token '{}' is not in {}",
                                                   config_file, *name, vocab_file));
    }
    t.added.add(detail::added_token{*name, id, true, false, false, false, false});
  }
  const auto piece = [&](const std::string& name, std::int32_t type_id) {
    const auto index = static_cast<std::size_t>(t.added.find(name));
    return detail::template_piece{false, 0, {t.added.tokens()[index].id}, {name}, type_id};
  };
  const detail::template_piece a{true, 0, {}, {}, 0}, b{true, 1, {}, {}, 1};
  t.post.single = {piece(c.cls, 0), a, piece(c.sep, 0)};
  t.post.pair = {piece(c.cls, 0), a, piece(c.sep, 0), b, piece(c.sep, 1)};
  t.post.present = true;
  t.decoder = {true, "##", true};
  t.model_max_length = c.model_max_length.value_or(512);
  t.pad_id = t.added.tokens()[static_cast<std::size_t>(t.added.find(c.pad))].id;
  t.finish_added_tokens();
  return {};
}

}  // namespace

result<std::optional<std::size_t>> detail::read_model_max_length(
    const std::filesystem::path& config) {
  const auto doc = ST_TRY(detail::read_json_file(config, true));
  return max_length_field(doc.root());
}

result<tokenizer> tokenizer::from_vocab(const std::filesystem::path& vocab_txt,
                                        const std::filesystem::path& tokenizer_config_json) {
  auto t = std::make_unique<state>();
  bert_config c;
  std::string config_name = "(default tokenizer_config)";
  if (!tokenizer_config_json.empty()) {
    config_name = tokenizer_config_json.string();
    ST_TRY(read_config(tokenizer_config_json, c));
    std::error_code ec;
    const auto map = tokenizer_config_json.parent_path() / "special_tokens_map.json";
    if (std::filesystem::exists(map, ec)) ST_TRY(read_special_tokens_map(map, c));
  }
  ST_TRY(read_vocab(vocab_txt, *t));
  t->source = vocab_txt.string();
  ST_TRY(build(c, vocab_txt.string(), config_name, *t));
  return tokenizer(std::move(t));
}

}  // namespace safetensors::model
