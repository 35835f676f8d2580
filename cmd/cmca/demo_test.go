package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmca/cmca/internal/testtool"
)

// TestDemoScripts runs the README's demos as a user would: the main job on
// the embedded store (scripts/enroll-demo.sh) and the online flow against a
// real `cmca serve` on loopback (scripts/online-demo.sh). Each exits
// non-zero when a step fails, and prints its OK line only at the end.
// Under CMCA_TEST_STORE=postgres each runs with CMCA_STORE_URL set to a
// fresh database, as a site running cmca on PostgreSQL would.
func TestDemoScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmca and runs whole stories")
	}
	testtool.Need(t, "bash", "openssl", "curl", "python3")
	for _, script := range []string{"enroll-demo.sh", "online-demo.sh"} {
		t.Run(script, func(t *testing.T) {
			cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", script))
			if u := testStoreURL(t); u != "" {
				cmd.Env = append(os.Environ(), "CMCA_STORE_URL="+u)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
			if !strings.Contains(string(out), "\nOK: ") {
				t.Fatalf("%s ended without its OK line:\n%s", script, out)
			}
		})
	}
}
