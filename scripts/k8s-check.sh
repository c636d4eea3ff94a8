#!/usr/bin/env bash
# k8s-check (make k8s-check): applies every variant of the Kubernetes
# manifests (deployments/k8s: each overlay alone, with each component, with
# all of them) to a real kube-apiserver with server-side dry run, after
# installing the CRDs the components use (KEDA, prometheus-operator). This
# catches what the static checks of make test cannot: the API server's own
# validation and defaulting, the CRDs' schemas, admission (Pod Security
# "restricted" on the namespace: any warning fails the run).
#
# Needs: Go (kube-apiserver and kubectl are built from the Go module proxy
# through deployments/k8s/apiserver: about 12 CPU-minutes and 2 GB the
# first time, cached after), etcd (Debian's etcd-server, installed when missing),
# openssl. Everything listens on 127.0.0.1 on free ports, lives in a temp
# dir, and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# CRD versions: the YAML comes from these modules as the Go module proxy
# serves them (each ships its generated CRDs), never copied into this repo.
KEDA_MODULE=github.com/kedacore/keda/v2@v2.21.0
PROMETHEUS_OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator@v0.85.0

bin=$repo/bin/k8s
mkdir -p "$bin"
echo "== building kube-apiserver and kubectl (deployments/k8s/apiserver)"
(cd deployments/k8s/apiserver && GOWORK=off go build -o "$bin/" tool)
echo "== building the manifest renderer (deployments/k8s/check)"
(cd deployments/k8s/check && GOWORK=off go build -o "$bin/render" ./cmd/render)

if ! command -v etcd >/dev/null; then
	echo "== installing etcd-server"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server
fi

tmp=$(mktemp -d)
pids=()
# cleanup stops the servers newest first (kube-apiserver before the etcd it
# needs to shut down), each given 15 s before SIGKILL, then removes the dir.
cleanup() {
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[i]}
		kill "$pid" 2>/dev/null || continue
		for _ in $(seq 1 15); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 1" INT TERM

# free_port asks the kernel for a port no one listens on.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

etcd_client=$(free_port)
etcd_peer=$(free_port)
apiserver_port=$(free_port)

echo "== starting etcd on 127.0.0.1:$etcd_client"
etcd --name k8s-check --data-dir "$tmp/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-cluster "k8s-check=http://127.0.0.1:$etcd_peer" >"$tmp/etcd.log" 2>&1 &
pids+=($!)

openssl genrsa -out "$tmp/sa.key" 2048 2>/dev/null
openssl rsa -in "$tmp/sa.key" -pubout -out "$tmp/sa.pub" 2>/dev/null
token=$(openssl rand -hex 24)
echo "$token,k8s-check,k8s-check,system:masters" >"$tmp/tokens.csv"

echo "== starting kube-apiserver on 127.0.0.1:$apiserver_port"
"$bin/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$etcd_client" \
	--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$apiserver_port" \
	--endpoint-reconciler-type none \
	--cert-dir "$tmp/certs" \
	--token-auth-file "$tmp/tokens.csv" --authorization-mode RBAC \
	--service-account-issuer https://kubernetes.default.svc \
	--service-account-key-file "$tmp/sa.pub" --service-account-signing-key-file "$tmp/sa.key" \
	--service-cluster-ip-range 10.96.0.0/16 >"$tmp/apiserver.log" 2>&1 &
apiserver_pid=$!
pids+=("$apiserver_pid")

kubectl() {
	"$bin/kubectl" --server "https://127.0.0.1:$apiserver_port" --token "$token" \
		--insecure-skip-tls-verify "$@"
}

ready=
for _ in $(seq 1 180); do
	if kubectl get --raw /readyz >/dev/null 2>&1; then
		ready=1
		break
	fi
	kill -0 "$apiserver_pid" 2>/dev/null || break
	sleep 1
done
if [ -z "$ready" ]; then
	echo "kube-apiserver did not become ready; its log ends:" >&2
	tail -30 "$tmp/apiserver.log" >&2
	echo "etcd's log ends:" >&2
	tail -10 "$tmp/etcd.log" >&2
	exit 1
fi
kubectl get --raw /version && echo

echo "== installing CRDs: $KEDA_MODULE, $PROMETHEUS_OPERATOR_MODULE"
module_dir() {
	(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$1") |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}
keda_dir=$(module_dir "$KEDA_MODULE")
prom_dir=$(module_dir "$PROMETHEUS_OPERATOR_MODULE")
kubectl apply --server-side --field-manager k8s-check \
	-f "$keda_dir/config/crd/bases/keda.sh_scaledobjects.yaml" \
	-f "$prom_dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
	-f "$prom_dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
kubectl wait --for condition=Established --timeout 60s \
	crd/scaledobjects.keda.sh crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com

# The namespace must exist for a dry run of what goes into it.
kubectl create namespace pbxhooks
kubectl label namespace pbxhooks pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted

# Controls: the dry run must refuse what the API server would (a field no
# Service has; a container port name over 15 characters), else an "ok"
# below would mean nothing.
cat >"$tmp/control-field.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: control, namespace: pbxhooks}
spec:
  selector: {app: control}
  ports: [{name: http, port: 80}]
  sessionAffinityy: None
EOF
cat >"$tmp/control-port.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: control, namespace: pbxhooks}
spec:
  selector: {matchLabels: {app: control}}
  template:
    metadata: {labels: {app: control}}
    spec:
      containers:
        - name: control
          image: control:1
          ports: [{name: http-and-metrics, containerPort: 80}]
EOF
for control in control-field control-port; do
	if kubectl apply --server-side --dry-run=server --field-manager k8s-check -f "$tmp/$control.yaml" >"$tmp/$control.out" 2>&1; then
		echo "k8s-check: the API server accepted $control, which it must refuse; the check is not working" >&2
		cat "$tmp/$control.out" >&2
		exit 1
	fi
	echo "== $control refused, as it must be: $(cat "$tmp/$control.out")"
done

failed=0
for variant in $("$bin/render" -list); do
	"$bin/render" -dir deployments/k8s "$variant" >"$tmp/$variant.yaml"
	if kubectl apply --server-side --dry-run=server --field-manager k8s-check \
		-f "$tmp/$variant.yaml" >"$tmp/$variant.out" 2>&1 && ! grep -q '^Warning:' "$tmp/$variant.out"; then
		echo "ok   $variant ($(grep -c 'serverside-applied' "$tmp/$variant.out") objects)"
	else
		echo "FAIL $variant"
		grep -v 'serverside-applied' "$tmp/$variant.out" | sed 's/^/     /'
		failed=1
	fi
done
if [ "$failed" != 0 ]; then
	echo "k8s-check: some variants were refused" >&2
	exit 1
fi
echo "k8s-check: every variant applies"
