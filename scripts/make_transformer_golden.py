#!/usr/bin/python3
"""Writes the golden fixtures of tests/nn/test_transformer_golden.cpp: a tiny
attn::nn::Transformer (nn/transformer.h) checked against a PyTorch mirror
with the same weights and batch, through the forward pass, the training loss,
gradients, and three Adam steps, so that CI needs no Python.

    /usr/bin/python3 scripts/make_transformer_golden.py   # Debian's python3-torch (1.13)

The mirror is written here module by module, not taken from
torch.nn.Transformer, because attn's model differs from PyTorch's in ways the
paper leaves open or that attn names as options:
  - separate q_proj / k_proj / v_proj / out_proj Linear layers with biases
    (PyTorch fuses the first three into in_proj_weight);
  - embeddings scaled by sqrt(d_model) (section 3.4), then interleaved
    sinusoids PE(pos, 2i) = sin(pos w_i), PE(pos, 2i+1) = cos(pos w_i),
    w_i = 10000^(-2i/D) (section 3.5);
  - post-LN x = LayerNorm(x + Sublayer(x)) (the paper's), or pre-LN
    x = x + Sublayer(LayerNorm(x)) with one more LayerNorm after each stack;
  - masks as attn makes them (1 = may attend): source padding hides the keys
    beyond each source length in the encoder and in the cross-attention, the
    decoder's self-attention is causal. A hidden score becomes the most
    negative finite float64, not -inf, and the hidden weights are then set to
    0, so a fully masked row (a source of length 0) attends to nothing and
    outputs only out_proj's bias, where torch.nn.MultiheadAttention gives NaN
    (nn/scaled_dot_product_attention.cpp explains the choice);
  - the output Linear D -> V_tgt with a bias (tied_output off).
Dropout is 0 everywhere, so the run is deterministic.

The loss is attn's training loss (train/train_step.cpp, batch_loss): cross
entropy over (B*T, V) with ignore_index = data::kPad = 0 and label smoothing
0.1, the mean over non-pad targets. The optimizer is torch.optim.Adam with
lr 1e-2, betas (0.9, 0.98), eps 1e-9 (the paper's section 5.3 betas and a
tiny eps), no clipping and no schedule.

Each case becomes tests/golden/transformer/<case>.txt in the format of
scripts/make_rnn_golden.py:
    attr ...                      the TransformerOptions and the optimizer's
    tensor <parameter name> ...   every weight under attn's names
    tensor source / source_lengths / target_input / target_output   the batch
    tensor memory (B, S, D)       the encoder's output (to find a disagreeing module)
    tensor logits (B, T, V)       forward's output
    tensor losses (steps + 1)     the loss before the first Adam step and after each step
    tensor grad_<name>            a few gradients after the first backward
    tensor updated_<name>         a few parameters after the last step
Weights are drawn by a generator seeded by the case's name and are
float32-representable; PyTorch runs in float64.
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_rnn_golden import fmt_attr, fmt_tensor, generator, randn  # noqa: E402  (format, draws)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "transformer"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

PAD, BOS, EOS = 0, 2, 3  # data/vocab.h: kPad, kBos, kEos (kUnk = 1)
FIRST_WORD = 4           # ids below are the special tokens
LABEL_SMOOTHING = 0.1
LR, BETA1, BETA2, EPS = 1e-2, 0.9, 0.98, 1e-9
STEPS = 3


# --- the mirror of attn's modules, with attn's module and parameter names -------------

def sinusoids(length, d_model):
    """nn/positional_encoding.cpp: (length, D), interleaved sine and cosine."""
    pe = torch.zeros(length, d_model)
    for i in range(d_model // 2):
        frequency = math.pow(10000.0, -float(2 * i) / float(d_model))
        for pos in range(length):
            pe[pos, 2 * i] = math.sin(pos * frequency)
            pe[pos, 2 * i + 1] = math.cos(pos * frequency)
    return pe


class MultiheadAttention(torch.nn.Module):
    """nn/multihead_attention.cpp with num_kv_heads = num_heads, no dropout."""

    def __init__(self, d_model, num_heads):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.q_proj = torch.nn.Linear(d_model, d_model)
        self.k_proj = torch.nn.Linear(d_model, d_model)
        self.v_proj = torch.nn.Linear(d_model, d_model)
        self.out_proj = torch.nn.Linear(d_model, d_model)

    def split_heads(self, proj, x):  # (B, T, D) -> (B, H, T, Dh)
        B, T, _ = x.shape
        return proj(x).reshape(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, mask):
        q = self.split_heads(self.q_proj, query)                      # (B, H, Tq, Dh)
        k = self.split_heads(self.k_proj, key)                        # (B, H, Tk, Dh)
        v = self.split_heads(self.v_proj, value)                      # (B, H, Tk, Dh)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))  # (B, H, Tq, Tk)
        hidden = (mask == 0).expand(scores.shape)                     # True = hidden
        scores = scores.masked_fill(hidden, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, -1).masked_fill(hidden, 0.0)  # (B, H, Tq, Tk)
        B, H, Tq, Dh = q.shape
        concat = (weights @ v).transpose(1, 2).reshape(B, Tq, H * Dh)  # (B, Tq, D)
        return self.out_proj(concat)                                  # (B, Tq, D)


class PositionwiseFeedForward(torch.nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.linear1 = torch.nn.Linear(d_model, d_ff)
        self.linear2 = torch.nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.linear2(torch.relu(self.linear1(x)))  # eq. 2


def sublayer(x, norm, pre_ln, body):
    """post-LN: LayerNorm(x + body(x)); pre-LN: x + body(LayerNorm(x))."""
    return x + body(norm(x)) if pre_ln else norm(x + body(x))


class EncoderLayer(torch.nn.Module):
    def __init__(self, d_model, num_heads, d_ff, pre_ln):
        super().__init__()
        self.pre_ln = pre_ln
        self.self_attention = MultiheadAttention(d_model, num_heads)
        self.feed_forward = PositionwiseFeedForward(d_model, d_ff)
        self.norm1 = torch.nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = torch.nn.LayerNorm(d_model, eps=1e-5)

    def forward(self, x, mask):
        x = sublayer(x, self.norm1, self.pre_ln, lambda a: self.self_attention(a, a, a, mask))
        return sublayer(x, self.norm2, self.pre_ln, self.feed_forward)


class DecoderLayer(torch.nn.Module):
    def __init__(self, d_model, num_heads, d_ff, pre_ln):
        super().__init__()
        self.pre_ln = pre_ln
        self.self_attention = MultiheadAttention(d_model, num_heads)
        self.cross_attention = MultiheadAttention(d_model, num_heads)
        self.feed_forward = PositionwiseFeedForward(d_model, d_ff)
        self.norm1 = torch.nn.LayerNorm(d_model, eps=1e-5)
        self.norm2 = torch.nn.LayerNorm(d_model, eps=1e-5)
        self.norm3 = torch.nn.LayerNorm(d_model, eps=1e-5)

    def forward(self, y, memory, self_mask, memory_mask):
        y = sublayer(y, self.norm1, self.pre_ln, lambda a: self.self_attention(a, a, a, self_mask))
        y = sublayer(y, self.norm2, self.pre_ln,
                     lambda a: self.cross_attention(a, memory, memory, memory_mask))
        return sublayer(y, self.norm3, self.pre_ln, self.feed_forward)


class Transformer(torch.nn.Module):
    """nn/transformer.cpp: separate embeddings, sinusoidal positions, an output Linear."""

    def __init__(self, source_vocab, target_vocab, d_model, num_heads, d_ff, encoder_layers,
                 decoder_layers, pre_ln, max_length=64):
        super().__init__()
        self.d_model, self.pre_ln = d_model, pre_ln
        self.source_embedding = torch.nn.Embedding(source_vocab, d_model, padding_idx=PAD)
        self.target_embedding = torch.nn.Embedding(target_vocab, d_model, padding_idx=PAD)
        self.register_buffer("positions", sinusoids(max_length, d_model))
        self.encoder_layers = []
        for l in range(encoder_layers):
            layer = EncoderLayer(d_model, num_heads, d_ff, pre_ln)
            setattr(self, "encoder_l%d" % l, layer)
            self.encoder_layers.append(layer)
        self.decoder_layers = []
        for l in range(decoder_layers):
            layer = DecoderLayer(d_model, num_heads, d_ff, pre_ln)
            setattr(self, "decoder_l%d" % l, layer)
            self.decoder_layers.append(layer)
        if pre_ln:
            self.encoder_norm = torch.nn.LayerNorm(d_model, eps=1e-5)
            self.decoder_norm = torch.nn.LayerNorm(d_model, eps=1e-5)
        self.output = torch.nn.Linear(d_model, target_vocab)

    def embed(self, table, ids):  # (B, T) -> (B, T, D): sqrt(D) E[ids] + PE[0:T]
        return table(ids) * math.sqrt(self.d_model) + self.positions[:ids.shape[1]]

    def encode(self, source, source_lengths):
        S = source.shape[1]
        mask = (torch.arange(S)[None, :] < source_lengths[:, None]).long()[:, None, None, :]  # (B,1,1,S)
        x = self.embed(self.source_embedding, source)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return (self.encoder_norm(x) if self.pre_ln else x), mask

    def forward(self, source, source_lengths, target_input):
        memory, mask = self.encode(source, source_lengths)                 # (B, S, D)
        T = target_input.shape[1]
        causal = torch.tril(torch.ones(T, T, dtype=torch.int64))[None, None]  # (1, 1, T, T)
        y = self.embed(self.target_embedding, target_input)                # (B, T, D)
        for layer in self.decoder_layers:
            y = layer(y, memory, causal, mask)
        if self.pre_ln:
            y = self.decoder_norm(y)
        return self.output(y), memory                                      # (B, T, V)


# --- the weights and the batch ----------------------------------------------------------

def draw_weights(model, gen):
    """Every parameter from the case's generator, in named_parameters() order,
    scaled so that the tiny model's activations stay O(1)."""
    def f32(t):
        return t.float().double()  # float32-representable
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = randn(gen, *p.shape)
            if "norm" in name and name.endswith(".weight"):
                p.copy_(f32(1.0 + 0.25 * noise))              # gamma near 1
            elif name.endswith("embedding.weight"):
                p.copy_(f32(0.5 * noise))
                p[PAD].zero_()                                # as attn's make_embedding
            elif name.endswith(".weight"):
                p.copy_(f32(noise / math.sqrt(p.shape[1])))    # Linear (out, in)
            else:
                p.copy_(f32(0.25 * noise))                    # biases, beta


def sentence(gen, length, vocab):
    """length word ids in [FIRST_WORD, vocab), the last one EOS."""
    words = torch.randint(FIRST_WORD, vocab, (max(length - 1, 0),), generator=gen).tolist()
    return (words + [EOS])[:length] if length > 0 else []


def make_batch(gen, source_lengths, target_lengths, source_vocab, target_vocab):
    """source (B, S) padded with PAD; target_input = <s> y_1 .. y_{n-1},
    target_output = y_1 .. y_n (y_n = </s>), both (B, T) padded with PAD."""
    B, S, T = len(source_lengths), max(source_lengths), max(target_lengths)
    source = torch.full((B, S), PAD, dtype=torch.int64)
    target_input = torch.full((B, T), PAD, dtype=torch.int64)
    target_output = torch.full((B, T), PAD, dtype=torch.int64)
    for b in range(B):
        src = sentence(gen, source_lengths[b], source_vocab)
        source[b, :len(src)] = torch.tensor(src, dtype=torch.int64)
        tgt = sentence(gen, target_lengths[b], target_vocab)  # y_1 .. y_n
        target_output[b, :len(tgt)] = torch.tensor(tgt, dtype=torch.int64)
        target_input[b, :len(tgt)] = torch.tensor([BOS] + tgt[:-1], dtype=torch.int64)
    return source, torch.tensor(source_lengths, dtype=torch.int64), target_input, target_output


def loss_of(model, source, source_lengths, target_input, target_output):
    logits, memory = model(source, source_lengths, target_input)
    V = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, V), target_output.reshape(-1), ignore_index=PAD,
                           label_smoothing=LABEL_SMOOTHING)
    return loss, logits, memory


def make_case(name, source_vocab, target_vocab, d_model, num_heads, d_ff, layers, pre_ln,
              source_lengths, target_lengths, grad_names, updated_names):
    gen = generator(name)
    model = Transformer(source_vocab, target_vocab, d_model, num_heads, d_ff, layers[0], layers[1],
                        pre_ln)
    draw_weights(model, gen)
    params = [(n, p.detach().clone()) for n, p in model.named_parameters()]
    source, lengths, target_input, target_output = make_batch(
        gen, source_lengths, target_lengths, source_vocab, target_vocab)

    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)
    named = dict(model.named_parameters())
    losses, grads = [], []
    for step in range(STEPS + 1):
        optimizer.zero_grad()
        loss, logits, memory = loss_of(model, source, lengths, target_input, target_output)
        losses.append(loss.item())
        if step == 0:
            first_logits, first_memory = logits.detach().clone(), memory.detach().clone()
        if step == STEPS:
            break
        loss.backward()
        if step == 0:
            grads = [(n, named[n].grad.detach().clone()) for n in grad_names]
        optimizer.step()
    updated = [(n, named[n].detach().clone()) for n in updated_names]

    text = "# golden fixture made by scripts/make_transformer_golden.py with torch %s; do not edit\n" % (
        torch.__version__)
    text += "case %s\nop transformer\n" % name
    attrs = [("source_vocab_size", source_vocab), ("target_vocab_size", target_vocab),
             ("d_model", d_model), ("num_heads", num_heads), ("d_ff", d_ff),
             ("encoder_layers", layers[0]), ("decoder_layers", layers[1]), ("pre_ln", pre_ln),
             ("label_smoothing", LABEL_SMOOTHING), ("lr", LR), ("beta1", BETA1), ("beta2", BETA2),
             ("eps", EPS), ("steps", STEPS)]
    for key, value in attrs:
        text += fmt_attr(key, value)
    for n, p in params:
        text += fmt_tensor(n, p)
    for n, t in [("source", source), ("source_lengths", lengths), ("target_input", target_input),
                 ("target_output", target_output)]:
        text += fmt_tensor(n, t)
    text += fmt_tensor("memory", first_memory)
    text += fmt_tensor("logits", first_logits)
    text += fmt_tensor("losses", torch.tensor(losses))
    for n, g in grads:
        text += fmt_tensor("grad_" + n, g)
    for n, p in updated:
        text += fmt_tensor("updated_" + n, p)
    print("%s: losses %s" % (name, " ".join("%.6f" % l for l in losses)))
    return text


def main():
    grads = ["source_embedding.weight", "encoder_l0.self_attention.q_proj.weight",
             "decoder_l1.cross_attention.k_proj.weight", "decoder_l0.norm2.weight", "output.bias"]
    updated = ["target_embedding.weight", "encoder_l1.feed_forward.linear1.weight", "output.weight"]
    cases = [
        # The paper's post-LN; source lengths {5, 3}, target lengths {4, 2}.
        ("transformer_post_ln", make_case(
            "transformer_post_ln", 11, 13, 8, 2, 16, (2, 2), False, [5, 3], [4, 2],
            grads, updated)),
        # Pre-LN (+ encoder_norm, decoder_norm); the third source is empty, so
        # its encoder self-attention and cross-attention rows are fully masked.
        ("transformer_pre_ln", make_case(
            "transformer_pre_ln", 11, 13, 8, 2, 16, (2, 2), True, [5, 3, 0], [4, 2, 3],
            grads + ["decoder_norm.weight"], updated + ["encoder_norm.bias"])),
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
