"""Where the Python tests and benchmarks find the data kept in the repository (sources and
licences: tests/data/README.md):
- the distilbert-base-uncased tokenizer files (tokenizer.json, vocab.txt, tokenizer_config.json)
  of the example model, examples/distilbert-imdb/;
- 600 IMDB test reviews (300 positive, 300 negative), tests/data/imdb/test_slice.jsonl.gz.
"""
import gzip
import json
import os
import shutil

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TOKENIZER_DIR = os.path.join(ROOT, "examples", "distilbert-imdb")
IMDB_SLICE = os.path.join(ROOT, "tests", "data", "imdb", "test_slice.jsonl.gz")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def imdb_records(path=IMDB_SLICE):
    """The records of an IMDB JSON-lines file (gzip: id, label, rating, text, src), in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def copy_tokenizer(folder, names=TOKENIZER_FILES, model_max_length=512):
    """Copies the tokenizer files into `folder`. tokenizer_config.json is written with
    `model_max_length` (distilbert-base-uncased's own file says 512; the example model's 256)."""
    for name in names:
        if name != "tokenizer_config.json":
            shutil.copy(os.path.join(TOKENIZER_DIR, name), folder)
            continue
        with open(os.path.join(TOKENIZER_DIR, name), encoding="utf-8") as f:
            config = json.load(f)
        config["model_max_length"] = model_max_length
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
