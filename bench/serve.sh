#!/usr/bin/env bash
# bench/serve.sh: issuance over HTTPS (issue 12, "Performance"). One
# `cmca serve` on loopback; clients download certificates with reference
# number + passcode + a pre-made P-256 CSR (bench/serveload), each answered
# only once its record is committed (synchronous=FULL). Beside it, in the
# same run: step-ca v0.30.2 and a bare Go HTTPS signer, driven by their own
# load generator (../shared/anchors/stepca/run.sh, called once per client
# count so the three alternate). See docs/performance.md.
#
#   bash bench/serve.sh                  # N=3000 per pass, clients 1 16 64
#   N=2000 CLIENTS="64" KEEP=1 bash bench/serve.sh
#   STEPCA=/path/to/step-ca bash bench/serve.sh   # skip building step-ca
#   ANCHOR=none bash bench/serve.sh      # cmca only
#
# Prints a Markdown table (also $WORK/results.md) and keeps the CPU profile
# of the server under the last client count at $WORK/cpu-cN.pprof (with
# KEEP=1; `go tool pprof -top bin/cmca cpu-c64.pprof`). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/downloads.sh
N=${N:-3000}
CLIENTS=${CLIENTS:-"1 16 64"}
WORK=${WORK:-$(mktemp -d /tmp/cmca-serve-bench.XXXXXX)}
KEEP=${KEEP:-0}
ANCHOR=${ANCHOR:-$(cd .. && pwd)/shared/anchors/stepca}
SPID=
cleanup() {
	[ -z "$SPID" ] || { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null || true; }
	[ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
umask 077
export CMCA_OPERATOR=bench
unset CMCA_HOME CMCA_CONFIG CMCA_SERVER
mkdir -p "$WORK/bin"
B=$WORK/bin
echo "building into $WORK" >&2
go build -o "$B/cmca" ./cmd/cmca
go build -o "$B/gen" ./bench/gen
go build -o "$B/serveload" ./bench/serveload
if [ "$ANCHOR" != none ] && [ -f "$ANCHOR/run.sh" ] && [ ! -x "${STEPCA:-}" ]; then
	echo "building step-ca v0.30.2" >&2
	CGO_ENABLED=0 GOBIN=$B go install github.com/smallstep/certificates/cmd/step-ca@v0.30.2
	STEPCA=$B/step-ca
fi
export STEPCA

# A home with N applications per pass, approved and issued in bulk, and a
# fresh P-256 key's CSR for each.
passes=$(wc -w <<<"$CLIENTS")
total=$((N * passes))
export CMCA_HOME=$WORK/home
cmca() { "$B/cmca" "$@"; }
cmca init --ca-name "Bench Serve CA" --ca-org "Bench" --ca-country CN >/dev/null
prepare_downloads "$B" "$total" "$WORK/dl"
sync

OUT=$WORK/results.md
: >"$OUT"
echo "Run: cmca serve vs step-ca v0.30.2 on $(hostname), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg), N=$N per pass" | tee -a "$OUT"
echo | tee -a "$OUT"
echo "| clients | cmca serve: certs/s, p50, p99 | step-ca: certs/s, p50, p99 | bare Go floor: certs/s, p50, p99 | cmca / step-ca |" | tee -a "$OUT"
echo "| ---: | ---: | ---: | ---: | ---: |" | tee -a "$OUT"
# "c=64 ok=3000 bad=0 rate=1234/s p50=5ms p99=20ms first_err=<nil>" -> "1234/s, 5ms, 20ms"
cell() { awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}; s = v["rate"] ", " v["p50"] ", " v["p99"]; if (v["bad"] != "0") s = s " (" v["bad"] " failed)"; print s}' <<<"$1"; }
rate() { sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$1"; }

skip=0
for c in $CLIENTS; do
	rm -f "$WORK/addr.json"
	"$B/cmca" serve --listen 127.0.0.1:0 --addr-file "$WORK/addr.json" --cpuprofile "$WORK/cpu-c$c.pprof" 2>"$WORK/serve-c$c.log" &
	SPID=$!
	for _ in $(seq 100); do [ -s "$WORK/addr.json" ] && break; sleep 0.1; done
	addr=$(sed -n 's/.*"https":"\([^"]*\)".*/\1/p' "$WORK/addr.json")
	[ -n "$addr" ] || { echo "cmca serve did not start:" >&2; cat "$WORK/serve-c$c.log" >&2; exit 1; }
	cm=$("$B/serveload" -addr "$addr" -ca "$CMCA_HOME/ca/ca.crt" -jobs "$WORK/dl.csrs/batch.jsonl" -skip "$skip" -n "$N" -c "$c")
	echo "cmca serve, $c clients: $cm" >&2
	kill -TERM "$SPID"
	wait "$SPID" || true
	SPID=
	skip=$((skip + N))
	st="not run" fl="not run" ratio=""
	if [ "$ANCHOR" != none ] && [ -f "$ANCHOR/run.sh" ]; then
		an=$(bash "$ANCHOR/run.sh" "$N" "$c" 2>"$WORK/anchor-c$c.log" || true)
		sl=$(grep '^step-ca' <<<"$an" || true)
		fll=$(grep '^bare Go floor' <<<"$an" || true)
		if [ -n "$sl" ]; then
			st=$(cell "$sl")
			ratio=$(awk -v a="$(rate "$cm")" -v b="$(rate "$sl")" 'BEGIN {if (b > 0) printf "%.2fx", a/b}')
		else
			st="failed: $(tail -1 "$WORK/anchor-c$c.log")"
		fi
		[ -z "$fll" ] || fl=$(cell "$fll")
	fi
	echo "| $c | $(cell "$cm") | $st | $fl | $ratio |" | tee -a "$OUT"
done
echo | tee -a "$OUT"
last=${CLIENTS##* }
# Server CPU per certificate: the figure a loaded machine disturbs least.
go tool pprof -top -nodecount=1 "$B/cmca" "$WORK/cpu-c$last.pprof" 2>/dev/null |
	awk -v n="$N" '/Total samples/ {v = $6; ms = v; if (v ~ /ms$/) ms = v + 0; else if (v ~ /s$/) ms = (v + 0) * 1000; printf "cmca serve CPU at '"$last"' clients: %s for %d certificates, %.2f ms each\n", v, n, ms / n}' | tee -a "$OUT"
echo "CPU profile of cmca serve at $last clients (top 15, flat):" | tee -a "$OUT"
go tool pprof -top -nodecount=15 "$B/cmca" "$WORK/cpu-c$last.pprof" 2>/dev/null | sed -n '/flat%/,$p' | tee -a "$OUT"
echo "results: $OUT" >&2
