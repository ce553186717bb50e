#!/usr/bin/env bash
# Runs the scenario loader fuzzer for a bounded time, seeded with the malformed corpus
# and the shipped scenarios. New inputs go to a scratch corpus, so the tree is not
# touched; a crash, leak or hang leaves its input in ARTIFACT_DIR and fails the run.
# usage: run-fuzzer.sh FUZZER_BINARY SECONDS SOURCE_DIR ARTIFACT_DIR
set -euo pipefail
fuzzer=$1 seconds=$2 source_dir=$3 artifact_dir=$4

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "$source_dir"/tests/corpus/invalid/*.yaml "$scratch/"
for dir in "$source_dir"/scenarios/*/; do
  # scenarios/lib/ holds shared helpers, not a scenario.
  if [ -f "$dir/scenario.yaml" ]; then cp "$dir/scenario.yaml" "$scratch/$(basename "$dir").yaml"; fi
done
mkdir -p "$artifact_dir"

echo "fuzzing the scenario loader for ${seconds}s from $(ls "$scratch" | wc -l) seeds"
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -dict="$source_dir/tests/fuzz/scenario.dict" -artifact_prefix="$artifact_dir/" \
  -print_final_stats=1 "$scratch" >"$artifact_dir/fuzz.log" 2>&1 || status=$?
grep -E '^(Done|stat::number_of_executed_units)' "$artifact_dir/fuzz.log" || true
if [ "$status" -ne 0 ]; then
  echo "the fuzzer failed (exit $status); its input and log are in $artifact_dir:" >&2
  tail -n 40 "$artifact_dir/fuzz.log" >&2
fi
exit "$status"
