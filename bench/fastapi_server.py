"""The peer for bench/serve_bench.sh: the usual FastAPI + uvicorn + torch text-classification
server, for the same model folder our `serve` loads.

POST /predict {"text": "..."} -> {"label": ..., "score": ...}; GET /health. One forward per
request (batch 1), as the common FastAPI examples do. No transformers/tokenizers packages exist
in Debian 12, so the folder is read here: config.json, model.safetensors (numpy), the WordPiece
vocabulary from tokenizer.json or vocab.txt, and a pure-Python BERT tokenizer (lowercase, accent
stripping, punctuation/CJK splitting, greedy longest-match WordPiece, [CLS] A [SEP], truncated to
max_position_embeddings) - the same algorithm Hugging Face's BertTokenizer (slow) runs.
Run: OPENBLAS_CORETYPE=SkylakeX scripts/python bench/fastapi_server.py --model DIR --port 8000 --threads 2
"""
import argparse
import json
import os
import struct
import unicodedata

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")  # Debian OpenBLAS misdetects this CPU
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from pydantic import BaseModel  # noqa: E402


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{name}: only F32 weights are supported here, not {info['dtype']}")
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data, dtype=np.float32, count=(e - b) // 4, offset=b).reshape(info["shape"]).copy())
    return {k[len("distilbert."):] if k.startswith("distilbert.") else k: v for k, v in out.items()}


def load_vocab(folder):
    tj = os.path.join(folder, "tokenizer.json")
    if os.path.exists(tj):
        with open(tj, encoding="utf-8") as f:
            return json.load(f)["model"]["vocab"]
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


class BertTokenizer:
    def __init__(self, vocab, max_len=512):
        self.vocab, self.max_len = vocab, max_len
        self.unk, self.cls, self.sep = vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]

    @staticmethod
    def _is_punct(ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp):
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
                or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

    def _words(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r"):
                continue
            if ch.isspace() or unicodedata.category(ch) == "Zs":
                out.append(" ")
            elif self._is_cjk(cp):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out).lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        words = []
        for w in text.split():
            cur = ""
            for ch in w:
                if self._is_punct(ch):
                    if cur:
                        words.append(cur)
                    words.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def _wordpiece(self, word):
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = ("##" if start else "") + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk]
            start = end
        return ids

    def encode(self, text):
        ids = [i for w in self._words(text) for i in self._wordpiece(w)]
        return [self.cls] + ids[: self.max_len - 2] + [self.sep]


class DistilBert:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.cfg = json.load(f)
        self.sd = load_safetensors(os.path.join(folder, "model.safetensors"))
        labels = self.cfg.get("id2label") or {str(i): f"LABEL_{i}" for i in range(2)}
        self.labels = [labels[str(i)] for i in range(len(labels))]

    @torch.inference_mode()
    def logits(self, ids):
        sd, d, nh = self.sd, self.cfg["dim"], self.cfg["n_heads"]
        n = len(ids)
        x = sd["embeddings.word_embeddings.weight"][ids] + sd["embeddings.position_embeddings.weight"][:n]
        x = F.layer_norm(x, (d,), sd["embeddings.LayerNorm.weight"], sd["embeddings.LayerNorm.bias"], 1e-12)
        for i in range(self.cfg["n_layers"]):
            p = f"transformer.layer.{i}."
            lin = lambda t, name: F.linear(t, sd[p + name + ".weight"], sd[p + name + ".bias"])  # noqa: E731
            heads = lambda t: t.view(n, nh, d // nh).transpose(0, 1)  # noqa: E731
            q = heads(lin(x, "attention.q_lin")) / (d // nh) ** 0.5
            k, v = heads(lin(x, "attention.k_lin")), heads(lin(x, "attention.v_lin"))
            ctx = (torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v).transpose(0, 1).reshape(n, d)
            x = F.layer_norm(lin(ctx, "attention.out_lin") + x, (d,), sd[p + "sa_layer_norm.weight"], sd[p + "sa_layer_norm.bias"], 1e-12)
            x = F.layer_norm(lin(F.gelu(lin(x, "ffn.lin1")), "ffn.lin2") + x, (d,),
                             sd[p + "output_layer_norm.weight"], sd[p + "output_layer_norm.bias"], 1e-12)
        pooled = F.relu(F.linear(x[0], sd["pre_classifier.weight"], sd["pre_classifier.bias"]))
        return F.linear(pooled, sd["classifier.weight"], sd["classifier.bias"])


class PredictRequest(BaseModel):
    text: str


def build_app(folder):
    model = DistilBert(folder)
    tokenizer = BertTokenizer(load_vocab(folder), max_len=min(512, model.cfg.get("max_position_embeddings", 512)))
    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/predict")
    def predict(req: PredictRequest):
        probs = torch.softmax(model.logits(tokenizer.encode(req.text)), dim=-1)
        best = int(torch.argmax(probs))
        return {"label": model.labels[best], "score": float(probs[best])}

    return app


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    uvicorn.run(build_app(a.model), host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
