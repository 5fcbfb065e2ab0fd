#!/usr/bin/env python3
"""One-off seed extractor for experiment_fuzzer (kept to regenerate seeds).

Writes every YAML snippet found in the spec tests (raw strings, and the
step strings passed to WithStep) plus experiments/**/*.yaml into OUT_DIR as
seed-<sha1>. scripts/fuzz --merge then keeps only the seeds that add coverage
to fuzz/corpus/experiment_fuzzer.
"""
import codecs
import glob
import hashlib
import os
import re
import sys

HEAD = "apiVersion: faultline/v1\nkind: Experiment\nmetadata: {name: t}\nmethod:\n"
C_STRING = r'"((?:[^"\\\n]|\\.)*)"'


def unescape(s):
    return codecs.decode(s.encode("latin-1", "backslashreplace"), "unicode_escape")


def snippets(text):
    for m in re.finditer(r'R"(\w*)\((.*?)\)\1"', text, re.S):
        yield m.group(2)
    for m in re.finditer(r'WithStep\(\s*((?:' + C_STRING + r'\s*)+)\)', text):
        step = "".join(unescape(p) for p in re.findall(C_STRING, m.group(1)))
        yield HEAD + "  - " + step + "\n"
    # Table cases: any other string literal that looks like YAML.
    for m in re.finditer(C_STRING, text):
        s = unescape(m.group(1))
        if ": " in s and ("\n" in s or s.startswith("{")):
            yield s if "\n" in s else HEAD + "  - " + s + "\n"


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = set()
    for path in glob.glob(os.path.join(root, "controller/spec/*_test.cc")):
        with open(path, encoding="utf-8") as f:
            seeds.update(snippets(f.read()))
    for path in glob.glob(os.path.join(root, "experiments/**/*.yaml"), recursive=True):
        with open(path, encoding="utf-8") as f:
            seeds.add(f.read())
    for s in seeds:
        data = s.encode("utf-8")
        name = "seed-" + hashlib.sha1(data).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
