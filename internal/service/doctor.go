package service

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/cmca/cmca/internal/msg"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/cmca/cmca/internal/ca"
	"github.com/cmca/cmca/internal/principal"
	"github.com/cmca/cmca/internal/ra"
	"github.com/cmca/cmca/internal/store"
)

// Problem is one inconsistency `cmca doctor` found.
type Problem struct {
	Check   string `json:"check"`   // files, store, integrity, audit, requests, certificates, crls
	Subject string `json:"subject"` // what is wrong: a file, a reference, a serial, "CRL 7"
	Problem string `json:"problem"`
	Fix     string `json:"fix,omitempty"`
}

func (p Problem) String() string {
	s := p.Check + ": " + p.Subject + ": " + p.Problem
	if p.Fix != "" {
		s += " (" + p.Fix + ")"
	}
	return s
}

// DoctorReport is the result of a consistency check of a home.
type DoctorReport struct {
	Home     string         `json:"home"`
	Checked  map[string]int `json:"checked"`
	OK       bool           `json:"ok"`
	Problems []Problem      `json:"problems"`
}

// Doctor checks a home's consistency, in one read transaction so that it
// sees one state even while other processes write:
//
//   - files: home 0700; database, its -wal/-shm and the CA key 0600
//   - integrity: SQLite's integrity and foreign-key checks
//   - audit: the hash chain is unbroken and reaches the published, CA-signed
//     checkpoint of its head (crl/audit-checkpoint.json) with the hash it
//     signed; every request and certificate matches the digest its last
//     audit record bound (named by field group: identity, usage, storage,
//     passcode, state; certificate, revocation); every request's state is
//     where its audit trail left it, and every transition starts where the
//     last ended
//   - requests: a used passcode has a certificate that can still be fetched;
//     a completed request has its certificate (or, for a revocation, its
//     revoked target); an outstanding passcode has a hash and an expiry
//   - certificates: each has the request that produced it and that request
//     records it; DER, serial, key hash and CA signature agree
//   - crls: the body of every stored CRL (its numbered file under crl/, or
//     the store for a CRL signed before bodies moved to files or on
//     PostgreSQL) matches its record, parses, carries its number and is
//     signed by the CA; the body of the latest full and delta CRL is
//     present (older ones may be pruned); every published file matches the
//     stored CRL of its number (a number is never used for two different
//     CRLs); the current CRL is published (on PostgreSQL `cmca serve`
//     publishes it from the store, and the home's copy may be older or
//     missing)
//
// It changes nothing. A nil error with problems means the home is
// inconsistent; an error means the check itself could not run.
//
// The caller (in ctx) needs the auditor role.
func (s *Service) Doctor(ctx context.Context) (*DoctorReport, error) {
	if _, err := principal.Require(ctx, principal.Auditor); err != nil {
		return nil, err
	}
	d := &doctor{home: s.home, sqlite: s.store.Engine() == store.SQLite, rep: &DoctorReport{Home: s.home, Checked: map[string]int{}, Problems: []Problem{}}}
	d.checkFiles()
	d.loadCA()
	if errors.Is(s.identityErr, ErrOtherCA) { // a missing ca/ca.crt is reported by loadCA
		d.add("store", filepath.Join(s.home, DBFile), s.identityErr.Error(), "put this home's store back (`cmca restore`), or this store's CA certificate back in ca/ca.crt; every other command refuses the home meanwhile")
	}
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		for _, step := range []func(*store.Tx) error{d.checkPasscodeKEK, d.checkIntegrity, d.checkAuditChain, d.checkCheckpoint, d.checkBindings, d.readAudit, d.checkCertificates, d.checkRequests, d.checkCRLs, d.checkLostRevocations} {
			if err := step(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, msg.Errorf("doctor: %w", err)
	}
	d.rep.OK = len(d.rep.Problems) == 0
	return d.rep, nil
}

type doctor struct {
	home   string
	sqlite bool // the store is HOME/ra.db (its mode is checked)
	rep    *DoctorReport
	caCert *x509.Certificate

	// from the audit log
	lastTo     map[string]ra.State // request ref -> state after its last transition
	certEvents map[string]bool     // serials an issuing transition names
	crlEvents  map[int64]bool      // CRL numbers the log says were signed

	// from the certificates table
	certOwner  map[string]string // serial -> producing request's ref
	certStatus map[string]ra.CertStatus
}

func (d *doctor) add(check, subject, problem, fix string) {
	d.rep.Problems = append(d.rep.Problems, Problem{Check: check, Subject: subject, Problem: problem, Fix: fix})
}

func (d *doctor) checkFiles() {
	perm := func(rel string, want fs.FileMode, must bool) {
		path := filepath.Join(d.home, rel)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) && !must {
			return
		}
		if err != nil {
			d.add("files", path, err.Error(), "")
			return
		}
		d.rep.Checked["files"]++
		if fi.Mode().Perm()&^want != 0 {
			d.add("files", path, fmt.Sprintf("mode %04o gives access to others; want %04o", fi.Mode().Perm(), want), fmt.Sprintf("chmod %o %s", want, path))
		}
	}
	perm(".", 0o700, true)
	if d.sqlite {
		perm(DBFile, 0o600, true)
		perm(DBFile+"-wal", 0o600, false)
		perm(DBFile+"-shm", 0o600, false)
	}
	perm(CADir, 0o700, true)
	perm(CAKeyFile, 0o600, false)
	perm(PasscodeKEKFile, 0o600, false)
	perm(CACertFile, 0o644, true)
	// crl/ may be published (0755), but nobody else may write there: a
	// replaced CRL would hide revocations from relying parties.
	perm(CRLDir, 0o755, d.sqlite) // PostgreSQL: the CRLs are in the store

	entries, _ := os.ReadDir(filepath.Join(d.home, CRLDir))
	for _, e := range entries {
		if e.Type().IsRegular() {
			perm(filepath.Join(CRLDir, e.Name()), 0o644, false)
		}
	}
}

// checkPasscodeKEK: the home's ca/passcode.kek is the key whose check
// value the store recorded (LoadPasscodeKEK), or the store records none.
func (d *doctor) checkPasscodeKEK(tx *store.Tx) error {
	recorded, err := tx.Meta(PasscodeKEKCheck)
	if err != nil {
		return err
	}
	path := filepath.Join(d.home, PasscodeKEKFile)
	key, err := readKEK(path)
	fix, why := "copy ca/passcode.kek from an instance on this store that has it, mode 0600 (docs/operations.md, \"Several instances on one database\")", "passcodes cannot be issued here nor checked over CMP"
	if d.sqlite { // no other instance: the key was replaced or lost here
		fix, why = "put ca/passcode.kek back from the backup of ca/; otherwise the next `cmca issue` records this home's key (a new one if missing), and passcodes issued before need `cmca issue --resend` for CMP", "passcodes issued under the recorded key cannot be checked over CMP"
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if recorded != "" {
			d.add("files", path, "missing, but the store records a passcode key: "+why, fix)
		}
		return nil
	case errors.Is(err, ra.ErrPolicy):
		return nil // readable by others: reported by checkFiles
	case err != nil:
		d.add("files", path, err.Error(), "")
		return nil
	case recorded != "" && kekCheck(key) != recorded:
		d.add("files", path, "not the passcode key the store recorded: "+why, fix)
	}
	d.rep.Checked["files"]++
	return nil
}

func (d *doctor) loadCA() {
	data, err := os.ReadFile(filepath.Join(d.home, CACertFile))
	if err != nil {
		d.add("files", filepath.Join(d.home, CACertFile), "cannot read the CA certificate: "+err.Error(), "restore ca/ca.crt from the CA's backup")
		return
	}
	certs, err := ca.ParseCertificatesPEM(data)
	if err != nil {
		d.add("files", filepath.Join(d.home, CACertFile), err.Error(), "")
		return
	}
	d.caCert = certs[0]
	path := filepath.Join(d.home, CACertFile)
	if !d.caCert.IsCA || !d.caCert.BasicConstraintsValid {
		d.add("files", path, "the first certificate is not a CA certificate", "restore ca/ca.crt from the CA's backup")
	}
	// A software CA key: the certificate must be the key's. (A CA key on a
	// token is checked when it signs: ca.New refuses a mismatch.)
	keyPEM, err := os.ReadFile(filepath.Join(d.home, CAKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		d.add("files", filepath.Join(d.home, CAKeyFile), "cannot read the CA key: "+err.Error(), "")
		return
	}
	key, err := ca.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		d.add("files", filepath.Join(d.home, CAKeyFile), "the CA key does not parse: "+err.Error(), "restore ca/ca.key from the CA's backup")
		return
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(d.caCert.PublicKey) {
		d.add("files", path, "the CA certificate does not belong to the CA key ca/ca.key (replaced certificate?)", "restore ca/ca.crt from the CA's backup; compare its fingerprint with the one published")
	}
	d.rep.Checked["files"]++
}

func (d *doctor) checkIntegrity(tx *store.Tx) error {
	lines, err := tx.IntegrityCheck()
	if err != nil {
		return err
	}
	for _, l := range lines {
		d.add("integrity", DBFile, l, "restore the last good backup (`cmca restore`)")
	}
	return nil
}

func (d *doctor) checkAuditChain(tx *store.Tx) error {
	n, problems, err := tx.VerifyAudit()
	if err != nil {
		return err
	}
	d.rep.Checked["audit_records"] = n
	for _, p := range problems {
		d.add("audit", fmt.Sprintf("audit record %d", p.Seq), p.Problem, "the log was tampered with; compare with a backup (`cmca audit verify`)")
	}
	return nil
}

func (d *doctor) checkCheckpoint(tx *store.Tx) error {
	seq, problem, err := checkpointProblem(tx, filepath.Join(d.home, CheckpointFile), false, d.caCert)
	if err != nil || problem == "" {
		return err
	}
	subject := "audit checkpoint"
	if seq != 0 {
		subject = fmt.Sprintf("audit record %d", seq)
	}
	d.add("audit", subject, problem, "records after the checkpoint were removed or the log was rewritten; compare with a backup (`cmca audit verify`)")
	return nil
}

func (d *doctor) checkBindings(tx *store.Tx) error {
	n, err := tx.CheckBindings(func(e *store.IntegrityError) error {
		d.add("audit", e.Kind+" "+e.Key, e.Problem()+"; it was changed outside cmca", "compare with a backup; cmca refuses to act on this row")
		return nil
	})
	d.rep.Checked["bound_rows"] = n
	return err
}

var crlNumberDetail = regexp.MustCompile(`\bnumber=(\d+)\b`)

func (d *doctor) readAudit(tx *store.Tx) error {
	d.lastTo, d.certEvents, d.crlEvents = map[string]ra.State{}, map[string]bool{}, map[int64]bool{}
	return tx.EachAudit(func(e ra.Event) error {
		switch {
		case e.Action == "crl" || e.Action == "delta-crl":
			if m := crlNumberDetail.FindStringSubmatch(e.Detail); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				d.crlEvents[n] = true
			}
		case e.Ref != "" && e.To != "":
			last, seen := d.lastTo[e.Ref]
			if seen && e.From != last {
				d.add("audit", e.Ref, fmt.Sprintf("record %d moves it from %s, but the record before left it %s", e.Seq, orNone(e.From), last), "")
			} else if !seen && e.From != "" {
				d.add("audit", e.Ref, fmt.Sprintf("record %d moves it from %s, but no record created it", e.Seq, e.From), "")
			}
			d.lastTo[e.Ref] = e.To
			if e.To == ra.StateCompleted && e.Serial != "" {
				d.certEvents[e.Serial] = true
			}
		}
		return nil
	})
}

func orNone(s ra.State) string {
	if s == "" {
		return "(none)"
	}
	return string(s)
}

func (d *doctor) checkCertificates(tx *store.Tx) error {
	d.certOwner, d.certStatus = map[string]string{}, map[string]ra.CertStatus{}
	return tx.EachCertFacts(func(c store.CertFacts) error {
		d.rep.Checked["certificates"]++
		d.certStatus[c.Serial] = c.Status
		subj := "certificate " + c.Serial
		if c.RequestRef == "" {
			d.add("certificates", subj, "has no request: the request that produced it is missing", "")
		} else {
			d.certOwner[c.Serial] = c.RequestRef
			if c.RequestCertSerial != c.Serial {
				d.add("certificates", subj, fmt.Sprintf("was signed for request %s, but that request (%s) does not record it", c.RequestRef, c.RequestState), "")
			}
		}
		if !d.certEvents[c.Serial] {
			d.add("certificates", subj, "no audit record reports its issuance", "")
		}
		if (c.Status == ra.CertRevoked) != c.Revoked {
			d.add("certificates", subj, fmt.Sprintf("status %s disagrees with its revocation time", c.Status), "")
		}
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			d.add("certificates", subj, "stored DER does not parse: "+err.Error(), "")
			return nil
		}
		if ra.SerialString(cert.SerialNumber) != c.Serial {
			d.add("certificates", subj, "stored under a serial that is not the certificate's ("+ra.SerialString(cert.SerialNumber)+")", "")
		}
		if spkiHash(cert.RawSubjectPublicKeyInfo) != c.SPKISHA256 {
			d.add("certificates", subj, "recorded key hash does not match the certificate's key: an interrupted download could not find it again", "")
		}
		if d.caCert != nil {
			if err := cert.CheckSignatureFrom(d.caCert); err != nil {
				d.add("certificates", subj, "not signed by this home's CA: "+err.Error(), "")
			}
		}
		return nil
	})
}

func (d *doctor) checkRequests(tx *store.Tx) error {
	type revokeCheck struct{ ref, serial string }
	var targets []revokeCheck
	err := tx.EachRequestFacts(func(r store.RequestFacts) error {
		d.rep.Checked["requests"]++
		subj := "request " + r.Ref
		if !slices.Contains(ra.States, r.State) || !slices.Contains(ra.Kinds, r.Kind) {
			d.add("requests", subj, fmt.Sprintf("unknown kind or state %s/%s", r.Kind, r.State), "")
			return nil
		}
		if last, ok := d.lastTo[r.Ref]; !ok {
			d.add("requests", subj, "has no audit record", "")
		} else if last != r.State {
			d.add("requests", subj, fmt.Sprintf("is %s, but its audit trail ends in %s", r.State, last), "")
		}
		if r.PasscodeUsed && (r.State != ra.StateCompleted || r.CertSerial == "") {
			d.add("requests", subj, fmt.Sprintf("its passcode was used but it is %s without a certificate: the subscriber cannot fetch one", r.State), "issue a new passcode (`cmca issue --resend`) after checking the audit trail")
		}
		if r.State == ra.StateIssued && (!r.HasPasscode || !r.HasExpiry) {
			d.add("requests", subj, "is issued but has no passcode hash or expiry", "`cmca issue --resend "+r.Ref+"`")
		}
		if r.CertSerial != "" {
			if r.State != ra.StateCompleted {
				d.add("requests", subj, fmt.Sprintf("records certificate %s but is %s", r.CertSerial, r.State), "")
			}
			if owner, ok := d.certOwner[r.CertSerial]; !ok {
				if _, exists := d.certStatus[r.CertSerial]; !exists {
					d.add("requests", subj, fmt.Sprintf("records certificate %s, which is not in the store", r.CertSerial), "")
				}
			} else if owner != r.Ref {
				d.add("requests", subj, fmt.Sprintf("records certificate %s, which request %s produced", r.CertSerial, owner), "")
			}
		}
		switch r.Kind {
		case ra.KindNew, ra.KindRenew, ra.KindReissue:
			if r.State == ra.StateCompleted && r.CertSerial == "" {
				d.add("requests", subj, "is completed but has no certificate", "")
			}
		}
		if r.TargetSerial != "" && ((r.Kind == ra.KindRevoke && r.State == ra.StateCompleted) ||
			(r.Kind == ra.KindReissue && (r.State == ra.StateApproved || r.State == ra.StateIssued || r.State == ra.StateCompleted))) {
			targets = append(targets, revokeCheck{r.Ref, r.TargetSerial})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range targets {
		st, ok := d.certStatus[t.serial]
		switch {
		case !ok:
			d.add("requests", "request "+t.ref, "acts on certificate "+t.serial+", which is not in the store", "")
		case st != ra.CertRevoked:
			d.add("requests", "request "+t.ref, "was approved but its target certificate "+t.serial+" is not revoked", "")
		}
	}
	return nil
}

var crlFileName = regexp.MustCompile(`^(ca|ca-delta)-(\d+)\.crl$`)

func (d *doctor) checkCRLs(tx *store.Tx) error {
	stored := map[int64]crlDigest{}
	legacy := map[int64]bool{} // body in the store; its history file is compared below
	isDelta := map[int64]bool{}
	var latestFull, latestDelta *store.CRL
	var maxNum int64
	dir := filepath.Join(d.home, CRLDir)
	err := tx.EachCRL(func(c store.CRL) error {
		d.rep.Checked["crls"]++
		maxNum = max(maxNum, c.Number)
		isDelta[c.Number] = c.BaseNumber != 0
		subj := fmt.Sprintf("CRL %d", c.Number)
		if c.BaseNumber == 0 {
			latestFull = &c
		} else {
			latestDelta = &c
			if _, ok := stored[c.BaseNumber]; !ok || c.BaseNumber >= c.Number {
				d.add("crls", subj, fmt.Sprintf("is a delta of CRL %d, which is not an earlier stored CRL", c.BaseNumber), "")
			}
		}
		if !d.crlEvents[c.Number] {
			d.add("crls", subj, "no audit record reports signing it", "")
		}
		der := c.DER
		if c.Legacy() {
			stored[c.Number], legacy[c.Number] = digestOf(der), true
		} else {
			// The body is the numbered history file (on PostgreSQL, the
			// store too); the record holds its digest. Older files may be
			// pruned; the latest ones are checked below.
			stored[c.Number] = recordedDigest(&c)
			if len(c.DER) > 0 {
				if digestOf(c.DER) != stored[c.Number] {
					d.add("crls", subj, fmt.Sprintf("the body the store holds is not the one its record describes (%d bytes, SHA-256 %s): altered", c.Size, c.SHA256), "run `cmca crl --force` to sign and publish a new one")
					return nil
				}
				der = c.DER
			}
			path := filepath.Join(dir, crlFileBase(c.Number, c.BaseNumber != 0))
			data, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				d.add("crls", path, err.Error(), "")
				return nil
			}
			if digestOf(data) != stored[c.Number] {
				d.add("crls", path, fmt.Sprintf("is not the body of CRL %d its record describes (%d bytes, SHA-256 %s): altered or replaced", c.Number, c.Size, c.SHA256), "if ca.crl is still CRL "+strconv.FormatInt(c.Number, 10)+", run `cmca crl --force` to sign and publish a new one")
				return nil
			}
			if der == nil {
				der = data
			}
		}
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			d.add("crls", subj, "stored DER does not parse: "+err.Error(), "")
			return nil
		}
		if rl.Number == nil || rl.Number.Int64() != c.Number {
			d.add("crls", subj, fmt.Sprintf("is stored under number %d but carries number %v", c.Number, rl.Number), "")
		}
		if d.caCert != nil {
			if err := rl.CheckSignatureFrom(d.caCert); err != nil {
				d.add("crls", subj, "not signed by this home's CA: "+err.Error(), "")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for n := range d.crlEvents {
		if _, ok := stored[n]; !ok {
			d.add("crls", fmt.Sprintf("CRL %d", n), "the audit log reports signing it, but it is not stored", "")
		}
	}
	// The body of the latest full and delta CRL must be there: `cmca crl`
	// republishes from it.
	for _, c := range []*store.CRL{latestFull, latestDelta} {
		if c == nil || c.Legacy() || len(c.DER) > 0 {
			continue
		}
		path := filepath.Join(dir, crlFileBase(c.Number, c.BaseNumber != 0))
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			d.add("crls", path, fmt.Sprintf("the body of CRL %d, the latest of its kind, is missing", c.Number), "run `cmca crl --force` to sign and publish a new one")
		}
	}
	floorText, err := tx.Meta(store.CRLNumberFloor)
	if err != nil {
		return err
	}
	floor, _ := strconv.ParseInt(floorText, 10, 64)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		m := crlFileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[2], 10, 64)
		path := filepath.Join(dir, e.Name())
		want, ok := stored[n]
		switch {
		case !ok && n <= floor:
			// published before a restore from an older backup; numbering continues above it
		case !ok:
			d.add("crls", path, fmt.Sprintf("CRL number %d was published but is not in the store: %s; `cmca crl` numbers above it", n, lostCommitsHint), "restore the store from a backup made after it, or run `cmca crl`, which signs above it and raises the numbering floor (as `cmca restore` into this home does)")
		case legacy[n] || e.Name() != crlFileBase(n, isDelta[n]):
			// (a file of the record's own name was checked above)
			got, err := fileDigest(path)
			if err != nil {
				d.add("crls", path, err.Error(), "")
			} else if got != want {
				d.add("crls", path, fmt.Sprintf("differs from the stored CRL %d: the number was used for two different CRLs", n), "")
			}
		}
	}
	d.checkPublished(filepath.Join(dir, "ca.crl"), latestFull, stored, maxNum)
	d.checkPublished(filepath.Join(dir, "ca-delta.crl"), latestDelta, stored, maxNum)
	return nil
}

// checkPublished compares the current published CRL (DER and PEM) with the
// newest stored one.
//
// On PostgreSQL `cmca serve` publishes the newest CRL from the store, and
// the files in a home are that home's copy, brought up to date when
// `cmca crl` runs there: a missing copy, or one that holds an older
// stored CRL byte for byte, is not a problem; one that holds no stored CRL
// is.
func (d *doctor) checkPublished(path string, latest *store.CRL, stored map[int64]crlDigest, maxNum int64) {
	if latest == nil {
		return
	}
	want := stored[latest.Number]
	fix := "run `cmca crl` to publish it"
	data, err := os.ReadFile(path)
	if err != nil && !d.sqlite && errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		d.add("crls", path, "the newest CRL is not published: "+err.Error(), fix)
		return
	}
	if !d.sqlite && digestOf(data) != want {
		if rl, err := x509.ParseRevocationList(data); err == nil && rl.Number != nil && rl.Number.IsInt64() {
			if old, ok := stored[rl.Number.Int64()]; ok && old == digestOf(data) {
				want = old // an older CRL of the store, byte for byte
			}
		}
	}
	if digestOf(data) != want {
		what := "an older or different CRL"
		if rl, err := x509.ParseRevocationList(data); err == nil && rl.Number != nil {
			if rl.Number.IsInt64() && rl.Number.Int64() > maxNum {
				d.add("crls", path, fmt.Sprintf("holds CRL %s, newer than the newest stored (%d): %s", rl.Number, maxNum, lostCommitsHint), "run `cmca crl` to sign a CRL numbered above it")
				return
			}
			what = "CRL " + rl.Number.String()
		}
		d.add("crls", path, fmt.Sprintf("holds %s, not the newest stored CRL (the newest number is %d)", what, maxNum), fix)
		return
	}
	pemData, err := os.ReadFile(path + ".pem")
	if err != nil {
		d.add("crls", path+".pem", "missing: "+err.Error(), fix)
		return
	}
	b, _ := pem.Decode(pemData)
	if b == nil || digestOf(b.Bytes) != want {
		d.add("crls", path+".pem", "does not hold the same CRL as "+filepath.Base(path), fix)
	}
}

// ProblemsError is returned by callers that turn a report into a failure.
type ProblemsError struct{ N int }

func (e *ProblemsError) Error() string {
	if e.N == 1 {
		return "1 problem found"
	}
	return fmt.Sprintf("%d problems found", e.N)
}

// Unwrap classes an inconsistent home as a state conflict (exit 4).
func (e *ProblemsError) Unwrap() error { return ra.ErrConflict }
