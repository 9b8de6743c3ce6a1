#!/usr/bin/env bash
# The size of the Lambda deployment package, built as the README documents for this machine
# (Python 3.12 cannot be installed here, so no `sam build`): every function shares
# `CodeUri: functions/`, so one zip is every function's zip. Dependencies are the arm64 /
# CPython 3.12 wheels of functions/requirements.txt (pip's --platform download); the code is
# functions/ecr_replicate without caches. Prints the zipped and unzipped sizes; the zip is
# left in $OUT (default: a temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
keep=${OUT:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build="$work/build"
mkdir -p "$build"
"$PIP" install -q --target "$build" --platform manylinux2014_aarch64 --python-version 3.12 \
  --implementation cp --only-binary=:all: -r functions/requirements.txt 2>"$work/pip.log" \
  || { cat "$work/pip.log" >&2; exit 1; }
cp -r functions/ecr_replicate "$build/"
find "$build" -name '__pycache__' -type d -prune -exec rm -rf {} +
zip_file="$work/function.zip"
(cd "$build" && python3 -m zipfile -c "$zip_file" .)  # deflate, as sam build's zip
zipped=$(stat -c %s "$zip_file")
unzipped=$(du -sb "$build" | cut -f1)
without_boto=$(du -sb --exclude='boto3*' --exclude='botocore*' --exclude='s3transfer*' "$build" | cut -f1)
code=$(du -sb "$build/ecr_replicate" | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "Lambda package (CodeUri functions/, arm64, Python 3.12; one zip serves every function):"
echo "  zipped:   $(mib "$zipped") ($zipped bytes)"
echo "  unzipped: $(mib "$unzipped") (250 MiB is Lambda's limit); without boto3/botocore/s3transfer: $(mib "$without_boto")"
echo "  our code: $(mib "$code") unzipped"
if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$zip_file" "$keep/" && echo "  zip: $keep/function.zip"; fi
