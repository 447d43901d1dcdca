#!/usr/bin/env bash
# Quick start, second command: installs what the tests need and runs every test (unit, integration
# against real ffmpeg, GStreamer RTSP, SQLite and PostgreSQL on 127.0.0.1:5432 when reachable).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo test --locked --all-targets "$@"
