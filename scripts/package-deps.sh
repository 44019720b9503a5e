#!/usr/bin/env bash
# Installs what scripts/check-packages.sh needs, and nothing twice:
# readelf (binutils) and systemd-analyze (systemd), with apt-get, only when
# missing. systemd-analyze verify and security --offline read unit files
# and need no running systemd.
set -euo pipefail

need_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -eq 0 ]; then
	echo "package-deps: readelf and systemd-analyze present"
	exit 0
fi
echo "package-deps: installing ${missing[*]} with apt-get"
need_root apt-get update
need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
