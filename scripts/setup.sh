#!/usr/bin/env bash
# Installs what sealos and its tests need on Debian 12, as root: Debian packages, then npm packages
# from the lock file, then compiles the TypeScript. Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  skopeo umoci buildah            # outside judges of our images and archives
  docker-registry                 # a real registry on loopback
  openssh-server openssh-client sudo socat iproute2 nftables iptables procps psmisc openssl  # the SSH lab
  busybox-static tar gzip time ca-certificates
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  # Installing openssh-server or docker-registry must not start them on this machine.
  created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((created_policy)) && rm -f /usr/sbin/policy-rc.d
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx tsc -p tsconfig.json
