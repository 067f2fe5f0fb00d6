"""`safetensors-cli serve` end to end over loopback, with a real model folder.

A tiny random DistilBERT classifier (the real bert-base-uncased tokenizer, tests/support/testdata.py) is
written to a temp folder; the server runs on 127.0.0.1 with --port 0. Checked: every route and
input shape, results identical to `safetensors-cli classify` on the same texts (a torch
reference forward when the classify command is absent), every error status, 64 concurrent
clients each getting its own answer, SIGTERM while busy answering every accepted request and
exiting 0, and one JSON log line per request.
"""
import http.client
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))
import st_testlib  # noqa: E402
import testdata  # noqa: E402

CLI = os.environ.get("SAFETENSORS_CLI", "")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, flush=True)


# --------------------------------------------------------------------------------------------
# A tiny model folder

CFG = {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
       "dim": 32, "n_heads": 2, "n_layers": 2, "hidden_dim": 64, "vocab_size": 30522,
       "max_position_embeddings": 512, "activation": "gelu", "dropout": 0.1,
       "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1}}


def state_dict(seed=7):
    g = torch.Generator().manual_seed(seed)
    d, h, v, p = CFG["dim"], CFG["hidden_dim"], CFG["vocab_size"], CFG["max_position_embeddings"]
    r = lambda *shape, s=0.2, m=0.0: torch.randn(*shape, generator=g) * s + m  # noqa: E731
    sd = {"distilbert.embeddings.word_embeddings.weight": r(v, d, s=0.5),
          "distilbert.embeddings.position_embeddings.weight": r(p, d, s=0.5),
          "distilbert.embeddings.LayerNorm.weight": r(d, s=0.1, m=1.0),
          "distilbert.embeddings.LayerNorm.bias": r(d, s=0.1)}
    for i in range(CFG["n_layers"]):
        pre = f"distilbert.transformer.layer.{i}."
        for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
            sd[pre + f"attention.{n}.weight"], sd[pre + f"attention.{n}.bias"] = r(d, d), r(d, s=0.1)
        sd[pre + "ffn.lin1.weight"], sd[pre + "ffn.lin1.bias"] = r(h, d), r(h, s=0.1)
        sd[pre + "ffn.lin2.weight"], sd[pre + "ffn.lin2.bias"] = r(d, h), r(d, s=0.1)
        for ln in ("sa_layer_norm", "output_layer_norm"):
            sd[pre + ln + ".weight"], sd[pre + ln + ".bias"] = r(d, s=0.1, m=1.0), r(d, s=0.1)
    sd["pre_classifier.weight"], sd["pre_classifier.bias"] = r(d, d, s=0.3), r(d, s=0.1)
    sd["classifier.weight"], sd["classifier.bias"] = r(2, d, s=0.5), r(2, s=0.1)
    return sd


def write_safetensors(path, tensors):
    """{name: torch tensor} as F32 through the stdlib writer (tests/support/st_testlib.py)."""
    st_testlib.write_safetensors(path, [(name, "F32", list(t.shape), t.contiguous().numpy().astype(np.float32).tobytes())
                                        for name, t in tensors.items()])


def make_model(folder, sd):
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(CFG, f)
    write_safetensors(os.path.join(folder, "model.safetensors"), sd)
    testdata.copy_tokenizer(folder, ("tokenizer.json", "tokenizer_config.json"), model_max_length=512)


def reference_logits(sd, ids):
    """DistilBertForSequenceClassification eval forward, one unpadded sequence."""
    d, nh = CFG["dim"], CFG["n_heads"]
    x = sd["distilbert.embeddings.word_embeddings.weight"][ids] + sd["distilbert.embeddings.position_embeddings.weight"][: len(ids)]
    x = F.layer_norm(x, (d,), sd["distilbert.embeddings.LayerNorm.weight"], sd["distilbert.embeddings.LayerNorm.bias"], 1e-12)
    for i in range(CFG["n_layers"]):
        p = lambda n: sd[f"distilbert.transformer.layer.{i}.{n}"]  # noqa: E731
        lin = lambda t, n: F.linear(t, p(n + ".weight"), p(n + ".bias"))  # noqa: E731
        heads = lambda t: t.view(len(ids), nh, d // nh).transpose(0, 1)  # noqa: E731
        q = heads(lin(x, "attention.q_lin")) / (d // nh) ** 0.5
        k, v = heads(lin(x, "attention.k_lin")), heads(lin(x, "attention.v_lin"))
        ctx = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v
        x = F.layer_norm(lin(ctx.transpose(0, 1).reshape(len(ids), d), "attention.out_lin") + x, (d,),
                         p("sa_layer_norm.weight"), p("sa_layer_norm.bias"), 1e-12)
        ff = lin(F.gelu(lin(x, "ffn.lin1")), "ffn.lin2")
        x = F.layer_norm(ff + x, (d,), p("output_layer_norm.weight"), p("output_layer_norm.bias"), 1e-12)
    pooled = F.relu(F.linear(x[0], sd["pre_classifier.weight"], sd["pre_classifier.bias"]))
    return F.linear(pooled, sd["classifier.weight"], sd["classifier.bias"]).tolist()


# --------------------------------------------------------------------------------------------
# Server process and HTTP

class Server:
    def __init__(self, model, *args):
        self.proc = subprocess.Popen([CLI, "serve", "--model", model, "--port", "0", "--json-logs", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        check(line.startswith("listening on http://127.0.0.1:"), f"first stdout line: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.stderr = []
        self.reader = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)
        self.reader.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def request(self, method, path, body=None, headers=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read().decode(), dict(resp.getheaders())
        finally:
            conn.close()

    def json(self, path, body, **kw):
        status, text, _ = self.request("POST", path, body, **kw)
        return status, (json.loads(text) if text else None)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return rc


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# The engine's float32 results depend slightly on the batch an input runs in (oneDNN picks its
# GEMM blocking from the shapes; padding changes them), so "identical" means: the same labels
# in the same order and scores equal to float32 rounding noise.
SCORE_TOL = 1e-5
max_diff = [0.0]


def same_scores(a, b):
    if [x["label"] for x in a] != [x["label"] for x in b]:
        return False
    diff = max(abs(f32(x["score"]) - f32(y["score"])) for x, y in zip(a, b))
    max_diff[0] = max(max_diff[0], diff)
    return diff <= SCORE_TOL


def load_texts(n):
    return [r["text"].replace("\n", " ") for r in testdata.imdb_records()[:n]]


def has_classify():
    return subprocess.run([CLI, "classify", "--help"], capture_output=True).returncode == 0


def classify(model, texts, *args):
    out = subprocess.run([CLI, "classify", "--model", model, "--json", "--top-k", "0", *args],
                         input="\n".join(texts) + "\n", capture_output=True, text=True, timeout=300)
    check(out.returncode == 0, f"classify failed: {out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------

def check_routes(s, model, sd, texts):
    status, info = s.request("GET", "/info")[0], json.loads(s.request("GET", "/info")[1])
    check(status == 200 and info["model_type"]["classifier"]["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}, f"/info {info}")
    check(info["max_input_length"] == 512, f"max_input_length {info['max_input_length']}")
    check(info["precision"] == "fp32" and info["model_dtype"] == "float32", f"/info precision {info}")
    check(info["compute"]["isa"] != "" and info["compute"]["cpu"] != "", f"/info compute {info}")
    check(info["compute"]["precision"] == "fp32", f"/info compute precision {info}")

    # Single text, list of one, batch, FastAPI shape, pair, raw scores.
    st, single = s.json("/predict", {"inputs": texts[0]})
    check(st == 200 and len(single) == 2 and single[0]["score"] >= single[1]["score"], f"single {st} {single}")
    check(same_scores(s.json("/predict", {"inputs": [texts[0]]})[1], single), "list of one text == single")
    st, batch = s.json("/predict", {"inputs": [[t] for t in texts[:6]]})
    check(st == 200 and len(batch) == 6 and same_scores(batch[0], single), f"batch {st} {batch[0]} {single}")
    st, fa = s.json("/predict", {"text": texts[0]})
    check(st == 200 and set(fa) == {"label", "score"} and same_scores([fa], single[:1]), f"fastapi shape {fa}")
    st, pair = s.json("/predict", {"inputs": ["a great film", "a dull film"]})
    check(st == 200 and len(pair) == 2 and {p["label"] for p in pair} == {"NEGATIVE", "POSITIVE"}, f"pair {pair}")
    st, raw = s.json("/predict", {"inputs": texts[1], "raw_scores": True})
    check(st == 200 and abs(sum(x["score"] for x in raw) - 1.0) > 1e-6, f"raw scores are logits {raw}")

    # Same answers as classify (or the torch reference) for the same texts.
    st, many = s.json("/predict", {"inputs": [[t] for t in texts]})
    st2, many_raw = s.json("/predict", {"inputs": [[t] for t in texts], "raw_scores": True})
    check(st == 200 and st2 == 200, "batch predict")
    if has_classify():
        expected = classify(model, texts)
        for i, (got, exp) in enumerate(zip(many, expected)):
            check(same_scores(got, exp), f"text {i}: server {got} != classify {exp}")
        expected_raw = classify(model, texts, "--raw-scores")
        for i, (got, exp) in enumerate(zip(many_raw, expected_raw)):
            check(same_scores(got, exp), f"text {i}: raw server {got} != classify {exp}")
        print(f"classify parity: {len(texts)} texts match", flush=True)
    else:
        print("NOTE: no classify command in this build; comparing with the torch reference", flush=True)
    st, toks = s.json("/tokenize", {"inputs": texts})
    for i, (got, t) in enumerate(zip(many_raw, toks)):
        ids = [x["id"] for x in t][:512]
        if len(t) > 512:
            ids = ids[:511] + [102]
        ref = reference_logits(sd, ids)
        by_label = {x["label"]: x["score"] for x in got}
        check(abs(by_label["NEGATIVE"] - ref[0]) < 1e-4 and abs(by_label["POSITIVE"] - ref[1]) < 1e-4,
              f"text {i}: server logits {by_label} vs torch {ref}")

    # /tokenize and /decode.
    st, toks = s.json("/tokenize", {"inputs": "Héllo, world!"})
    check(st == 200 and [x["text"] for x in toks[0]] == ["[CLS]", "Héllo", ",", "world", "!", "[SEP]"], f"tokenize {toks}")
    check(toks[0][1]["start"] == 0 and toks[0][1]["stop"] == len("Héllo".encode()) and toks[0][0]["special"], f"offsets {toks}")
    st, text = s.json("/decode", {"ids": [x["id"] for x in toks[0]]})
    check(st == 200 and text == ["hello, world!"], f"decode {text}")

    # Metrics.
    st, metrics, hdr = s.request("GET", "/metrics")
    check(st == 200 and "te_request_success{method=\"batch\"}" in metrics and "te_request_inference_duration_bucket" in metrics
          and "te_batch_next_size_count" in metrics and "te_queue_size" in metrics, "metrics content")


def check_errors(s):
    def expect(status, etype, method, path, body=None, headers=None):
        st, text, hdr = s.request(method, path, body, headers)
        ok = st == status
        try:
            ok = ok and json.loads(text)["error_type"] == etype
        except (ValueError, KeyError):
            ok = False
        check(ok, f"{method} {path}: expected {status} {etype}, got {st} {text[:200]}")
        return hdr
    expect(422, "Validation", "POST", "/predict", b"{\"inputs\": ")
    expect(422, "Validation", "POST", "/predict", b"\xff\xfe")
    expect(422, "Validation", "POST", "/predict", {"inputs": ["a", "b", "c"]})
    expect(413, "Validation", "POST", "/predict", {"inputs": "x " * 600, "truncate": False})
    expect(413, "Validation", "POST", "/predict", {"inputs": [["x"]] * 9})  # --max-client-batch-size 8
    expect(422, "Validation", "POST", "/predict", {"inputs": []})
    expect(400, "Empty", "POST", "/predict", {"inputs": ""})
    expect(413, "PayloadTooLarge", "POST", "/predict", {"inputs": "x" * 300_000})
    expect(404, "NotFound", "GET", "/nowhere")
    hdr = expect(405, "MethodNotAllowed", "GET", "/predict")
    check(hdr.get("Allow") == "POST", f"Allow header {hdr}")
    hello = s.json("/tokenize", {"inputs": "hello", "add_special_tokens": False})[1][0][0]["id"]
    st, text = s.json("/decode", {"ids": [hello, 999999]})  # ids outside the vocabulary are skipped
    check(st == 200 and text == ["hello"], f"decode with an unknown id: {st} {text}")
    # Still healthy after the bad requests.
    check(s.request("GET", "/health")[0] == 200, "healthy after errors")


def check_concurrency(s, model, texts):
    expected = classify(model, texts) if has_classify() else None
    results = [None] * len(texts)

    def one(i):
        try:
            results[i] = s.json("/predict", {"inputs": texts[i]})
        except Exception as e:  # noqa: BLE001
            results[i] = (0, repr(e))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    singles = [s.json("/predict", {"inputs": t})[1] for t in texts[:8]]
    for i, (st, body) in enumerate(results):
        check(st == 200, f"concurrent client {i}: {st} {body}")
        if st == 200 and expected:
            check(same_scores(body, expected[i]), f"concurrent client {i}: {body} != classify {expected[i]}")
        if st == 200 and i < 8:
            check(same_scores(body, singles[i]), f"concurrent client {i}: {body} != sequential {singles[i]}")
    metrics = s.request("GET", "/metrics")[1]
    sizes = [line for line in metrics.splitlines() if line.startswith("te_batch_next_size_bucket{le=\"1\"}")
             or line.startswith("te_batch_next_size_count")]
    print("batch sizes:", sizes, flush=True)


def check_shutdown_while_busy(s, texts):
    results = [None] * len(texts)

    def one(i):
        try:
            results[i] = s.json("/predict", {"inputs": texts[i]})[0]
        except Exception as e:  # noqa: BLE001
            results[i] = repr(e)
    before = s.request("GET", "/metrics")[1]
    base = next(int(l.split()[1]) for l in before.splitlines() if l.startswith("te_predict_count"))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    deadline = time.time() + 30  # wait until every request was read (accepted) by the server
    while time.time() < deadline:
        m = s.request("GET", "/metrics")[1]
        if next(int(l.split()[1]) for l in m.splitlines() if l.startswith("te_predict_count")) >= base + len(texts):
            break
        time.sleep(0.01)
    busy = sum(r is None for r in results)
    rc = s.stop(signal.SIGTERM)
    for t in threads:
        t.join(timeout=60)
    check(rc == 0, f"exit code after SIGTERM: {rc}")
    check(all(r == 200 for r in results), f"answers after SIGTERM: {results}")
    print(f"SIGTERM with {busy} of {len(texts)} requests unanswered: all answered, exit {rc}", flush=True)


def check_logs(s):
    lines = [json.loads(l) for l in s.stderr if l.startswith("{")]
    requests = [l for l in lines if "path" in l]
    check(any(l["path"] == "/predict" and l["status"] == 200 and l["tokens"] > 0 for l in requests), "a /predict log line")
    check(any(l["status"] == 413 for l in requests), "a 413 log line")
    check(any(l.get("event") == "ready" for l in lines), "a ready line")
    check(any(l.get("event") == "stopped" for l in lines), "a stopped line")
    bad = [l for l in s.stderr if not l.startswith("{")]
    check(not bad, f"non-JSON log lines with --json-logs: {bad[:3]}")


def check_second_server(model, text):
    # --api-key, --max-concurrent-requests 1 and --precision int8; stopped with SIGINT.
    s = Server(model, "--api-key", "k3y", "--max-concurrent-requests", "1", "--precision", "int8")
    try:
        auth = {"Authorization": "Bearer k3y"}
        info = json.loads(s.request("GET", "/info", None, auth)[1])
        check(info["precision"] == "int8" and info["model_dtype"] == "int8" and info["compute"]["precision"] == "int8",
              f"/info int8: {info}")
        st, body, _ = s.request("POST", "/predict", {"inputs": text}, auth)
        want = classify(model, [text], "--precision", "int8")
        check(st == 200 and same_scores(json.loads(body), want[0]), f"int8 /predict {body} vs classify {want}")
        st, body, hdr = s.request("POST", "/predict", {"inputs": "x"})
        check(st == 401 and json.loads(body)["error_type"] == "Unauthorized", f"401 without key: {st} {body}")
        st, body, _ = s.request("POST", "/predict", {"inputs": "x"}, {"Authorization": "Bearer nope"})
        check(st == 401, f"401 with a wrong key: {st}")
        auth = {"Authorization": "Bearer k3y"}
        check(s.request("POST", "/predict", {"inputs": "x"}, auth)[0] == 200, "200 with the key")
        st, body, _ = s.request("POST", "/predict", {"inputs": [["a"], ["b"]]}, auth)
        check(st == 429 and json.loads(body)["error_type"] == "Overloaded", f"429: {st} {body}")
        check(s.request("GET", "/health")[0] == 200, "/health needs no key")
    finally:
        rc = s.stop(signal.SIGINT)
    check(rc == 0, f"exit code after SIGINT: {rc}")


def main():
    if not CLI:
        print("SAFETENSORS_CLI is not set")
        return 1
    tmp = tempfile.mkdtemp(prefix="serve_test_")
    try:
        model = os.path.join(tmp, "tiny")
        sd = state_dict()
        make_model(model, sd)
        texts = load_texts(64)
        s = Server(model, "--max-client-batch-size", "8", "--payload-limit", "200000", "--threads", "2")
        try:
            check_routes(s, model, sd, texts[:8])
            check_errors(s)
            check_concurrency(s, model, texts)
            check_shutdown_while_busy(s, texts[:32])
        finally:
            if s.proc.poll() is None:
                s.stop()
        check_logs(s)
        check_second_server(model, texts[0])
        # A model folder that does not load: error, exit 1, nothing left listening.
        bad = os.path.join(tmp, "bad")
        os.makedirs(bad)
        r = subprocess.run([CLI, "serve", "--model", bad, "--port", "0"], capture_output=True, text=True, timeout=60)
        check(r.returncode in (1, 3) and "config.json" in r.stderr, f"bad model folder: rc {r.returncode} {r.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"largest score difference between batch compositions / classify: {max_diff[0]:.3g}")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
