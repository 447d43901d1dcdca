#!/usr/bin/env bash
# Installs what Watchpost needs, only what is missing.
#   scripts/setup.sh          what `watchpost serve` needs: ffmpeg, DejaVu fonts (for the PDF
#                             reports), the ONNX Runtime library (from
#                             PyPI's onnxruntime wheel, into .tools/onnxruntime/) and the detector
#                             model models/yolox_nano.onnx (copied from $WATCHPOST_MODELS_DIR when
#                             set, else downloaded from the YOLOX release; checked by sha256)
#   scripts/setup.sh --test   also what the test suite needs: GStreamer's RTSP server for Python,
#                             mosquitto (each test starts its own broker on a free port), poppler
#                             (pdftotext and pdftoppm read the reports back), Debian's
#                             Chromium and npm's playwright-core for the browser tests
# Debian and Ubuntu: installed with apt-get (through sudo when not root). Elsewhere it prints what to
# install and stops.
set -euo pipefail

packages=(ffmpeg fonts-dejavu-core)
command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || packages+=(python3 python3-pip)
command -v curl >/dev/null 2>&1 || packages+=(curl ca-certificates)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3 python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
             gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
             mosquitto openssl chromium poppler-utils)
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

# ONNX Runtime, loaded at run time by the `ort` crate (load-dynamic): the shared library from PyPI's
# wheel, which needs only glibc and libstdc++. Pinned to the version the `ort` crate was tested with.
root="$(cd "$(dirname "$0")/.." && pwd)"
ort_version=1.31.1
ort_lib="$root/.tools/onnxruntime/libonnxruntime.so.$ort_version"
if [[ ! -f "$ort_lib" ]]; then
  echo "setup: fetching ONNX Runtime $ort_version (PyPI wheel)"
  wheel_dir="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "onnxruntime==$ort_version" -d "$wheel_dir"
  mkdir -p "$(dirname "$ort_lib")"
  python3 - "$wheel_dir"/onnxruntime-*.whl "$ort_lib" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.startswith("onnxruntime/capi/libonnxruntime.so."))
    with z.open(member) as src, open(target + ".tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$ort_lib.tmp" "$ort_lib"
  rm -rf "$wheel_dir"
fi

# The detector model. Never committed: copied from a local directory (CI) or downloaded once.
model="$root/models/yolox_nano.onnx"
model_sha=695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14
if [[ ! -f "$model" ]] || ! echo "$model_sha  $model" | sha256sum --check --status; then
  mkdir -p "$(dirname "$model")"
  if [[ -n "${WATCHPOST_MODELS_DIR:-}" ]]; then
    echo "setup: copying yolox_nano.onnx from $WATCHPOST_MODELS_DIR"
    cp "$WATCHPOST_MODELS_DIR/yolox_nano.onnx" "$model.tmp"
  else
    echo "setup: downloading yolox_nano.onnx from the YOLOX release"
    curl -fsSL -o "$model.tmp" \
      https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx
  fi
  if ! echo "$model_sha  $model.tmp" | sha256sum --check --status; then
    rm -f "$model.tmp"
    echo "setup: yolox_nano.onnx does not have the expected sha256 $model_sha" >&2
    exit 1
  fi
  mv "$model.tmp" "$model"
fi
