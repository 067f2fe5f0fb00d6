// Loading tokenizer.json (the file tokenizers' Tokenizer::from_file reads) and the folder entry
// point. Every malformed field gives one invalid_model error naming the file and the field.
#include <algorithm>

#include <fmt/format.h>

#include "model/tokenizer/state.hpp"
#include "model/tokenizer_json.hpp"
#include "model/tokenizer/load.hpp"

namespace safetensors::model {

namespace {

namespace dom = simdjson::dom;
using detail::json_fields;

constexpr std::uint64_t max_token_id = (1u << 24) - 1;  // bounds id_to_token's table

result<void> parse_normalizer(const json_fields& f, std::optional<dom::element> e,
                              detail::tokenizer_state& t) {
  if (!e || json_fields::is_null(*e)) {
    t.normalizer.enabled = false;
    return {};
  }
  ST_TRY(obj, f.object(*e, "normalizer"));
  ST_TRY(type, f.string_or(obj, "type", "normalizer.type", ""));
  if (type == "Sequence") {
    const auto list = json_fields::member(obj, "normalizers");
    if (!list) return tl::unexpected(f.bad("normalizer.normalizers", "is missing"));
    ST_TRY(items, f.array(*list, "normalizer.normalizers"));
    if (items.size() != 1) {
      return tl::unexpected(f.bad("normalizer.normalizers", "must hold exactly one BertNormalizer"));
    }
    return parse_normalizer(f, items.at(0).value_unsafe(), t);
  }
  if (type != "BertNormalizer") {
    return tl::unexpected(f.bad("normalizer.type", fmt::format("'{}' is not supported (BertNormalizer only)", type)));
  }
  auto& n = t.normalizer;
  ST_TRY(clean, f.boolean_or(obj, "clean_text", "normalizer.clean_text", true));
  ST_TRY(chinese, f.boolean_or(obj, "handle_chinese_chars", "normalizer.handle_chinese_chars", true));
  ST_TRY(lower, f.boolean_or(obj, "lowercase", "normalizer.lowercase", true));
  n.clean_text = clean;
  n.handle_chinese_chars = chinese;
  n.lowercase = lower;
  if (const auto strip = json_fields::member(obj, "strip_accents"); strip && !json_fields::is_null(*strip)) {
    ST_TRY(value, f.boolean(*strip, "normalizer.strip_accents"));
    n.strip_accents = value;
  }
  return {};
}

// BertPreTokenizer, or the equivalent Sequence [WhitespaceSplit, Punctuation(Isolated)].
result<void> parse_pre_tokenizer(const json_fields& f, std::optional<dom::element> e,
                                 detail::tokenizer_state& t) {
  if (!e || json_fields::is_null(*e)) {
    t.pre_tokenizer = detail::pre_tokenizer_kind::none;
    return {};
  }
  ST_TRY(obj, f.object(*e, "pre_tokenizer"));
  ST_TRY(type, f.string_or(obj, "type", "pre_tokenizer.type", ""));
  if (type == "BertPreTokenizer") return {};
  if (type == "Sequence") {
    const auto list = json_fields::member(obj, "pretokenizers");
    if (!list) return tl::unexpected(f.bad("pre_tokenizer.pretokenizers", "is missing"));
    ST_TRY(items, f.array(*list, "pre_tokenizer.pretokenizers"));
    std::vector<std::string> types;
    for (dom::element item : items) {
      ST_TRY(io, f.object(item, "pre_tokenizer.pretokenizers[]"));
      ST_TRY(it, f.string_or(io, "type", "pre_tokenizer.pretokenizers[].type", ""));
      ST_TRY(behavior, f.string_or(io, "behavior", "pre_tokenizer.pretokenizers[].behavior", "Isolated"));
      types.push_back(it == "Punctuation" ? it + ":" + behavior : it);
    }
    const bool bert = (types.size() == 1 && types[0] == "BertPreTokenizer") ||
                      (types.size() == 2 && types[0] == "WhitespaceSplit" && types[1] == "Punctuation:Isolated");
    if (bert) return {};
  }
  return tl::unexpected(f.bad("pre_tokenizer.type",
                              fmt::format("'{}' is not supported (BertPreTokenizer or an equivalent Sequence)", type)));
}

result<void> parse_model(const json_fields& f, dom::element e, detail::tokenizer_state& t) {
  ST_TRY(obj, f.object(e, "model"));
  ST_TRY(type, f.string_or(obj, "type", "model.type", "WordPiece"));
  if (type != "WordPiece") {
    return tl::unexpected(f.bad("model.type", fmt::format("'{}' is not supported (WordPiece only)", type)));
  }
  const auto vocab_el = json_fields::member(obj, "vocab");
  if (!vocab_el) return tl::unexpected(f.bad("model.vocab", "is missing"));
  ST_TRY(vocab, f.object(*vocab_el, "model.vocab"));
  for (auto [key, value] : vocab) {
    ST_TRY(id, f.integer(value, fmt::format("model.vocab[\"{}\"]", key), max_token_id));
    t.model.add(key, static_cast<std::int32_t>(id));
    t.set_id(static_cast<std::int32_t>(id), key);
  }
  if (t.model.size() == 0) return tl::unexpected(f.bad("model.vocab", "is empty"));
  ST_TRY(unk, f.string_or(obj, "unk_token", "model.unk_token", "[UNK]"));
  ST_TRY(prefix, f.string_or(obj, "continuing_subword_prefix", "model.continuing_subword_prefix", "##"));
  ST_TRY(max_chars, f.integer_or(obj, "max_input_chars_per_word", "model.max_input_chars_per_word",
                                 std::uint64_t{1} << 32, 100));
  if (!t.model.finish(unk, prefix, static_cast<std::size_t>(max_chars))) {
    return tl::unexpected(f.bad("model.unk_token", fmt::format("'{}' is not in model.vocab", unk)));
  }
  return {};
}

// tokenizers' AddedVocabulary::add_tokens: a token already known (added or in the model
// vocabulary) keeps that id; a new one gets the next id after the vocabulary and the added
// tokens. The "id" stored in tokenizer.json is not used (measured with the npm package).
std::int32_t assign_added_id(const detail::tokenizer_state& t, std::string_view content) {
  if (const auto known = t.added.find(content); known >= 0) return t.added.tokens()[static_cast<std::size_t>(known)].id;
  if (const auto id = t.model.find(content); id >= 0) return id;
  const auto vocab = static_cast<std::int32_t>(t.model.size());
  std::int32_t max_added = -1;
  for (const auto& a : t.added.tokens()) max_added = std::max(max_added, a.id);
  return max_added >= vocab ? max_added + 1 : vocab;
}

result<void> parse_added_tokens(const json_fields& f, std::optional<dom::element> e,
                                detail::tokenizer_state& t) {
  if (!e || json_fields::is_null(*e)) return {};
  ST_TRY(items, f.array(*e, "added_tokens"));
  for (dom::element item : items) {
    ST_TRY(obj, f.object(item, "added_tokens[]"));
    detail::added_token token;
    const auto id = json_fields::member(obj, "id");
    if (!id) return tl::unexpected(f.bad("added_tokens[].id", "is missing"));
    ST_TRY(id_value, f.integer(*id, "added_tokens[].id", max_token_id));
    ST_TRY(content, f.string_or(obj, "content", "added_tokens[].content", ""));
    if (content.empty()) return tl::unexpected(f.bad("added_tokens[].content", "is missing or empty"));
    ST_TRY(special, f.boolean_or(obj, "special", "added_tokens[].special", false));
    ST_TRY(single_word, f.boolean_or(obj, "single_word", "added_tokens[].single_word", false));
    ST_TRY(lstrip, f.boolean_or(obj, "lstrip", "added_tokens[].lstrip", false));
    ST_TRY(rstrip, f.boolean_or(obj, "rstrip", "added_tokens[].rstrip", false));
    ST_TRY(normalized, f.boolean_or(obj, "normalized", "added_tokens[].normalized", !special));
    (void)id_value;  // tokenizers ignores the stored id: see assign_added_id
    if (t.added.find(content) >= 0) continue;  // a repeated token keeps its first entry
    token.id = assign_added_id(t, content);
    token.content = content;
    token.special = special;
    token.single_word = single_word;
    token.lstrip = lstrip;
    token.rstrip = rstrip;
    token.normalized = normalized;
    t.added.add(std::move(token));
  }
  return {};
}

// A SpecialToken template entry resolved through post_processor.special_tokens.
result<detail::template_piece> special_piece(const json_fields& f, dom::object specials, std::string_view name,
                                             std::uint64_t type_id) {
  const std::string field = fmt::format("post_processor.special_tokens[\"{}\"]", name);
  const auto entry = json_fields::member(specials, name);
  if (!entry) return tl::unexpected(f.bad(field, "is missing"));
  ST_TRY(obj, f.object(*entry, field));
  detail::template_piece p;
  p.type_id = static_cast<std::int32_t>(type_id);
  const auto ids = json_fields::member(obj, "ids");
  const auto tokens = json_fields::member(obj, "tokens");
  if (!ids || !tokens) return tl::unexpected(f.bad(field, "needs 'ids' and 'tokens'"));
  ST_TRY(id_list, f.array(*ids, field + ".ids"));
  ST_TRY(token_list, f.array(*tokens, field + ".tokens"));
  for (dom::element id : id_list) {
    ST_TRY(v, f.integer(id, field + ".ids[]", max_token_id));
    p.ids.push_back(static_cast<std::int32_t>(v));
  }
  for (dom::element token : token_list) {
    ST_TRY(s, f.string(token, field + ".tokens[]"));
    p.tokens.emplace_back(s);
  }
  if (p.ids.size() != p.tokens.size()) return tl::unexpected(f.bad(field, "has different ids and tokens counts"));
  return p;
}

result<std::vector<detail::template_piece>> parse_template(const json_fields& f, dom::object obj,
                                                           std::string_view key, dom::object specials) {
  std::vector<detail::template_piece> out;
  const std::string field = fmt::format("post_processor.{}", key);
  const auto list = json_fields::member(obj, key);
  if (!list || json_fields::is_null(*list)) return out;
  ST_TRY(items, f.array(*list, field));
  for (dom::element item : items) {
    ST_TRY(piece, f.object(item, field + "[]"));
    const auto special = json_fields::member(piece, "SpecialToken");
    const auto sequence = json_fields::member(piece, "Sequence");
    const auto body = special ? special : sequence;
    if (!body) return tl::unexpected(f.bad(field + "[]", "must be a SpecialToken or a Sequence"));
    ST_TRY(b, f.object(*body, field + "[]"));
    ST_TRY(id, f.string_or(b, "id", field + "[].id", ""));
    ST_TRY(type_id, f.integer_or(b, "type_id", field + "[].type_id", 0xFFFF, 0));
    if (special) {
      ST_TRY(p, special_piece(f, specials, id, type_id));
      out.push_back(std::move(p));
    } else if (id == "A" || id == "B") {
      detail::template_piece p;
      p.is_sequence = true;
      p.sequence = id == "A" ? 0 : 1;
      p.type_id = static_cast<std::int32_t>(type_id);
      out.push_back(std::move(p));
    } else {
      return tl::unexpected(f.bad(field + "[].Sequence.id", fmt::format("'{}' is neither A nor B", id)));
    }
  }
  return out;
}

// BertProcessing: "sep": ["[SEP]", 102], "cls": ["[CLS]", 101].
result<detail::template_piece> bert_special(const json_fields& f, dom::object obj, std::string_view key,
                                            std::int32_t type_id) {
  const std::string field = fmt::format("post_processor.{}", key);
  const auto e = json_fields::member(obj, key);
  if (!e) return tl::unexpected(f.bad(field, "is missing"));
  ST_TRY(pair, f.array(*e, field));
  if (pair.size() != 2) return tl::unexpected(f.bad(field, "must be [token, id]"));
  ST_TRY(token, f.string(pair.at(0).value_unsafe(), field + "[0]"));
  ST_TRY(id, f.integer(pair.at(1).value_unsafe(), field + "[1]", max_token_id));
  detail::template_piece p;
  p.ids = {static_cast<std::int32_t>(id)};
  p.tokens = {std::string(token)};
  p.type_id = type_id;
  return p;
}

result<void> parse_post_processor(const json_fields& f, std::optional<dom::element> e,
                                  detail::tokenizer_state& t) {
  if (!e || json_fields::is_null(*e)) return {};
  ST_TRY(obj, f.object(*e, "post_processor"));
  ST_TRY(type, f.string_or(obj, "type", "post_processor.type", ""));
  if (type == "BertProcessing") {
    ST_TRY(cls, bert_special(f, obj, "cls", 0));
    ST_TRY(sep, bert_special(f, obj, "sep", 0));
    t.post.single = {cls, detail::template_piece{true, 0, {}, {}, 0}, sep};
    auto sep1 = sep;
    sep1.type_id = 1;
    t.post.pair = {cls, detail::template_piece{true, 0, {}, {}, 0}, sep, detail::template_piece{true, 1, {}, {}, 1}, sep1};
    t.post.present = true;
    return {};
  }
  if (type != "TemplateProcessing") {
    return tl::unexpected(f.bad("post_processor.type",
                                fmt::format("'{}' is not supported (TemplateProcessing or BertProcessing)", type)));
  }
  dom::object specials;
  if (const auto s = json_fields::member(obj, "special_tokens"); s && !json_fields::is_null(*s)) {
    ST_TRY(so, f.object(*s, "post_processor.special_tokens"));
    specials = so;
  }
  ST_TRY(single, parse_template(f, obj, "single", specials));
  ST_TRY(pair, parse_template(f, obj, "pair", specials));
  if (single.empty()) return tl::unexpected(f.bad("post_processor.single", "is missing or empty"));
  t.post.single = std::move(single);
  t.post.pair = std::move(pair);
  t.post.present = true;
  return {};
}

result<void> parse_decoder(const json_fields& f, std::optional<dom::element> e,
                           detail::tokenizer_state& t) {
  if (!e || json_fields::is_null(*e)) return {};
  ST_TRY(obj, f.object(*e, "decoder"));
  ST_TRY(type, f.string_or(obj, "type", "decoder.type", ""));
  if (type != "WordPiece") {
    return tl::unexpected(f.bad("decoder.type", fmt::format("'{}' is not supported (WordPiece only)", type)));
  }
  ST_TRY(prefix, f.string_or(obj, "prefix", "decoder.prefix", "##"));
  ST_TRY(cleanup, f.boolean_or(obj, "cleanup", "decoder.cleanup", true));
  t.decoder = {true, prefix, cleanup};
  return {};
}

result<void> parse_truncation_padding(const json_fields& f, dom::object root,
                                      detail::tokenizer_state& t) {
  if (const auto e = json_fields::member(root, "truncation"); e && !json_fields::is_null(*e)) {
    ST_TRY(obj, f.object(*e, "truncation"));
    ST_TRY(max_length, f.integer_or(obj, "max_length", "truncation.max_length", std::uint64_t{1} << 31, 512));
    ST_TRY(strategy, f.string_or(obj, "strategy", "truncation.strategy", "LongestFirst"));
    if (strategy == "OnlyFirst") {
      t.strategy = detail::truncation_strategy::only_first;
    } else if (strategy == "OnlySecond") {
      t.strategy = detail::truncation_strategy::only_second;
    } else if (strategy != "LongestFirst") {
      return tl::unexpected(f.bad("truncation.strategy", fmt::format("'{}' is not a truncation strategy", strategy)));
    }
    t.model_max_length = static_cast<std::size_t>(max_length);
  }
  if (const auto e = json_fields::member(root, "padding"); e && !json_fields::is_null(*e)) {
    ST_TRY(obj, f.object(*e, "padding"));
    ST_TRY(pad_id, f.integer_or(obj, "pad_id", "padding.pad_id", max_token_id, 0));
    t.pad_id = static_cast<std::int32_t>(pad_id);
  } else if (const auto pad = t.model.find("[PAD]"); pad >= 0) {
    t.pad_id = pad;
  }
  return {};
}

result<void> parse_root(const json_fields& f, dom::object root, detail::tokenizer_state& t) {
  const auto model = json_fields::member(root, "model");
  if (!model) return tl::unexpected(f.bad("model", "is missing"));
  ST_TRY_VOID(parse_model(f, *model, t));
  const auto get = [&](std::string_view key) { return json_fields::member(root, key); };
  ST_TRY_VOID(parse_normalizer(f, get("normalizer"), t));
  ST_TRY_VOID(parse_pre_tokenizer(f, get("pre_tokenizer"), t));
  ST_TRY_VOID(parse_added_tokens(f, get("added_tokens"), t));
  ST_TRY_VOID(parse_post_processor(f, get("post_processor"), t));
  ST_TRY_VOID(parse_decoder(f, get("decoder"), t));
  return parse_truncation_padding(f, root, t);
}

}  // namespace

void detail::tokenizer_state::finish_added_tokens() {
  for (std::size_t i = 0; i < added.tokens().size(); ++i) {
    const auto& token = added.tokens()[i];
    if (!token.normalized) continue;
    detail::normalized_text norm;
    detail::normalize(normalizer, token.content, 0, static_cast<std::uint32_t>(token.content.size()), norm);
    added.set_normalized_pattern(i, norm.text);
  }
}

result<tokenizer> tokenizer::from_tokenizer_json(const std::filesystem::path& file) {
  ST_TRY(text, detail::read_text_file(file));
  const json_fields f(file.string());
  simdjson::dom::parser parser;
  ST_TRY(doc, f.parse(parser, text));
  auto t = std::make_unique<state>();
  t->source = file.string();
  ST_TRY_VOID(parse_root(f, doc.get_object().value_unsafe(), *t));
  t->finish_added_tokens();
  return tokenizer(std::move(t));
}

result<tokenizer> tokenizer::load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir, ec)) return from_tokenizer_json(dir);
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(errc::io, fmt::format("[load_tokenizer] {}: no such file or directory", dir.string()));
  }
  const auto json = dir / "tokenizer.json";
  const auto config = dir / "tokenizer_config.json";
  const bool has_config = std::filesystem::exists(config, ec);
  if (std::filesystem::exists(json, ec)) {
    auto t = from_tokenizer_json(json);
    if (!t || !has_config) return t;
    ST_TRY(max_length, detail::read_model_max_length(config));
    if (max_length) t->state_->model_max_length = *max_length;
    return t;
  }
  const auto vocab = dir / "vocab.txt";
  if (std::filesystem::exists(vocab, ec)) return from_vocab(vocab, has_config ? config : std::filesystem::path());
  return fail(errc::invalid_model,
              fmt::format("[load_tokenizer] {}: neither tokenizer.json nor vocab.txt found", dir.string()));
}

}  // namespace safetensors::model
