#!/bin/sh
# The container's entrypoint (under tini): checks that /data will outlive the container, writes a
# commented /config/watchpost.toml on first start, hands /data and /config to PUID:PGID and runs the
# command (watchpost serve) as that user. Run with --user instead, it only checks and runs.
set -eu

say() { echo "watchpost-entrypoint: $*" >&2; }

# vaultwarden's guard: without a volume or bind mount, /data lives in the container's writable
# layer and is gone at the next `docker compose pull && docker compose up -d`.
if [ "${WATCHPOST_ALLOW_EPHEMERAL_DATA:-0}" != 1 ] && ! mountpoint -q /data; then
  say "/data is not a volume or a bind mount, so the database, recordings and keys would be lost"
  say "when this container is replaced (at every upgrade). Mount one, e.g."
  say "  docker run -v /volume1/docker/watchpost/data:/data ...   or, in compose.yaml,"
  say "  volumes: [\"./data:/data\"]"
  say "To run without one anyway (a throwaway trial), set WATCHPOST_ALLOW_EPHEMERAL_DATA=1."
  exit 78
fi

config=/config/watchpost.toml
if [ ! -e "$config" ] && [ -w /config ]; then
  cp /usr/local/share/watchpost/watchpost.toml "$config.tmp" && mv "$config.tmp" "$config"
  say "wrote $config (every setting commented out, with its default)"
fi
mountpoint -q /config || say "/config is not a volume or a bind mount; changes to $config are lost with the container"

if [ "$(id -u)" != 0 ]; then
  exec "$@"
fi

case "$PUID$PGID" in
  *[!0-9]*|"") say "PUID and PGID must be numbers (got PUID=$PUID PGID=$PGID)"; exit 78 ;;
esac
# Files that are not the user's yet: all of them on a new bind mount, none on a normal restart.
for dir in /data /config; do
  find "$dir" -xdev \( ! -user "$PUID" -o ! -group "$PGID" \) -exec chown -h "$PUID:$PGID" {} + 2>/dev/null \
    || say "could not give every file in $dir to $PUID:$PGID (a read-only mount or root squashing?)"
done
# The groups of the GPU devices passed in (--device /dev/dri), so VA-API decoding can open them.
groups=""
for device in /dev/dri/renderD* /dev/dri/card*; do
  [ -e "$device" ] || continue
  gid=$(stat -c %g "$device")
  case ",$groups," in *",$gid,"*) ;; *) groups="${groups:+$groups,}$gid" ;; esac
done
if [ -n "$groups" ]; then
  exec setpriv --reuid="$PUID" --regid="$PGID" --groups="$groups" -- "$@"
fi
exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups -- "$@"
