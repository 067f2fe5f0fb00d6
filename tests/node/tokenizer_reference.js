#!/usr/bin/env node
// Reference tokenization with Hugging Face tokenizers (npm @anush008/tokenizers, installed in
// tests/node/node_modules by tests/node/setup.sh), for tests/model/tokenizer_parity_test.py and
// bench/tokenizer_bench.cpp.
//
// usage: node tokenizer_reference.js <tokenizer.json> <inputs.jsonl> [options]
//   inputs.jsonl: one JSON string per line.
//   --max-length N      truncation (LongestFirst), special tokens included; 0 = no truncation
//   --direction D       right | left
//   --pair TEXT         encode every input as a pair with TEXT
//   --normalized        print the normalizer's output instead of tokens
//   --time              print only {"seconds": s, "inputs": n} for tokenizing every input once
//                       (encodeBatch, after one warm-up pass; --pair ignored)
// Output: one JSON object per input: {"input_ids", "tokens", "offsets" (code point offsets),
//   "type_ids", "truncated"}, or a JSON string with --normalized.
"use strict";
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require(path.join(__dirname, "node_modules", "@anush008", "tokenizers"));

function parseArgs(argv) {
  const args = { maxLength: 0, direction: "right", pair: null, normalized: false, time: false };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--max-length") args.maxLength = Number(argv[++i]);
    else if (a === "--direction") args.direction = argv[++i];
    else if (a === "--pair") args.pair = argv[++i];
    else if (a === "--normalized") args.normalized = true;
    else if (a === "--time") args.time = true;
    else rest.push(a);
  }
  if (rest.length !== 2 || !Number.isInteger(args.maxLength)) {
    console.error("usage: tokenizer_reference.js <tokenizer.json> <inputs.jsonl> [--max-length N] " +
                  "[--direction right|left] [--pair TEXT] [--normalized] [--time]");
    process.exit(2);
  }
  [args.tokenizer, args.inputs] = rest;
  return args;
}

function encodingToJson(e) {
  return JSON.stringify({
    input_ids: e.getIds(),
    tokens: e.getTokens(),
    offsets: e.getOffsets(),
    type_ids: e.getTypeIds(),
    truncated: e.getOverflowing().length > 0,
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tokenizer = Tokenizer.fromFile(args.tokenizer);
  if (args.maxLength > 0) {
    tokenizer.setTruncation(args.maxLength, { strategy: "LongestFirst", direction: args.direction });
  } else {
    tokenizer.disableTruncation();
  }
  tokenizer.disablePadding();
  const texts = fs.readFileSync(args.inputs, "utf8").split("\n").filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
  const out = [];
  if (args.normalized) {
    const normalizer = tokenizer.getNormalizer();
    for (const t of texts) out.push(JSON.stringify(normalizer.normalizeString(t)));
  } else if (args.time) {
    await tokenizer.encodeBatch(texts);  // warm-up
    const start = process.hrtime.bigint();
    await tokenizer.encodeBatch(texts);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    out.push(JSON.stringify({ seconds, inputs: texts.length }));
  } else {
    if (args.pair === null) {
      for (const e of await tokenizer.encodeBatch(texts)) out.push(encodingToJson(e));
    } else {
      for (const t of texts) out.push(encodingToJson(await tokenizer.encode(t, args.pair)));
    }
  }
  process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
}

main().catch((err) => {
  console.error(`tokenizer_reference.js: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
