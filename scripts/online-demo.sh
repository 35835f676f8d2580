#!/usr/bin/env bash
# The online service, end to end on loopback (issue 12): the CA's machine runs
# `cmca serve`; an operator and two applicants work from their own machines
# (separate homes holding no store and no CA key) through the same CLI with
# --server. One applicant downloads to a software key (PKCS#12), the other to
# a USB key (a SoftHSM2 token, when softhsm2 is installed). The operator
# approves a revocation and signs a CRL; the CRL is fetched over plain HTTP
# and openssl rejects the revoked certificate.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/cmca" ./cmd/cmca
cmca() { "$work/cmca" "$@"; }
umask 077
echo "demo-password-123" > "$work/pw.txt"
echo "operator-password-456" > "$work/op-pw.txt"

step() { printf '\n== %s\n' "$*"; }

# --- The CA's machine -------------------------------------------------------
step "CA machine: a home, an operator credential, and the server on loopback"
export CMCA_HOME="$work/ca-home" CMCA_OPERATOR=ca-admin
cmca init --ca-name "cmca Online Demo CA" --ca-org "cmca Demo" --ca-country CN -q
cmca operator add rita --role reviewer,issuer,revoker,auditor --out "$work/rita.p12" --password-file "$work/op-pw.txt"
fingerprint=$(cmca ca show -q)
"$work/cmca" serve --listen 127.0.0.1:0 --listen-http 127.0.0.1:0 --name 127.0.0.1 \
  --addr-file "$work/addr.json" > /dev/null 2> "$work/serve.log" &
server_pid=$! # the server process itself (not a subshell), so SIGTERM reaches it
for _ in $(seq 300); do [ -s "$work/addr.json" ] && break; sleep 0.1; done
https=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["https"])' "$work/addr.json")
public=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/addr.json")
echo "HTTPS API on $https, public HTTP (CA certificate, CRLs, OCSP, CMP) on $public"
unset CMCA_OPERATOR

# --- Everyone else's machines ---------------------------------------------
# Trust in the server comes from the CA certificate, fetched over plain HTTP
# and checked against the fingerprint the CA published.
client() { # client HOME ARGS...: cmca on another machine, against the server
  local home=$1; shift
  CMCA_HOME="$home" CMCA_SERVER="https://$https" CMCA_SERVER_CA="$work/server-ca.pem" "$work/cmca" "$@"
}
step "Any machine: fetch the CA certificate and check its fingerprint"
CMCA_HOME="$work/applicant" cmca ca fetch "http://$public" --fingerprint "$fingerprint" --out "$work/server-ca.pem"
operator() { CMCA_LOGIN="$work/rita.p12" CMCA_LOGIN_PASSWORD_FILE="$work/op-pw.txt" client "$work/operator" "$@"; }

step "Applicant 1 (their own PC, no credential): apply for a software certificate"
ref1=$(client "$work/applicant" apply -q --name 张三 --id-type resident --id-number 11010519491231002X \
  --mobile 13812345678 --email zhang@example.com --usage auth \
  --acceptance-point online --storage soft --agree </dev/null)
client "$work/applicant" status "$ref1"

step "Operator rita (her desk, logged in with her credential): review, approve, issue"
operator review
operator approve "$ref1"
code1=$(operator issue -q "$ref1" | cut -d' ' -f2)

step "Applicant 1: download; the key is generated here and never leaves this machine"
client "$work/applicant" download --ref "$ref1" --passcode "$code1" --out "$work/zhang.p12" --password-file "$work/pw.txt"
openssl pkcs12 -in "$work/zhang.p12" -passin "file:$work/pw.txt" -nokeys -clcerts -out "$work/zhang.crt"
openssl verify -CAfile "$work/server-ca.pem" "$work/zhang.crt"
test ! -e "$work/applicant/ra.db" && test ! -e "$work/applicant/ca/ca.key" && echo "the applicant's home holds no store and no CA key"

if command -v softhsm2-util >/dev/null && [ -e /usr/lib/softhsm/libsofthsm2.so ]; then
  step "Applicant 2: a USB key (SoftHSM2 token); the key pair is generated on the token"
  export SOFTHSM2_CONF="$work/softhsm2.conf"
  mkdir -p "$work/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/tokens" > "$SOFTHSM2_CONF"
  softhsm2-util --init-token --free --label UserKey --so-pin 12345678 --pin 87654321 >/dev/null
  echo 87654321 > "$work/pin.txt"
  ref2=$(client "$work/applicant2" apply -q --name 李四 --id-type resident --id-number 110105198001010016 \
    --mobile 13912345678 --email li@example.com --usage sign \
    --acceptance-point online --storage usbkey --agree </dev/null)
  operator approve "$ref2"
  code2=$(operator issue -q "$ref2" | cut -d' ' -f2)
  client "$work/applicant2" download --ref "$ref2" --passcode "$code2" --storage usbkey \
    --module /usr/lib/softhsm/libsofthsm2.so --token-label UserKey --pin-file "$work/pin.txt"
  pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label UserKey --login --pin 87654321 --list-objects --type privkey
else
  step "(softhsm2 is not installed: the USB key part is skipped)"
fi

step "Applicant 1 reports the key lost: a revocation request, proved with the key"
client "$work/applicant" revoke --p12 "$work/zhang.p12" --password-file "$work/pw.txt" --reason keyCompromise
step "Operator rita approves the revocation and signs a CRL"
revref=$(operator review -q --kind revoke | head -1)
operator approve "$revref"
operator crl

step "A relying party (no cmca at all): fetch the CRL over HTTP, check with openssl"
curl -fsS "http://$public/crl/ca.crl" -o "$work/ca.crl"
openssl crl -inform DER -in "$work/ca.crl" -noout -text | sed -n '1,12p'
openssl crl -inform DER -in "$work/ca.crl" -out "$work/ca.crl.pem"
cat "$work/server-ca.pem" "$work/ca.crl.pem" > "$work/chain-crl.pem"
if openssl verify -crl_check -CAfile "$work/chain-crl.pem" "$work/zhang.crt"; then
  echo "expected the revoked certificate to fail verification" >&2; exit 1
fi

step "Shut the server down gracefully (SIGTERM)"
kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=
grep -c '"msg"' "$work/serve.log" | xargs echo "server log lines (JSON, no secrets):"
if grep -q -e "$code1" -e demo-password-123 -e operator-password-456 "$work/serve.log"; then
  echo "a secret reached the server log" >&2; exit 1
fi
echo "OK: applied, reviewed, issued and downloaded online (soft and token), revoked, and the CRL served over HTTP rejects it."
