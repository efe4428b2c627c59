#!/usr/bin/python3
"""Checks that attn's safetensors files and Python's agree, both ways, with
nothing but json, struct and torch (Debian has no `safetensors` package).

    /usr/bin/python3 scripts/safetensors_interop.py write [PATH]
        Writes the demo tensors below the way the reference library lays a
        file out (tensors sorted by alignment then name, compact JSON with
        \\u escapes, header padded with spaces to a multiple of 8). The default
        PATH is the fixture tests/golden/train/from_python.safetensors, which
        tests/train/test_train_core.cpp loads and checks value by value.

    /usr/bin/python3 scripts/safetensors_interop.py check PATH
        Reads PATH by hand (the way safetensors.torch.load_file would) and
        checks that it holds exactly the demo tensors and metadata, bit for
        bit. Run it on a file attn wrote; the C++ test writes the same demo
        to the path in ATTN_INTEROP_OUT:

        ATTN_INTEROP_OUT=/tmp/demo.safetensors \
            build/release/tests/test_train_core --gtest_filter='Safetensors.Interop*'
        /usr/bin/python3 scripts/safetensors_interop.py check /tmp/demo.safetensors
"""

import json
import math
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "train",
                                        "from_python.safetensors"))

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def demo():
    """The tensors and metadata both sides write; keep in step with the C++ test."""
    tensors = {
        "weight": torch.tensor([[0.5, -1.25, 3.0], [1e-30, -0.0, 65504.0]], dtype=torch.float32),
        "scalar": torch.tensor(math.pi, dtype=torch.float64),
        "ids": torch.tensor([-1, 0, 2 ** 40, -(2 ** 62)], dtype=torch.int64),
        "empty": torch.zeros((0, 2), dtype=torch.float32),
        "encoder.layer.0.bias": torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
    }
    metadata = {
        "quote": 'say "hi"\\ and\nnew line\ttab',
        "unicode": "na\u00efve \u2713 \U0001F600",
        "model": "bahdanau",
    }
    return tensors, metadata


def write(path):
    tensors, metadata = demo()
    # The reference writer's order: larger alignment first, then by name.
    order = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in order:
        t = tensors[name].contiguous()
        data = t.numpy().tobytes() if t.numel() > 0 else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    print("wrote", path)


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    covered = 0
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        chunk = bytearray(data[begin:end])
        if len(chunk) == 0:
            t = torch.zeros(info["shape"], dtype=dtype)
        else:
            t = torch.frombuffer(chunk, dtype=dtype).reshape(info["shape"])
        tensors[name] = t
        covered += end - begin
    assert covered == len(data), "data section %d bytes, tensors %d" % (len(data), covered)
    return tensors, metadata


def check(path):
    tensors, metadata = read(path)
    want_tensors, want_metadata = demo()
    assert metadata == want_metadata, "metadata differs: %r" % (metadata,)
    assert sorted(tensors) == sorted(want_tensors), "names differ: %r" % (sorted(tensors),)
    for name, want in want_tensors.items():
        got = tensors[name]
        assert got.dtype == want.dtype, "%s: dtype %s" % (name, got.dtype)
        assert got.shape == want.shape, "%s: shape %s" % (name, tuple(got.shape))
        # Bit for bit: compare the raw bytes, so that -0.0 and denormals count.
        assert got.numpy().tobytes() == want.numpy().tobytes(), "%s: values %s" % (name, got)
        print("  %-22s %-4s %-8s ok" % (name, NAMES[got.dtype], tuple(got.shape)))
    print("OK: %s holds the demo tensors and metadata, bit for bit" % path)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "write":
        write(sys.argv[2] if len(sys.argv) > 2 else FIXTURE)
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
