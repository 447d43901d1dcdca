#!/usr/bin/env bash
# Quick start, second command: installs what the tests need and runs every test (unit, integration
# against real ffmpeg, GStreamer RTSP, SQLite and PostgreSQL on 127.0.0.1:5432 when reachable).
# Then the tests of accounts, alerts, push, search, hardening and the HTTP API run a second time on
# PostgreSQL, each Watchpost on a new database of its own (tests/common/mod.rs: test_database).
# With arguments (a test filter) only the first pass runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo test --locked --all-targets "$@"
if (($# == 0)); then
  if [[ -n "${WATCHPOST_TEST_POSTGRES:-}" ]] || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    echo "test.sh: the second pass, on PostgreSQL"
    WATCHPOST_TEST_POSTGRES="${WATCHPOST_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}" \
      cargo test --locked --test auth --test alerts --test hardening --test describe --test http --test data_rights --test push \
        --test reports
  elif [[ -n "${CI:-}" ]]; then
    echo "test.sh: CI must run the PostgreSQL pass, but nothing answers at 127.0.0.1:5432" >&2
    exit 1
  else
    echo "test.sh: SKIPPED the PostgreSQL pass: nothing answers at 127.0.0.1:5432"
  fi
fi
