#!/usr/bin/env python3
"""Generates python-vectors.jsonl, the cross-check vectors of canonical_test.go.

Each line is {"in": <JSON text>, "out": <canonical JSON>} where out is what
the Python reference computes: json.dumps(json.loads(in), sort_keys=True,
separators=(",", ":"), ensure_ascii=False). Deterministic (fixed seed).
Run from this directory: python3 gen_python_vectors.py > python-vectors.jsonl
"""
import json
import math
import random
import struct
import sys

rng = random.Random(20260315)


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def emit(text):
    out = canonical(json.loads(text))
    sys.stdout.write(json.dumps({"in": text, "out": out}, ensure_ascii=True) + "\n")


# Floats from random bit patterns (every exponent range, subnormals).
for _ in range(1500):
    f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
    if math.isnan(f) or math.isinf(f):
        continue
    emit(repr(f))
# Floats around the positional/exponent boundaries and simple decimals.
for _ in range(1500):
    e = rng.randint(-8, 20)
    m = rng.random() * 10
    f = m * 10.0 ** e
    if rng.random() < 0.5:
        f = round(f, rng.randint(0, 6))
    emit(repr(-f if rng.random() < 0.3 else f))
for f in [1e-4, 1e-5, 9.999999999999999e-05, 1e16, 9999999999999998.0, 1e15, 1e22, 5e-324,
          1.7976931348623157e308, 2.2250738585072014e-308, 0.1 + 0.2, 1 / 3, 123456.789, -0.0, 0.0]:
    emit(repr(f))
# Number literals in other spellings: exponents, trailing zeros, integers.
for _ in range(1500):
    intpart = str(rng.randint(0, 10 ** rng.randint(0, 25)))
    lit = ("-" if rng.random() < 0.3 else "") + intpart
    r = rng.random()
    if r < 0.5:
        lit += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
    if r > 0.3:
        lit += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 330))
    if math.isinf(float(lit)):
        continue
    emit(lit)
for lit in ["-0", "0", "1E5", "1.0e5", "4.0e-05", "1e-400", "-1e-400", "0.10", "5.00", "1.0E+2",
            "123456789012345678901234567890", "-123456789012345678901234567890", "1e16", "1.5e-7"]:
    emit(lit)

# Strings: every escape class, non-BMP, U+2028/2029, U+007F, HTML characters.
alphabet = ([chr(c) for c in range(0, 0x80)] + ["\u2028", "\u2029", "\u00e9", "\u65e5", "\ufffd", "\uffff",
            "\U0001f600", "\U00010000", "\U0010ffff", "<", ">", "&", "/"])
for _ in range(600):
    s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
    emit(json.dumps(s, ensure_ascii=rng.random() < 0.5))


# Objects with keys that need code point ordering, nested, with whitespace.
def rand_key():
    return "".join(rng.choice(["a", "b", "A", "_", "\u00e9", "\uffff", "\U00010000", "\n", "\"", "\\", "1", "\u2028"])
                   for _ in range(rng.randint(0, 3)))


def rand_value(depth):
    r = rng.random()
    if depth > 1 or r < 0.3:
        return rng.choice([None, True, False, 0, -1, 2 ** 70, 0.5, 4e-05, 1e16, "x", "", "\u00e9\t"])
    if r < 0.6:
        return [rand_value(depth + 1) for _ in range(rng.randint(0, 4))]
    return {rand_key(): rand_value(depth + 1) for _ in range(rng.randint(0, 5))}


for _ in range(200):
    v = {rand_key(): rand_value(0) for _ in range(rng.randint(1, 8))}
    indent = rng.choice([None, None, 1])
    emit(json.dumps(v, ensure_ascii=rng.random() < 0.5, indent=indent))
