"""What Hugging Face transformers (4.29 series) asks of the safetensors package, reproduced with a
DistilBERT-shaped torch module built from torch.nn (transformers itself cannot be installed
here): availability checks, the imports, save_file(shard, metadata={"format": "pt"}) after
dropping shared tensors, safe_open + metadata().get("format"), load_file(path) and
load_file(path, device="cpu") per shard, load_state_dict, identical logits; and the clear
errors for the frameworks we do not support."""
import importlib.metadata
import importlib.util
import math
import os
import unittest

import torch
from torch import nn

from pypackage_testlib import PackageTestCase, SafetensorError


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, mask):
        b, n, d = x.shape
        h = self.heads

        def split(t):
            return t.view(b, n, h, d // h).transpose(1, 2)
        q, k, v = split(self.q_lin(x)), split(self.k_lin(x)), split(self.v_lin(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        return self.out_lin(ctx)


class Ffn(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.lin2(nn.functional.gelu(self.lin1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.attention = Attention(dim, heads)
        self.sa_layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.ffn = Ffn(dim, hidden)
        self.output_layer_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x, mask):
        x = self.sa_layer_norm(x + self.attention(x, mask))
        return self.output_layer_norm(x + self.ffn(x))


class Embeddings(nn.Module):
    def __init__(self, vocab, dim, positions):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim, padding_idx=0)
        self.position_embeddings = nn.Embedding(positions, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])[None, :]
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos))


class Transformer(nn.Module):
    def __init__(self, layers, dim, heads, hidden):
        super().__init__()
        self.layer = nn.ModuleList(Block(dim, heads, hidden) for _ in range(layers))


class DistilBert(nn.Module):
    def __init__(self, vocab, dim, heads, hidden, layers, positions):
        super().__init__()
        self.embeddings = Embeddings(vocab, dim, positions)
        self.transformer = Transformer(layers, dim, heads, hidden)


class DistilBertForSequenceClassification(nn.Module):
    """The parameter names and shapes of transformers' class (smaller sizes)."""

    def __init__(self, vocab=1000, dim=64, heads=4, hidden=128, layers=2, positions=64, labels=2):
        super().__init__()
        self.distilbert = DistilBert(vocab, dim, heads, hidden, layers, positions)
        self.pre_classifier = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, labels)

    def forward(self, ids, mask):
        x = self.distilbert.embeddings(ids)
        for block in self.distilbert.transformer.layer:
            x = block(x, mask)
        return self.classifier(torch.relu(self.pre_classifier(x[:, 0])))


def shards_of(state_dict, n):
    names = sorted(state_dict)
    return [{k: state_dict[k] for k in names[i::n]} for i in range(n)]


class TransformersSequence(PackageTestCase):
    def setUp(self):
        super().setUp()
        torch.manual_seed(0)
        self.model = DistilBertForSequenceClassification().eval()
        self.ids = torch.randint(1, 1000, (3, 16))
        self.mask = torch.ones(3, 16, dtype=torch.long)
        self.mask[1, 10:] = 0
        with torch.no_grad():
            self.logits = self.model(self.ids, self.mask)

    def test_availability_and_imports(self):
        self.assertIsNotNone(importlib.util.find_spec("safetensors"))
        self.assertIsNotNone(importlib.metadata.version("safetensors"))
        major, minor = (int(x) for x in torch.__version__.split(".")[:2])
        self.assertGreaterEqual((major, minor), (1, 10))
        import safetensors
        from safetensors import safe_open  # noqa: F401
        from safetensors.torch import load_file, save_file  # noqa: F401
        self.assertIsInstance(safetensors.__version__, str)

    def test_storage_identity_helpers(self):
        # transformers' pytorch_utils.id_tensor_storage imports these to find tied weights
        from safetensors.torch import storage_ptr, storage_size
        w = torch.zeros(4, 3)

        def storage_id(t):
            return t.device, storage_ptr(t), storage_size(t)
        self.assertEqual(storage_id(w), storage_id(w.view(3, 4)))
        self.assertEqual(storage_size(w), 48)
        self.assertNotEqual(storage_id(w), storage_id(w.clone()))

    def save(self, state_dict, path):
        from safetensors.torch import save_file
        # transformers drops shared tensors itself (tied weights) before save_file
        ptrs = {}
        kept = {}
        for k, v in state_dict.items():
            key = (v.data_ptr(), v.numel())
            if key not in ptrs:
                ptrs[key] = k
                kept[k] = v.contiguous()
        save_file(kept, path, metadata={"format": "pt"})

    def load(self, path, device=None):
        from safetensors import safe_open
        from safetensors.torch import load_file
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata()
        if metadata.get("format") not in ["pt", "tf", "flax"]:
            raise OSError("not a pt file")
        return load_file(path) if device is None else load_file(path, device=device)

    def test_single_file_round_trip_gives_identical_logits(self):
        path = self.path("model.safetensors")
        self.save(self.model.state_dict(), path)
        for device in (None, "cpu"):
            state = self.load(path, device)
            fresh = DistilBertForSequenceClassification().eval()
            fresh.load_state_dict(state)
            with torch.no_grad():
                self.assertTrue(torch.equal(fresh(self.ids, self.mask), self.logits))

    def test_sharded_checkpoint_loaded_per_shard(self):
        state = {}
        for i, shard in enumerate(shards_of(self.model.state_dict(), 3)):
            path = self.path(f"model-{i + 1:05d}-of-00003.safetensors")
            self.save(shard, path)
            state.update(self.load(path))
        fresh = DistilBertForSequenceClassification().eval()
        fresh.load_state_dict(state)
        with torch.no_grad():
            self.assertTrue(torch.equal(fresh(self.ids, self.mask), self.logits))

    def test_file_without_metadata_gives_none(self):
        from safetensors import safe_open
        from safetensors.torch import save_file
        path = self.path("plain.safetensors")
        save_file({"a": torch.zeros(1)}, path)
        with safe_open(path, framework="pt") as f:
            self.assertIsNone(f.metadata())

    def test_unsupported_frameworks_are_clear(self):
        from safetensors import safe_open
        path = self.path("model.safetensors")
        self.save(self.model.state_dict(), path)
        for fw in ("tf", "flax", "jax"):
            with self.assertRaisesRegex(SafetensorError, "not supported"):
                safe_open(path, framework=fw)
        with self.assertRaisesRegex(ImportError, "not supported"):
            import safetensors.tensorflow  # noqa: F401


if __name__ == "__main__":
    unittest.main()
