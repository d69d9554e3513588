# Shared by the bin/ commands: install what the build needs, then build.
# Sourced, not run. Everything it prints goes to stderr so commands keep stdout clean.

DELTASEAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DELTASEAL_DEB_PACKAGES=(libsqlite3-dev libcurl4-openssl-dev libzstd-dev pkg-config)

deltaseal_log() { printf 'deltaseal: %s\n' "$*" >&2; }

# Installs the Debian packages the build links against, if any is missing.
deltaseal_ensure_packages() {
    local missing=()
    for package in "${DELTASEAL_DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        deltaseal_log "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
        return 1
    fi
    deltaseal_log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# Builds the package in CONFIGURATION (debug or release), quietly unless it fails; further
# arguments go to `swift build`.
deltaseal_build() {
    local configuration="$1" log
    shift
    log="$(mktemp)"
    if ! (cd "$DELTASEAL_ROOT" && swift build -c "$configuration" "$@" >"$log" 2>&1); then
        cat "$log" >&2
        rm -f "$log"
        deltaseal_log "build failed ($configuration)"
        return 1
    fi
    rm -f "$log"
}

# Runs one of the package's executables from the release build, building it first if stale.
deltaseal_exec_release() {
    local name="$1"
    shift
    deltaseal_ensure_packages || exit 1
    deltaseal_build release || exit 1
    exec "$DELTASEAL_ROOT/.build/release/$name" "$@"
}
