// GET / (the inference page), GET /openapi.json and GET /docs: self-contained documents (no
// external scripts, styles or fonts). The page reads the model's name, labels and limits from
// /info and calls /predict; /docs renders /openapi.json in the browser.
#include "server_state.hpp"

namespace safetensors::server::detail {
namespace {

reply document(std::string_view body, std::string_view type) {
  reply r;
  r.body = std::string(body);
  r.content_type = std::string(type);
  r.headers.emplace_back("Cache-Control", "no-cache");
  // Everything is inline: nothing may load from elsewhere.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; script-src 'unsafe-inline'; "
                         "style-src 'unsafe-inline'; img-src data:");
  return r;
}

constexpr std::string_view page_html = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Text classification</title>
<style>
:root { color-scheme: light dark; --bar: #2f6fd6; --muted: #777; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 42rem; padding: 1rem; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
.meta { color: var(--muted); font-size: .9rem; margin: 0 0 1rem; overflow-wrap: anywhere; }
label[for=text] { font-weight: 600; display: block; margin-bottom: .25rem; }
textarea { box-sizing: border-box; width: 100%; min-height: 7rem; font: inherit; padding: .5rem; }
button { font: inherit; padding: .45rem 1.2rem; margin-top: .5rem; cursor: pointer; }
:focus-visible { outline: 3px solid var(--bar); outline-offset: 2px; }
.hint { color: var(--muted); font-size: .85rem; }
#results { margin-top: 1rem; }
.row { display: grid; grid-template-columns: minmax(5rem, auto) 1fr 4.5rem; gap: .5rem;
       align-items: center; margin: .3rem 0; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.track { background: #8883; border-radius: 3px; height: 1.1rem; }
.fill { background: var(--bar); border-radius: 3px; height: 100%; }
.score { text-align: right; font-variant-numeric: tabular-nums; }
#error { color: #c62828; }
footer { margin-top: 1.5rem; font-size: .85rem; }
</style>
</head>
<body>
<main>
<h1 id="model">Text classification</h1>
<p class="meta" id="meta">Loading the model description from /info…</p>
<form id="form">
<label for="text">Text</label>
<textarea id="text" name="text" placeholder="Type a text to classify"></textarea>
<div><button id="run" type="submit">Classify</button>
<span class="hint">or Ctrl+Enter in the text box</span></div>
</form>
<section id="results" aria-live="polite">
<p id="top" data-label=""></p>
<div id="bars"></div>
<p class="meta" id="latency"></p>
<p id="error" role="alert"></p>
</section>
</main>
<footer><a href="/docs">API documentation</a> · <a href="/openapi.json">openapi.json</a></footer>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let ready = false, pending = null;

function showError(message) {
  $("error").textContent = message;
}

async function loadInfo() {
  try {
    const r = await fetch("/info");
    const info = await r.json();
    if (!r.ok) throw new Error(info.error || ("HTTP " + r.status));
    const labels = Object.keys(info.model_type.classifier.id2label)
        .sort((a, b) => a - b).map((k) => info.model_type.classifier.id2label[k]);
    $("model").textContent = info.model_id;
    document.title = info.model_id + " · text classification";
    $("meta").textContent = "Labels: " + labels.join(", ") + " · up to " + info.max_input_length +
        " tokens (longer texts are truncated) · " + info.precision + " on " +
        info.compute.cpu + " (" + info.compute.isa + ")";
    ready = true;
    if (pending !== null) classify(pending);
  } catch (e) {
    $("meta").textContent = "";
    showError("Could not read /info: " + e.message);
  }
}

function bar(entry) {
  const row = document.createElement("div");
  row.className = "row";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = entry.label;
  const track = document.createElement("div");
  track.className = "track";
  track.setAttribute("role", "meter");
  track.setAttribute("aria-label", entry.label);
  track.setAttribute("aria-valuemin", "0");
  track.setAttribute("aria-valuemax", "1");
  track.setAttribute("aria-valuenow", String(entry.score));
  const fill = document.createElement("div");
  fill.className = "fill";
  fill.style.width = (Math.min(Math.max(entry.score, 0), 1) * 100).toFixed(1) + "%";
  track.appendChild(fill);
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = entry.score.toFixed(4);
  row.append(name, track, score);
  return row;
}

async function classify(text) {
  if (!ready) { pending = text; return; }
  pending = null;
  showError("");
  if (!text.trim()) { showError("Enter a text first."); return; }
  $("run").disabled = true;
  const start = performance.now();
  try {
    const r = await fetch("/predict", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({inputs: text, truncate: true}),
    });
    const body = await r.json();
    const ms = performance.now() - start;
    if (!r.ok) throw new Error(body.error + " (" + body.error_type + ", HTTP " + r.status + ")");
    $("bars").replaceChildren(...body.map(bar));
    $("top").textContent = "Label: " + body[0].label;
    $("top").dataset.label = body[0].label;
    const inference = r.headers.get("x-inference-time");
    $("latency").textContent = ms.toFixed(1) + " ms round trip" +
        (inference !== null ? " · " + inference + " ms inference" : "");
  } catch (e) {
    showError(e.message);
  } finally {
    $("run").disabled = false;
  }
}

$("form").addEventListener("submit", (e) => { e.preventDefault(); classify($("text").value); });
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); classify($("text").value); }
});
const given = new URLSearchParams(location.search).get("text");
if (given !== null) { $("text").value = given; classify(given); }
loadInfo();
</script>
</body>
</html>
)page";

constexpr std::string_view docs_html = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API documentation</title>
<style>
:root { color-scheme: light dark; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 50rem; padding: 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .25rem; font-family: ui-monospace, monospace; }
pre { background: #8882; padding: .5rem; overflow-x: auto; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
td, th { border-bottom: 1px solid #8886; padding: .25rem .4rem; text-align: left; vertical-align: top; }
</style>
</head>
<body>
<main>
<h1 id="title">API documentation</h1>
<p id="description">Rendered from <a href="/openapi.json">/openapi.json</a>.</p>
<noscript>This page renders /openapi.json with JavaScript; read that file directly without it.</noscript>
<div id="paths"></div>
<p><a href="/">Inference page</a></p>
</main>
<script>
"use strict";
const el = (tag, text) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; return e; };
fetch("/openapi.json").then((r) => r.json()).then((spec) => {
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  document.getElementById("description").textContent = spec.info.description;
  const out = document.getElementById("paths");
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const section = el("section");
      section.append(el("h2", method.toUpperCase() + " " + path), el("p", op.summary));
      if (op.description) section.append(el("p", op.description));
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) {
        section.append(el("h3", "Request body"));
        section.append(el("pre", JSON.stringify(body.example !== undefined ? body.example : body.schema, null, 2)));
      }
      const table = el("table");
      table.append(el("tr"));
      table.firstChild.append(el("th", "status"), el("th", "meaning"));
      for (const [status, resp] of Object.entries(op.responses)) {
        const tr = el("tr");
        tr.append(el("td", status), el("td", resp.description));
        table.append(tr);
      }
      section.append(el("h3", "Responses"), table);
      out.append(section);
    }
  }
}).catch((e) => { document.getElementById("paths").textContent = "Could not read /openapi.json: " + e.message; });
</script>
</body>
</html>
)page";

// The routes, bodies and errors as src/server implements them (docs/DEPLOY.md "API").
constexpr std::string_view openapi_json = R"json({
"openapi": "3.0.3",
"info": {"title": "safetensors-cli serve", "version": "0.1.0",
  "description": "Text classification with a DistilBERT model folder; the API of Hugging Face text-embeddings-inference (TEI) for /predict, /tokenize, /decode and /info. Every error is {\"error\", \"error_type\"}. With --api-key, every route but /health, /ping, /metrics, GET /, /openapi.json and /docs needs Authorization: Bearer KEY (else 401 Unauthorized)."},
"paths": {
"/predict": {"post": {
  "summary": "Classify a text, a pair of texts, or a batch; all labels sorted by score. Also at POST / and POST /invocations.",
  "description": "inputs: a text; [a, b] is one pair; [[a], [b, c]] is a batch (answered with one list per input). {\"text\": ...} answers the top label as {\"label\", \"score\"}. truncate (null: the server's --auto-truncate), truncation_direction right|left, raw_scores (logits instead of the pipeline's softmax/sigmoid).",
  "requestBody": {"required": true, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/PredictRequest"},
    "example": {"inputs": "A wonderful, moving film.", "truncate": true}}}},
  "responses": {
    "200": {"description": "[{\"score\", \"label\"}, ...] best first (a list of those for a batch); {\"label\", \"score\"} for a {\"text\"} body. Headers x-compute-tokens, x-total-time, x-tokenization-time, x-queue-time, x-inference-time (ms).",
      "content": {"application/json": {"example": [{"score": 0.9959, "label": "POSITIVE"}, {"score": 0.0041, "label": "NEGATIVE"}]}}},
    "400": {"$ref": "#/components/responses/Empty"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "413": {"$ref": "#/components/responses/TooLarge"},
    "422": {"$ref": "#/components/responses/Validation"},
    "424": {"description": "Backend: the model failed or produced a NaN/Inf score", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "429": {"description": "Overloaded: admitting the inputs would exceed --max-concurrent-requests", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "503": {"description": "Unhealthy (model not loaded yet) or Timeout (no result within --request-timeout)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
"/tokenize": {"post": {
  "summary": "Token ids, texts and byte offsets of a text, a pair or a batch (never truncates).",
  "requestBody": {"required": true, "content": {"application/json": {
    "schema": {"type": "object", "required": ["inputs"], "properties": {
      "inputs": {"$ref": "#/components/schemas/Inputs"}, "add_special_tokens": {"type": "boolean", "default": true}}},
    "example": {"inputs": "Hello world", "add_special_tokens": true}}}},
  "responses": {
    "200": {"description": "[[{\"id\", \"text\", \"special\", \"start\", \"stop\"}, ...]] one list per input; start/stop null for special tokens",
      "content": {"application/json": {"example": [[{"id": 101, "text": "[CLS]", "special": true, "start": null, "stop": null}]]}}},
    "400": {"$ref": "#/components/responses/Empty"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "413": {"$ref": "#/components/responses/TooLarge"},
    "422": {"$ref": "#/components/responses/Validation"},
    "503": {"$ref": "#/components/responses/Unhealthy"}}}},
"/decode": {"post": {
  "summary": "Texts of token id lists (ids outside the vocabulary are skipped).",
  "requestBody": {"required": true, "content": {"application/json": {
    "schema": {"type": "object", "required": ["ids"], "properties": {
      "ids": {"oneOf": [{"type": "array", "items": {"type": "integer", "minimum": 0}},
                        {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}}]},
      "skip_special_tokens": {"type": "boolean", "default": true}}},
    "example": {"ids": [101, 7592, 2088, 102]}}}},
  "responses": {
    "200": {"description": "[\"text\", ...] one per id list", "content": {"application/json": {"example": ["hello world"]}}},
    "400": {"$ref": "#/components/responses/Empty"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "413": {"$ref": "#/components/responses/TooLarge"},
    "422": {"$ref": "#/components/responses/Validation"},
    "503": {"$ref": "#/components/responses/Unhealthy"}}}},
"/info": {"get": {
  "summary": "The model (model_id, model_type.classifier.id2label/label2id), precision, compute (cpu, isa, the precision the GEMMs run in), limits and version (TEI's Info).",
  "responses": {
    "200": {"description": "Info object", "content": {"application/json": {"example": {"model_id": "examples/distilbert-imdb", "model_dtype": "float32", "precision": "fp32", "compute": {"cpu": "AMD EPYC", "isa": "avx512_core_bf16", "precision": "fp32"}, "max_input_length": 256}}}},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "503": {"$ref": "#/components/responses/Unhealthy"}}}},
"/health": {"get": {"summary": "200 (empty body) once the model is loaded and warmed up. Also GET /ping.",
  "responses": {"200": {"description": "healthy"}, "503": {"$ref": "#/components/responses/Unhealthy"}}}},
"/metrics": {"get": {"summary": "Prometheus text format (te_* request, queue and time series).",
  "responses": {"200": {"description": "text/plain; version=0.0.4"}}}},
"/": {"get": {"summary": "The inference page (HTML, self-contained): the model's labels and limits, a text box, a button calling /predict, score bars and latency; ?text=... fills the box and runs it.",
  "responses": {"200": {"description": "text/html"}, "503": {"$ref": "#/components/responses/Unhealthy"}}}},
"/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "application/json"}}}},
"/docs": {"get": {"summary": "This document rendered as an HTML page.", "responses": {"200": {"description": "text/html"}}}}
},
"components": {
  "schemas": {
    "Error": {"type": "object", "required": ["error", "error_type"], "properties": {
      "error": {"type": "string"},
      "error_type": {"type": "string", "enum": ["Empty", "Unauthorized", "NotFound", "MethodNotAllowed", "PayloadTooLarge", "Validation", "Tokenizer", "Backend", "Overloaded", "Unhealthy", "Timeout"]}}},
    "Inputs": {"oneOf": [{"type": "string"},
      {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2, "description": "one text or a pair"},
      {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}, "description": "a batch"}]},
    "PredictRequest": {"oneOf": [
      {"type": "object", "required": ["inputs"], "properties": {
        "inputs": {"$ref": "#/components/schemas/Inputs"},
        "truncate": {"type": "boolean", "nullable": true},
        "truncation_direction": {"type": "string", "enum": ["right", "left"], "default": "right"},
        "raw_scores": {"type": "boolean", "default": false}}},
      {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}]}},
  "responses": {
    "Empty": {"description": "Empty: an empty text or pair, an empty id list, /tokenize with inputs []", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "Unauthorized": {"description": "Unauthorized: --api-key set and no or a wrong Authorization: Bearer header", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "TooLarge": {"description": "PayloadTooLarge (body above --payload-limit) or Validation (batch above --max-client-batch-size; without truncation an input above the token or character limit)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "Validation": {"description": "Validation (the body is not the request's shape: malformed JSON, wrong field types, a duplicated field, 3+ strings as a pair) or Tokenizer (the tokenizer refused an input)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    "Unhealthy": {"description": "Unhealthy: the model is not loaded yet", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
}
)json";

}  // namespace

reply handle_page() { return document(page_html, "text/html; charset=utf-8"); }
reply handle_docs() { return document(docs_html, "text/html; charset=utf-8"); }
reply handle_openapi() { return document(openapi_json, "application/json"); }

}  // namespace safetensors::server::detail
