// Loading tokenizer.json (the file tokenizers' Tokenizer::from_file reads) and the folder entry
// point. Every malformed field gives one invalid_model error naming the file and the field.
#include <fmt/format.h>

#include <algorithm>

#include "core/mapped_file.hpp"
#include "core/try.hpp"
#include "model/tokenizer/load.hpp"
#include "model/tokenizer/state.hpp"
#include "model/tokenizer_json.hpp"

namespace safetensors::model {

namespace {

using safetensors::detail::json_array;
using safetensors::detail::json_object;
using safetensors::detail::json_value;
using maybe_value = std::optional<json_value>;

constexpr std::uint64_t max_token_id = (1u << 24) - 1;  // bounds id_to_token's table

result<void> parse_normalizer(const maybe_value& e, detail::tokenizer_state& t) {
  if (!e) {
    t.normalizer.enabled = false;
    return {};
  }
  const auto obj = ST_TRY(e->object());
  const auto type = ST_TRY(obj.string_or("type", ""));
  if (type == "Sequence") {
    const auto list = ST_TRY(obj.required("normalizers"));
    const auto items = ST_TRY(list.array());
    if (items.size() != 1) return tl::unexpected(items.bad("must hold exactly one BertNormalizer"));
    return parse_normalizer(items.at(0), t);
  }
  if (type != "BertNormalizer") {
    return tl::unexpected(
        obj.bad_member("type", fmt::format("'{}' is not supported (BertNormalizer only)", type)));
  }
  auto& n = t.normalizer;
  n.clean_text = ST_TRY(obj.bool_or("clean_text", true));
  n.handle_chinese_chars = ST_TRY(obj.bool_or("handle_chinese_chars", true));
  n.lowercase = ST_TRY(obj.bool_or("lowercase", true));
  if (const auto strip = obj.optional("strip_accents")) n.strip_accents = ST_TRY(strip->boolean());
  return {};
}

// BertPreTokenizer, or the equivalent Sequence [WhitespaceSplit, Punctuation(Isolated)].
result<void> parse_pre_tokenizer(const maybe_value& e, detail::tokenizer_state& t) {
  if (!e) {
    t.pre_tokenizer = detail::pre_tokenizer_kind::none;
    return {};
  }
  const auto obj = ST_TRY(e->object());
  const auto type = ST_TRY(obj.string_or("type", ""));
  if (type == "BertPreTokenizer") return {};
  if (type == "Sequence") {
    const auto list = ST_TRY(obj.required("pretokenizers"));
    const auto items = ST_TRY(list.array());
    std::vector<std::string> types;
    for (const auto& item : items.items()) {
      const auto io = ST_TRY(item.object());
      const auto it = ST_TRY(io.string_or("type", ""));
      const auto behavior = ST_TRY(io.string_or("behavior", "Isolated"));
      types.push_back(it == "Punctuation" ? it + ":" + behavior : it);
    }
    const bool bert =
        (types.size() == 1 && types[0] == "BertPreTokenizer") ||
        (types.size() == 2 && types[0] == "WhitespaceSplit" && types[1] == "Punctuation:Isolated");
    if (bert) return {};
  }
  return tl::unexpected(obj.bad_member(
      "type",
      fmt::format("'{}' is not supported (BertPreTokenizer or an equivalent Sequence)", type)));
}

result<void> parse_model(const json_value& e, detail::tokenizer_state& t) {
  const auto obj = ST_TRY(e.object());
  const auto type = ST_TRY(obj.string_or("type", "WordPiece"));
  if (type != "WordPiece") {
    return tl::unexpected(
        obj.bad_member("type", fmt::format("'{}' is not supported (WordPiece only)", type)));
  }
  const auto vocab_value = ST_TRY(obj.required("vocab"));
  const auto vocab = ST_TRY(vocab_value.object());
  for (const auto& [key, value] : vocab.members()) {
    const auto id = static_cast<std::int32_t>(ST_TRY(value.u64(max_token_id)));
    t.model.add(key, id);
    t.set_id(id, key);
  }
  if (t.model.size() == 0) return tl::unexpected(vocab.bad("is empty"));
  const auto unk = ST_TRY(obj.string_or("unk_token", "[UNK]"));
  const auto prefix = ST_TRY(obj.string_or("continuing_subword_prefix", "##"));
  const auto max_chars =
      ST_TRY(obj.u64_or("max_input_chars_per_word", std::uint64_t{1} << 32, 100));
  if (!t.model.finish(unk, prefix, static_cast<std::size_t>(max_chars))) {
    return tl::unexpected(
        obj.bad_member("unk_token", fmt::format("'{}' is not in model.vocab", unk)));
  }
  return {};
}

// tokenizers' AddedVocabulary::add_tokens: a token already known (added or in the model
// vocabulary) keeps that id; a new one gets the next id after the vocabulary and the added
// tokens. The "id" stored in tokenizer.json is not used (measured with the npm package).
std::int32_t assign_added_id(const detail::tokenizer_state& t, std::string_view content) {
  if (const auto known = t.added.find(content); known >= 0)
    return t.added.tokens()[static_cast<std::size_t>(known)].id;
  if (const auto id = t.model.find(content); id >= 0) return id;
  const auto vocab = static_cast<std::int32_t>(t.model.size());
  std::int32_t max_added = -1;
  for (const auto& a : t.added.tokens()) max_added = std::max(max_added, a.id);
  return max_added >= vocab ? max_added + 1 : vocab;
}

result<void> parse_added_tokens(const maybe_value& e, detail::tokenizer_state& t) {
  if (!e) return {};
  const auto items = ST_TRY(e->array());
  for (const auto& item : items.items()) {
    const auto obj = ST_TRY(item.object());
    const auto id = ST_TRY(obj.required("id"));
    ST_TRY(id.u64(
        max_token_id));  // checked, but tokenizers ignores the stored id: see assign_added_id
    const auto content = ST_TRY(obj.string_or("content", ""));
    if (content.empty()) return tl::unexpected(obj.bad_member("content", "is missing or empty"));
    detail::added_token token;
    token.special = ST_TRY(obj.bool_or("special", false));
    token.single_word = ST_TRY(obj.bool_or("single_word", false));
    token.lstrip = ST_TRY(obj.bool_or("lstrip", false));
    token.rstrip = ST_TRY(obj.bool_or("rstrip", false));
    token.normalized = ST_TRY(obj.bool_or("normalized", !token.special));
    if (t.added.find(content) >= 0) continue;  // a repeated token keeps its first entry
    token.id = assign_added_id(t, content);
    token.content = content;
    t.added.add(std::move(token));
  }
  return {};
}

// A SpecialToken template entry resolved through post_processor.special_tokens.
result<detail::template_piece> special_piece(const json_object& post,
                                             const std::optional<json_object>& specials,
                                             std::string_view name, std::uint64_t type_id) {
  if (!specials)
    return tl::unexpected(
        post.bad_member("special_tokens", fmt::format("is missing (needed for '{}')", name)));
  const auto entry = ST_TRY(specials->required(name));
  const auto obj = ST_TRY(entry.object());
  detail::template_piece p;
  p.type_id = static_cast<std::int32_t>(type_id);
  const auto ids = obj.find("ids");
  const auto tokens = obj.find("tokens");
  if (!ids || !tokens) return tl::unexpected(obj.bad("needs 'ids' and 'tokens'"));
  const auto id_list = ST_TRY(ids->array());
  const auto token_list = ST_TRY(tokens->array());
  for (const auto& id : id_list.items())
    p.ids.push_back(static_cast<std::int32_t>(ST_TRY(id.u64(max_token_id))));
  for (const auto& token : token_list.items()) p.tokens.emplace_back(ST_TRY(token.string()));
  if (p.ids.size() != p.tokens.size())
    return tl::unexpected(obj.bad("has different ids and tokens counts"));
  return p;
}

result<std::vector<detail::template_piece>> parse_template(
    const json_object& post, std::string_view key, const std::optional<json_object>& specials) {
  std::vector<detail::template_piece> out;
  const auto list = post.optional(key);
  if (!list) return out;
  const auto items = ST_TRY(list->array());
  for (const auto& item : items.items()) {
    const auto piece = ST_TRY(item.object());
    const auto special = piece.find("SpecialToken");
    const auto body = special ? special : piece.find("Sequence");
    if (!body) return tl::unexpected(piece.bad("must be a SpecialToken or a Sequence"));
    const auto b = ST_TRY(body->object());
    const auto id = ST_TRY(b.string_or("id", ""));
    const auto type_id = ST_TRY(b.u64_or("type_id", 0xFFFF, 0));
    if (special) {
      out.push_back(ST_TRY(special_piece(post, specials, id, type_id)));
    } else if (id == "A" || id == "B") {
      detail::template_piece p;
      p.is_sequence = true;
      p.sequence = id == "A" ? 0 : 1;
      p.type_id = static_cast<std::int32_t>(type_id);
      out.push_back(std::move(p));
    } else {
      return tl::unexpected(b.bad_member("id", fmt::format("'{}' is neither A nor B", id)));
    }
  }
  return out;
}

// BertProcessing: "sep": ["[SEP]", 102], "cls": ["[CLS]", 101].
result<detail::template_piece> bert_special(const json_object& post, std::string_view key,
                                            std::int32_t type_id) {
  const auto e = ST_TRY(post.required(key));
  const auto pair = ST_TRY(e.array());
  if (pair.size() != 2) return tl::unexpected(pair.bad("must be [token, id]"));
  const auto token = ST_TRY(pair.at(0).string());
  const auto id = ST_TRY(pair.at(1).u64(max_token_id));
  detail::template_piece p;
  p.ids = {static_cast<std::int32_t>(id)};
  p.tokens = {std::string(token)};
  p.type_id = type_id;
  return p;
}

result<void> parse_post_processor(const maybe_value& e, detail::tokenizer_state& t) {
  if (!e) return {};
  const auto obj = ST_TRY(e->object());
  const auto type = ST_TRY(obj.string_or("type", ""));
  if (type == "BertProcessing") {
    const auto cls = ST_TRY(bert_special(obj, "cls", 0));
    const auto sep = ST_TRY(bert_special(obj, "sep", 0));
    t.post.single = {cls, detail::template_piece{true, 0, {}, {}, 0}, sep};
    auto sep1 = sep;
    sep1.type_id = 1;
    t.post.pair = {cls, detail::template_piece{true, 0, {}, {}, 0}, sep,
                   detail::template_piece{true, 1, {}, {}, 1}, sep1};
    t.post.present = true;
    return {};
  }
  if (type != "TemplateProcessing") {
    return tl::unexpected(obj.bad_member(
        "type", fmt::format("'{}' is not supported (TemplateProcessing or BertProcessing)", type)));
  }
  std::optional<json_object> specials;
  if (const auto s = obj.optional("special_tokens")) specials = ST_TRY(s->object());
  auto single = ST_TRY(parse_template(obj, "single", specials));
  auto pair = ST_TRY(parse_template(obj, "pair", specials));
  if (single.empty()) return tl::unexpected(obj.bad_member("single", "is missing or empty"));
  t.post.single = std::move(single);
  t.post.pair = std::move(pair);
  t.post.present = true;
  return {};
}

result<void> parse_decoder(const maybe_value& e, detail::tokenizer_state& t) {
  if (!e) return {};
  const auto obj = ST_TRY(e->object());
  const auto type = ST_TRY(obj.string_or("type", ""));
  if (type != "WordPiece") {
    return tl::unexpected(
        obj.bad_member("type", fmt::format("'{}' is not supported (WordPiece only)", type)));
  }
  auto prefix = ST_TRY(obj.string_or("prefix", "##"));
  const auto cleanup = ST_TRY(obj.bool_or("cleanup", true));
  t.decoder = {true, std::move(prefix), cleanup};
  return {};
}

result<void> parse_truncation_padding(const json_object& root, detail::tokenizer_state& t) {
  if (const auto e = root.optional("truncation")) {
    const auto obj = ST_TRY(e->object());
    const auto max_length = ST_TRY(obj.u64_or("max_length", std::uint64_t{1} << 31, 512));
    const auto strategy = ST_TRY(obj.string_or("strategy", "LongestFirst"));
    if (strategy == "OnlyFirst") {
      t.strategy = detail::truncation_strategy::only_first;
    } else if (strategy == "OnlySecond") {
      t.strategy = detail::truncation_strategy::only_second;
    } else if (strategy != "LongestFirst") {
      return tl::unexpected(
          obj.bad_member("strategy", fmt::format("'{}' is not a truncation strategy", strategy)));
    }
    t.model_max_length = static_cast<std::size_t>(max_length);
  }
  if (const auto e = root.optional("padding")) {
    const auto obj = ST_TRY(e->object());
    t.pad_id = static_cast<std::int32_t>(ST_TRY(obj.u64_or("pad_id", max_token_id, 0)));
  } else if (const auto pad = t.model.find("[PAD]"); pad >= 0) {
    t.pad_id = pad;
  }
  return {};
}

result<void> parse_root(const json_object& root, detail::tokenizer_state& t) {
  const auto model = ST_TRY(root.required("model"));
  ST_TRY(parse_model(model, t));
  ST_TRY(parse_normalizer(root.optional("normalizer"), t));
  ST_TRY(parse_pre_tokenizer(root.optional("pre_tokenizer"), t));
  ST_TRY(parse_added_tokens(root.optional("added_tokens"), t));
  ST_TRY(parse_post_processor(root.optional("post_processor"), t));
  ST_TRY(parse_decoder(root.optional("decoder"), t));
  return parse_truncation_padding(root, t);
}

}  // namespace

void detail::tokenizer_state::finish_added_tokens() {
  for (std::size_t i = 0; i < added.tokens().size(); ++i) {
    const auto& token = added.tokens()[i];
    if (!token.normalized) continue;
    detail::normalized_text norm;
    detail::normalize(normalizer, token.content, 0,
                      static_cast<std::uint32_t>(token.content.size()), norm);
    added.set_normalized_pattern(i, norm.text);
  }
}

result<tokenizer> tokenizer::from_tokenizer_json(const std::filesystem::path& file) {
  const auto text =
      ST_TRY(safetensors::detail::read_small_file(file, detail::max_tokenizer_file_bytes));
  return from_tokenizer_json_text(text, file.string());
}

result<tokenizer> tokenizer::from_tokenizer_json_text(std::string_view json, std::string source) {
  const auto doc =
      ST_TRY(safetensors::detail::json_document::parse(json, source, errc::invalid_model));
  auto t = std::make_unique<state>();
  t->source = std::move(source);
  ST_TRY(parse_root(doc.root(), *t));
  t->finish_added_tokens();
  return tokenizer(std::move(t));
}

result<tokenizer> tokenizer::load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir, ec)) return from_tokenizer_json(dir);
  if (!std::filesystem::is_directory(dir, ec)) {
    return fail(errc::io, fmt::format("{}: no such file or directory", dir.string()));
  }
  const auto json = dir / "tokenizer.json";
  const auto config = dir / "tokenizer_config.json";
  const bool has_config = std::filesystem::exists(config, ec);
  if (std::filesystem::exists(json, ec)) {
    auto t = from_tokenizer_json(json);
    if (!t || !has_config) return t;
    const auto max_length = ST_TRY(detail::read_model_max_length(config));
    if (max_length) t->state_->model_max_length = *max_length;
    return t;
  }
  const auto vocab = dir / "vocab.txt";
  if (std::filesystem::exists(vocab, ec))
    return from_vocab(vocab, has_config ? config : std::filesystem::path());
  return fail(errc::invalid_model,
              fmt::format("{}: neither tokenizer.json nor vocab.txt found", dir.string()));
}

}  // namespace safetensors::model
