#!/usr/bin/env python3
"""Copy a model folder and steer its greedy replies to a chosen byte string.

usage: steermodel.py SRC_DIR DST_DIR HEX [HEX...]

Each HEX is the bytes of one token of the vocabulary (GPT-2 byte-level form). The k-th token gets
the lm_head bias 30000 - 50 k, so with --repeat-penalty 2 greedy decoding says the tokens in order
(each seen token's logit is halved) and then starts over with the first. Lets the tests make a
model "say" escape sequences. Files other than the shard that holds lm_head.bias are linked.
"""

import json
import os
import struct
import sys


def byte_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    src, dst, hexes = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(os.path.join(src, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    enc = byte_to_unicode()
    ids = []
    for h in hexes:
        piece = "".join(enc[b] for b in bytes.fromhex(h))
        if piece not in vocab:
            sys.exit("steermodel: no token for bytes %s" % h)
        ids.append(vocab[piece])
    with open(os.path.join(src, "model.safetensors.index.json"), encoding="utf-8") as f:
        shard = json.load(f)["weight_map"]["lm_head.bias"]
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name != shard:
            os.symlink(os.path.abspath(os.path.join(src, name)), os.path.join(dst, name))
    with open(os.path.join(src, shard), "rb") as f:
        data = bytearray(f.read())
    hlen = struct.unpack("<Q", data[:8])[0]
    entry = json.loads(data[8 : 8 + hlen])["lm_head.bias"]
    if entry["dtype"] != "F16":
        sys.exit("steermodel: lm_head.bias is %s, expected F16" % entry["dtype"])
    base = 8 + hlen + entry["data_offsets"][0]
    for k, i in enumerate(ids):
        struct.pack_into("<e", data, base + 2 * i, 30000.0 - 50 * k)
    with open(os.path.join(dst, shard), "wb") as f:
        f.write(data)


main()
