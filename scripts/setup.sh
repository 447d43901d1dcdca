#!/usr/bin/env bash
# Installs the system packages Watchpost needs, only those that are missing.
#   scripts/setup.sh          what `watchpost serve` needs (ffmpeg)
#   scripts/setup.sh --test   also what the test suite needs: GStreamer's RTSP server for Python,
#                             Debian's Chromium and npm's playwright-core for the browser tests
# Debian and Ubuntu: installed with apt-get (through sudo when not root). Elsewhere it prints what to
# install and stops.
set -euo pipefail

packages=(ffmpeg)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3 python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
             gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
             chromium fonts-dejavu-core)
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is not installed; install it from https://rustup.rs (Rust 1.94 or newer) and run this again." >&2
  exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: not a Debian/Ubuntu system. Install these with your package manager, then run again:" >&2
  echo "  ${packages[*]}" >&2
  echo "  (Fedora: ffmpeg-free python3-gobject gstreamer1-rtsp-server gstreamer1-plugins-{base,good,bad-free};" >&2
  echo "   macOS: brew install ffmpeg gst-rtsp-server pygobject3)" >&2
  command -v ffmpeg >/dev/null 2>&1 || exit 1
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" ]]; then
  # playwright-core drives the system Chromium; it never downloads a browser.
  browser_dir="$(dirname "$0")/../tests/browser"
  if [[ ! -d "$browser_dir/node_modules/playwright-core" ]]; then
    echo "setup: installing playwright-core for the browser tests"
    npm ci --prefix "$browser_dir" --no-audit --no-fund --loglevel=error
  fi
fi
