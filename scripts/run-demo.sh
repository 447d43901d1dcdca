#!/usr/bin/env bash
# Quick start, first command: installs what is missing, builds Watchpost in release mode and runs it
# with the demo camera. Open http://127.0.0.1:8080; stop with Ctrl-C. Data goes to ./data.
# Extra arguments are passed to `watchpost serve` (e.g. --bind 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked
exec ./target/release/watchpost serve --demo --data-dir ./data "$@"
