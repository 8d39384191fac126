#!/usr/bin/env bash
# `kwm serve` each of a recipe run's stolen and independent SavedModels on loopback (probabilities,
# then top-1 labels only), `kwm verify` each through its URL, replay the first claim offline, and
# show the key's public facts. Needs the `kwm` command (pip install .).
set -u
export TF_CPP_MIN_LOG_LEVEL=3
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
RUN=${1:?usage: bash benchmarks/live_suspect.sh RUN_DIR/seed-0 [TEMPERATURE] (a finished recipe run and the temperature its victim was served at, default 1)}
TEMPERATURE=${2:-1}
for answers in probabilities labels; do
  for model in stolen independent; do
    kwm serve "$RUN/${model}_savedmodel" --port 0 --name "$model" --answers $answers > "$OUT"/serve_$model.log 2>/dev/null &
    pid=$!
    for i in $(seq 60); do grep -q "http://" "$OUT"/serve_$model.log 2>/dev/null && break; sleep 1; done
    url=$(sed -n 's/.* at \(http:.*\)$/\1/p' "$OUT"/serve_$model.log)
    echo "== $model ($answers) at $url"
    kwm verify --key "$RUN/watermark_key.json" --suspect "$url" --temperature "$TEMPERATURE" --output "$OUT"/claim_${model}_$answers.json | grep "VERDICT\|not run\|decision"
    echo "exit status: ${PIPESTATUS[0]}"
    kill $pid; wait $pid 2>/dev/null
  done
done
kwm replay "$OUT"/claim_stolen_probabilities.json --key "$RUN/watermark_key.json" | tail -2; echo "replay exit status: ${PIPESTATUS[0]}"
kwm key show "$RUN/watermark_key.json"
