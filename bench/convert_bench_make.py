"""Writes a DistilBERT-base-shaped state dict (random F32, ~268 MB) with torch.save, as
pytorch_model.bin in the given folder. Used by bench/convert_bench.sh."""
import collections
import os
import sys

import torch

out = sys.argv[1]
torch.manual_seed(0)
d, ffn, layers = 768, 3072, 6
sd = collections.OrderedDict()
sd["distilbert.embeddings.word_embeddings.weight"] = torch.randn(30522, d)
sd["distilbert.embeddings.position_embeddings.weight"] = torch.randn(512, d)
sd["distilbert.embeddings.LayerNorm.weight"] = torch.ones(d)
sd["distilbert.embeddings.LayerNorm.bias"] = torch.zeros(d)
for i in range(layers):
    p = f"distilbert.transformer.layer.{i}."
    for name in ("q_lin", "k_lin", "v_lin", "out_lin"):
        sd[p + f"attention.{name}.weight"] = torch.randn(d, d)
        sd[p + f"attention.{name}.bias"] = torch.randn(d)
    sd[p + "sa_layer_norm.weight"] = torch.ones(d)
    sd[p + "sa_layer_norm.bias"] = torch.zeros(d)
    sd[p + "ffn.lin1.weight"] = torch.randn(ffn, d)
    sd[p + "ffn.lin1.bias"] = torch.randn(ffn)
    sd[p + "ffn.lin2.weight"] = torch.randn(d, ffn)
    sd[p + "ffn.lin2.bias"] = torch.randn(d)
    sd[p + "output_layer_norm.weight"] = torch.ones(d)
    sd[p + "output_layer_norm.bias"] = torch.zeros(d)
sd["pre_classifier.weight"] = torch.randn(d, d)
sd["pre_classifier.bias"] = torch.zeros(d)
sd["classifier.weight"] = torch.randn(2, d)
sd["classifier.bias"] = torch.zeros(2)
torch.save(sd, os.path.join(out, "pytorch_model.bin"))
print(f"{len(sd)} tensors, {sum(t.numel() for t in sd.values()) * 4} bytes")
