// POST /tokenize, POST /decode, GET /info, and the error reply shared by every route.
#include <fmt/format.h>

#include "safetensors/json_writer.hpp"
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
    const auto [begin, end] = i < enc.offsets.size() ? enc.offsets[i] : std::pair<std::size_t, std::size_t>{0, 0};
    if (special || begin > end || end > text.size()) {
      std::string token = i < enc.tokens.size() ? enc.tokens[i] : std::string();
      w.value(token).key("special").value(special).key("start").null().key("stop").null();
    } else {
      w.value(text.substr(begin, end - begin)).key("special").value(false);
      w.key("start").value(static_cast<std::uint64_t>(begin)).key("stop").value(static_cast<std::uint64_t>(end));
    }
    w.end_object();
  }
  w.end_array();
}

}  // namespace

reply handle_tokenize(server_state& s, std::string_view body, request_facts& facts) {
  auto req = parse_tokenize(body);
  if (!req) return error_reply(req.error());
  facts.inputs = req->inputs.size();
  if (req->inputs.size() > s.opts.max_client_batch_size) {
    return error_reply({422, "Validation", fmt::format("Input validation error: batch size {} > maximum allowed batch size {}",
                                                       req->inputs.size(), s.opts.max_client_batch_size)});
  }
  model::encode_options opts;
  opts.add_special_tokens = req->add_special_tokens;
  opts.truncate = false;
  json_writer w;
  w.begin_array();
  for (const auto& text : req->inputs) {
    auto enc = s.backend->encode(text, std::nullopt, opts);
    if (!enc) return error_reply({422, "Tokenizer", "tokenizer error " + enc.error().message});
    facts.tokens += enc->size();
    write_tokens(w, *enc, text);
  }
  w.end_array();
  reply r;
  r.body = w.take();
  return r;
}

reply handle_decode(server_state& s, std::string_view body, request_facts& facts) {
  auto req = parse_decode(body);
  if (!req) return error_reply(req.error());
  facts.inputs = req->ids.size();
  if (req->ids.size() > s.opts.max_client_batch_size) {
    return error_reply({422, "Validation", fmt::format("Input validation error: batch size {} > maximum allowed batch size {}",
                                                       req->ids.size(), s.opts.max_client_batch_size)});
  }
  json_writer w;
  w.begin_array();
  for (const auto& ids : req->ids) {
    auto text = s.backend->decode(ids, req->skip_special_tokens);
    if (!text) return error_reply({422, "Tokenizer", "tokenizer error " + text.error().message});
    w.value(*text);
  }
  w.end_array();
  reply r;
  r.body = w.take();
  return r;
}

reply handle_info(const server_state& s) {
  const auto& info = s.backend->info();
  json_writer w;
  w.begin_object().key("model_id").value(info.model_id).key("model_sha").null();
  w.key("model_dtype").value(info.model_dtype);
  w.key("model_type").begin_object().key("classifier").begin_object().key("id2label").begin_object();
  for (std::size_t i = 0; i < info.id2label.size(); ++i) w.key(std::to_string(i)).value(info.id2label[i]);
  w.end_object().key("label2id").begin_object();
  for (std::size_t i = 0; i < info.id2label.size(); ++i) w.key(info.id2label[i]).value(static_cast<std::uint64_t>(i));
  w.end_object().end_object().end_object();
  w.key("max_concurrent_requests").value(static_cast<std::uint64_t>(s.opts.max_concurrent_requests));
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
