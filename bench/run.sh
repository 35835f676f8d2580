#!/usr/bin/env bash
# bench/run.sh: cmca and `openssl ca` side by side on this machine, at store
# sizes 1k, 100k and 1M, and the targets of issue 6. See docs/performance.md.
#
#   bash bench/run.sh                 # everything (about 15-30 minutes)
#   SIZES="1000 100000" bash bench/run.sh
#   RUNS=31 BULK=10000 KEEP=1 bash bench/run.sh
#
# Times are medians of RUNS runs of one process each (wall clock, ms);
# "cpu" is user+sys CPU of the child processes per run. The table is also
# written to $WORK/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 100000 1000000"}
RUNS=${RUNS:-15}
BULK=${BULK:-10000}
WORK=${WORK:-$(mktemp -d /tmp/cmca-bench.XXXXXX)}
KEEP=${KEEP:-0}
[ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
umask 077
export CMCA_OPERATOR=bench
unset CMCA_HOME CMCA_CONFIG
B=$WORK/bin
echo "building into $WORK" >&2
go build -o "$B/cmca" ./cmd/cmca
go build -o "$B/gen" ./bench/gen
go build -o "$B/hello" ./bench/hello
echo "bench-password-123" >"$WORK/pw.txt"
OUT=$WORK/results.md
: >"$OUT"

note() { echo "== $*" >&2; }
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" | tee -a "$OUT"; }
ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# children CPU (user+sys) in ms, from a line of bash's `times` saved in FILE
cpu_ms() { tail -1 "$1" | awk '{t=0; for (i=1;i<=2;i++) {split($i, p, "m"); sub("s","",p[2]); t += p[1]*60000 + p[2]*1000} printf "%d", t}'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f\n", (b-a)/1e6}'; }
fmt() { awk -v x="$1" 'BEGIN {printf "%.2f", x}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2fx", a/b; else print "n/a"}'; }

# measure NAME CMD...: run CMD (a shell snippet using $i) for i=1..RUNS;
# sets M (median ms) and C (mean CPU ms per run).
# over START: a median minus the median start-up of `cmca version`
over() { awk -v m="$1" -v s="$START" 'BEGIN {printf "%+.1f", m-s}'; }

measure() {
	local name=$1 snippet=$2 t0 t1 c0 c1 i
	: >"$WORK/t.$name"
	times >"$WORK/cpu0"
	for ((i = 1; i <= RUNS; i++)); do
		t0=$(ns)
		eval "$snippet"
		t1=$(ns)
		ms "$t0" "$t1" >>"$WORK/t.$name"
	done
	times >"$WORK/cpu1"
	c0=$(cpu_ms "$WORK/cpu0")
	c1=$(cpu_ms "$WORK/cpu1")
	M=$(median <"$WORK/t.$name")
	C=$(awk -v a="$c0" -v b="$c1" -v n="$RUNS" 'BEGIN {printf "%.2f", (b-a)/n}')
}

# ---- openssl ca: a CA directory whose index holds N records (revoked) ----
openssl_ca() { # DIR N
	local d=$1 n=$2
	mkdir -p "$d/newcerts"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
	openssl req -new -x509 -key "$d/ca.key" -subj "/CN=openssl Bench CA" -days 3650 -out "$d/ca.crt" 2>/dev/null
	cat >"$d/ca.cnf" <<EOF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $d
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
serial = \$dir/serial
crlnumber = \$dir/crlnumber
rand_serial = yes
unique_subject = no
default_md = sha256
default_days = 365
default_crl_days = 7
policy = policy_any
x509_extensions = usr_ext
[ policy_any ]
commonName = supplied
[ usr_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	echo "unique_subject = no" >"$d/index.txt.attr"
	echo 01 >"$d/crlnumber"
	awk -v n="$n" 'BEGIN {srand(1); for (i = 1; i <= n; i++) {
		s = sprintf("%X%07X%08X%08X%08X", 1 + int(rand()*7), i, int(rand()*4294967295), int(rand()*4294967295), int(rand()*4294967295));
		printf "R\t351231000000Z\t250101000000Z,keyCompromise\t%s\tunknown\t/CN=Bench Subscriber %d\n", s, i }}' >"$d/index.txt"
}

# one certificate the openssl way: P-256 key, CSR, openssl ca (index
# update), PKCS#12 with the chain
openssl_cert() { # DIR i
	local d=$1 i=$2
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/k$i.pem" 2>/dev/null
	openssl req -new -key "$d/k$i.pem" -subj "/CN=Bench Person $i" -out "$d/r$i.csr" 2>/dev/null
	openssl ca -batch -config "$d/ca.cnf" -in "$d/r$i.csr" -out "$d/c$i.pem" -notext 2>/dev/null
	openssl pkcs12 -export -inkey "$d/k$i.pem" -in "$d/c$i.pem" -certfile "$d/ca.crt" -passout "file:$WORK/pw.txt" -out "$d/c$i.p12" 2>/dev/null
}

cmca() { "$B/cmca" "$@"; }

echo "Run: cmca vs openssl ca on $(hostname), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
echo "Versions: $(openssl version), $(go version | cut -d' ' -f3), RUNS=$RUNS" | tee -a "$OUT"
echo | tee -a "$OUT"
row "measurement" "cmca" "openssl ca" "ratio (openssl/cmca)"
row "---" "---:" "---:" "---:"

measure start 'cmca version >/dev/null'
START=$M
measure ostart 'openssl version >/dev/null'
row "process start (\`cmca version\` / \`openssl version\`), ms" "$START" "$M" "$(ratio "$M" "$START")"
# The floor on this machine: any process, and any Go process.
measure true '/bin/true'
TRUE=$M
measure hello '"$B/hello" >/dev/null'
row "floor: \`/bin/true\` / Go hello-world (\`bench/hello\`), ms" "$M (Go)" "$TRUE (/bin/true)" ""

for n in $SIZES; do
	note "size $n: preparing"
	export CMCA_HOME=$WORK/h$n
	cmca init --ca-name "Bench CA $n" --ca-org "cmca Bench" --ca-country CN >/dev/null
	t0=$(ns)
	"$B/gen" -home "$CMCA_HOME" -n "$n" -revoked "$n" -submitted 100 -q
	t1=$(ns)
	note "size $n: generated in $(ms "$t0" "$t1") ms"
	openssl_ca "$WORK/o$n" "$n"

	note "size $n: per-process operations"
	refs=()
	measure apply 'refs+=("$(cmca apply -q --name "Bench Person" --id-type passport --id-number "$(printf "P%08d" "$i")" --mobile 13812345678 --email p$i@example.com --usage auth --acceptance-point online --storage soft --agree </dev/null)")'
	row "apply, 1 request, store $n, ms" "$M (cpu $C; $(over "$M") over start)" "" ""
	measure approve 'cmca approve -q "${refs[$((i-1))]}" >/dev/null'
	row "approve, store $n, ms" "$M (cpu $C; $(over "$M") over start)" "" ""
	codes=()
	measure issue 'codes+=("$(cmca issue -q "${refs[$((i-1))]}" | cut -d" " -f2)")'
	row "issue (passcode), store $n, ms" "$M (cpu $C; $(over "$M") over start)" "" ""
	serials=()
	measure download 'serials+=("$(cmca download -q --ref "${refs[$((i-1))]}" --passcode "${codes[$((i-1))]}" --out "$WORK/p$n-$i.p12" --password-file "$WORK/pw.txt")")'
	DL=$M
	DLC=$C
	measure ossl 'openssl_cert "$WORK/o$n" "$i"'
	row "**download** (keygen, CSR, sign, record, PKCS#12) vs openssl per cert, store/index $n, ms" "$DL (cpu $DLC; $(over "$DL") over start)" "$M (cpu $C)" "$(ratio "$M" "$DL")"
	measure review 'cmca review -q >/dev/null'
	row "review (default queue, 100 waiting), store $n, ms" "$M (cpu $C; $(over "$M") over start)" "" ""
	measure status 'cmca status "${refs[$((i-1))]}" >/dev/null'
	row "status of one request, store $n, ms" "$M (cpu $C; $(over "$M") over start)" "" ""
	measure revoke 'cmca revoke -q --serial "${serials[$((i-1))]}" --reason keyCompromise --direct --comment bench >/dev/null'
	row "revoke (--direct), store $n, ms" "$M (cpu $C; $(over "$M") over start)" "" ""

	note "size $n: CRL"
	/usr/bin/time -f "%e %M" -o "$WORK/crl.time" "$B/cmca" crl --force -q >/dev/null
	read -r el kb <"$WORK/crl.time"
	entries=$(openssl crl -inform DER -in "$CMCA_HOME/crl/ca.crl" -noout -text | grep -c 'Serial Number:' || true)
	openssl crl -inform DER -in "$CMCA_HOME/crl/ca.crl" -CAfile "$CMCA_HOME/ca/ca.crt" -noout 2>&1 | grep -q 'verify OK' && ok="verifies" || ok="DOES NOT VERIFY"
	/usr/bin/time -f "%e %M" -o "$WORK/ocrl.time" openssl ca -gencrl -config "$WORK/o$n/ca.cnf" -out "$WORK/o$n/crl.pem" 2>/dev/null
	read -r oel okb <"$WORK/ocrl.time"
	row "CRL of $entries revoked ($ok with openssl), whole process: s / peak RSS MB" "$(fmt "$el") s / $((kb / 1024)) MB" "$(fmt "$oel") s / $((okb / 1024)) MB" "$(ratio "$oel" "$el") time, $(ratio "$okb" "$kb") memory"
	if [ "$n" != "${SIZES##* }" ]; then rm -rf "$WORK/o$n"; fi
done

note "bulk: $BULK applications"
export CMCA_HOME=$WORK/bulk
cmca init --ca-name "Bench Bulk CA" --ca-org "cmca Bench" --ca-country CN >/dev/null
awk -v n="$BULK" 'BEGIN {print "["; for (i = 1; i <= n; i++) printf "{\"name\":\"Bulk Person\",\"id_type\":\"passport\",\"id_number\":\"B%08d\",\"mobile\":\"13812345678\",\"email\":\"b%d@example.com\",\"usage_type\":\"auth\",\"acceptance_point\":\"online\",\"storage\":\"soft\",\"agreement_accepted\":true}%s\n", i, i, (i < n ? "," : ""); print "]"}' >"$WORK/apps.json"
rate() { awk -v n="$BULK" -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", n / ((b-a)/1e9)}'; }
t0=$(ns); cmca apply -q --from-file "$WORK/apps.json" >/dev/null; t1=$(ns)
row "apply --from-file, $BULK applications, requests/s" "$(rate "$t0" "$t1")" "" ""
t0=$(ns); cmca approve -q --all-submitted >/dev/null; t1=$(ns)
row "approve --all-submitted, requests/s" "$(rate "$t0" "$t1")" "" ""
t0=$(ns); cmca issue -q --all-approved >"$WORK/codes.txt"; t1=$(ns)
row "issue --all-approved (passcodes), requests/s" "$(rate "$t0" "$t1")" "" ""
"$B/gen" -csrs "$WORK/csrs" <"$WORK/codes.txt"
# The same batch twice, on two copies of the home: certificates to one
# JSON-lines stream (as openssl ca -infiles writes one file), and to
# BULK files in a directory.
cp -a "$WORK/bulk" "$WORK/bulk2"
sync
t0=$(ns); cmca download-batch -o json --from "$WORK/csrs/batch.jsonl" >"$WORK/issued.jsonl"; t1=$(ns)
CM=$(rate "$t0" "$t1")
t0=$(ns); CMCA_HOME=$WORK/bulk2 "$B/cmca" download-batch -q --from "$WORK/csrs/batch.jsonl" --out-dir "$WORK/certs" >/dev/null; t1=$(ns)
CMD=$(rate "$t0" "$t1")
last=${SIZES##* }
od=$WORK/obulk
openssl_ca "$od" 0
t0=$(ns); (cd "$WORK/csrs" && ls ./*.csr | xargs openssl ca -batch -config "$od/ca.cnf" -notext -out "$od/all.pem" -infiles 2>/dev/null); t1=$(ns)
OS=$(rate "$t0" "$t1")
row "download-batch: certificates from $BULK CSRs in one process, one output stream (\`-o json\`), certs/s (openssl: ca -infiles -out)" "$CM" "$OS" "$(ratio "$CM" "$OS") (cmca/openssl)"
row "download-batch: the same, one file per certificate (\`--out-dir\`), certs/s" "$CMD" "" ""
echo "   ($(grep -c '"certificate"' "$WORK/issued.jsonl") certificates in the stream, $(ls "$WORK/certs" | wc -l) files written)" >&2

echo | tee -a "$OUT"
echo "results: $OUT" >&2
