package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cmca/cmca/internal/ra"
)

// issuedTestRequest stores a request that has a passcode, a certificate and
// a revocation, each change audited as the service does.
func issuedTestRequest(t *testing.T, s *Store, edit ...func(*ra.Request)) (*ra.Request, string) {
	t.Helper()
	r := insertTestRequest(t, s, edit...)
	serial := "0a1b2c"
	err := s.Tx(context.Background(), func(tx *Tx) error {
		if err := tx.SetPasscodeHash(r.Ref, ra.HashPasscode("7KQ3PZ4MXW2A9HCD1EFG")); err != nil {
			return err
		}
		from := r.State
		r.State, r.PasscodeExpires = ra.StateIssued, tx.Now().Add(time.Hour).Truncate(time.Second)
		if err := tx.UpdateRequest(r, from); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "carol", Action: "issue", Ref: r.Ref, From: from, To: r.State}); err != nil {
			return err
		}
		now := tx.Now()
		c := &ra.Certificate{Serial: serial, RequestRef: r.Ref, Subject: "CN=A", Name: "A", Email: "a@example.com", UsageType: "auth",
			Storage: ra.StorageSoft, KeyAlgo: "ECDSA P-256", NotBefore: now, NotAfter: now.Add(time.Hour), SPKISHA256: "00", DER: []byte{0x30, 0}}
		if err := tx.InsertCertificate(c); err != nil {
			return err
		}
		r.State, r.CertSerial, r.PasscodeUsed = ra.StateCompleted, serial, true
		if err := tx.UpdateRequest(r, ra.StateIssued); err != nil {
			return err
		}
		if err := tx.Audit(ra.Event{Operator: "subscriber", Action: "download", Ref: r.Ref, Serial: serial, From: ra.StateIssued, To: r.State}); err != nil {
			return err
		}
		if err := tx.RevokeCertificate(serial, now, 1, now); err != nil {
			return err
		}
		return tx.Audit(ra.Event{Operator: "bob", Action: "revoke-certificate", Ref: r.Ref, Serial: serial})
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, serial
}

func TestBindingDetectsRowsEditedOutsideCmca(t *testing.T) {
	tests := []struct {
		name  string
		sql   string
		kind  string // request or certificate
		group string
		parts bool // the application gives surname and given name
	}{
		{"name", `UPDATE requests SET name = 'Mallory'`, "request", "identity", false},
		{"email", `UPDATE requests SET email = 'm@evil.example'`, "request", "identity", false},
		{"surname planted", `UPDATE requests SET surname = 'Mallory', given_name = 'A'`, "request", "identity", false},
		{"given name planted", `UPDATE requests SET given_name = 'A'`, "request", "identity", false},
		{"surname", `UPDATE requests SET surname = 'Mallory'`, "request", "identity", true},
		{"given name", `UPDATE requests SET given_name = 'Mallory'`, "request", "identity", true},
		{"parts removed", `UPDATE requests SET surname = '', given_name = ''`, "request", "identity", true},
		{"usage", `UPDATE requests SET usage_type = 'sign'`, "request", "usage", false},
		{"storage", `UPDATE requests SET storage = 'usbkey'`, "request", "storage", false},
		{"passcode hash byte", `UPDATE requests SET passcode_hash = substr(passcode_hash, 1, 20) || CASE substr(passcode_hash, 21, 1) WHEN 'a' THEN 'b' ELSE 'a' END || substr(passcode_hash, 22)`, "request", "passcode", false},
		{"attempts reset", `UPDATE requests SET passcode_attempts = 0, passcode_used = 0`, "request", "passcode", false},
		{"state", `UPDATE requests SET state = 'issued'`, "request", "state", false},
		{"unrevoked", `UPDATE certificates SET status = 'valid', revoked_at = NULL, revocation_reason = NULL`, "certificate", "revocation", false},
		{"der", `UPDATE certificates SET der = x'3001'`, "certificate", "certificate", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			ctx := context.Background()
			var edit []func(*ra.Request)
			if tt.parts {
				edit = append(edit, func(r *ra.Request) {
					r.Applicant.Name, r.Applicant.Surname, r.Applicant.GivenName = "Anna Schmidt", "Schmidt", "Anna"
				})
			}
			r, serial := issuedTestRequest(t, s, edit...)
			check := func() error {
				return s.Read(ctx, func(tx *Tx) error {
					if _, err := tx.Request(r.Ref); err != nil {
						return err
					}
					_, err := tx.Certificate(serial)
					return err
				})
			}
			if err := check(); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			if _, err := s.DB().ExecContext(ctx, tt.sql); err != nil {
				t.Fatal(err)
			}
			err := check()
			var ie *IntegrityError
			if !errors.As(err, &ie) || !errors.Is(err, ra.ErrIntegrity) {
				t.Fatalf("read after %s = %v; want an IntegrityError", tt.sql, err)
			}
			if ie.Kind != tt.kind || !slices.Contains(ie.Groups, tt.group) {
				t.Errorf("IntegrityError = %s %s groups %v; want %s with %s", ie.Kind, ie.Key, ie.Groups, tt.kind, tt.group)
			}
			var found []*IntegrityError
			err = s.Read(ctx, func(tx *Tx) error {
				_, err := tx.CheckBindings(func(e *IntegrityError) error { found = append(found, e); return nil })
				return err
			})
			if err != nil || len(found) != 1 || found[0].Kind != tt.kind || !slices.Contains(found[0].Groups, tt.group) {
				t.Errorf("CheckBindings = %v, %v; want one %s problem in %s", found, err, tt.kind, tt.group)
			}
		})
	}
}

func TestBindingUnboundRowIsRefused(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	r := &ra.Request{Ref: "20261125-PLANTED1", Kind: ra.KindNew, State: ra.StateApproved,
		Applicant: ra.Applicant{Name: "M", IDType: ra.IDPassport, IDNumber: "E7654321", Mobile: "13812345678", Email: "m@example.com"},
		UsageType: "auth", AcceptancePoint: "online", Storage: ra.StorageSoft, SubmittedBy: "x", CreatedAt: now, UpdatedAt: now}
	err := s.Tx(ctx, func(tx *Tx) error {
		id, err := tx.EnsureApplicant(r.Applicant.IDType, r.Applicant.IDNumber)
		if err != nil {
			return err
		}
		return tx.InsertRequest(r, id) // no audit record: as if inserted with sqlite3
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error { _, err := tx.Request(r.Ref); return err })
	var ie *IntegrityError
	if !errors.As(err, &ie) || len(ie.Groups) != 0 {
		t.Fatalf("Request(planted) = %v; want an IntegrityError saying no record binds it", err)
	}
	// The upgrade baseline binds what it finds.
	if err := s.Tx(ctx, func(tx *Tx) error { return tx.baselineBindings() }); err != nil {
		t.Fatal(err)
	}
	if err := s.Read(ctx, func(tx *Tx) error { _, err := tx.Request(r.Ref); return err }); err != nil {
		t.Fatalf("after baseline: %v", err)
	}
	var n int
	err = s.Read(ctx, func(tx *Tx) error {
		var problems []AuditProblem
		var err error
		n, problems, err = tx.VerifyAudit()
		if len(problems) > 0 {
			t.Errorf("VerifyAudit after baseline: %v", problems)
		}
		return err
	})
	if err != nil || n != 1 {
		t.Fatalf("VerifyAudit = %d records, %v; want 1 (the baseline)", n, err)
	}
}

func TestAuditHashCoversDigests(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	insertTestRequest(t, s)
	// Forging the binding record to match an edited row breaks the chain.
	if _, err := s.DB().ExecContext(ctx, `UPDATE requests SET name = 'Mallory'; UPDATE audit SET req_digest = 'identity=00'`); err != nil {
		t.Fatal(err)
	}
	err := s.Read(ctx, func(tx *Tx) error {
		_, problems, err := tx.VerifyAudit()
		if len(problems) != 1 || problems[0].Seq != 1 {
			t.Errorf("VerifyAudit problems = %v; want record 1 modified", problems)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeToBindingWritesBaseline: a version 4 store (no digests in its
// audit log) migrates to 5; one baseline record per request and per
// certificate binds the rows as found, the old records still verify, and an
// edit after the upgrade is caught.
func TestUpgradeToBindingWritesBaseline(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ra.db")
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`}
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_perf_indexes.sql", "migrations/0003_crl_files.sql", "migrations/0004_store_identity.sql"} {
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body))
	}
	// One audit record as version 4 wrote it: no digests in its hash.
	old := ra.Event{Seq: 1, At: time.Unix(1000, 0).UTC(), Operator: "clerk", Action: "apply", Ref: "20261125-OLD00001", To: ra.StateCompleted}
	stmts = append(stmts,
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0), (2, 0), (3, 0), (4, 0)`,
		`INSERT INTO applicants (id, id_type, id_number, name, mobile, email, created_at, updated_at) VALUES (1, 'passport', 'E1234567', 'A', '13812345678', 'a@example.com', 1000, 1000)`,
		`INSERT INTO requests (id, ref, kind, state, applicant_id, name, id_type, id_number, mobile, email, usage_type, acceptance_point, storage, submitted_by, cert_serial, created_at, updated_at)
VALUES (1, '20261125-OLD00001', 'new', 'completed', 1, 'A', 'passport', 'E1234567', '13812345678', 'a@example.com', 'auth', 'online', 'soft', 'clerk', '0abc', 1000, 1000)`,
		`INSERT INTO certificates (serial, request_id, applicant_id, subject, name, email, usage_type, storage, key_algo, not_before, not_after, spki_sha256, der)
VALUES ('0abc', 1, 1, 'CN=A', 'A', 'a@example.com', 'auth', 'soft', 'ECDSA P-256', 1000, 2000, '00', x'3000')`,
		`INSERT INTO audit (seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash) VALUES (1, 1000, 'clerk', 'apply', '20261125-OLD00001', '', '', 'completed', '', '`+genesis+`', '`+auditHash(genesis, old, binding{})+`')`,
		`PRAGMA journal_mode = WAL`)
	rawExec(t, path, stmts...)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 4 store: %v", err)
	}
	defer s.Close()
	err = s.Read(ctx, func(tx *Tx) error {
		n, problems, err := tx.VerifyAudit()
		if err != nil || n != 3 || len(problems) > 0 {
			t.Errorf("VerifyAudit after upgrade = %d records, %v, %v; want 3 (old record, 2 baselines), no problems", n, problems, err)
		}
		evs, err := tx.AuditRecords(AuditFilter{})
		if err != nil {
			return err
		}
		if len(evs) != 3 || evs[1].Action != "baseline" || evs[1].Ref != "20261125-OLD00001" || evs[2].Action != "baseline" || evs[2].Serial != "0abc" {
			t.Errorf("audit after upgrade = %+v; want the old record and one baseline each for the request and the certificate", evs)
		}
		if _, err := tx.Request("20261125-OLD00001"); err != nil {
			t.Errorf("Request after upgrade: %v", err)
		}
		_, err = tx.Certificate("0abc")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE certificates SET der = x'3001'`); err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error { _, err := tx.Certificate("0abc"); return err })
	if !errors.Is(err, ra.ErrIntegrity) {
		t.Fatalf("Certificate after an edit following the upgrade = %v; want ErrIntegrity", err)
	}
}

// TestBindingAddedColumnsKeepOldDigests: columns a later schema added to a
// group (identity: surname, given_name) change nothing in the digest of a
// row that leaves them empty, so records bound before the upgrade still
// match; set, they change the group's digest and only that group's.
func TestBindingAddedColumnsKeepOldDigests(t *testing.T) {
	before := requestGroupsSchema10
	row := func(gs []fieldGroup, added ...any) []any {
		var vals []any
		for _, g := range gs {
			for _, c := range g.cols {
				vals = append(vals, "v-"+c)
			}
			for i := range g.added {
				vals = append(vals, added[i])
			}
		}
		return vals
	}
	old := digestValues(before, row(before))
	tests := []struct {
		name    string
		added   []any
		changed bool
	}{
		{"empty", []any{"", ""}, false},
		{"null", []any{nil, nil}, false},
		{"both set", []any{"Schmidt", "Anna"}, true},
		{"surname only", []any{"Schmidt", ""}, true},
		{"given name only", []any{"", "Anna"}, true},
	}
	for _, tt := range tests {
		got := digestValues(requestGroups, row(requestGroups, tt.added...))
		if diff := diffGroups(old, got); tt.changed != slices.Equal(diff, []string{"identity"}) || !tt.changed && len(diff) > 0 {
			t.Errorf("digest with added columns %v differs from schema 10's in %v; want %v", tt.added, diff, map[bool]string{true: "identity", false: "nothing"}[tt.changed])
		}
	}
	// Moving a value between the two added columns changes the digest.
	if digestValues(requestGroups, row(requestGroups, "A", "")) == digestValues(requestGroups, row(requestGroups, "", "A")) {
		t.Error("surname A and given name A digest alike")
	}
}

// TestUpgradeToNamePartsKeepsBindings: a version 9 store whose request was
// bound before surname and given_name existed migrates to version 11. The
// row keeps its name, has no parts, and still matches its binding (no new
// baseline record); setting the parts afterwards is caught.
func TestUpgradeToNamePartsKeepsBindings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ra.db")
	const ref = "20261125-OLD00009"
	stmts := append(schemaUpTo(t, 9),
		`INSERT INTO applicants (id, id_type, id_number, name, mobile, email, created_at, updated_at) VALUES (1, 'passport', 'E1234567', '张三', '13812345678', 'a@example.com', 1000, 1000)`,
		`INSERT INTO requests (id, ref, kind, state, applicant_id, name, id_type, id_number, mobile, email, usage_type, acceptance_point, storage, submitted_by, created_at, updated_at)
VALUES (1, '`+ref+`', 'new', 'submitted', 1, '张三', 'passport', 'E1234567', '13812345678', 'a@example.com', 'email', 'online', 'soft', 'clerk', 1000, 1000)`)
	rawExec(t, path, stmts...)
	// The binding as version 9 wrote it: the identity group without the
	// name parts.
	before := requestGroupsSchema10
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := scanDigest(db.QueryRow(`SELECT `+groupCols(before)+` FROM requests WHERE ref = ?`, ref), before)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ev := ra.Event{Seq: 1, At: time.Unix(1000, 0).UTC(), Operator: "clerk", Action: "apply", Ref: ref, To: ra.StateSubmitted}
	rawExec(t, path, `INSERT INTO audit (seq, at, operator, action, ref, serial, from_state, to_state, detail, prev_hash, hash, req_digest)
VALUES (1, 1000, 'clerk', 'apply', '`+ref+`', '', '', 'submitted', '', '`+genesis+`', '`+auditHash(genesis, ev, binding{req: digest})+`', '`+digest+`')`,
		`PRAGMA journal_mode = WAL`)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version 9 store: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestVersion() {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestVersion())
	}
	err = s.Read(ctx, func(tx *Tx) error {
		r, err := tx.Request(ref)
		if err != nil {
			return err
		}
		if a := r.Applicant; a.Name != "张三" || a.Surname != "" || a.GivenName != "" {
			t.Errorf("upgraded request applicant = %q, %q, %q; want the name kept, no parts", a.Name, a.Surname, a.GivenName)
		}
		n, problems, err := tx.VerifyAudit()
		if err != nil || n != 1 || len(problems) > 0 {
			t.Errorf("VerifyAudit after upgrade = %d records, %v, %v; want the one old record and no problems", n, problems, err)
		}
		return err
	})
	if err != nil {
		t.Fatalf("after the upgrade to version 11: %v", err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE requests SET surname = '张', given_name = '三'`); err != nil {
		t.Fatal(err)
	}
	err = s.Read(ctx, func(tx *Tx) error { _, err := tx.Request(ref); return err })
	var ie *IntegrityError
	if !errors.As(err, &ie) || !slices.Contains(ie.Groups, "identity") {
		t.Fatalf("Request after planting name parts = %v; want an identity IntegrityError", err)
	}
}

// requestGroupsSchema10 are the request field groups as cmca bound them
// before schema version 11 added surname and given_name, written out so
// that the tests above do not follow a change to requestGroups.
var requestGroupsSchema10 = []fieldGroup{
	{name: "identity", cols: []string{"name", "id_type", "id_number", "mobile", "email", "address", "agent_name", "agent_id_type", "agent_id_number"}},
	{name: "usage", cols: []string{"usage_type", "acceptance_point", "agreement_version"}},
	{name: "storage", cols: []string{"storage"}},
	{name: "passcode", cols: []string{"passcode_hash", "passcode_expires", "passcode_attempts", "passcode_used"}},
	{name: "state", cols: []string{"kind", "state", "target_serial", "reason", "cert_serial", "submitted_by", "decided_by", "issued_by"}},
}

// schemaUpTo is the SQL that makes an SQLite store as cmca wrote it at
// schema version max: the migrations up to it, each recorded.
func schemaUpTo(t *testing.T, max int) []string {
	t.Helper()
	names, err := migrationNames(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`}
	for _, name := range names {
		v, _ := migrationVersion(name)
		if v > max {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(body), fmt.Sprintf(`INSERT INTO schema_migrations (version, applied_at) VALUES (%d, 0)`, v))
	}
	return stmts
}
