#!/usr/bin/python3
"""Writes the golden fixtures of tests/nn/test_mla.cpp: one Multi-Head Latent
Attention layer (DeepSeek-V2, arXiv:2405.04434, section 2.1, equations 9-19)
in PyTorch, so that CI needs no Python.

    /usr/bin/python3 scripts/make_mla_golden.py   # Debian's python3-torch (1.13)

The layer is written here straight from the paper's equations, in the
explicit form (every head's key and value rebuilt from the latent), with
the interleaved RoPE of scripts/make_rope_golden.py:

    c_KV = W^DKV h        k_C = W^UK c_KV       v_C = W^UV c_KV
    c_Q  = W^DQ h         q_C = W^UQ c_Q        q_R = RoPE(W^QR c_Q)  (per head)
    k_R  = RoPE(W^KR h)   (one for all heads)
    o_h  = softmax([q_C,h; q_R,h] . [k_C,h; k_R] / sqrt(d_h + d_R)) v_C,h
    u    = W^O [o_1; ...; o_H]

No biases (the paper has none). The parameters carry attn's names
(nn/latent_attention.h): kv_down, k_up, v_up, k_rope, q_down, q_up, q_rope,
out_proj, each "<name>.weight" of shape (out, in) as torch.nn.Linear keeps it.

Cases (tests/golden/mla/<case>.txt, the format of scripts/make_rnn_golden.py):
  mla_causal_q_latent   x (2, 5, 8), H 2, d_c 6, d_c' 5, d_R 2, causal mask
                        (a decoder's self-attention);
  mla_padding_no_q      x (2, 4, 12), H 3, d_c 5, no query compression
                        (W^UQ is W^Q on h), d_R 4, key lengths (4, 2)
                        (an encoder's self-attention over a padded batch).
Each file holds the weights, the inputs, out0, the upstream gradient
grad_out0 and the expected gradients of x and of every weight. Inputs and
weights are float32-representable; PyTorch runs in float64.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_rnn_golden import fmt_attr, fmt_tensor, generator, randn  # noqa: E402
from make_rope_golden import rope  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "mla"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


def mla(w, x, H, d_c, d_q, d_r, causal, lengths):
    """x (B, T, D) -> u (B, T, D), the explicit form of equations 9-19."""
    B, T, D = x.shape
    Dh = D // H
    c_kv = x @ w["kv_down.weight"].T                                       # (B, T, d_c)   eq. 9
    k_c = (c_kv @ w["k_up.weight"].T).view(B, T, H, Dh).transpose(1, 2)   # (B, H, T, Dh) eq. 10
    v_c = (c_kv @ w["v_up.weight"].T).view(B, T, H, Dh).transpose(1, 2)   # (B, H, T, Dh) eq. 11
    c_q = x @ w["q_down.weight"].T if d_q > 0 else x                      # (B, T, Dq)    eq. 12
    q_c = (c_q @ w["q_up.weight"].T).view(B, T, H, Dh).transpose(1, 2)    # (B, H, T, Dh) eq. 13
    q_r = rope((c_q @ w["q_rope.weight"].T).view(B, T, H, d_r).transpose(1, 2), 0, 10000.0)  # eq. 14
    k_r = rope((x @ w["k_rope.weight"].T)[:, None], 0, 10000.0)           # (B, 1, T, d_r) eq. 15
    q = torch.cat([q_c, q_r], dim=-1)                                      # eq. 16
    k = torch.cat([k_c, k_r.expand(B, H, T, d_r)], dim=-1)                # eq. 17
    scores = q @ k.transpose(-2, -1) / (Dh + d_r) ** 0.5                   # (B, H, T, T)
    visible = torch.ones(T, T, dtype=torch.bool)[None, None]
    if causal:
        visible = visible & torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None]
    if lengths is not None:
        visible = visible & (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]
    weights = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)
    o = (weights @ v_c).transpose(1, 2).reshape(B, T, H * Dh)              # eq. 18
    return o @ w["out_proj.weight"].T                                      # eq. 19


def case(name, B, T, D, H, d_c, d_q, d_r, causal, lengths):
    gen = generator(name)
    Dh = D // H
    Dq = d_q if d_q > 0 else D
    shapes = [("kv_down.weight", (d_c, D)), ("k_up.weight", (H * Dh, d_c)),
              ("v_up.weight", (H * Dh, d_c)), ("k_rope.weight", (d_r, D))]
    if d_q > 0:
        shapes.append(("q_down.weight", (d_q, D)))
    shapes += [("q_up.weight", (H * Dh, Dq)), ("q_rope.weight", (H * d_r, Dq)),
               ("out_proj.weight", (D, H * Dh))]
    # U(+-1/sqrt(in)) as torch.nn.Linear's init, drawn float32-representable.
    w = {n: ((torch.rand(s, generator=gen) * 2 - 1) / s[1] ** 0.5).float().double().requires_grad_(True)
         for n, s in shapes}
    x = randn(gen, B, T, D).requires_grad_(True)
    out = mla(w, x, H, d_c, d_q, d_r, causal, lengths)
    upstream = randn(generator(name + "/grad"), *out.shape)
    out.backward(upstream)
    text = "# golden fixture made by scripts/make_mla_golden.py with torch %s; do not edit\n" % (
        torch.__version__)
    text += "case %s\nop mla\n" % name
    for key, value in [("num_heads", H), ("kv_latent", d_c), ("q_latent", d_q), ("rope_dim", d_r),
                       ("causal", causal)]:
        text += fmt_attr(key, value)
    for n, _ in shapes:
        text += fmt_tensor(n, w[n])
    text += fmt_tensor("x", x)
    if lengths is not None:
        text += fmt_tensor("lengths", torch.tensor(lengths, dtype=torch.int64))
    text += fmt_tensor("out0", out)
    text += fmt_tensor("grad_out0", upstream)
    text += fmt_tensor("grad_x", x.grad)
    for n, _ in shapes:
        text += fmt_tensor("grad_" + n, w[n].grad)
    return text


def main():
    cases = [
        ("mla_causal_q_latent", case("mla_causal_q_latent", 2, 5, 8, 2, 6, 5, 2, True, None)),
        ("mla_padding_no_q", case("mla_padding_no_q", 2, 4, 12, 3, 5, 0, 4, False, [4, 2])),
    ]
    os.makedirs(OUT_DIR, exist_ok=True)
    for old in os.listdir(OUT_DIR):
        if old.endswith(".txt"):
            os.remove(os.path.join(OUT_DIR, old))
    total = 0
    for name, text in cases:
        with open(os.path.join(OUT_DIR, name + ".txt"), "w") as f:
            f.write(text)
        total += len(text)
    print("wrote %d cases to %s (%d bytes)" % (len(cases), OUT_DIR, total))


if __name__ == "__main__":
    main()
