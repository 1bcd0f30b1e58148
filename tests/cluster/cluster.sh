#!/usr/bin/env bash
# The local test cluster: a real single-node Kubernetes built from pinned sources on this machine.
#
#   cluster.sh build              build (or reuse) every binary and image, keyed by version
#   cluster.sh up                 start etcd, the control plane, containerd, kubelet, kube-proxy,
#                                 CoreDNS, the local-path StorageClass and the NetworkPolicy enforcer;
#                                 no-op when already up
#   cluster.sh down               stop everything; leaves no process, mount, netns or state behind
#   cluster.sh status             exit 0 when the API answers /readyz and the node is Ready
#   cluster.sh kubeconfig         print the admin kubeconfig path
#   cluster.sh env                print shell exports (PATH, KUBECONFIG) for the cluster
#   cluster.sh docker             start the Docker engine when it is not running
#   cluster.sh base-image         build aistack.local/debian:<suite> into Docker (debootstrap + import)
#   cluster.sh import-image REF   copy an image from the Docker engine into the cluster's containerd
#   cluster.sh import-archive F   import an image archive (docker-archive/OCI tar) into containerd
#   cluster.sh containerd-socket  print the cluster containerd's socket path
#   cluster.sh loki               build (or reuse) Loki and Promtail; print their bin directory
#   cluster.sh traefik            build (or reuse) Traefik; print its bin directory
#
# Everything lands under $AISTACK_CACHE (default ~/.cache/aistack): Go caches, binaries and images
# keyed by version (kept), and cluster/ with the running cluster's state (removed by `down`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$HERE/versions.env"

CACHE=${AISTACK_CACHE:-$HOME/.cache/aistack}
BIN=$CACHE/bin
IMAGES=$CACHE/images
STATE=$CACHE/cluster
RUN=/run/aistack
PKI=$STATE/pki
LOGS=$STATE/logs
CTRD_SOCK=$RUN/containerd/containerd.sock
CTRD_ROOT=$CACHE/containerd
NODE=aistack-local
KCFG=$STATE/kubeconfig
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy"
export GOCACHE=$CACHE/go-build GOMODCACHE=$CACHE/go-mod GOFLAGS=-mod=mod CGO_ENABLED=0
# A cold build's compiler and linker spend much of their CPU collecting garbage: at GOGC=400 they do it a
# quarter as often (benchmarks/go_build_bench.py, side by side: a cold Helm build 0.86 of the time, peak memory
# alike). Set for `go build` only; the cluster's own programs keep the runtime's default.
GO_BUILD_GOGC=${AISTACK_GO_BUILD_GOGC:-400}
# The netfilter queue the NetworkPolicy enforcer reads, and its metrics port (loopback, node network).
NETPOL_QUEUE=100
NETPOL_METRICS_PORT=19180
NETPOL_CHAIN=AISTACK-NETPOL

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_for WHAT TIMEOUT CMD...: run CMD until it succeeds, telling every 10 s what is awaited.
wait_for() {
  local what=$1 timeout=$2 start now
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    now=$(date +%s)
    local p
    for p in ${WATCH:-}; do
      proc_alive "$p" || { log "$p exited while waiting for $what; last lines of $LOGS/$p.log:"; tail -5 "$LOGS/$p.log" >&2; return 1; }
    done
    if (( now - start >= timeout )); then
      log "gave up waiting for $what after $((now - start)) s"
      return 1
    fi
    if (( (now - start) % 10 == 0 && now > start )); then log "waiting for $what ($((now - start)) s)"; fi
    sleep 1
  done
  log "$what ready after $(( $(date +%s) - start )) s"
}

node_ip() {
  local dev
  dev=$(ip -4 route show default | awk '{print $5; exit}')
  if [[ -n $dev ]]; then
    ip -4 -o addr show dev "$dev" | awk '{split($4, a, "/"); print a[1]; exit}'
  else
    echo 127.0.0.1
  fi
}

# ---------------------------------------------------------------- build

host_packages() {
  local missing=()
  for cmd in containerd:containerd runc:runc ctr:containerd iptables:iptables conntrack:conntrack \
             debootstrap:debootstrap socat:socat openssl:openssl dockerd:docker.io shellcheck:shellcheck skopeo:skopeo docker-registry:docker-registry \
             ssh-keygen:openssh-client; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd##*:}")
  done
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# go_tool NAME MODULE_DIR OUT_DIR [ldflags]: build the tool(s) of a pinned go.mod unless already built.
go_tools() {
  local name=$1 dir=$2 out=$3 ldflags=${4:-}
  if [[ -f $out/.built ]]; then return; fi
  mkdir -p "$out"
  log "building $name (cold: minutes; progress is the Go compiler's, cached in $GOCACHE)"
  local start=$SECONDS
  (cd "$HERE/go/$dir" && GOGC=$GO_BUILD_GOGC go build -trimpath -ldflags "-s -w $ldflags" -o "$out/" tool)
  touch "$out/.built"
  log "built $name in $((SECONDS - start)) s"
}

go_main() {
  local name=$1 dir=$2 out=$3
  if [[ -f $out/.built ]]; then return; fi
  mkdir -p "$out"
  (cd "$HERE/go/$dir" && GOGC=$GO_BUILD_GOGC go build -trimpath -ldflags "-s -w" -o "$out/$name" .)
  touch "$out/.built"
}

# Loki and Promtail for the observability role's light mode: one `go build` so they share compiled packages.
# Not part of `build`: only the observability tests need them (their image helper calls `cluster.sh loki`).
build_loki() {
  go_tools "Loki and Promtail $LOKI_VERSION" loki "$CACHE/loki-$LOKI_VERSION/bin" \
    "-X github.com/grafana/loki/v3/pkg/util/build.Version=${LOKI_VERSION#v}"
}

# Traefik for the ingress role's tests: on demand like Loki (only tests/integration/test_ingress_role.py needs it).
# The version variable is set so `traefik version` reports the pinned tag instead of "dev".
build_traefik() {
  go_tools "Traefik $TRAEFIK_VERSION" traefik "$CACHE/traefik-$TRAEFIK_VERSION/bin" \
    "-X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION"
}

# Source hash of a project-written Go program, so an edit rebuilds it.
src_hash() { cat "$HERE/go/$1"/*.go "$HERE/go/$1/go.mod" | sha256sum | cut -c1-12; }

# image_tar NAME --tag REF ...: write $IMAGES/NAME.tar unless present; record "REF FILE" for import.
image_tar() {
  local file=$IMAGES/$1.tar
  shift
  echo "$2 $file" >>"$CACHE/images.list.part"
  [[ -f $file ]] && return
  mkdir -p "$IMAGES"
  python3 "$HERE/mkimage.py" -o "$file" "$@" >/dev/null
  log "image archive $file"
}

build_base_rootfs() {
  local dir=$CACHE/base-$BASE_SUITE tarball=$CACHE/base-$BASE_SUITE/rootfs.tar
  if [[ ! -f $tarball ]]; then
    log "debootstrap $BASE_SUITE minbase (about 30 s)"
    rm -rf "$dir" && mkdir -p "$dir"
    debootstrap --variant=minbase "$BASE_SUITE" "$dir/rootfs" http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1 \
      || die "debootstrap failed, see $dir/debootstrap.log"
    rm -rf "$dir/rootfs/var/cache/apt/archives/"*.deb "$dir/rootfs/var/lib/apt/lists/"*
    tar --numeric-owner -C "$dir/rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$dir/rootfs"
  fi
  echo "$tarball"
}

build() {
  host_packages
  local k8s=$CACHE/k8s-$K8S_VERSION/bin etcd=$CACHE/etcd-$ETCD_VERSION/bin helm=$CACHE/helm-$HELM_VERSION/bin
  local coredns=$CACHE/coredns-$COREDNS_VERSION/bin lp=$CACHE/localpath-$LOCALPATH_VERSION/bin
  local np=$CACHE/netpol-$NETPOL_VERSION/bin
  # Project-written programs: the tag is their version, the cache key adds a source hash.
  local pause_v=$PAUSE_VERSION demo_v=$DEMOHTTP_VERSION pause_k demo_k
  pause_k=$PAUSE_VERSION-$(src_hash pause) demo_k=$DEMOHTTP_VERSION-$(src_hash demohttp)
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  go_tools "Kubernetes $K8S_VERSION" kubernetes "$k8s" \
    "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  go_tools "etcd $ETCD_VERSION" etcd "$etcd"
  go_tools "Helm $HELM_VERSION" helm "$helm" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  go_tools "CoreDNS $COREDNS_VERSION" coredns "$coredns"
  go_tools "local-path-provisioner $LOCALPATH_VERSION" localpath "$lp"
  go_tools "kube-network-policies $NETPOL_VERSION" netpol "$np"
  # The tool's package is .../cmd, so `go build` names the binary after it.
  if [[ -f $np/cmd ]]; then mv "$np/cmd" "$np/kube-network-policies"; fi
  go_main pause pause "$CACHE/pause-$pause_k/bin"
  go_main demohttp demohttp "$CACHE/demohttp-$demo_k/bin"
  mkdir -p "$BIN"
  rm -f "$CACHE/images.list.part"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do ln -sfn "$k8s/$b" "$BIN/$b"; done
  ln -sfn "$etcd/server" "$BIN/etcd"
  ln -sfn "$helm/helm" "$BIN/helm"
  ln -sfn "$CACHE/demohttp-$demo_k/bin/demohttp" "$BIN/demohttp"

  image_tar "pause-$pause_k" --tag "aistack.local/pause:$pause_v" --file "$CACHE/pause-$pause_k/bin/pause:/pause" --entrypoint /pause --user 65535
  image_tar "coredns-$COREDNS_VERSION" --tag "aistack.local/coredns:$COREDNS_VERSION" \
    --file "$coredns/coredns:/coredns" --entrypoint /coredns
  image_tar "local-path-provisioner-$LOCALPATH_VERSION" --tag "aistack.local/local-path-provisioner:$LOCALPATH_VERSION" \
    --file "$lp/local-path-provisioner:/usr/bin/local-path-provisioner" --dir /tmp --entrypoint /usr/bin/local-path-provisioner
  image_tar "kube-network-policies-$NETPOL_VERSION" --tag "aistack.local/kube-network-policies:$NETPOL_VERSION" \
    --file "$np/kube-network-policies:/bin/kube-network-policies" --entrypoint /bin/kube-network-policies
  image_tar "demohttp-$demo_k" --tag "aistack.local/demohttp:$demo_v" --file "$CACHE/demohttp-$demo_k/bin/demohttp:/demohttp" \
    --entrypoint /demohttp --cmd serve --user 65532 --port 8080
  local rootfs
  rootfs=$(build_base_rootfs)
  image_tar "debian-$BASE_SUITE" --tag "aistack.local/debian:$BASE_SUITE" --rootfs-tar "$rootfs" --cmd /bin/bash
  mv "$CACHE/images.list.part" "$CACHE/images.list"
  # Tags other scripts rely on, recorded once so they need not recompute hashes.
  cat >"$CACHE/images.env" <<EOF
AISTACK_PAUSE_IMAGE=aistack.local/pause:$pause_v
AISTACK_COREDNS_IMAGE=aistack.local/coredns:$COREDNS_VERSION
AISTACK_LOCALPATH_IMAGE=aistack.local/local-path-provisioner:$LOCALPATH_VERSION
AISTACK_NETPOL_IMAGE=aistack.local/kube-network-policies:$NETPOL_VERSION
AISTACK_DEMOHTTP_IMAGE=aistack.local/demohttp:$demo_v
AISTACK_BASE_IMAGE=aistack.local/debian:$BASE_SUITE
EOF
  log "build complete: binaries in $BIN, images in $IMAGES"
}

# ---------------------------------------------------------------- PKI

cert() { # cert NAME CN O SANS(comma list or empty) [client|server|both]
  local name=$1 cn=$2 org=$3 sans=$4 usage=${5:-client}
  [[ -f $PKI/$name.crt ]] && return
  local subj="/CN=$cn" ext=$PKI/$name.ext
  [[ -n $org ]] && subj="/O=$org$subj"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    case $usage in
      client) echo "extendedKeyUsage=clientAuth" ;;
      server) echo "extendedKeyUsage=serverAuth" ;;
      both) echo "extendedKeyUsage=serverAuth,clientAuth" ;;
    esac
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$name.key" \
    -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

kubeconfig_for() { # kubeconfig_for NAME CERT SERVER
  local file=$STATE/$1.kubeconfig
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: aistack-local
  cluster:
    server: $3
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$2.crt")
    client-key-data: $(base64 -w0 <"$PKI/$2.key")
contexts:
- name: aistack-local
  context: {cluster: aistack-local, user: $1}
current-context: aistack-local
EOF
  chmod 600 "$file"
}

pki() {
  local ip=$1
  mkdir -p "$PKI" && chmod 700 "$PKI"
  if [[ ! -f $PKI/ca.crt ]]; then
    # keyUsage: Python 3.13 (the execution environment's) refuses a CA certificate without it
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=aistack-local-ca" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,IP:$ip" server
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
  cert admin aistack-admin system:masters ""
  cert controller-manager system:kube-controller-manager "" ""
  cert scheduler system:kube-scheduler "" ""
  cert kube-proxy system:kube-proxy "" ""
  cert kubelet "system:node:$NODE" system:nodes "DNS:$NODE,DNS:localhost,IP:127.0.0.1,IP:$ip" both
  local server=https://127.0.0.1:6443
  kubeconfig_for admin admin "https://$ip:6443"
  kubeconfig_for controller-manager controller-manager $server
  kubeconfig_for scheduler scheduler $server
  kubeconfig_for kube-proxy kube-proxy $server
  kubeconfig_for kubelet kubelet $server
  cp "$STATE/admin.kubeconfig" "$KCFG"
}

# ---------------------------------------------------------------- processes

start_proc() { # start_proc NAME CMD...
  local name=$1
  shift
  if proc_alive "$name"; then return; fi
  mkdir -p "$LOGS" "$STATE/pids"
  # Long-lived: close every descriptor inherited beyond stdio (e.g. a caller's `flock` lock file, which
  # the component would otherwise hold for its whole life).
  (
    for fd in "/proc/$BASHPID/fd/"*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-"; done
    exec setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$STATE/pids/$name.pid"
  log "started $name (pid $!, log $LOGS/$name.log)"
}

# proc_pid NAME: print the PID of component NAME when it runs. A PID alone is not proof: the state
# directory outlives a machine restart, after which the recorded PID may name an unrelated process
# (which `up` would then take for the component, and `down` would kill). The program's name must match.
proc_pid() {
  local f=$STATE/pids/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  pid_runs "$pid" "$1" || return 1
  echo "$pid"
}

# pid_runs PID PROGRAM: true when PID is alive and its argv[0] names PROGRAM.
pid_runs() {
  local argv0=
  [[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
  IFS= read -r -d '' argv0 <"/proc/$1/cmdline" 2>/dev/null || [[ -n $argv0 ]] || return 1
  [[ ${argv0##*/} == "$2" ]]
}

proc_alive() { proc_pid "$1" >/dev/null; }

stop_proc() {
  local f=$STATE/pids/$1.pid pid
  [[ -f $f ]] || return 0
  if pid=$(proc_pid "$1"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# True when a state directory exists but none of its components runs: the machine restarted (or the
# processes were killed) without `down`. Its etcd data, pod sandboxes, IP allocations and cached object
# status describe a cluster that is gone, so `up` clears it first instead of resuming from it.
stale_state() {
  [[ -d $STATE ]] || return 1
  local p
  for p in $COMPONENTS; do proc_alive "$p" && return 1; done
  return 0
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$KCFG" "$@"; }

api_ready() { [[ $(kubectl_ get --raw=/readyz 2>/dev/null) == ok ]]; }
node_ready() {
  [[ $(kubectl_ get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

deploy_available() { # deploy_available NAMESPACE NAME
  [[ $(kubectl_ -n "$1" get deploy "$2" -o jsonpath='{.status.availableReplicas}' 2>/dev/null) -ge 1 ]]
}
system_ready() { deploy_available kube-system coredns && deploy_available local-path-storage local-path-provisioner; }

status() {
  [[ -f $KCFG ]] || { echo "down: no cluster state in $STATE"; return 1; }
  local p bad=0
  for p in $COMPONENTS; do
    if ! proc_alive "$p"; then echo "down: $p is not running"; bad=1; fi
  done
  ((bad)) && return 1
  api_ready || { echo "down: /readyz does not answer ok"; return 1; }
  node_ready || { echo "degraded: node $NODE is not Ready"; return 1; }
  system_ready || { echo "degraded: CoreDNS or the local-path provisioner is not available"; return 1; }
  netpol_bound || { echo "degraded: the NetworkPolicy enforcer does not read netfilter queue $NETPOL_QUEUE"; return 1; }
  echo "up: kubeconfig $KCFG"
}

# put FILE: write stdin to FILE only when the content differs (running components watch their files).
put() {
  local tmp
  tmp=$(mktemp "$1.XXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

write_configs() {
  local ip=$1
  mkdir -p "$STATE/cni/net.d" "$RUN/containerd" "$STATE/kubelet" "$STATE/storage" "$CTRD_ROOT"
  put "$STATE/cni/net.d/10-aistack.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "aistack",
  "plugins": [
    {
      "type": "bridge", "bridge": "aistack0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR"}]],
               "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # shellcheck disable=SC1091
  source "$CACHE/images.env"
  put "$STATE/containerd.toml" <<EOF
version = 2
root = "$CTRD_ROOT"
state = "$RUN/containerd/state"
[grpc]
  address = "$CTRD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$AISTACK_PAUSE_IMAGE"
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/certs.d"
EOF
  mkdir -p "$STATE/certs.d"
  put "$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CTRD_SOCK
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$CLUSTER_DNS]
failSwapOn: false
failCgroupV1: false
podLogsDir: $STATE/pod-logs
serializeImagePulls: false
# Images here exist only because they were imported: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
maxPods: 200
EOF
  put "$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE
mode: iptables
conntrack: {maxPerCore: 0}
EOF
}

import_archives() {
  local ref file have
  have=$(ctr -a "$CTRD_SOCK" -n k8s.io images ls -q 2>/dev/null || true)
  while read -r ref file; do
    if grep -qxF "$ref" <<<"$have"; then continue; fi
    log "importing $ref into containerd"
    ctr -a "$CTRD_SOCK" -n k8s.io images import "$file" >/dev/null
  done <"$CACHE/images.list"
}

system_manifests() {
  # shellcheck disable=SC1091
  source "$CACHE/images.env"
  local f
  for f in "$HERE"/manifests/*.yaml; do
    echo "---"
    sed -e "s|\${COREDNS_IMAGE}|$AISTACK_COREDNS_IMAGE|g" -e "s|\${LOCALPATH_IMAGE}|$AISTACK_LOCALPATH_IMAGE|g" \
        -e "s|\${BASE_IMAGE}|$AISTACK_BASE_IMAGE|g" -e "s|\${NETPOL_IMAGE}|$AISTACK_NETPOL_IMAGE|g" \
        -e "s|\${NETPOL_QUEUE}|$NETPOL_QUEUE|g" -e "s|\${NETPOL_METRICS_PORT}|$NETPOL_METRICS_PORT|g" -e "s|\${CLUSTER_DNS}|$CLUSTER_DNS|g" \
        -e "s|\${CLUSTER_DOMAIN}|$CLUSTER_DOMAIN|g" -e "s|\${STORAGE_DIR}|$STATE/storage|g" "$f"
  done | kubectl_ apply --server-side --force-conflicts -f - >/dev/null
}

# Pod traffic crosses the bridge through iptables' FORWARD chain, whose policy dockerd sets to DROP.
# Service IPs that kube-proxy has not (yet) translated are rejected here, so such packets never follow the
# default route off the machine.
forward_rules() { # forward_rules -I|-D
  local rule
  local -a rules=(
    "FORWARD -s $CLUSTER_CIDR -m comment --comment aistack-local -j ACCEPT"
    "FORWARD -d $CLUSTER_CIDR -m comment --comment aistack-local -j ACCEPT"
    "FORWARD -d $SERVICE_CIDR -m comment --comment aistack-local -j REJECT"
    "OUTPUT -d $SERVICE_CIDR -m comment --comment aistack-local -j REJECT"
  )
  for rule in "${rules[@]}"; do
    # shellcheck disable=SC2086 # the rule is a list of words on purpose
    if iptables -C $rule 2>/dev/null; then
      if [[ $1 == -D ]]; then iptables -D $rule; fi
    elif [[ $1 == -I ]]; then
      iptables -I ${rule%% *} 1 ${rule#* }
    fi
  done
}

# NetworkPolicy enforcement. The first packet of every connection from or to a pod goes to the enforcer's
# netfilter queue, in POSTROUTING (after Service DNAT, before masquerading: both ends are the real ones) and,
# for connections from pods to this node's own addresses (the Compose databases of the local site), in INPUT,
# and the enforcer accepts or drops it. Traffic the node itself starts (kubelet probes, host-network pods such as
# the local Traefik) is admitted, as most implementations do. Without a reader on the queue the kernel drops
# the packets (no --queue-bypass): a dead enforcer stops pod traffic instead of letting everything through.
netpol_bound() { awk -v q="$NETPOL_QUEUE" '$1 == q {found=1} END {exit !found}' /proc/net/netfilter/nfnetlink_queue 2>/dev/null; }

netpol_rules() { # netpol_rules -I|-D
  local hook hooks=("POSTROUTING -j $NETPOL_CHAIN" "INPUT -j $NETPOL_CHAIN")
  if [[ $1 == -D ]]; then
    for hook in "${hooks[@]}"; do
      # shellcheck disable=SC2086 # the rule is a list of words on purpose
      while iptables -t mangle -C $hook 2>/dev/null; do iptables -t mangle -D $hook; done
    done
    if iptables -t mangle -S "$NETPOL_CHAIN" >/dev/null 2>&1; then
      iptables -t mangle -F "$NETPOL_CHAIN" && iptables -t mangle -X "$NETPOL_CHAIN"
    fi
    return 0
  fi
  iptables -t mangle -S "$NETPOL_CHAIN" >/dev/null 2>&1 || iptables -t mangle -N "$NETPOL_CHAIN"
  iptables-restore -T mangle --noflush <<RULES || die "cannot load the NetworkPolicy rules into iptables' mangle table: policies would not be enforced"
*mangle
-F $NETPOL_CHAIN
-A $NETPOL_CHAIN -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
-A $NETPOL_CHAIN -m addrtype --src-type LOCAL -j RETURN
-A $NETPOL_CHAIN -s $CLUSTER_CIDR -j NFQUEUE --queue-num $NETPOL_QUEUE
-A $NETPOL_CHAIN -d $CLUSTER_CIDR -j NFQUEUE --queue-num $NETPOL_QUEUE
COMMIT
RULES
  for hook in "${hooks[@]}"; do
    # shellcheck disable=SC2086
    iptables -t mangle -C $hook 2>/dev/null || iptables -t mangle -I $hook
  done
}

# Start enforcing: wait for the enforcer to read its queue, then divert packets to it. A cluster whose
# enforcer cannot start fails here, loudly, instead of running with policies that are silently ignored.
netpol_enforce() {
  WATCH="kube-apiserver kubelet" wait_for "NetworkPolicy enforcer (kube-network-policies) on queue $NETPOL_QUEUE" 120 netpol_bound
  netpol_rules -I
}

up() {
  build
  if status >/dev/null 2>&1; then
    forward_rules -I
    system_manifests
    netpol_enforce
    log "already up"; status; return 0
  fi
  if stale_state; then
    log "found the state of a cluster none of whose components runs (machine restarted?): clearing it"
    down
  fi
  # After the clearing above: down() removes these rules, and without them a restarted machine's pods
  # reach no Service (dockerd's FORWARD policy is DROP).
  forward_rules -I
  local ip start=$SECONDS
  ip=$(node_ip)
  log "node $NODE at $ip"
  modprobe br_netfilter 2>/dev/null || true
  modprobe overlay 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 || true
  mkdir -p "$STATE"
  pki "$ip"
  write_configs "$ip"

  start_proc etcd "$BIN/etcd" --name aistack-local --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster aistack-local=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
  start_proc containerd containerd --config "$STATE/containerd.toml"
  wait_for "etcd" 60 curl -fsS http://127.0.0.1:2379/health
  start_proc kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --advertise-address="$ip" --bind-address=0.0.0.0 --secure-port=6443 \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --profiling=false --v=1
  wait_for "containerd socket" 60 ctr -a "$CTRD_SOCK" version
  import_archives
  WATCH="etcd kube-apiserver" wait_for "kube-apiserver /readyz" 120 api_ready
  start_proc kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --cluster-cidr="$CLUSTER_CIDR" --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false --v=1
  start_proc kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1
  start_proc kube-proxy "$BIN/kube-proxy" --config="$STATE/kube-proxy.yaml" --v=1
  start_proc kubelet "$BIN/kubelet" --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --root-dir="$STATE/kubelet" --cert-dir="$PKI" --hostname-override="$NODE" --node-ip="$ip" \
    --v=1
  WATCH="etcd kube-apiserver containerd kubelet" wait_for "node $NODE Ready" 120 node_ready
  kubectl_ label node "$NODE" --overwrite node-role.kubernetes.io/control-plane= >/dev/null
  system_manifests
  WATCH="kube-apiserver kubelet" wait_for "CoreDNS" 120 deploy_available kube-system coredns
  WATCH="kube-apiserver kubelet" wait_for "local-path provisioner" 120 deploy_available local-path-storage local-path-provisioner
  netpol_enforce
  log "cluster up in $((SECONDS - start)) s; kubeconfig: $KCFG"
  echo "$KCFG"
}

down() {
  local start=$SECONDS
  # First, so pods' last packets are not queued to an enforcer that is about to stop.
  netpol_rules -D
  stop_proc kubelet
  stop_proc kube-proxy
  # After a restart nothing runs, but containerd's store still lists the old pod containers: start it
  # once on its own config so they are removed like those of a running cluster.
  if ! proc_alive containerd && [[ -f $STATE/containerd.toml ]]; then
    start_proc containerd containerd --config "$STATE/containerd.toml"
    wait_for "containerd socket (to remove old containers)" 30 ctr -a "$CTRD_SOCK" version || true
  fi
  if ctr -a "$CTRD_SOCK" version >/dev/null 2>&1; then
    local c
    for c in $(ctr -a "$CTRD_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
      ctr -a "$CTRD_SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    done
    sleep 1
    for c in $(ctr -a "$CTRD_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
      ctr -a "$CTRD_SOCK" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
      ctr -a "$CTRD_SOCK" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  stop_proc containerd
  pkill -9 -f "containerd-shim-runc-v2 .*-address $CTRD_SOCK" 2>/dev/null || true
  stop_proc kube-scheduler
  stop_proc kube-controller-manager
  stop_proc kube-apiserver
  stop_proc etcd
  # Mounts left by pods (volumes, overlay rootfs, netns, shm): innermost first.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    findmnt -rn -o TARGET | grep -E "^($STATE|$CTRD_ROOT|$RUN)(/|$)" | sort -r)
  for m in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$m" 2>/dev/null || true; done
  ip link delete aistack0 2>/dev/null || true
  # kube-proxy's and the CNI plugins' iptables rules.
  for t in filter nat mangle; do
    grep -qE 'KUBE-|CNI-' <<<"$(iptables-save -t $t)" || continue  # not a pipe: SIGPIPE under pipefail
    iptables-save -t $t | grep -vE -- '-j (KUBE-|CNI-)|^:(KUBE-|CNI-)|^-A (KUBE-|CNI-)' | iptables-restore -T $t 2>/dev/null || true
  done
  forward_rules -D
  rm -rf "$STATE" "$RUN"
  log "down in $((SECONDS - start)) s"
}

docker_up() {
  host_packages
  if docker info >/dev/null 2>&1; then return 0; fi
  mkdir -p "$CACHE/logs"
  # dockerd refuses to start while its PID file names a live process; after a restart that may be any program.
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [[ -n $pid ]] && ! pid_runs "$pid" dockerd; then rm -f /var/run/docker.pid; fi
  log "starting dockerd (log $CACHE/logs/dockerd.log)"
  setsid nohup dockerd >>"$CACHE/logs/dockerd.log" 2>&1 </dev/null &
  wait_for "dockerd" 60 docker info
}

# The base image alone (debootstrap, no Go build): the Docker image builds start from it while `build`
# compiles the cluster's binaries. Its archive is the one `build` lists for import.
base_image() {
  docker_up
  local ref=aistack.local/debian:$BASE_SUITE file=$IMAGES/debian-$BASE_SUITE.tar rootfs
  if docker image inspect "$ref" >/dev/null 2>&1; then return 0; fi
  host_packages
  rootfs=$(build_base_rootfs)
  if [[ ! -f $file ]]; then
    mkdir -p "$IMAGES"
    python3 "$HERE/mkimage.py" -o "$file.part" --tag "$ref" --rootfs-tar "$rootfs" --cmd /bin/bash >/dev/null
    mv "$file.part" "$file"
  fi
  docker load -i "$file" >/dev/null
  log "loaded $ref into Docker"
}

case ${1:-} in
  build) build ;;
  up) up ;;
  down) down ;;
  status) status ;;
  kubeconfig) echo "$KCFG" ;;
  env) echo "export PATH=$BIN:\$PATH KUBECONFIG=$KCFG" ;;
  docker) docker_up ;;
  base-image) base_image ;;
  import-image)
    [[ -n ${2:-} ]] || die "usage: cluster.sh import-image REF"
    docker save "$2" | ctr -a "$CTRD_SOCK" -n k8s.io images import - >/dev/null
    log "imported $2" ;;
  import-archive)
    [[ -f ${2:-} ]] || die "usage: cluster.sh import-archive FILE"
    ctr -a "$CTRD_SOCK" -n k8s.io images import "$2" >/dev/null ;;
  containerd-socket) echo "$CTRD_SOCK" ;;
  loki) build_loki; echo "$CACHE/loki-$LOKI_VERSION/bin" ;;
  traefik) build_traefik; echo "$CACHE/traefik-$TRAEFIK_VERSION/bin" ;;
  *) sed -n '2,21p' "$0"; exit 2 ;;
esac
