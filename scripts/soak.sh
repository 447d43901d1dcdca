#!/usr/bin/env bash
# Soak with faults (docs/reliability.md): builds the release binary and examples/soak.rs, puts a
# data directory on a small tmpfs of its own (so the disk can be filled without touching the
# machine's), and runs Watchpost for MINUTES (default 60) against GStreamer's RTSP server, a private
# mosquitto and the Telegram fake while faults happen; exit 1 when a check fails. Loopback only.
# Needs root (for the tmpfs mount) and what `scripts/setup.sh --test` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-60}"
cargo build --release --locked --bin watchpost --example soak
target="${CARGO_TARGET_DIR:-target}"
data="$(mktemp -d /tmp/watchpost-soak.XXXXXX)"
cleanup() {
  umount "$data" 2>/dev/null || true
  rmdir "$data" 2>/dev/null || true
}
trap cleanup EXIT
# 256 MiB: room for the database and a day of snapshots, small enough to fill in a second.
mount -t tmpfs -o size=256m watchpost-soak "$data"
"$target/release/examples/soak" "$minutes" "$data"
