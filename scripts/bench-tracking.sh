#!/usr/bin/env bash
# The tracking-quality harness, end to end: builds the labelled scenes (examples/make_scene, once),
# runs the camera's object following with the real model over them (examples/bench_tracking) and
# scores it with py-motmetrics (CLEAR-MOT, IDF1), installed from PyPI into .tools/motmetrics.
#
# Usage: scripts/bench-tracking.sh [SCENE…]   (crossing crowd parked shadows; default all)
# Needs what scripts/setup.sh installs (ffmpeg, ONNX Runtime, the model) and python3-venv.
# The scenes go to $WATCHPOST_SCENES (default /var/tmp/watchpost-scenes); the 10-minute `parked`
# scene takes about 3 minutes to build, the whole run about 5 on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scenes="${WATCHPOST_SCENES:-/var/tmp/watchpost-scenes}"
venv=.tools/motmetrics
if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        echo "bench-tracking: installing python3-venv" >&2
        ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo )} apt-get install -y -q python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
    # motmetrics 1.4 uses NumPy 1 APIs: these versions work together.
    "$venv/bin/pip" install -q "numpy==1.26.4" "pandas==2.2.3" "scipy==1.13.1" "motmetrics==1.4.0"
fi
cargo build --release -q --example make_scene --example bench_tracking
target="${CARGO_TARGET_DIR:-target}/release/examples"
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(crossing crowd parked shadows)
missing=()
for scene in "${wanted[@]}"; do
    [ -f "$scenes/$scene/scene.mp4" ] || missing+=("$scene")
done
[ ${#missing[@]} -eq 0 ] || "$target/make_scene" "$scenes" "${missing[@]}"
MOT_PYTHON="$venv/bin/python" "$target/bench_tracking" "$scenes" "${wanted[@]}"
