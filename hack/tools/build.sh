#!/usr/bin/env bash
# build.sh builds, caches and installs the lab's tool binaries (kube-apiserver,
# kube-controller-manager, the OCM placement controller, Argo CD, kustomize)
# from the Go module proxy, each group in its own Go module under hack/tools/,
# and installs the Debian packages the lab runs (etcd-server, redis-server, git).
#
# Versions live in hack/tools/versions.env only. Usage:
#
#   build.sh [build] [TOOL...]   build/install into $BIN (default: all tools)
#   build.sh check               fail when a tools go.mod disagrees with versions.env
#   build.sh sync GROUP...       regenerate GROUP's go.mod/go.sum from versions.env
#   build.sh crds                stage the OCM cluster CRDs and Argo CD CRDs into $BIN/crds
#   build.sh deps                apt-get install etcd-server redis-server git when missing
#   build.sh list                print "name version" for every tool
#
# A binary is installed as $BIN/NAME with a stamp $BIN/.stamps/NAME holding its
# version: when the stamp matches, nothing happens. Otherwise the binary is
# copied from the out-of-tree cache ($GITOVER_TOOLS_CACHE, default
# ~/.cache/gitover/tools/NAME-VERSION/NAME) when present, else built from
# source and stored in that cache.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BIN:-$ROOT/bin}
GO=${GO:-go}
CACHE=${GITOVER_TOOLS_CACHE:-${HOME}/.cache/gitover/tools}

# shellcheck source=versions.env
source "$HERE/versions.env"

# name  group  package  version-variable
TOOLS=(
	"kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver KUBERNETES_VERSION"
	"kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager KUBERNETES_VERSION"
	"placement ocm open-cluster-management.io/ocm/cmd/placement OCM_VERSION"
	"argocd argocd github.com/argoproj/argo-cd/v3/cmd ARGOCD_VERSION"
	"kustomize kustomize sigs.k8s.io/kustomize/kustomize/v5 KUSTOMIZE_VERSION"
)

# modreq answers questions about go.mod JSON on stdin (see modreq/main.go).
modreq() { (cd "$HERE/modreq" && "$GO" run . "$@"); }

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] error: %s\n' "$*" >&2; exit 1; }

# field NAME INDEX prints one column of NAME's row in TOOLS.
field() {
	local row
	for row in "${TOOLS[@]}"; do
		read -r -a f <<<"$row"
		if [[ ${f[0]} == "$1" ]]; then
			echo "${f[$2]}"
			return 0
		fi
	done
	die "unknown tool $1 (known: $(names))"
}
names() { local row; for row in "${TOOLS[@]}"; do echo -n "${row%% *} "; done; }
version_of() { local var; var=$(field "$1" 3); echo "${!var}"; }

# ldflags NAME prints the -X flags that make a binary report its real version.
ldflags() {
	local v
	v=$(version_of "$1")
	case $1 in
	kube-apiserver | kube-controller-manager)
		local major minor
		major=${v#v}; major=${major%%.*}
		minor=${v#v*.}; minor=${minor%%.*}
		echo "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
		;;
	argocd)
		echo "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${v#v} -X github.com/argoproj/argo-cd/v3/common.gitTag=$v -X github.com/argoproj/argo-cd/v3/common.gitTreeState=clean"
		;;
	kustomize)
		echo "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=kustomize/$v"
		;;
	*)
		echo "-s -w"
		;;
	esac
}

# main_module GROUP prints the module whose version versions.env pins for GROUP.
main_module() {
	case $1 in
	kube) echo "k8s.io/kubernetes $KUBERNETES_VERSION" ;;
	ocm) echo "open-cluster-management.io/ocm $OCM_VERSION" ;;
	argocd) echo "github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION" ;;
	kustomize) echo "sigs.k8s.io/kustomize/kustomize/v5 $KUSTOMIZE_VERSION" ;;
	*) die "unknown group $1" ;;
	esac
}

# check verifies every tools go.mod requires exactly the versions.env version,
# and that the groups with replace blocks point them at matching versions.
check() {
	local g mod ver got bad=0
	for g in kube ocm argocd kustomize; do
		read -r mod ver < <(main_module "$g")
		got=$(cd "$HERE/$g" && "$GO" mod edit -json | modreq require "$mod")
		if [[ $got != "$ver" ]]; then
			log "$g/go.mod requires $mod $got, versions.env says $ver (run: $0 sync $g)"
			bad=1
		fi
	done
	local staging="v0.${KUBERNETES_VERSION#v1.}"
	got=$(cd "$HERE/kube" && "$GO" mod edit -json | modreq replace-versions "k8s.io/")
	if [[ -n $got && $got != "$staging" ]]; then
		log "kube/go.mod replaces staging modules with $got, want $staging"
		bad=1
	fi
	got=$(cd "$HERE/argocd" && "$GO" mod edit -json | modreq replace github.com/argoproj/argo-cd/gitops-engine)
	if [[ $got != "$ARGOCD_GITOPS_ENGINE_VERSION" ]]; then
		log "argocd/go.mod replaces gitops-engine with $got, versions.env says $ARGOCD_GITOPS_ENGINE_VERSION"
		bad=1
	fi
	((bad == 0)) || die "tools go.mod files disagree with versions.env"
	log "go.mod files agree with versions.env"
}

# modfile MODULE@VERSION prints the path of that module's go.mod in the module cache.
modfile() {
	(cd "$(mktemp -d)" && "$GO" mod download -json "$1" | modreq field GoMod)
}

# sync GROUP rewrites GROUP's go.mod from versions.env and tidies it.
sync_group() {
	local g=$1 dir="$HERE/$1" mod ver
	read -r mod ver < <(main_module "$g")
	log "sync $g: $mod $ver"
	rm -f "$dir/go.mod" "$dir/go.sum"
	(
		cd "$dir"
		"$GO" mod init "github.com/gitover/gitover/hack/tools/$g" 2>/dev/null
		"$GO" mod edit -go=1.26.0 -require="$mod@$ver"
		case $g in
		kube)
			# k8s.io/kubernetes replaces its staging modules with in-repo paths;
			# a consumer must pin each of them to the matching v0.X release.
			local staging="v0.${ver#v1.}" m gomod mods
			gomod=$(modfile "$mod@$ver")
			mods=$("$GO" mod edit -json "$gomod" | modreq staging)
			[[ -n $mods ]] || die "no staging replaces in $gomod"
			for m in $mods; do
				"$GO" mod edit -replace="$m=$m@$staging"
			done
			;;
		argocd)
			# Argo CD's own replace block, minus its in-tree gitops-engine, which
			# comes from the proxy at the tag's commit instead.
			local r gomod reps
			gomod=$(modfile "$mod@$ver")
			reps=$("$GO" mod edit -json "$gomod" | modreq replaces)
			for r in $reps; do
				"$GO" mod edit -replace="$r"
			done
			"$GO" mod edit -replace="github.com/argoproj/argo-cd/gitops-engine=github.com/argoproj/argo-cd/gitops-engine@$ARGOCD_GITOPS_ENGINE_VERSION"
			;;
		esac
		local row f
		for row in "${TOOLS[@]}"; do
			read -r -a f <<<"$row"
			[[ ${f[1]} == "$g" ]] && "$GO" mod edit -tool="${f[2]}"
		done
		GOFLAGS=-mod=mod "$GO" mod tidy
	)
}

# build_one NAME installs NAME into $BIN (no-op when the stamp matches).
build_one() {
	local name=$1 group pkg ver stamp cached start
	group=$(field "$name" 1)
	pkg=$(field "$name" 2)
	ver=$(version_of "$name")
	stamp="$BIN/.stamps/$name"
	if [[ -x $BIN/$name && -f $stamp && $(<"$stamp") == "$ver" ]]; then
		log "$name $ver: up to date"
		return 0
	fi
	mkdir -p "$BIN/.stamps"
	cached="$CACHE/$name-$ver/$name"
	if [[ -x $cached ]]; then
		log "$name $ver: copying from $cached"
		cp -f "$cached" "$BIN/$name.tmp"
	else
		log "$name $ver: building $pkg (cold builds take minutes)"
		start=$(date +%s)
		(cd "$HERE/$group" && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
			"$GO" build -trimpath -ldflags "$(ldflags "$name")" -o "$BIN/$name.tmp" "$pkg")
		log "$name $ver: built in $(($(date +%s) - start)) s"
		mkdir -p "$(dirname "$cached")"
		cp -f "$BIN/$name.tmp" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
	fi
	mv -f "$BIN/$name.tmp" "$BIN/$name"
	echo "$ver" >"$stamp"
}

# crds stages the CRDs the lab applies to its hub, taken from the module
# cache (never committed): OCM's cluster CRDs from open-cluster-management.io/api
# at the version the product's go.mod requires, and Argo CD's from the
# argo-cd module at ARGOCD_VERSION.
crds() {
	local dir ver stamp
	# OCM: the version is the product's (go.mod at the repository root).
	read -r dir ver < <(cd "$ROOT" && "$GO" mod download -json open-cluster-management.io/api | modreq field Dir Version)
	stage_crds ocm "$ver" "$dir/cluster" '*.crd.yaml'
	read -r dir ver < <(cd "$(mktemp -d)" && "$GO" mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | modreq field Dir Version)
	stage_crds argocd "$ver" "$dir/manifests/crds" '*-crd.yaml'
}

# stage_crds NAME VERSION SRC GLOB copies SRC/**/GLOB into $BIN/crds/NAME.
stage_crds() {
	local name=$1 ver=$2 src=$3 glob=$4 stamp="$BIN/.stamps/crds-$1" dst="$BIN/crds/$1"
	if [[ -d $dst && -f $stamp && $(<"$stamp") == "$ver" ]]; then
		log "crds/$name $ver: up to date"
		return 0
	fi
	[[ -d $src ]] || die "no CRD directory $src"
	rm -rf "$dst.tmp" && mkdir -p "$dst.tmp" "$BIN/.stamps"
	local f n=0
	while IFS= read -r -d '' f; do
		cp "$f" "$dst.tmp/$(basename "$f")"
		chmod 0644 "$dst.tmp/$(basename "$f")"
		n=$((n + 1))
	done < <(find "$src" -name "$glob" -print0)
	((n > 0)) || die "no $glob under $src"
	rm -rf "$dst" && mv "$dst.tmp" "$dst"
	echo "$ver" >"$stamp"
	log "crds/$name $ver: staged $n CRDs"
}

# as_root runs a command as root (sudo only when not already root).
as_root() {
	if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

# deps installs the Debian packages the lab runs when their commands are missing.
deps() {
	local pkgs=()
	command -v etcd >/dev/null || pkgs+=(etcd-server)
	command -v redis-server >/dev/null || pkgs+=(redis-server)
	command -v git >/dev/null || pkgs+=(git)
	((${#pkgs[@]} == 0)) && { log "etcd, redis-server, git: present"; return 0; }
	command -v apt-get >/dev/null || die "missing ${pkgs[*]} and no apt-get: install them by hand"
	log "apt-get install ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! as_root apt-get install -y --no-install-recommends "${pkgs[@]}"; then
		as_root apt-get update
		as_root apt-get install -y --no-install-recommends "${pkgs[@]}"
	fi
	# Debian starts the services on install; the lab runs its own instances.
	if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
		as_root systemctl disable --now etcd redis-server 2>/dev/null || true
	fi
}

cmd=${1:-build}
[[ $# -gt 0 ]] && shift
case $cmd in
build)
	names_to_build=("$@")
	((${#names_to_build[@]})) || read -r -a names_to_build <<<"$(names)"
	for n in "${names_to_build[@]}"; do build_one "$n"; done
	;;
check) check ;;
sync)
	(($#)) || die "usage: $0 sync GROUP... (kube ocm argocd kustomize)"
	for g in "$@"; do sync_group "$g"; done
	;;
crds) crds ;;
deps) deps ;;
list) for n in $(names); do echo "$n $(version_of "$n")"; done ;;
*) die "unknown command $cmd" ;;
esac
