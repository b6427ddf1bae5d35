#!/usr/bin/env bash
# Prepares a Debian 12 host, as root, for the cells integration tests (levels 2 and 3). Idempotent:
# installs only missing packages, and the user/subuid/rootfs setup changes only what is missing.
# Needs node_modules (tsx) in place: run after `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "ci-cells-setup: must run as root" >&2
  exit 1
fi

# bubblewrap: level 2. podman + runc (crun refuses hybrid cgroup hosts) + uidmap (newuidmap) +
# catatonit (--init): level 3. No slirp4netns/fuse-overlayfs needed: cells run --network=none on
# a --rootfs with the vfs driver.
packages=(bubblewrap podman runc uidmap catatonit)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ci-cells-setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q "${missing[@]}" >&2
fi

node --import tsx scripts/cells-setup.ts
