// tokenize: the model folder's tokenizer on texts from the arguments, a file or stdin; ids,
// tokens and offsets (bytes or code points) as a table or one JSON object per input.
#include <fmt/format.h>
#include <simdjson.h>

#include <cstdio>
#include <iterator>
#include <sstream>

#include "command.hpp"
#include "inputs.hpp"
#include "output.hpp"
#include "safetensors/json_writer.hpp"
#include "safetensors/model/tokenizer.hpp"

namespace safetensors::cli {

namespace {

struct tokenize_args {
  std::string model;
  std::vector<std::string> texts;
  std::string file;
  std::string pair;
  bool has_pair = false;
  std::size_t max_length = 0;
  bool no_truncation = false;
  std::string side = "right";
  bool no_special = false;
  bool json = false;
  bool json_input = false;
  bool normalized = false;
  std::string offsets = "bytes";
};

// --json-input: each line is a JSON string, or an object with a "text" string.
result<std::vector<std::string>> decode_json_lines(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  simdjson::dom::parser parser;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    simdjson::dom::element e;
    std::string_view s;
    if (parser.parse(lines[i]).get(e) || (e.get(s) && e["text"].get(s))) {
      return fail(
          errc::invalid_argument,
          fmt::format("input line {}: not a JSON string or an object with a \"text\" string",
                      i + 1));
    }
    out.emplace_back(s);
  }
  return out;
}

result<std::vector<std::string>> gather_inputs(const tokenize_args& a) {
  auto lines = read_text_inputs(a.texts, a.file);
  if (!lines || !a.texts.empty() || !a.json_input) return lines;
  return decode_json_lines(*lines);
}

std::string to_json(const model::encoding& e, bool pair) {
  json_writer w;
  w.begin_object().key("input_ids").begin_array();
  for (auto id : e.ids) w.value(static_cast<std::int64_t>(id));
  w.end_array().key("tokens").begin_array();
  for (const auto& t : e.tokens) w.value(t);
  w.end_array().key("offsets").begin_array();
  for (const auto& [b, en] : e.offsets) {
    w.begin_array()
        .value(static_cast<std::uint64_t>(b))
        .value(static_cast<std::uint64_t>(en))
        .end_array();
  }
  w.end_array();
  if (pair) {
    w.key("type_ids").begin_array();
    for (auto t : e.type_ids) w.value(static_cast<std::int64_t>(t));
    w.end_array();
  }
  w.key("truncated").value(e.truncated).end_object();
  return w.take();
}

std::string to_table(const model::encoding& e, std::size_t index, bool pair) {
  std::string out = fmt::format("input {}: {} tokens{}\n", index + 1, e.size(),
                                e.truncated ? " (truncated)" : "");
  std::vector<text_table::column> columns{
      {"#", text_table::right}, {"id", text_table::right}, {"token"}, {"offsets"}};
  if (pair) columns.push_back({"type", text_table::right});
  text_table table(std::move(columns));
  for (std::size_t i = 0; i < e.size(); ++i) {
    std::vector<std::string> row{std::to_string(i), std::to_string(e.ids[i]), e.tokens[i],
                                 fmt::format("{}:{}", e.offsets[i].first, e.offsets[i].second)};
    if (pair) row.push_back(std::to_string(e.type_ids[i]));
    table.add_row(std::move(row));
  }
  return out + table.render();
}

int run_tokenize(const tokenize_args& a) {
  auto tok = model::tokenizer::load(a.model);
  if (!tok) return report_error(tok.error(), a.model);
  auto inputs = gather_inputs(a);
  if (!inputs) return report_error(inputs.error());
  model::encode_options opts;
  opts.truncate = !a.no_truncation;
  opts.max_length = a.max_length;
  opts.add_special_tokens = !a.no_special;
  opts.direction = a.side == "left" ? model::truncation_side::left : model::truncation_side::right;
  opts.offsets = a.offsets == "chars" ? model::offset_unit::chars : model::offset_unit::bytes;
  std::string out;
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    const std::string& text = (*inputs)[i];
    if (a.normalized) {
      const std::string norm = tok->normalize(text);
      out += a.json ? json_quote(norm) : norm;
      out += '\n';
      continue;
    }
    auto e = a.has_pair ? tok->encode_pair(text, a.pair, opts) : tok->encode(text, opts);
    if (!e) return report_error(e.error());
    out += a.json ? to_json(*e, a.has_pair) + "\n" : to_table(*e, i, a.has_pair);
    if (out.size() > (1u << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? exit_ok : exit_io;
}

std::function<int()> setup_tokenize(CLI::App& sub) {
  auto a = std::make_shared<tokenize_args>();
  sub.add_option("--model", a->model,
                 "Model folder (tokenizer.json, or vocab.txt + tokenizer_config.json), "
                 "or a tokenizer.json file")
      ->required();
  sub.add_option("texts", a->texts,
                 "Texts to tokenize (default: one per line from --file or stdin)");
  sub.add_option("--file", a->file, "Read the texts from this file, one per line");
  sub.add_flag("--json-input", a->json_input,
               "Each input line is a JSON string (or {\"text\": ...})");
  auto* pair =
      sub.add_option("--pair", a->pair, "Second sequence: encode every text as a pair with it");
  sub.add_option("--max-length", a->max_length,
                 "Truncate to this many tokens, special tokens included "
                 "(default: the tokenizer's model_max_length)")
      ->check(CLI::PositiveNumber);
  sub.add_flag("--no-truncation", a->no_truncation, "Keep every token");
  sub.add_option("--truncation-side", a->side, "Which end truncation cuts")
      ->check(CLI::IsMember({"right", "left"}));
  sub.add_flag("--no-special-tokens", a->no_special, "Do not add [CLS]/[SEP]");
  sub.add_option("--offsets", a->offsets,
                 "Unit of the offsets: bytes (UTF-8, default) or chars (code points, as "
                 "transformers' return_offsets_mapping)")
      ->check(CLI::IsMember({"bytes", "chars"}));
  sub.add_flag("--normalized", a->normalized, "Print the normalized text instead of tokens");
  sub.add_flag("--json", a->json,
               "One JSON object per input: input_ids, tokens, offsets (into the input, in "
               "--offsets units; [0,0] for special tokens), truncated");
  return [a, pair] {
    a->has_pair = pair->count() > 0;
    return run_tokenize(*a);
  };
}

}  // namespace

SAFETENSORS_CLI_COMMAND("tokenize", "Tokenize texts with a model folder's WordPiece tokenizer",
                        setup_tokenize);

}  // namespace safetensors::cli
