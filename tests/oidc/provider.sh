# shellcheck shell=bash
# The test OpenID Provider (tests/oidc/provider.mjs: panva's oidc-provider on loopback over HTTPS)
# for scripts/bench; the Rust suites have tests/integration/src/oidc.rs.
# Source it after scripts/lib.sh; it does nothing by itself. Always call oidc_stop in the
# sourcing script's cleanup trap.
#
#   oidc_available        node and examples/node_modules with oidc-provider are there (else a reason)
#   oidc_init DIR         once: DIR, a CA and a certificate for 127.0.0.1 (make_test_tls), the
#                         confidential clients' secret, a free port; sets OIDC_ISSUER, OIDC_CA
#   oidc_start [ARGS...]  start the provider (stopping a running one first) with provider.mjs's
#                         options (--keys ALG:KID,..., --alg CLIENT=ALG); waits until it listens
#   oidc_stop             stop it (and wait until it is gone)
#   oidc_token CLIENT     a client_credentials access token of CLIENT, on stdout
#   oidc_trusting CMD...  CMD trusting the test CA: in a private mount namespace whose system CA
#                         bundle also holds it (libpq's OAuth flow trusts only the system's
#                         CAs), or, where none can be made, with PGOAUTHDEBUG=UNSAFE (below)
#   oidc_device USER ACTION OUT CMD...   a device-flow login: see below
OIDC_DIR="" OIDC_PORT="" OIDC_PID="" OIDC_ISSUER="" OIDC_CA="" OIDC_SPKI=""
OIDC_NODE="$NODE"   # scripts/lib.sh: Node.js 20, pinned in examples/package-lock.json

oidc_available() {
    [ -x "$OIDC_NODE" ] || { echo "node is missing (run examples/setup)"; return 1; }
    [ -f "$ROOT/examples/node_modules/oidc-provider/package.json" ] \
        || { echo "examples/node_modules has no oidc-provider (run examples/setup)"; return 1; }
    [ -x /usr/bin/chromium ] || { echo "chromium is missing (run examples/setup)"; return 1; }
}

oidc_init() { # dir
    OIDC_DIR="$1"
    mkdir -p "$OIDC_DIR"
    chmod 755 "$OIDC_DIR"
    make_test_tls "$OIDC_DIR/tls" "IP:127.0.0.1" || return 1
    OIDC_CA="$OIDC_DIR/tls/ca.pem"
    # What Chromium is told to trust (the certificate's public key), and the system bundle plus
    # the test CA for oidc_trusting.
    OIDC_SPKI="$(openssl x509 -in "$OIDC_DIR/tls/server.pem" -pubkey -noout | openssl pkey -pubin -outform der \
        | openssl dgst -sha256 -binary | base64)"
    cat /etc/ssl/certs/ca-certificates.crt "$OIDC_CA" >"$OIDC_DIR/ca-bundle.crt" 2>/dev/null || cp "$OIDC_CA" "$OIDC_DIR/ca-bundle.crt"
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$OIDC_DIR/client_secret")
    OIDC_PORT="$(free_port)"
    OIDC_ISSUER="https://127.0.0.1:$OIDC_PORT"
}

oidc_start() { # provider.mjs options
    oidc_stop
    rm -f "$OIDC_DIR/state.json"
    "$OIDC_NODE" "$ROOT/tests/oidc/provider.mjs" "$OIDC_DIR" "$OIDC_PORT" "$@" >>"$OIDC_DIR/provider.log" 2>&1 &
    OIDC_PID=$!
    local i
    for i in $(seq 1 300); do
        [ -f "$OIDC_DIR/state.json" ] && grep -q "\"pid\":$OIDC_PID," "$OIDC_DIR/state.json" && return 0
        kill -0 "$OIDC_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "the test OpenID Provider did not start; its log:" >&2
    tail -n 20 "$OIDC_DIR/provider.log" >&2
    oidc_stop
    return 1
}

oidc_stop() {
    [ -n "$OIDC_PID" ] || return 0
    kill "$OIDC_PID" 2>/dev/null
    local i
    for i in $(seq 1 50); do kill -0 "$OIDC_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$OIDC_PID" 2>/dev/null
    wait "$OIDC_PID" 2>/dev/null
    OIDC_PID=""
}

oidc_token() { # client
    OIDC_CLIENT_SECRET="$(cat "$OIDC_DIR/client_secret")" "$OIDC_NODE" "$ROOT/tests/oidc/token.mjs" "$OIDC_ISSUER" "$OIDC_CA" "$1"
}

# libpq 18's OAuth flow (libpq-oauth, libcurl) checks the provider's certificate against the
# system's CA store only: PGOAUTHCAFILE is honoured only under PGOAUTHDEBUG=UNSAFE. A user adds a
# private CA to that store (update-ca-certificates); the tests leave the machine's store alone
# and run the client in a mount namespace of its own, where the bundle file is replaced by one
# that also holds the test CA. Where no private mount namespace can be made (a chroot, whose root
# is not a mount point), and only there, the client runs with PGOAUTHDEBUG=UNSAFE and
# PGOAUTHCAFILE instead, the one other way libpq trusts a CA (it also prints libcurl's traffic
# on the client's stderr); the suites say which one ran.
OIDC_TRUST="${OIDC_TRUST:-}"   # namespace or unsafe; decided at first use unless set
oidc_trust_method() { # prints namespace or unsafe
    if [ -z "$OIDC_TRUST" ]; then
        if unshare --mount --propagation private -- /bin/true 2>/dev/null; then
            OIDC_TRUST=namespace
        else
            OIDC_TRUST=unsafe
        fi
    fi
    echo "$OIDC_TRUST"
}
oidc_trusting() { # cmd...
    if [ "$(oidc_trust_method)" = namespace ]; then
        unshare --mount --propagation private -- /bin/sh -c \
            'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"' "$OIDC_DIR/ca-bundle.crt" "$@"
    else
        PGOAUTHDEBUG=UNSAFE PGOAUTHCAFILE="$OIDC_DIR/ca-bundle.crt" "$@"
    fi
}

# oidc_device USER ACTION OUT CMD...: a device-flow login. CMD (a program using libpq) runs in the
# background, trusting the test CA as oidc_trusting does; once it prints libpq's prompt ("Visit URL and enter the
# code: CODE") on stderr, the person (tests/oidc/person.mjs, headless Chromium) plays USER with
# ACTION: allow, deny (on the consent page), abort (on the device page), or none (nobody comes:
# the code expires). Then CMD is waited for (60 s at most). OUT gets CMD's stdout, OUT.err its
# stderr, OUT.person the person's lines. Returns CMD's exit status.
oidc_device() { # user action out cmd...
    local user="$1" action="$2" out="$3" pid prompt="" url code i rc
    shift 3
    oidc_trust_method >/dev/null   # decided here, not in the background subshell
    oidc_trusting "$@" >"$out" 2>"$out.err" &
    pid=$!
    for i in $(seq 1 200); do
        prompt="$(grep -m1 -oE 'Visit https://[^ ]+ and enter the code: [A-Z0-9-]+' "$out.err" 2>/dev/null)"
        [ -n "$prompt" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    : >"$out.person"
    if [ -n "$prompt" ] && [ "$action" != none ]; then
        url="$(echo "$prompt" | sed -E 's/^Visit ([^ ]+) and enter.*/\1/')"
        code="${prompt##*: }"
        "$OIDC_NODE" "$ROOT/tests/oidc/person.mjs" "$OIDC_SPKI" "$url" "$code" "$user" "$action" >"$out.person" 2>&1
    fi
    for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null
    wait "$pid"; rc=$?
    return "$rc"
}
