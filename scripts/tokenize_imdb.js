#!/usr/bin/env node
// Tokenizes the IMDB reviews with the Hugging Face tokenizers library (npm @anush008/tokenizers,
// installed in tests/node by tests/node/setup.sh) into a cache read by train_example_model.py.
//
// usage: node scripts/tokenize_imdb.js <tokenizer.json> <max_length> <in.jsonl.gz> <out.jsonl>
//
// Truncation is the one `safetensors-cli classify` applies: [CLS] + the first (max_length - 2)
// word pieces + [SEP] (right truncation, special tokens counted in max_length).
// Output: one line per review, in input order: {"id": ..., "label": 0|1, "ids": [...]}.
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const { Tokenizer } = require(path.join(__dirname, "..", "tests", "node", "node_modules",
                                         "@anush008", "tokenizers"));

const BATCH = 512;

async function main() {
  const [tokenizerPath, maxLengthArg, inPath, outPath] = process.argv.slice(2);
  const maxLength = Number(maxLengthArg);
  if (!outPath || !Number.isInteger(maxLength) || maxLength < 3) {
    console.error("usage: tokenize_imdb.js <tokenizer.json> <max_length>=3 <in.jsonl.gz> <out.jsonl>");
    process.exit(2);
  }
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  tokenizer.setTruncation(maxLength, { strategy: "LongestFirst", direction: "right" });
  tokenizer.disablePadding();

  const lines = zlib.gunzipSync(fs.readFileSync(inPath)).toString("utf8").split("\n")
                    .filter((l) => l.length > 0);
  const reviews = lines.map((l) => JSON.parse(l));
  const out = fs.openSync(outPath + ".tmp", "w");
  for (let start = 0; start < reviews.length; start += BATCH) {
    const chunk = reviews.slice(start, start + BATCH);
    const encodings = await tokenizer.encodeBatch(chunk.map((r) => r.text));
    let text = "";
    encodings.forEach((enc, i) => {
      const ids = enc.getIds();
      if (ids.length > maxLength || ids[0] !== 101 || ids[ids.length - 1] !== 102) {
        throw new Error(`${chunk[i].id}: unexpected encoding (length ${ids.length})`);
      }
      text += JSON.stringify({ id: chunk[i].id, label: chunk[i].label, ids: Array.from(ids) }) + "\n";
    });
    fs.writeSync(out, text);
  }
  fs.closeSync(out);
  fs.renameSync(outPath + ".tmp", outPath);
  console.error(`${inPath}: ${reviews.length} reviews -> ${outPath} (max_length ${maxLength})`);
}

main().catch((e) => { console.error(`tokenize_imdb.js: ${e.message}`); process.exit(1); });
