#!/usr/bin/python3
"""Writes the golden fixtures of tests/nn/test_luong.cpp: attn's Luong model
(nn/luong.h) checked against the same model written here in PyTorch, with the
same weights, so that CI needs no Python.

    /usr/bin/python3 scripts/make_luong_golden.py     # Debian's python3-torch (1.13)

Each case becomes tests/golden/luong/<case>.txt, in the text format of
scripts/make_rnn_golden.py (parameters under attn's names, the inputs source,
source_lengths and target_input, the outputs out0 = logits (B, T, V),
out1 = attention weights (B, T, S) and, for local-p, out2 = the predicted
window centres p_t (B, T); an upstream gradient for each output and the expected
gradient of every parameter).

The PyTorch model below is written from the paper (Luong, Pham & Manning 2015,
eqs. 5-10 and section 3.3), not from attn's code: an independent reading of
the same equations. Positions count from 0; p_t = S sigmoid(v_p^T tanh(W_p h_t))
with S the sentence's length; local-m's p_t = min(t, S - 1); the window
[p_t - D, p_t + D] is clipped to the real words; sigma = D / 2.
"""

import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_rnn_golden as rg  # noqa: E402  (the fixture format and seeded draws)

OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "luong"))
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


class Attention(torch.nn.Module):
    def __init__(self, H, score, scope):
        super().__init__()
        if score == "general":
            self.score_weight = torch.nn.Parameter(torch.empty(H, H))
        if score == "concat":
            self.concat_query = torch.nn.Parameter(torch.empty(H, H))
            self.concat_key = torch.nn.Parameter(torch.empty(H, H))
            self.concat_v = torch.nn.Parameter(torch.empty(H))
        if scope == "local-p":
            self.position_weight = torch.nn.Parameter(torch.empty(H, H))
            self.position_v = torch.nn.Parameter(torch.empty(H))


class Luong(torch.nn.Module):
    def __init__(self, V, E, H, L, score, scope, D, feed):
        super().__init__()
        self.H, self.L, self.score, self.scope, self.D, self.feed = H, L, score, scope, D, feed
        self.source_embedding = torch.nn.Embedding(V, E, padding_idx=0)
        self.target_embedding = torch.nn.Embedding(V, E, padding_idx=0)
        self.encoder = torch.nn.LSTM(E, H, num_layers=L, batch_first=True)
        for l in range(L):
            cell = torch.nn.LSTMCell((E + H if feed else E) if l == 0 else H, H)
            setattr(self, "decoder_l%d" % l, cell)
        self.attention = Attention(H, score, scope)
        self.combine = torch.nn.Linear(2 * H, H, bias=False)
        self.output = torch.nn.Linear(H, V)

    def attend(self, h, hs, lengths, t):
        """h (B, H) the top state at step t -> context, weights (B, S), p_t (B) or None."""
        a = self.attention
        B, S, _ = hs.shape
        if self.score == "dot":
            score = torch.einsum("bh,bsh->bs", h, hs)
        elif self.score == "general":
            score = torch.einsum("bh,hk,bsk->bs", h, a.score_weight, hs)     # h^T W_a hbar
        else:
            pre = (h @ a.concat_query.T).unsqueeze(1) + hs @ a.concat_key.T  # W_a [h; hbar]
            score = torch.tanh(pre) @ a.concat_v
        s = torch.arange(S, dtype=torch.float64)
        visible = s.unsqueeze(0) < lengths.unsqueeze(1)                      # real words
        p = None
        if self.scope == "local-m":
            p = torch.minimum(torch.full((B,), float(t)), (lengths - 1).double())
        elif self.scope == "local-p":
            p = lengths.double() * torch.sigmoid(torch.tanh(h @ a.position_weight.T) @ a.position_v)
        if p is not None:
            visible = visible & ((s.unsqueeze(0) - p.detach().unsqueeze(1)).abs() <= self.D)
        weights = score.masked_fill(~visible, float("-inf")).softmax(-1)
        if self.scope == "local-p":
            sigma = self.D / 2.0
            weights = weights * torch.exp(-(s.unsqueeze(0) - p.unsqueeze(1)) ** 2 / (2 * sigma ** 2))
        context = torch.einsum("bs,bsh->bh", weights, hs)
        return context, weights, p

    def forward(self, source, lengths, target_input):
        B, T = target_input.shape
        e = F.embedding(source, self.source_embedding.weight, padding_idx=0)
        packed = pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        hs, (h_n, c_n) = self.encoder(packed)
        hs, _ = pad_packed_sequence(hs, batch_first=True, total_length=source.shape[1])
        state = [(h_n[l], c_n[l]) for l in range(self.L)]
        y = F.embedding(target_input, self.target_embedding.weight, padding_idx=0)
        htilde = torch.zeros(B, self.H)
        outs, weights, positions = [], [], []
        for t in range(T):
            x = torch.cat([y[:, t], htilde], -1) if self.feed else y[:, t]
            for l in range(self.L):
                state[l] = getattr(self, "decoder_l%d" % l)(x, state[l])
                x = state[l][0]
            context, w, p = self.attend(x, hs, lengths, t)
            htilde = torch.tanh(self.combine(torch.cat([context, x], -1)))    # eq. (5)
            outs.append(htilde)
            weights.append(w)
            if self.scope == "local-p":
                positions.append(p)
        result = [self.output(torch.stack(outs, 1)), torch.stack(weights, 1)]
        if positions:
            result.append(torch.stack(positions, 1))
        return result


def add_case(name, V, E, H, L, score, scope, D, feed):
    # Two sentences of 5 and 3 real words (the second padded), targets of 4.
    gen = rg.generator(name + "/ids")
    source = torch.randint(4, V, (2, 5), generator=gen)
    source[1, 3:] = 0
    lengths = torch.tensor([5, 3])
    target_input = torch.randint(4, V, (2, 4), generator=gen)
    target_input[:, 0] = 2  # <s>
    attrs = {"vocab": V, "embedding_size": E, "hidden_size": H, "layers": L, "score": score,
             "scope": scope, "window": D, "input_feed": feed}
    model = Luong(V, E, H, L, score, scope, D, feed)
    rg.add_case(name, "luong", attrs, model,
                [("source", source), ("source_lengths", lengths), ("target_input", target_input)],
                lambda m, s, n, t: m(s, n, t))


def main():
    add_case("luong_general_global_two_layers", V=9, E=3, H=4, L=2, score="general",
             scope="global", D=10, feed=True)
    add_case("luong_dot_local_m", V=9, E=3, H=4, L=1, score="dot", scope="local-m", D=1,
             feed=True)
    add_case("luong_concat_local_p", V=9, E=3, H=4, L=1, score="concat", scope="local-p", D=2,
             feed=True)
    add_case("luong_general_local_p_no_feed", V=9, E=3, H=4, L=1, score="general",
             scope="local-p", D=1, feed=False)
    os.makedirs(OUT_DIR, exist_ok=True)
    for old in os.listdir(OUT_DIR):
        if old.endswith(".txt"):
            os.remove(os.path.join(OUT_DIR, old))
    for name, text in rg.cases:
        with open(os.path.join(OUT_DIR, name + ".txt"), "w") as f:
            f.write(text.replace("make_rnn_golden.py", "make_luong_golden.py"))
    print("wrote %d cases to %s" % (len(rg.cases), OUT_DIR))


if __name__ == "__main__":
    main()
