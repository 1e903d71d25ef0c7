#!/bin/sh
# Makes development TLS material for the demo, the tests and the benchmarks: a development CA
# (made once, then reused) and a leaf certificate signed by it. ECDSA P-256 throughout.
#
#   certs/make-dev-certs.sh [--out DIR] [--san LIST] [--days N] [--expired]
#                           [--ca-dir DIR] [--name NAME] [--client]
#
#   --out DIR     where the leaf goes (default: certs/dev next to this script); made mode 0700
#   --ca-dir DIR  where the CA lives (default: the --out DIR); made there if it has no ca.pem/ca.key,
#                 so pointing it at a fresh folder gives a second, unrelated CA ("unknown CA" tests)
#   --name NAME   leaf file names NAME.pem / NAME.key and its CN (default: server)
#   --san LIST    subjectAltName, openssl syntax (default for server certs:
#                 DNS:localhost,IP:127.0.0.1,IP:::1; client certs have none unless given)
#   --days N      leaf validity in days (default 825)
#   --expired     leaf valid only 2020-01-01..2020-01-02, i.e. expired
#   --client      clientAuth leaf instead of serverAuth
#
# Writes DIR/NAME.key (0600), DIR/NAME.pem (the leaf only) and, when it makes the CA,
# CA_DIR/ca.key (0600) and CA_DIR/ca.pem. Rerunning reuses the CA and reissues the leaf.
# Private keys are never committed: .gitignore excludes *.pem, *.key, *.srl under certs/.
# Uses only the openssl CLI (tested with OpenSSL 3.0).
set -eu

usage() {
    sed -n '2,21s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

die() {
    echo "make-dev-certs.sh: $*" >&2
    exit 1
}

script_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
out="$script_dir/dev"
ca_dir=""
san=""
days=825
expired=0
name=server
client=0

while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
        --out=*) out=${1#*=}; shift ;;
        --ca-dir) [ $# -ge 2 ] || usage; ca_dir=$2; shift 2 ;;
        --ca-dir=*) ca_dir=${1#*=}; shift ;;
        --san) [ $# -ge 2 ] || usage; san=$2; shift 2 ;;
        --san=*) san=${1#*=}; shift ;;
        --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
        --days=*) days=${1#*=}; shift ;;
        --name) [ $# -ge 2 ] || usage; name=$2; shift 2 ;;
        --name=*) name=${1#*=}; shift ;;
        --expired) expired=1; shift ;;
        --client) client=1; shift ;;
        -h|--help) usage ;;
        *) echo "make-dev-certs.sh: unknown argument: $1" >&2; usage ;;
    esac
done

case "$days" in
    ''|*[!0-9]*) die "--days wants a positive whole number, not '$days'" ;;
esac
[ "$days" -gt 0 ] || die "--days wants a positive whole number, not '$days'"
case "$name" in
    ''|ca|*[!A-Za-z0-9._-]*|.*) die "--name wants letters, digits, '.', '_' or '-' (and not 'ca'), not '$name'" ;;
esac
case "$san" in
    *'$'*|*'
'*) die "--san must not contain '\$' or newlines" ;;
esac
if [ -z "$san" ] && [ "$client" -eq 0 ]; then
    san="DNS:localhost,IP:127.0.0.1,IP:::1"
fi
[ -n "$ca_dir" ] || ca_dir=$out

command -v openssl >/dev/null 2>&1 || die "openssl is not installed"

# Keys are created owner-only from the start, not chmod-ed afterwards.
umask 077
mkdir -p "$out" "$ca_dir"
chmod 700 "$out"
out=$(CDPATH= cd -- "$out" && pwd)
ca_dir=$(CDPATH= cd -- "$ca_dir" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/make-dev-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
        -out "$1" 2>/dev/null || die "cannot make an EC P-256 key at $1"
    chmod 600 "$1"
}

made_ca=0
if [ -f "$ca_dir/ca.pem" ] && [ -f "$ca_dir/ca.key" ]; then
    openssl x509 -in "$ca_dir/ca.pem" -noout 2>/dev/null || die "$ca_dir/ca.pem is not a certificate"
elif [ -f "$ca_dir/ca.pem" ] || [ -f "$ca_dir/ca.key" ]; then
    die "$ca_dir has only one of ca.pem and ca.key; remove it to make a new CA"
else
    new_key "$tmp/ca.key"
    cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = ca_dn
prompt = no
x509_extensions = ca_ext
[ca_dn]
CN = build-service development CA
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    openssl req -config "$tmp/ca.cnf" -new -x509 -sha256 -days 3650 -key "$tmp/ca.key" -out "$tmp/ca.pem" \
        || die "cannot make the CA certificate"
    chmod 644 "$tmp/ca.pem"
    # Move into place last, so an interrupted run never leaves half a CA behind.
    mv "$tmp/ca.key" "$ca_dir/ca.key"
    mv "$tmp/ca.pem" "$ca_dir/ca.pem"
    made_ca=1
fi

# The leaf: a CSR, signed with `openssl ca` and a throw-away database. `openssl ca` (unlike
# `x509 -req` in OpenSSL 3.0) takes explicit -startdate/-enddate, which --expired needs.
new_key "$tmp/leaf.key"
openssl req -new -key "$tmp/leaf.key" -subj "/CN=$name" -out "$tmp/leaf.csr" \
    || die "cannot make the certificate request"

if [ "$client" -eq 1 ]; then eku=clientAuth; else eku=serverAuth; fi
{
    echo "[ca]"
    echo "default_ca = dev_ca"
    echo "[dev_ca]"
    echo "database = $tmp/index.txt"
    echo "new_certs_dir = $tmp"
    echo "serial = $tmp/serial"
    echo "rand_serial = yes"
    echo "default_md = sha256"
    echo "policy = policy_any"
    echo "unique_subject = no"
    echo "email_in_dn = no"
    echo "copy_extensions = none"
    echo "[policy_any]"
    echo "commonName = supplied"
    echo "[leaf_ext]"
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature"
    echo "extendedKeyUsage = $eku"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid, issuer"
    if [ -n "$san" ]; then echo "subjectAltName = $san"; fi
} >"$tmp/leaf.cnf"
: >"$tmp/index.txt"

if [ "$expired" -eq 1 ]; then
    validity="-startdate 20200101000000Z -enddate 20200102000000Z"
else
    validity="-days $days"
fi
# $validity is split on purpose: it holds two options with their values and no spaces inside.
# shellcheck disable=SC2086
openssl ca -batch -config "$tmp/leaf.cnf" -name dev_ca -extensions leaf_ext -rand_serial -notext \
    -cert "$ca_dir/ca.pem" -keyfile "$ca_dir/ca.key" -outdir "$tmp" \
    $validity -in "$tmp/leaf.csr" -out "$tmp/leaf.pem" 2>"$tmp/ca.log" \
    || { cat "$tmp/ca.log" >&2; die "cannot sign the $name certificate (bad --san '$san'?)"; }
chmod 644 "$tmp/leaf.pem"
mv "$tmp/leaf.key" "$out/$name.key"
mv "$tmp/leaf.pem" "$out/$name.pem"

if [ "$made_ca" -eq 1 ]; then
    echo "made CA:  $ca_dir/ca.pem (key $ca_dir/ca.key)"
else
    echo "reused CA: $ca_dir/ca.pem"
fi
kind=server
[ "$client" -eq 0 ] || kind=client
echo "$kind cert: $out/$name.pem (key $out/$name.key)"
echo "  $(openssl x509 -in "$out/$name.pem" -noout -subject)"
echo "  $(openssl x509 -in "$out/$name.pem" -noout -startdate -enddate | tr '\n' ' ')"
[ -z "$san" ] || echo "  subjectAltName: $san"
