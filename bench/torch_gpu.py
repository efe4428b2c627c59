#!/usr/bin/env python3
"""PyTorch on the GPU, as the yardstick for attn's CUDA numbers.

Two measurements, printed as rows of one markdown table:

  (a) a training step (forward, cross entropy, backward, clipping, Adam) of the
      Bahdanau RNNsearch and of Luong's model, on the configurations of
      bench/train_step.cpp (which are ../shared/peers/torch_ref.py's):
          tiny : vocab 68,   batch 64,  length 20, embedding 128, hidden 256
          small: vocab 8000, batch 128, length 32, embedding 128, hidden 256
      dropout 0.1, Adam lr 1e-3, global norm clipping at 1, no label smoothing,
      8 synthetic batches of fixed length cycled, token ids uniform over the
      non-special ids; W warm-up steps, then N timed steps. Each step is timed
      between two torch.cuda.synchronize() calls; mean and median ms/step.
  (b) torch.nn.functional.scaled_dot_product_attention forward, fp32,
      B=8, H=8, T=1024, D=64, causal off and on: the same shapes as
      bench_gpu's flash-attention rows. PyTorch picks its backend (for fp32,
      the memory-efficient kernel); the "math" backend, which materialises the
      (T, T) scores as attn's composed path does, is timed beside it.
      FLOPs: 4 B H T T D, half of that when causal (the keys a query may see),
      counted as bench/gpu_kernels.cpp counts them.

fp32 stays fp32: TF32 is turned off for matmuls and cuDNN, as attn's cuBLAS
handle keeps it off, so both sides do the same arithmetic.

This file stands alone (the GPU machine has PyTorch but not ../shared): the
two models are re-written compactly from torch_ref.py, same layers, same sizes.

    python3 bench/torch_gpu.py                          # everything, on CUDA
    python3 bench/torch_gpu.py --model luong --config small --skip-attention
    python3 bench/torch_gpu.py --device cpu --config tiny --quick   # a smoke run
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, NSPECIAL = 0, 1, 4

# bench/train_step.cpp's config_named(): vocab includes the 4 specials.
CONFIGS = {
    "tiny": dict(vocab=64 + NSPECIAL, batch=64, length=20, embedding=128, hidden=256),
    "small": dict(vocab=8000, batch=128, length=32, embedding=128, hidden=256),
}
DROPOUT = 0.1


class Bahdanau(nn.Module):
    """RNNsearch (Bahdanau et al. 2015): bidirectional GRU encoder; s0 = tanh(W_s h1_backward);
    additive attention e_ij = v^T tanh(W_a s_{i-1} + U_a h_j); GRUCell decoder on
    [E y_{i-1}; c_i]; maxout-2 readout on [s_i; c_i; E y_{i-1}]; linear to the vocabulary."""

    def __init__(self, V, E, H):
        super().__init__()
        self.src_emb = nn.Embedding(V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(V, E, padding_idx=PAD)
        self.enc = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.init_proj = nn.Linear(H, H)
        self.att_W = nn.Linear(H, H, bias=False)
        self.att_U = nn.Linear(2 * H, H)
        self.att_v = nn.Linear(H, 1, bias=False)
        self.cell = nn.GRUCell(E + 2 * H, H)
        self.readout = nn.Linear(H + 2 * H + E, 2 * H)
        self.out = nn.Linear(H, V)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, src, dec_in):
        ann, h_n = self.enc(self.drop(self.src_emb(src)))   # ann (B, S, 2H)
        s = torch.tanh(self.init_proj(h_n[1]))               # (B, H)
        keys = self.att_U(ann)                               # (B, S, H)
        emb = self.drop(self.tgt_emb(dec_in))                # (B, T, E)
        readouts = []
        for t in range(dec_in.size(1)):
            e = self.att_v(torch.tanh(keys + self.att_W(s).unsqueeze(1))).squeeze(-1)  # (B, S)
            c = torch.bmm(e.softmax(-1).unsqueeze(1), ann).squeeze(1)                  # (B, 2H)
            s = self.cell(torch.cat([emb[:, t], c], -1), s)
            r = self.readout(torch.cat([s, c, emb[:, t]], -1))
            readouts.append(r.view(r.size(0), -1, 2).max(-1).values)                   # maxout
        return self.out(self.drop(torch.stack(readouts, 1)))                          # (B, T, V)


class Luong(nn.Module):
    """Luong et al. 2015: LSTM encoder; LSTMCell decoder started from the encoder's final
    (h, c); 'general' score h_t^T W_a hbar_s; htilde = tanh(W_c [c_t; h_t]); input feeding."""

    def __init__(self, V, E, H):
        super().__init__()
        self.H = H
        self.src_emb = nn.Embedding(V, E, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(V, E, padding_idx=PAD)
        self.enc = nn.LSTM(E, H, batch_first=True)
        self.cell = nn.LSTMCell(E + H, H)
        self.W_a = nn.Linear(H, H, bias=False)
        self.W_c = nn.Linear(2 * H, H, bias=False)
        self.out = nn.Linear(H, V)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, src, dec_in):
        hs, (h, c) = self.enc(self.drop(self.src_emb(src)))  # hs (B, S, H)
        keys = self.W_a(hs)                                   # (B, S, H)
        h, c = h[0], c[0]
        htilde = hs.new_zeros(src.size(0), self.H)
        emb = self.drop(self.tgt_emb(dec_in))
        outs = []
        for t in range(dec_in.size(1)):
            h, c = self.cell(torch.cat([emb[:, t], htilde], -1), (h, c))
            a = torch.bmm(keys, h.unsqueeze(2)).squeeze(2).softmax(-1)     # (B, S)
            ctx = torch.bmm(a.unsqueeze(1), hs).squeeze(1)                 # (B, H)
            htilde = torch.tanh(self.W_c(torch.cat([ctx, h], -1)))
            outs.append(htilde)
        return self.out(self.drop(torch.stack(outs, 1)))


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_train(model_name, config_name, device, steps, warmup):
    cfg = CONFIGS[config_name]
    V, B, L = cfg["vocab"], cfg["batch"], cfg["length"]
    torch.manual_seed(0)
    cls = Bahdanau if model_name == "bahdanau" else Luong
    model = cls(V, cfg["embedding"], cfg["hidden"]).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(8):
        src = torch.randint(NSPECIAL, V, (B, L), generator=gen)
        tgt = torch.randint(NSPECIAL, V, (B, L + 1), generator=gen)
        tgt[:, 0] = BOS
        batches.append((src.to(device), tgt[:, :-1].contiguous().to(device),
                        tgt[:, 1:].contiguous().to(device)))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(warmup + steps):
        src, dec_in, labels = batches[step % len(batches)]
        synchronize(device)
        start = time.perf_counter()
        logits = model(src, dec_in)
        loss = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=PAD)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        synchronize(device)
        if step >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    mean, median = statistics.mean(times), statistics.median(times)
    params = sum(p.numel() for p in model.parameters())
    notes = f"{params / 1e6:.2f} M params, median {median:.2f} ms, {B * L / (mean / 1e3):.0f} tok/s"
    if device.type == "cuda":
        notes += f", peak {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
    row(f"train step {model_name}", f"{config_name}: batch {B}, len {L}, vocab {V}",
        f"{mean:.2f} ms", f"mean of {steps} after {warmup}", notes)


def mean_ms(fn, device, warmup=3, runs=20):
    """Mean milliseconds of fn() over `runs` calls after `warmup` calls (CUDA events on a GPU)."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(runs):
            fn()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop) / runs
    start = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - start) * 1e3 / runs


def bench_attention(device, T, runs):
    B, H, D = 8, 8, 64
    shape = f"B={B} H={H} T={T} D={D}"
    if not hasattr(F, "scaled_dot_product_attention"):
        row("sdpa forward", shape, "skipped", f"torch {torch.__version__} has no SDPA", "")
        return
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.rand(B, H, T, D, generator=gen).to(device) for _ in range(3))
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        variants = [("default backend", None), ("math backend (composed)", SDPBackend.MATH)]
    except ImportError:  # torch < 2.3: only the default
        sdpa_kernel, variants = None, [("default backend", None)]
    for causal in (False, True):
        flops = 4.0 * B * H * T * T * D * (0.5 if causal else 1.0)
        for name, backend in variants:
            def run():
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            label = f"sdpa forward, {name}" + (", causal" if causal else "")
            try:
                with torch.no_grad():
                    if backend is None:
                        ms = mean_ms(run, device, runs=runs)
                    else:
                        with sdpa_kernel(backend):
                            ms = mean_ms(run, device, runs=runs)
                row(label, shape, f"{ms:.3f} ms", f"{flops / (ms * 1e-3) / 1e12:.2f} TFLOP/s", "")
            except RuntimeError as e:
                row(label, shape, "failed", str(e).splitlines()[0], "")


def row(*cells):
    print("| " + " | ".join(cells) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["bahdanau", "luong", "all"], default="all")
    ap.add_argument("--config", choices=["tiny", "small", "all"], default="all")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps")
    ap.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu, for a smoke run")
    ap.add_argument("--quick", action="store_true",
                    help="5 steps after 2, attention at T=128 with 3 runs: a smoke run")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-attention", action="store_true")
    args = ap.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch_gpu.py: torch sees no CUDA device (use --device cpu for a smoke run)")
    # Full fp32 on both sides (attn's cuBLAS handle uses CUBLAS_DEFAULT_MATH).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    steps, warmup = (5, 2) if args.quick else (args.steps, args.warmup_steps)

    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    row("what", "shape", "time", "rate", "notes")
    row("---", "---", "---", "---", "---")
    row("card", f"{card}, torch {torch.__version__}", "", "", "fp32, TF32 off")
    if not args.skip_train:
        models = ["bahdanau", "luong"] if args.model == "all" else [args.model]
        configs = ["tiny", "small"] if args.config == "all" else [args.config]
        for model_name in models:
            for config_name in configs:
                bench_train(model_name, config_name, device, steps, warmup)
    if not args.skip_attention:
        bench_attention(device, 128 if args.quick else 1024, 3 if args.quick else 20)


if __name__ == "__main__":
    main()
