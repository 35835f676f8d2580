#!/usr/bin/env bash
# The main job, end to end on a throwaway home: init a CA, apply, approve,
# issue a passcode, download a software certificate (PKCS#12), verify it with
# openssl, revoke it, publish a CRL and watch openssl reject it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/cmca" ./cmd/cmca
cmca() { "$work/cmca" "$@"; }
export CMCA_HOME="$work/home" CMCA_OPERATOR=demo-operator
umask 077
echo "demo-password-123" > "$work/pw.txt"

set -x
cmca init --ca-name "cmca Demo Personal CA" --ca-org "cmca Demo" --ca-country CN
ref=$(cmca apply -q --name 张三 --id-type resident --id-number 11010519491231002X \
  --mobile 13812345678 --email zhang@example.com --usage auth \
  --acceptance-point online --storage soft --agree </dev/null)
cmca review
cmca approve "$ref"
code=$(cmca issue -q "$ref" | cut -d' ' -f2)
cmca download --ref "$ref" --passcode "$code" --out "$work/zhang.p12" --password-file "$work/pw.txt"
openssl pkcs12 -in "$work/zhang.p12" -passin "file:$work/pw.txt" -nokeys -clcerts -out "$work/zhang.crt"
openssl verify -CAfile "$CMCA_HOME/ca/ca.crt" "$work/zhang.crt"
serial=$(cmca certs -q | head -1)
cmca revoke --serial "$serial" --reason keyCompromise --direct --comment "demo: key lost"
cmca crl
openssl crl -inform DER -in "$CMCA_HOME/crl/ca.crl" -noout -text | head -20
cat "$CMCA_HOME/ca/ca.crt" "$CMCA_HOME/crl/ca.crl.pem" > "$work/chain-crl.pem"
if openssl verify -crl_check -CAfile "$work/chain-crl.pem" "$work/zhang.crt"; then
  echo "expected the revoked certificate to fail verification" >&2; exit 1
fi
set +x
echo "OK: enrolled, verified, revoked, and the CRL rejects it."
