#!/usr/bin/env python3
"""Train (or evaluate) the example model in examples/distilbert-imdb/.

A small DistilBERT-architecture sentiment classifier trained from scratch on the 25,000 IMDB
training reviews (Maas et al., 2011). The model is written in plain torch with exactly the module
tree and state-dict names of transformers' DistilBertForSequenceClassification, and the eval-mode
math of that class (erf GELU, LayerNorm eps 1e-12, scores scaled by 1/sqrt(head_dim), key-side
padding mask filled with finfo(float32).min, post-LN blocks, [CLS] -> pre_classifier -> ReLU ->
dropout -> classifier), so the saved folder loads in transformers and in safetensors-cli.

Input: token ids cached by scripts/tokenize_imdb.js (Hugging Face tokenizers, same truncation as
`safetensors-cli classify`: [CLS] + first max_length-2 word pieces + [SEP]).

    train_example_model.py train    --cache DIR --out examples/distilbert-imdb [--tokenizer DIR] [options]
    train_example_model.py evaluate --cache DIR --model examples/distilbert-imdb --logits F.npy

Run with OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS misdetects this CPU); see
examples/distilbert-imdb/README.md for the exact command that produced the committed weights.
"""

import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

LABELS = {0: "NEGATIVE", 1: "POSITIVE"}
# distilbert-base-uncased's tokenizer files, kept in the repository with the example model.
TOKENIZER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "distilbert-imdb")
VOCAB_SIZE = 30522
PAD_ID = 0


# ----------------------------------------------------------------------------- model

class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"], padding_idx=cfg["pad_token_id"])
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], cfg["dim"])
        self.LayerNorm = nn.LayerNorm(cfg["dim"], eps=1e-12)
        self.dropout = nn.Dropout(cfg["dropout"])

    def forward(self, input_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
        return self.dropout(self.LayerNorm(x))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads = cfg["n_heads"]
        self.dim = cfg["dim"]
        self.q_lin = nn.Linear(self.dim, self.dim)
        self.k_lin = nn.Linear(self.dim, self.dim)
        self.v_lin = nn.Linear(self.dim, self.dim)
        self.out_lin = nn.Linear(self.dim, self.dim)
        self.dropout = nn.Dropout(cfg["attention_dropout"])

    def forward(self, x, mask):
        bs, length, _ = x.shape
        head_dim = self.dim // self.n_heads

        def split(t):
            return t.view(bs, length, self.n_heads, head_dim).transpose(1, 2)

        q = split(self.q_lin(x)) / math.sqrt(head_dim)
        k = split(self.k_lin(x))
        v = split(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        scores = scores.masked_fill((mask == 0)[:, None, None, :], torch.finfo(scores.dtype).min)
        weights = self.dropout(F.softmax(scores, dim=-1))
        context = torch.matmul(weights, v).transpose(1, 2).reshape(bs, length, self.dim)
        return self.out_lin(context)


class FFN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lin1 = nn.Linear(cfg["dim"], cfg["hidden_dim"])
        self.lin2 = nn.Linear(cfg["hidden_dim"], cfg["dim"])
        self.dropout = nn.Dropout(cfg["dropout"])

    def forward(self, x):
        return self.dropout(self.lin2(F.gelu(self.lin1(x))))  # F.gelu is the exact erf GELU


class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = MultiHeadSelfAttention(cfg)
        self.sa_layer_norm = nn.LayerNorm(cfg["dim"], eps=1e-12)
        self.ffn = FFN(cfg)
        self.output_layer_norm = nn.LayerNorm(cfg["dim"], eps=1e-12)

    def forward(self, x, mask):
        h = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(h) + h)


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg["n_layers"])])

    def forward(self, x, mask):
        for block in self.layer:
            x = block(x, mask)
        return x


class DistilBertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.transformer = Transformer(cfg)

    def forward(self, input_ids, mask):
        return self.transformer(self.embeddings(input_ids), mask)


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.distilbert = DistilBertModel(cfg)
        self.pre_classifier = nn.Linear(cfg["dim"], cfg["dim"])
        self.classifier = nn.Linear(cfg["dim"], len(cfg["id2label"]))
        self.dropout = nn.Dropout(cfg["seq_classif_dropout"])
        self.apply(lambda m: init_weights(m, cfg["initializer_range"]))

    def forward(self, input_ids, mask):
        pooled = self.distilbert(input_ids, mask)[:, 0]
        return self.classifier(self.dropout(F.relu(self.pre_classifier(pooled))))


def init_weights(module, std):
    """transformers' DistilBertPreTrainedModel._init_weights."""
    if isinstance(module, nn.Linear):
        module.weight.data.normal_(mean=0.0, std=std)
        module.bias.data.zero_()
    elif isinstance(module, nn.Embedding):
        module.weight.data.normal_(mean=0.0, std=std)
        if module.padding_idx is not None:
            module.weight.data[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)


def make_config(args):
    """config.json as transformers writes it for DistilBertConfig (keys sorted)."""
    return {
        "activation": "gelu",
        "architectures": ["DistilBertForSequenceClassification"],
        "attention_dropout": args.attention_dropout,
        "dim": args.dim,
        "dropout": args.dropout,
        "hidden_dim": args.hidden_dim,
        "id2label": {str(k): v for k, v in LABELS.items()},
        "initializer_range": 0.02,
        "label2id": {v: k for k, v in LABELS.items()},
        "max_position_embeddings": args.max_length,
        "model_type": "distilbert",
        "n_heads": args.n_heads,
        "n_layers": args.n_layers,
        "pad_token_id": PAD_ID,
        "problem_type": "single_label_classification",
        "qa_dropout": 0.1,
        "seq_classif_dropout": args.seq_classif_dropout,
        "sinusoidal_pos_embds": False,
        "tie_weights_": True,
        "torch_dtype": "float32",
        "vocab_size": VOCAB_SIZE,
    }


# ----------------------------------------------------------------------------- data

def load_cache(path, max_length):
    """Reads a tokenize_imdb.js output file; checks every id sequence."""
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)
            ids = rec["ids"]
            if not (3 <= len(ids) <= max_length and ids[0] == 101 and ids[-1] == 102
                    and all(0 <= i < VOCAB_SIZE for i in ids) and rec["label"] in LABELS):
                sys.exit(f"{path}:{n}: bad record {rec.get('id')!r} (length {len(ids)})")
            items.append((np.asarray(ids, dtype=np.int64), int(rec["label"])))
    return items


def batches(items, order, max_tokens, max_batch):
    """Groups indices (already ordered) into padded batches of at most max_tokens tokens."""
    out, cur, cur_len = [], [], 0
    for i in order:
        n = len(items[i][0])
        if cur and (max(cur_len, n) * (len(cur) + 1) > max_tokens or len(cur) == max_batch):
            out.append(cur)
            cur, cur_len = [], 0
        cur.append(i)
        cur_len = max(cur_len, n)
    if cur:
        out.append(cur)
    return out


def collate(items, idx):
    length = max(len(items[i][0]) for i in idx)
    ids = torch.zeros((len(idx), length), dtype=torch.long)
    mask = torch.zeros((len(idx), length), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = torch.from_numpy(items[i][0])
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    labels = torch.tensor([items[i][1] for i in idx], dtype=torch.long)
    return ids, mask, labels


def training_batches(items, rng, max_tokens, max_batch):
    """Length-bucketed shuffled batches: shuffle, sort within pools of 50 batches, shuffle batches."""
    order = list(range(len(items)))
    rng.shuffle(order)
    pool = max_batch * 50
    result = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: len(items[i][0]))
        result.extend(batches(items, chunk, max_tokens, max_batch))
    rng.shuffle(result)
    return result


@torch.no_grad()
def predict(model, items, max_tokens=16384):
    """Eval-mode logits for every item, in item order."""
    model.eval()
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    logits = np.zeros((len(items), 2), dtype=np.float32)
    for idx in batches(items, order, max_tokens, 256):
        ids, mask, _ = collate(items, idx)
        logits[idx] = model(ids, mask).numpy()
    return logits


def accuracy(logits, items):
    labels = np.array([y for _, y in items])
    return float((logits.argmax(axis=1) == labels).mean())


def gemm_gflops():
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(20):
        a @ b
    return 2 * 512 ** 3 * 20 / (time.perf_counter() - t) / 1e9


# ----------------------------------------------------------------------------- commands

def setup_torch(args):
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
          f"sgemm 512^3: {gemm_gflops():.0f} GFLOP/s", flush=True)


def copy_file(src, dst):
    if not (os.path.exists(dst) and os.path.samefile(src, dst)):
        shutil.copyfile(src, dst)


def write_folder(model, cfg, out, tokenizer_dir):
    os.makedirs(out, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(out, "pytorch_model.bin"))
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    copy_file(os.path.join(tokenizer_dir, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    copy_file(os.path.join(tokenizer_dir, "vocab.txt"), os.path.join(out, "vocab.txt"))
    with open(os.path.join(tokenizer_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        tok_cfg = json.load(f)
    tok_cfg["model_max_length"] = cfg["max_position_embeddings"]
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(tok_cfg, indent=2) + "\n")
    special = {k: tok_cfg[k] for k in ("cls_token", "mask_token", "pad_token", "sep_token", "unk_token")}
    with open(os.path.join(out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(special, indent=2) + "\n")


def lr_at(step, total, warmup, peak):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.0, (total - step) / max(1, total - warmup))


def cmd_train(args):
    setup_torch(args)
    cfg = make_config(args)
    train = load_cache(os.path.join(args.cache, f"train_{args.max_length}.jsonl"), args.max_length)
    test = load_cache(os.path.join(args.cache, f"test_{args.max_length}.jsonl"), args.max_length)
    rng = random.Random(args.seed)
    order = list(range(len(train)))
    rng.shuffle(order)
    valid = [train[i] for i in order[: args.valid]]
    train = [train[i] for i in order[args.valid:]]
    print(f"train {len(train)}, held-out {len(valid)}, test {len(test)} reviews", flush=True)

    model = DistilBertForSequenceClassification(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"config: {json.dumps(cfg, sort_keys=True)}\nparameters: {n_params:,}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    epoch_batches = [training_batches(train, rng, args.max_tokens, args.batch_size)
                     for _ in range(args.epochs)]
    total = sum(len(b) for b in epoch_batches)
    if args.max_steps:
        total = min(total, args.max_steps)
    warmup = max(1, int(total * args.warmup))
    print(f"{total} steps ({len(epoch_batches[0])} per epoch), warmup {warmup}", flush=True)

    start = time.perf_counter()
    step = 0
    for epoch, plan in enumerate(epoch_batches, 1):
        model.train()
        loss_sum, seen = 0.0, 0
        for idx in plan:
            if step >= total:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, args.lr)
            ids, mask, labels = collate(train, idx)
            loss = F.cross_entropy(model(ids, mask), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            if step % args.log_every == 0:
                print(f"epoch {epoch} step {step}/{total} loss {loss_sum / seen:.4f} "
                      f"elapsed {time.perf_counter() - start:.0f} s", flush=True)
        held = accuracy(predict(model, valid), valid) if valid else float("nan")
        print(f"epoch {epoch} done: train loss {loss_sum / max(1, seen):.4f}, held-out accuracy "
              f"{held * 100:.2f}%, elapsed {time.perf_counter() - start:.0f} s", flush=True)
        if step >= total:
            break
    train_seconds = time.perf_counter() - start
    print(f"training time: {train_seconds:.0f} s ({train_seconds / 60:.1f} min)", flush=True)

    if args.out:
        write_folder(model, cfg, args.out, args.tokenizer)
        print(f"wrote {args.out}", flush=True)
    logits = predict(model, test)
    print(f"test accuracy (torch, {len(test)} reviews): {accuracy(logits, test) * 100:.2f}%", flush=True)
    if args.logits:
        np.save(args.logits, logits)


def cmd_evaluate(args):
    setup_torch(args)
    with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    model = DistilBertForSequenceClassification(cfg)
    state = torch.load(os.path.join(args.model, "pytorch_model.bin"), map_location="cpu")
    model.load_state_dict(state, strict=True)
    test = load_cache(args.test, cfg["max_position_embeddings"])
    logits = predict(model, test)
    if args.logits:
        np.save(args.logits, logits)
    print(f"torch accuracy: {accuracy(logits, test) * 100:.2f}% ({len(test)} reviews)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train from scratch and write the model folder")
    tr.add_argument("--cache", required=True, help="folder with train_<L>.jsonl and test_<L>.jsonl")
    tr.add_argument("--out", help="model folder to write")
    tr.add_argument("--tokenizer", default=TOKENIZER_DIR,
                    help="folder with tokenizer.json, vocab.txt, tokenizer_config.json to copy into --out "
                         "(default: the repository's examples/distilbert-imdb)")
    tr.add_argument("--logits", help="save the test logits here (.npy)")
    tr.add_argument("--max-length", type=int, default=256, help="max_position_embeddings and truncation")
    tr.add_argument("--dim", type=int, default=64)
    tr.add_argument("--hidden-dim", type=int, default=256)
    tr.add_argument("--n-layers", type=int, default=2)
    tr.add_argument("--n-heads", type=int, default=2)
    tr.add_argument("--dropout", type=float, default=0.1)
    tr.add_argument("--attention-dropout", type=float, default=0.0)
    tr.add_argument("--seq-classif-dropout", type=float, default=0.2)
    tr.add_argument("--epochs", type=int, default=2)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--max-tokens", type=int, default=12288, help="padded tokens per batch at most")
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--warmup", type=float, default=0.1, help="fraction of steps")
    tr.add_argument("--weight-decay", type=float, default=0.01)
    tr.add_argument("--valid", type=int, default=1000, help="training reviews held out for monitoring")
    tr.add_argument("--max-steps", type=int, default=0, help="stop early (calibration runs)")
    tr.add_argument("--log-every", type=int, default=50)
    tr.add_argument("--seed", type=int, default=20111)
    tr.add_argument("--threads", type=int, default=2)
    tr.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="torch accuracy of a saved folder on tokenized test reviews")
    ev.add_argument("--model", required=True)
    ev.add_argument("--test", required=True, help="tokenize_imdb.js output for the test set")
    ev.add_argument("--logits", help="save the logits here (.npy)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--threads", type=int, default=2)
    ev.set_defaults(func=cmd_evaluate)
    args = parser.parse_args()
    if getattr(args, "n_heads", 1) and getattr(args, "dim", 0) % getattr(args, "n_heads", 1):
        parser.error("--dim must be a multiple of --n-heads")
    args.func(args)


if __name__ == "__main__":
    main()
