"""Logit parity of `safetensors-cli classify` with a PyTorch reference forward.

Random DistilBERT weights at a tiny size and at DistilBERT-base size (768/12/6/3072, vocab cut
to 1000) are written as model folders (safetensors F32, F16, sharded, pytorch_model.bin, names
without the "distilbert." prefix). The reference is DistilBertForSequenceClassification's
eval-mode forward written here with torch functional ops over the same state dict
(docs/MODEL.md, "Forward"): padded batches with the key-side mask, erf GELU, LayerNorm
eps 1e-12, [CLS] -> pre_classifier -> ReLU -> classifier. Our CLI runs the same token ids
(--input-ids) in length-sorted padded batches; max abs difference must stay below 1e-4.
"""
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")  # Debian OpenBLAS misdetects this CPU
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import st_testlib  # noqa: E402
import testdata  # noqa: E402

CLI = os.environ.get("SAFETENSORS_CLI", "")
TOL = 1e-4
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


# ---------------------------------------------------------------------------------------------
# Model folders

def make_state_dict(cfg, seed, std=0.05):
    g = torch.Generator().manual_seed(seed)
    d, h, v, p, n = cfg["dim"], cfg["hidden_dim"], cfg["vocab_size"], cfg["max_position_embeddings"], len(cfg["id2label"])

    def rnd(*shape, mean=0.0, s=std):
        return torch.randn(*shape, generator=g) * s + mean

    sd = {
        "distilbert.embeddings.word_embeddings.weight": rnd(v, d, s=0.5),
        "distilbert.embeddings.position_embeddings.weight": rnd(p, d, s=0.5),
        "distilbert.embeddings.LayerNorm.weight": rnd(d, mean=1.0, s=0.1),
        "distilbert.embeddings.LayerNorm.bias": rnd(d, s=0.1),
    }
    for i in range(cfg["n_layers"]):
        pre = f"distilbert.transformer.layer.{i}."
        for name in ("q_lin", "k_lin", "v_lin", "out_lin"):
            sd[pre + f"attention.{name}.weight"] = rnd(d, d)
            sd[pre + f"attention.{name}.bias"] = rnd(d, s=0.1)
        sd[pre + "ffn.lin1.weight"] = rnd(h, d)
        sd[pre + "ffn.lin1.bias"] = rnd(h, s=0.1)
        sd[pre + "ffn.lin2.weight"] = rnd(d, h)
        sd[pre + "ffn.lin2.bias"] = rnd(d, s=0.1)
        for ln in ("sa_layer_norm", "output_layer_norm"):
            sd[pre + ln + ".weight"] = rnd(d, mean=1.0, s=0.1)
            sd[pre + ln + ".bias"] = rnd(d, s=0.1)
    sd["pre_classifier.weight"] = rnd(d, d, s=1.0 / d ** 0.5)
    sd["pre_classifier.bias"] = rnd(d, s=0.1)
    sd["classifier.weight"] = rnd(n, d, s=2.0 / d ** 0.5)
    sd["classifier.bias"] = rnd(n, s=0.1)
    return sd


ST_DTYPES = {torch.float32: ("F32", np.float32), torch.float16: ("F16", np.float16)}


def write_safetensors(path, tensors):
    """{name: torch tensor} as F32/F16 through the stdlib writer (tests/support/st_testlib.py)."""
    st_testlib.write_safetensors(path, [(name, ST_DTYPES[t.dtype][0], list(t.shape),
                                         t.contiguous().numpy().astype(ST_DTYPES[t.dtype][1], copy=False).tobytes())
                                        for name, t in tensors.items()])


def write_config(folder, cfg):
    full = {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
            "activation": "gelu", "attention_dropout": 0.1, "dropout": 0.1, "sinusoidal_pos_embds": False,
            "seq_classif_dropout": 0.2, "pad_token_id": 0, **cfg}
    full["id2label"] = {str(i): l for i, l in enumerate(cfg["id2label"])}
    full["label2id"] = {l: i for i, l in enumerate(cfg["id2label"])}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(full, f, indent=2)


def write_tokenizer(folder, vocab_size):
    if vocab_size >= 30522:
        testdata.copy_tokenizer(folder)
        return
    with open(os.path.join(testdata.TOKENIZER_DIR, "vocab.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")[:vocab_size]
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": 512}, f)


def make_folder(root, name, cfg, sd, variant):
    folder = os.path.join(root, name)
    os.makedirs(folder)
    write_config(folder, cfg)
    write_tokenizer(folder, cfg["vocab_size"])
    if variant == "f32":
        write_safetensors(os.path.join(folder, "model.safetensors"), sd)
    elif variant == "f16":
        write_safetensors(os.path.join(folder, "model.safetensors"), {k: v.half() for k, v in sd.items()})
    elif variant == "noprefix":
        renamed = {k.replace("distilbert.", "", 1).replace("LayerNorm.weight", "LayerNorm.gamma")
                   .replace("LayerNorm.bias", "LayerNorm.beta"): v for k, v in sd.items()}
        write_safetensors(os.path.join(folder, "model.safetensors"), renamed)
    elif variant == "sharded":
        names = sorted(sd)
        half = len(names) // 2
        shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
        weight_map = {}
        for shard, keys in shards.items():
            write_safetensors(os.path.join(folder, shard), {k: sd[k] for k in keys})
            weight_map.update({k: shard for k in keys})
        total = sum(t.numel() * 4 for t in sd.values())
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    elif variant == "bin":
        torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    return folder


# ---------------------------------------------------------------------------------------------
# Reference forward (eval mode), batched with right padding and the key-side mask

def reference_logits(sd, cfg, batch, linear=None):
    """`linear(x, prefix)` replaces F.linear with the state dict's weights (e.g. quantized)."""
    d, nh = cfg["dim"], cfg["n_heads"]
    hd = d // nh
    L = max(len(s) for s in batch)
    ids = torch.zeros(len(batch), L, dtype=torch.long)
    mask = torch.zeros(len(batch), L, dtype=torch.long)
    for i, s in enumerate(batch):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    W = lambda n: sd[n].float()  # noqa: E731
    lin = linear or (lambda x, p: F.linear(x, W(p + ".weight"), W(p + ".bias")))  # noqa: E731
    ln = lambda x, p: F.layer_norm(x, (d,), W(p + ".weight"), W(p + ".bias"), eps=1e-12)  # noqa: E731
    pos = torch.arange(L)
    x = W("distilbert.embeddings.word_embeddings.weight")[ids] + W("distilbert.embeddings.position_embeddings.weight")[pos]
    h = ln(x, "distilbert.embeddings.LayerNorm")
    B = len(batch)
    for i in range(cfg["n_layers"]):
        p = f"distilbert.transformer.layer.{i}."
        shape = lambda t: t.view(B, L, nh, hd).transpose(1, 2)  # noqa: E731
        q = shape(lin(h, p + "attention.q_lin")) / (hd ** 0.5)
        k = shape(lin(h, p + "attention.k_lin"))
        v = shape(lin(h, p + "attention.v_lin"))
        scores = q @ k.transpose(2, 3)
        scores = scores.masked_fill((mask == 0).view(B, 1, 1, L), torch.finfo(scores.dtype).min)
        ctx = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, L, d)
        h1 = ln(lin(ctx, p + "attention.out_lin") + h, p + "sa_layer_norm")
        f = lin(F.gelu(lin(h1, p + "ffn.lin1")), p + "ffn.lin2")
        h = ln(f + h1, p + "output_layer_norm")
    z = F.relu(lin(h[:, 0], "pre_classifier"))
    return lin(z, "classifier")


def reference_all(sd, cfg, inputs, batch, linear=None):
    out = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            out.extend(reference_logits(sd, cfg, inputs[i:i + batch], linear).tolist())
    return out


# ---------------------------------------------------------------------------------------------
# Running the CLI

def run_cli(args, stdin=None):
    r = st_testlib.run(*args, input=stdin, timeout=600)
    return r.returncode, r.stdout, r.stderr


def our_logits(folder, cfg, inputs, extra=()):
    lines = "\n".join(" ".join(map(str, s)) for s in inputs) + "\n"
    rc, out, err = run_cli(["classify", "--model", folder, "--input-ids", "--raw-scores", "--json",
                            "--top-k", "0", "--batch-size", "3", *extra], lines)
    if rc != 0:
        raise RuntimeError(f"classify failed ({rc}): {err}")
    rows = []
    for line in out.strip().split("\n"):
        by_label = {e["label"]: e["score"] for e in json.loads(line)}
        rows.append([by_label[l] for l in cfg["id2label"]])
    return rows


def compare(tag, ours, ref):
    ours, ref = np.array(ours, dtype=np.float64), np.array(ref, dtype=np.float64)
    check(ours.shape == ref.shape, f"{tag}: shape {ours.shape} vs {ref.shape}")
    if ours.shape != ref.shape:
        return
    diff = float(np.abs(ours - ref).max())
    print(f"{tag}: max |logit| {float(np.abs(ref).max()):.3f}, max abs diff {diff:.2e}")
    check(diff < TOL, f"{tag}: max abs diff {diff:.3e} >= {TOL}")
    check(float(np.abs(ref).max()) > 0.1, f"{tag}: reference logits are too small to be a meaningful check")


def random_inputs(rng, vocab, lengths):
    out = []
    for n in lengths:
        ids = rng.integers(999 if vocab > 1000 else 1, vocab, size=n).tolist()
        ids[0] = 101  # [CLS]
        ids[-1] = 102 if n > 1 else ids[-1]
        out.append(ids)
    return out


def main():
    rng = np.random.default_rng(0)
    root = tempfile.mkdtemp(prefix="st_logits_parity_")
    try:
        tiny = {"dim": 32, "n_heads": 4, "n_layers": 2, "hidden_dim": 64, "vocab_size": 30522,
                "max_position_embeddings": 512, "id2label": ["NEGATIVE", "NEUTRAL", "POSITIVE"]}
        sd = make_state_dict(tiny, 1)
        inputs = random_inputs(rng, tiny["vocab_size"], [1, 2, 5, 9, 31, 64, 100, 128, 257, 300, 511, 512])
        ref = reference_all(sd, tiny, inputs, 3)
        sorted_ref = reference_all(sd, tiny, sorted(inputs, key=len), 3)
        by_len = {tuple(s): r for s, r in zip(sorted(inputs, key=len), sorted_ref)}
        compare("reference self-check (batching)", [by_len[tuple(s)] for s in inputs], ref)
        for variant in ("f32", "sharded", "noprefix", "bin"):
            folder = make_folder(root, f"tiny_{variant}", tiny, sd, variant)
            compare(f"tiny {variant}", our_logits(folder, tiny, inputs), ref)
        f16_sd = {k: v.half().float() for k, v in sd.items()}
        folder = make_folder(root, "tiny_f16", tiny, sd, "f16")
        compare("tiny f16", our_logits(folder, tiny, inputs), reference_all(f16_sd, tiny, inputs, 3))
        # Default scores and text input: softmax of the reference logits, top label only.
        folder = os.path.join(root, "tiny_f32")
        rc, out, err = run_cli(["classify", "--model", folder, "--json", "--input-ids"],
                               "\n".join(" ".join(map(str, s)) for s in inputs[:4]) + "\n")
        check(rc == 0, f"default classify: rc {rc} {err}")
        for line, r in zip(out.strip().split("\n"), ref[:4]):
            got = json.loads(line)
            p = torch.softmax(torch.tensor(r), 0)
            check(len(got) == 1 and got[0]["label"] == tiny["id2label"][int(p.argmax())],
                  f"default label {got} vs {p.tolist()}")
            check(abs(got[0]["score"] - float(p.max())) < 1e-5, f"default score {got} vs {p.tolist()}")
        texts = ["This movie was great!", "Terrible, boring and far too long.", "ça va? 日本語 😀"]
        rc, tok_out, err = run_cli(["tokenize", "--model", folder, "--json", *texts])
        check(rc == 0, f"tokenize: rc {rc} {err}")
        ids = [json.loads(l)["input_ids"] for l in tok_out.strip().split("\n")]
        rc, text_out, err = run_cli(["classify", "--model", folder, "--raw-scores", "--json", "--top-k", "0", *texts])
        check(rc == 0, f"classify texts: rc {rc} {err}")
        text_rows = [{e["label"]: e["score"] for e in json.loads(l)} for l in text_out.strip().split("\n")]
        compare("tiny texts", [[r[l] for l in tiny["id2label"]] for r in text_rows], reference_all(sd, tiny, ids, 3))

        base = {"dim": 768, "n_heads": 12, "n_layers": 6, "hidden_dim": 3072, "vocab_size": 1000,
                "max_position_embeddings": 512, "id2label": ["NEGATIVE", "POSITIVE"]}
        sd = make_state_dict(base, 2, std=0.03)
        inputs = random_inputs(rng, base["vocab_size"], [1, 3, 16, 77, 128, 512])
        ref = reference_all(sd, base, inputs, 3)
        for variant in ("f32",):  # the .bin path is covered at the tiny size
            folder = make_folder(root, f"base_{variant}", base, sd, variant)
            compare(f"base {variant}", our_logits(folder, base, inputs, ["--threads", "2"]), ref)
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("logits parity: all checks passed")


if __name__ == "__main__":
    main()
