"""A Llama-shaped sharded PyTorch folder as Hugging Face repositories ship it: `torch.save`
shards (pytorch_model-0000i-of-0000N.bin, or .pt) plus pytorch_model.bin.index.json (.pt.index.json)
({"metadata": {"total_size": N}, "weight_map": {...}}). The tests write a tiny one; the
benchmark (bench/llama_folder_bench.sh) a Llama-2-7B-shaped one (32 layers, dim 4096, FFN 11008,
vocab 32000, F16: 13.5 GB in 8 shards), filled fast by tiling one random block.

    scripts/python tests/support/torch_folder.py OUT_DIR [--layers 32 --dim 4096 --ffn 11008
        --vocab 32000 --shards 8 --ext .bin]
"""
import argparse
import json
import os


def llama_tensors(layers, dim, ffn, vocab):
    """(name, shape) in the order transformers' LlamaForCausalLM state dict lists them."""
    out = [("model.embed_tokens.weight", (vocab, dim))]
    for i in range(layers):
        p = "model.layers.%d." % i
        out += [(p + "self_attn.q_proj.weight", (dim, dim)), (p + "self_attn.k_proj.weight", (dim, dim)),
                (p + "self_attn.v_proj.weight", (dim, dim)), (p + "self_attn.o_proj.weight", (dim, dim)),
                (p + "mlp.gate_proj.weight", (ffn, dim)), (p + "mlp.up_proj.weight", (ffn, dim)),
                (p + "mlp.down_proj.weight", (dim, ffn)), (p + "input_layernorm.weight", (dim,)),
                (p + "post_attention_layernorm.weight", (dim,))]
    out += [("model.norm.weight", (dim,)), ("lm_head.weight", (vocab, dim))]
    return out


def split_by_bytes(tensors, shards, itemsize):
    """Consecutive groups of about equal bytes (as save_pretrained's max_shard_size split)."""
    sizes = [itemsize * _numel(s) for _, s in tensors]
    target = sum(sizes) / shards
    groups, current, acc = [], [], 0
    for t, size in zip(tensors, sizes):
        if current and acc + size / 2 > target * (len(groups) + 1) and len(groups) < shards - 1:
            groups.append(current)
            current = []
        current.append(t)
        acc += size
    groups.append(current)
    return groups


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def write_llama_folder(out, layers=2, dim=8, ffn=16, vocab=32, shards=3, ext=".bin", dtype="float16",
                       fill=None, block_elements=1 << 24, seed=0):
    """Writes the folder; returns {shard file: [tensor names]}. `fill(name, tensor)` may change
    a tensor before it is saved (tests put NaN/Inf in)."""
    import torch
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(seed)
    block = torch.randn(block_elements, generator=gen).to(dt)
    groups = split_by_bytes(llama_tensors(layers, dim, ffn, vocab), shards, block.element_size())
    names = ["pytorch_model-%05d-of-%05d%s" % (i + 1, len(groups), ext) for i in range(len(groups))]
    weight_map, layout, total = {}, {}, 0
    for shard, group in zip(names, groups):
        state = {}
        for name, shape in group:
            n = _numel(shape)
            flat = torch.empty(n, dtype=dt)
            for at in range(0, n, block_elements):  # tile the one random block: fast
                m = min(block_elements, n - at)
                flat[at:at + m] = block[:m]
            t = flat.view(shape)
            if fill:
                fill(name, t)
            state[name] = t
            weight_map[name] = shard
            total += n * block.element_size()
        torch.save(state, os.path.join(out, shard))
        layout[shard] = [name for name, _ in group]
        del state
    with open(os.path.join(out, "pytorch_model%s.index.json" % ext), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return layout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--ffn", type=int, default=11008)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--ext", default=".bin")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    layout = write_llama_folder(a.out, a.layers, a.dim, a.ffn, a.vocab, a.shards, a.ext)
    print(json.dumps({k: len(v) for k, v in layout.items()}))


if __name__ == "__main__":
    main()
