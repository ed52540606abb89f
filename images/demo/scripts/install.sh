#!/usr/bin/env bash
# Installs the demo: bash scripts/install.sh NAMESPACE REPLICAS (run by sealos on master0, in the image's workdir).
set -euo pipefail
namespace="${1:-sealos-demo}"
replicas="${2:-2}"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$namespace" apply -f manifests/demo.yaml
kubectl -n "$namespace" scale deployment/sealos-demo --replicas="$replicas"
kubectl -n "$namespace" rollout status deployment/sealos-demo --timeout=300s
