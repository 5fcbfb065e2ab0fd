#!/usr/bin/env bash
# Encodes the text-format Apply requests in fuzz/seeds/agent_request/ into
# wire-format seeds (OUT_DIR/<name>): protoc --encode, no program needed.
# scripts/fuzz --merge agent_request_fuzzer OUT_DIR then keeps the ones that
# add coverage to fuzz/corpus/agent_request_fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: fuzz/make_request_seeds.sh OUT_DIR}
mkdir -p "$out"
for f in fuzz/seeds/agent_request/*.textproto; do
  protoc --encode=faultline.v1.ApplyRequest -I proto proto/faultline/v1/agent.proto \
    <"$f" >"$out/$(basename "$f" .textproto)"
done
echo "$(ls "$out" | wc -l) seeds in $out"
