# bench/downloads.sh, sourced by the serve benchmarks (serve.sh, pg.sh,
# cpu.sh): prepare_downloads BIN N OUT fills the home in $CMCA_HOME (and
# $CMCA_STORE_URL, if set) with N applications, approved and issued in
# bulk, and writes OUT.csrs/batch.jsonl: each reference, its passcode and
# a fresh P-256 key's CSR (bench/gen -csrs), for bench/serveload. BIN holds
# the cmca and gen binaries; OUT.apps.json and OUT.codes are kept beside.
prepare_downloads() {
	local bin=$1 n=$2 out=$3
	awk -v n="$n" 'BEGIN {print "["; for (i = 1; i <= n; i++) printf "{\"name\":\"Net Person\",\"id_type\":\"passport\",\"id_number\":\"N%08d\",\"mobile\":\"13812345678\",\"email\":\"n%d@example.com\",\"usage_type\":\"auth\",\"acceptance_point\":\"online\",\"storage\":\"soft\",\"agreement_accepted\":true}%s\n", i, i, (i < n ? "," : ""); print "]"}' >"$out.apps.json"
	"$bin/cmca" apply -q --from-file "$out.apps.json" >/dev/null
	"$bin/cmca" approve -q --all-submitted >/dev/null
	"$bin/cmca" issue -q --all-approved >"$out.codes"
	"$bin/gen" -csrs "$out.csrs" <"$out.codes"
	# Every client is on 127.0.0.1: the per-client passcode limit (10 at
	# once, one more every 6 s) would answer 429 after the tenth download.
	"$bin/cmca" policy set -q ratelimit.passcode off >/dev/null
}
