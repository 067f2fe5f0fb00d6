// POST /tokenize, POST /decode, GET /info, and the error reply shared by every route.
#include <limits>

#include "core/try.hpp"
#include "safetensors/json_writer.hpp"
#include "server/input_rules.hpp"
#include "server/request_parse.hpp"
#include "server/server_state.hpp"

namespace safetensors::server::detail {

reply error_reply(const api_error& e) {
  reply r;
  r.status = e.status;
  r.body = error_body(e);
  r.error_type = e.type;
  return r;
}

namespace {

// TEI's SimpleToken: {id, text, special, start, stop}; text is the original substring (the token
// string for special tokens, whose start/stop are null).
void write_tokens(json_writer& w, const model::encoding& enc, std::string_view text) {
  w.begin_array();
  for (std::size_t i = 0; i < enc.size(); ++i) {
    const bool special = i < enc.special_tokens_mask.size() && enc.special_tokens_mask[i] != 0;
    w.begin_object().key("id").value(static_cast<std::int64_t>(enc.ids[i])).key("text");
    const auto [begin, end] =
        i < enc.offsets.size() ? enc.offsets[i] : std::pair<std::size_t, std::size_t>{0, 0};
    if (special || begin > end || end > text.size()) {
      std::string token = i < enc.tokens.size() ? enc.tokens[i] : std::string();
      w.value(token).key("special").value(special).key("start").null().key("stop").null();
    } else {
      w.value(text.substr(begin, end - begin)).key("special").value(false);
      w.key("start")
          .value(static_cast<std::uint64_t>(begin))
          .key("stop")
          .value(static_cast<std::uint64_t>(end));
    }
    w.end_object();
  }
  w.end_array();
}

api_result<std::string> tokenize(server_state& s, tokenize_request& req, request_facts& facts) {
  facts.inputs = req.inputs.size();
  ST_TRY(check_batch(req.inputs.size(), s.opts.max_client_batch_size, "inputs"));
  model::encode_options opts;
  opts.add_special_tokens = req.add_special_tokens;
  opts.truncate = false;
  json_writer w;
  w.begin_array();
  for (auto& text : req.inputs) {
    std::optional<std::string> no_pair;
    ST_TRY(check_text(text, no_pair, /*truncate=*/false, s.max_input_length));
    auto enc = s.backend->encode(text, std::nullopt, opts);
    if (!enc) return tokenizer_fail(enc.error().message);
    facts.tokens += enc->size();
    write_tokens(w, *enc, text);
  }
  w.end_array();
  return w.take();
}

api_result<std::string> decode(server_state& s, const decode_request& req, request_facts& facts) {
  facts.inputs = req.ids.size();
  ST_TRY(check_batch(req.ids.size(), s.opts.max_client_batch_size, "ids"));
  json_writer w;
  w.begin_array();
  std::vector<std::int32_t> known;
  for (const auto& ids : req.ids) {
    ST_TRY(check_ids(ids));
    // No vocabulary id exceeds int32; tokenizers' decode skips the ids it does not know.
    known.clear();
    for (const std::uint32_t id : ids) {
      if (id <= static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max()))
        known.push_back(static_cast<std::int32_t>(id));
    }
    auto text = s.backend->decode(known, req.skip_special_tokens);
    if (!text) return tokenizer_fail(text.error().message);
    w.value(*text);
  }
  w.end_array();
  return w.take();
}

reply body_reply(api_result<std::string> body) {
  if (!body) return error_reply(body.error());
  reply r;
  r.body = std::move(*body);
  return r;
}

}  // namespace

reply handle_tokenize(server_state& s, std::string_view body, request_facts& facts) {
  auto req = parse_tokenize(body);
  if (!req) return error_reply(req.error());
  return body_reply(tokenize(s, *req, facts));
}

reply handle_decode(server_state& s, std::string_view body, request_facts& facts) {
  auto req = parse_decode(body);
  if (!req) return error_reply(req.error());
  return body_reply(decode(s, *req, facts));
}

reply handle_info(const server_state& s) {
  const auto& info = s.backend->info();
  json_writer w;
  w.begin_object().key("model_id").value(info.model_id).key("model_sha").null();
  w.key("model_dtype").value(info.model_dtype);
  w.key("precision").value(info.precision);
  w.key("compute").begin_object().key("cpu").value(info.cpu_model).key("isa").value(info.isa);
  w.key("precision").value(info.compute_precision);
  w.end_object();
  w.key("model_type")
      .begin_object()
      .key("classifier")
      .begin_object()
      .key("id2label")
      .begin_object();
  for (std::size_t i = 0; i < info.id2label.size(); ++i)
    w.key(std::to_string(i)).value(info.id2label[i]);
  w.end_object().key("label2id").begin_object();
  for (std::size_t i = 0; i < info.id2label.size(); ++i)
    w.key(info.id2label[i]).value(static_cast<std::uint64_t>(i));
  w.end_object().end_object().end_object();
  w.key("max_concurrent_requests")
      .value(static_cast<std::uint64_t>(s.opts.max_concurrent_requests));
  w.key("max_input_length").value(static_cast<std::uint64_t>(s.max_input_length));
  w.key("max_batch_tokens").value(static_cast<std::uint64_t>(s.opts.max_batch_tokens));
  w.key("max_batch_requests").value(static_cast<std::uint64_t>(s.opts.max_batch_requests));
  w.key("max_client_batch_size").value(static_cast<std::uint64_t>(s.opts.max_client_batch_size));
  w.key("auto_truncate").value(s.opts.auto_truncate);
  w.key("tokenization_workers").value(static_cast<std::uint64_t>(s.opts.http_threads));
  w.key("version").value("0.1.0").key("sha").null().key("docker_label").null();
  w.end_object();
  reply r;
  r.body = w.take();
  return r;
}

}  // namespace safetensors::server::detail
