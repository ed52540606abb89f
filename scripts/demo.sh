#!/usr/bin/env bash
# The main job on its embedded default, offline: build the top-level Kubefile (the demo application
# image, context images/demo) with the busybox image it runs captured into its registry/, carry it
# across an "air gap" (save to one tarball, load into a fresh store), then list and inspect it.
# DEMO_DIR (default /tmp/sealos-demo) holds the stores and the tarball; it is emptied first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

work=${DEMO_DIR:-/tmp/sealos-demo}
rm -rf "$work"
mkdir -p "$work"
sealos() { node dist/src/cli/main.js "$@"; }
step() { printf '\n==> %s\n' "$*" >&2; }

export SEALOS_STORE="$work/build-store"

step "busybox:1.36 from Debian's busybox-static, built by sealos, saved where images/skopeo/tar.txt points"
mkdir -p "$work/busybox/bin"
cp /bin/busybox "$work/busybox/bin/busybox"
ln -s busybox "$work/busybox/bin/sh"
printf 'FROM scratch\nCOPY bin /bin\nENV PATH=/bin\nCMD ["/bin/sh"]\n' >"$work/busybox/Kubefile"
sealos build -q --save-image=false -t docker.io/library/busybox:1.36 "$work/busybox"
sealos save -q --format docker-archive -o images/demo/images/busybox.tar docker.io/library/busybox:1.36

step "sealos build -f Kubefile -t localhost/sealos-demo:v0.1.0 images/demo"
sealos build -f Kubefile -t localhost/sealos-demo:v0.1.0 images/demo
cat images/demo/registry/images.txt

step "sealos save -o $work/sealos-demo.tar localhost/sealos-demo:v0.1.0"
sealos save -q -o "$work/sealos-demo.tar" localhost/sealos-demo:v0.1.0
ls -l "$work/sealos-demo.tar"

step "across the air gap: sealos load -i sealos-demo.tar into an empty store"
export SEALOS_STORE="$work/airgap-store"
sealos load -i "$work/sealos-demo.tar"
sealos images

step "sealos inspect localhost/sealos-demo:v0.1.0 (labels, env, command)"
sealos inspect localhost/sealos-demo:v0.1.0 | node -e '
  const i = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(JSON.stringify({ Name: i.Name, Digest: i.Digest, SealosLabels: i.SealosLabels, Env: i.Config.config.Env, Cmd: i.Config.config.Cmd, Layers: i.Manifest.layers.length }, null, 2));'
