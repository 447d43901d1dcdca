#!/usr/bin/env bash
# Builds Watchpost's container image (docker/Dockerfile) and tries it as a NAS user would, against a
# Docker daemon of its own, with no registry: the base image is made with debootstrap from the
# Debian mirror apt uses, and the binary is built here (BINARY=prebuilt), because no Rust toolchain
# can be fetched inside a container on these machines. Checks:
#   - without a /data mount the container refuses to start and says how to fix it;
#   - with one, and the demo camera: healthy (HEALTHCHECK), the administrator is created over HTTP,
#     the demo camera is online and a person event with a snapshot appears over the API;
#   - Watchpost runs as PUID:PGID (not root), every file in /data and /config is theirs, logs carry
#     no colour codes;
#   - `docker stop` takes under 10 s and Watchpost exits 0; after a start the account, the events
#     and the keys are still there.
# Needs root (dockerd). Installs docker.io and debootstrap when missing. Leaves the daemon's images
# and build cache in $WATCHPOST_DOCKER_DIR (default /var/tmp/watchpost-docker) for the next run.
# Prints the image's size.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
state_dir="${WATCHPOST_DOCKER_DIR:-/var/tmp/watchpost-docker}"
base_image=watchpost-test/debian:bookworm
image=watchpost:test
container=watchpost-docker-test

say() { echo "docker-test: $*"; }
fail() {
  echo "docker-test: FAILED: $*" >&2
  if [[ -n "${docker:-}" ]] && $docker inspect "$container" >/dev/null 2>&1; then
    echo "--- the container's log ---" >&2
    $docker logs --tail 80 "$container" >&2 2>&1 || true
  fi
  exit 1
}

if [[ $(id -u) -ne 0 ]]; then
  echo "docker-test: needs root, to run its own Docker daemon" >&2
  exit 1
fi

missing=()
[[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's client (20.10) builds with BuildKit itself; a newer client elsewhere on PATH would want
# the buildx plugin, which Debian 12 does not package.
docker_client=/usr/bin/docker
export DOCKER_BUILDKIT=1

# --- our own daemon ---------------------------------------------------------------------------
mkdir -p "$state_dir" /run/watchpost-docker
socket=/run/watchpost-docker/docker.sock
export DOCKER_HOST="unix://$socket"
docker="$docker_client"
dockerd_pid=""
work="$(mktemp -d /var/tmp/watchpost-docker-test.XXXXXX)"
cleanup() {
  $docker rm -f "$container" >/dev/null 2>&1 || true
  if [[ -n "$dockerd_pid" ]]; then
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$dockerd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
say "starting dockerd (data in $state_dir)"
dockerd --data-root "$state_dir/daemon" --exec-root /run/watchpost-docker/exec \
  --pidfile /run/watchpost-docker/dockerd.pid --host "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 60); do
  $docker version >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || { cat "$work/dockerd.log" >&2; fail "dockerd did not start"; }
  sleep 1
done
$docker version >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; fail "dockerd does not answer"; }

# --- the base image: Debian 12 minbase, slimmed like debian:bookworm-slim -----------------------
mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
  /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | head -1 | awk '{print $2}' || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
if ! $docker image inspect "$base_image" >/dev/null 2>&1; then
  base_tar="$state_dir/debian-bookworm-minbase.tar"
  if [[ ! -f "$base_tar" ]]; then
    say "making the base image with debootstrap from $mirror"
    rootfs="$work/rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    # What debian:*-slim leaves out, for this and every later package.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    rm -rf "$rootfs"/usr/share/{man,info,locale,groff,lintian,linda}/* "$rootfs"/var/cache/apt/archives/*.deb \
      "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
    tar -C "$rootfs" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
  fi
  $docker import "$base_tar" "$base_image" >/dev/null
fi

# --- the image ------------------------------------------------------------------------------------
scripts/setup.sh # the detector model in models/, taken into the image from the build context
say "building Watchpost (release)"
cargo build --release --locked --bin watchpost
mkdir -p docker/prebuilt
strip --strip-debug -o docker/prebuilt/watchpost "${CARGO_TARGET_DIR:-target}/release/watchpost"
# This machine reaches PyPI through a proxy whose CA only the host's bundle has.
mkdir -p docker/build-ca
cp /etc/ssl/certs/ca-certificates.crt docker/build-ca/ca-certificates.crt
say "building the image"
build_start=$SECONDS
$docker build -f docker/Dockerfile --build-arg BASE_IMAGE="$base_image" --build-arg BINARY=prebuilt \
  -t "$image" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; fail "docker build failed"; }
size=$($docker image inspect -f '{{.Size}}' "$image")
say "image built in $((SECONDS - build_start)) s: $((size / 1000000)) MB uncompressed"
# What the size is made of (docker/README.md reports it), and Mesa kept out (docker/Dockerfile).
packages="$($docker run --rm --entrypoint sh "$image" -c \
  "dpkg-query -W -f='\${Installed-Size} \${Package}\n' | sort -rn")"
say "largest packages (kB installed): $(head -12 <<<"$packages" | awk '{printf "%s %s, ", $2, $1}')"
say "added files (kB): $($docker run --rm --entrypoint sh "$image" -c \
  'du -sk /usr/local/bin/watchpost /usr/local/lib/watchpost /opt/watchpost/models' | awk '{printf "%s %s, ", $2, $1}')"
if grep -qE ' (libllvm[0-9]+|libgl1-mesa-dri)$' <<<"$packages"; then
  fail "Mesa and LLVM are in the image again (see the no-glx package in docker/Dockerfile)"
fi

# --- refuses to start without /data ------------------------------------------------------------
set +e
refusal="$($docker run --rm "$image" 2>&1)"
refusal_status=$?
set -e
[[ $refusal_status -eq 78 ]] || fail "without a /data volume the container exited $refusal_status, not 78: $refusal"
grep -q "/data is not a volume or a bind mount" <<<"$refusal" || fail "the refusal does not say why: $refusal"
grep -q "WATCHPOST_ALLOW_EPHEMERAL_DATA=1" <<<"$refusal" || fail "the refusal does not say how to go on: $refusal"
say "ok: refuses to start without a /data volume"

# --- runs, with the demo camera ----------------------------------------------------------------
puid=1234
pgid=2345
mkdir -p "$work/data" "$work/config"
start_container() {
  $docker run -d --name "$container" -v "$work/data:/data" -v "$work/config:/config" \
    -e PUID=$puid -e PGID=$pgid -e TZ=Europe/Berlin --health-interval 2s --health-start-period 60s \
    "$image" watchpost serve --demo >/dev/null
}
wait_healthy() {
  local health=""
  for _ in $(seq 1 90); do
    health="$($docker inspect -f '{{.State.Health.Status}}' "$container")"
    [[ "$health" == healthy ]] && return 0
    [[ "$($docker inspect -f '{{.State.Running}}' "$container")" == true ]] || fail "the container stopped"
    sleep 1
  done
  fail "not healthy after 90 s (health: $health)"
}
start_container
wait_healthy
address="$($docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$container")"
base="http://$address:8080"
say "ok: healthy at $base"

# A browser's HTTP for the checks below: a cookie jar, redirects not followed.
cat >"$work/browser.py" <<'PY'
import http.cookiejar, urllib.error, urllib.parse, urllib.request
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None
class Browser:
    def __init__(self, base):
        self.base = base
        self.web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
    def call(self, path, form=None):
        """(status, body) of a GET, or of a POST of `form`."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers={"Origin": self.base})
        try:
            with self.web.open(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
PY
export PYTHONPATH="$work"

# The administrator, the demo camera and its first person event, over HTTP as a browser and a
# script would.
password="docker-test-password-$RANDOM"
python3 - "$base" "$password" "$work/first-events.json" <<'PY' || fail "the HTTP checks failed"
import json, re, sys, time
from browser import Browser
base, password, record = sys.argv[1], sys.argv[2], sys.argv[3]
call = Browser(base).call
status, page = call("/setup")
assert status == 200, f"GET /setup: {status}"
csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
status, _ = call("/setup", {"csrf": csrf, "name": "admin", "password": password, "confirm": password})
assert status == 303, f"POST /setup: {status}"
deadline = time.time() + 120
camera, person = None, None
while time.time() < deadline and not (camera and camera["state"] == "online" and person):
    status, body = call("/api/cameras")
    assert status == 200, f"GET /api/cameras: {status}"
    cameras = json.loads(body)
    camera = next((c for c in cameras if c["id"] == "demo"), None)
    status, body = call("/api/events")
    assert status == 200, f"GET /api/events: {status}"
    events = json.loads(body)["events"]
    person = next((e for e in events if e.get("label") == "person" and e.get("snapshot_url")), None)
    time.sleep(1)
assert camera, "no demo camera in /api/cameras"
assert camera["state"] == "online", f"the demo camera is {camera['state']}: {camera.get('last_error')}"
assert person, "no person event with a snapshot within 120 s"
status, jpeg = call(person["snapshot_url"])
assert status == 200 and jpeg[:2] == b"\xff\xd8", f"snapshot: {status}, {jpeg[:8]!r}"
json.dump({"ids": [e["id"] for e in events]}, open(record, "w"))
print(f"docker-test: ok: admin created, demo camera online, person event {person['id']} with a {len(jpeg)}-byte snapshot")
PY

# Who runs it and who owns the files.
ids="$($docker exec "$container" sh -c 'for s in /proc/[0-9]*/status; do
  grep -q "^Name:[[:space:]]*watchpost$" "$s" && grep -E "^(Uid|Gid):" "$s"; done; true')"
uid="$(awk '/^Uid:/ {print $2; exit}' <<<"$ids")"
gid="$(awk '/^Gid:/ {print $2; exit}' <<<"$ids")"
[[ "$uid" == "$puid" && "$gid" == "$pgid" ]] || fail "watchpost runs as $uid:$gid, not $puid:$pgid ($ids)"
strangers="$(find "$work/data" "$work/config" \( ! -uid $puid -o ! -gid $pgid \) -print | head -5)"
[[ -z "$strangers" ]] || fail "files in /data or /config not owned by $puid:$pgid: $strangers"
[[ -s "$work/config/watchpost.toml" ]] || fail "no /config/watchpost.toml written on first start"
! $docker logs "$container" 2>&1 | grep -q $'\e\[' || fail "the log carries colour codes"
say "ok: runs as $puid:$pgid, /data and /config are theirs, commented config written, plain log"

# --- stops in time, comes back with everything --------------------------------------------------
keys_before="$(cd "$work/data/keys" && sha256sum ./* | sort)"
stop_start=$(date +%s%N)
$docker stop "$container" >/dev/null
stop_ms=$((($(date +%s%N) - stop_start) / 1000000))
exit_code="$($docker inspect -f '{{.State.ExitCode}}' "$container")"
((stop_ms < 10000)) || fail "docker stop took $stop_ms ms"
[[ "$exit_code" == 0 ]] || fail "watchpost exited $exit_code after SIGTERM"
$docker logs "$container" 2>&1 | grep -qi "panick" && fail "a panic in the log"
say "ok: docker stop took $stop_ms ms, exit status 0"
$docker start "$container" >/dev/null
wait_healthy
python3 - "http://$($docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$container"):8080" \
  "$password" "$work/first-events.json" <<'PY' || fail "after the restart"
import json, re, sys
from browser import Browser
base, password, record = sys.argv[1], sys.argv[2], sys.argv[3]
call = Browser(base).call
status, page = call("/login")
assert status == 200, f"GET /login: {status} (a new setup page would mean the account was lost)"
csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
status, _ = call("/login", {"csrf": csrf, "name": "admin", "password": password, "next": "/"})
assert status == 303, f"sign-in with the old password: {status}"
status, body = call("/api/events?limit=200")
assert status == 200, f"GET /api/events: {status}"
now = {e["id"] for e in json.loads(body)["events"]}
before = set(json.load(open(record))["ids"])
assert before <= now, f"events lost in the restart: {sorted(before - now)}"
print(f"docker-test: ok: after a restart the admin signs in and all {len(before)} events are there")
PY
keys_after="$(cd "$work/data/keys" && sha256sum ./* | sort)"
[[ "$keys_before" == "$keys_after" ]] || fail "the keys in /data/keys changed across the restart"
say "ok: keys unchanged"
say "passed (image $image, $((size / 1000000)) MB)"
