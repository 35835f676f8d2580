package ra

import (
	"crypto/rand"
	"github.com/cmca/cmca/internal/msg"
	"time"
)

// Kind is what a request asks for.
type Kind string

const (
	KindNew     Kind = "new"     // first certificate for an application
	KindRenew   Kind = "renew"   // new key and certificate for a current holder
	KindRevoke  Kind = "revoke"  // permanent revocation of a certificate
	KindReissue Kind = "reissue" // replacement of a lost or damaged certificate
)

// Kinds lists every kind, in display order.
var Kinds = []Kind{KindNew, KindRenew, KindRevoke, KindReissue}

// State is where a request stands.
type State string

const (
	StateSubmitted State = "submitted" // waiting for an operator
	StateApproved  State = "approved"  // accepted; waiting for issuance authorisation
	StateRejected  State = "rejected"  // refused, with a reason (final)
	StateIssued    State = "issued"    // a download passcode is outstanding
	StateCompleted State = "completed" // certificate delivered or revocation in effect (final)
)

// States lists every state, in lifecycle order.
var States = []State{StateSubmitted, StateApproved, StateRejected, StateIssued, StateCompleted}

// Storage is where the subscriber's key will live.
type Storage string

const (
	StorageUSBKey Storage = "usbkey" // generated on a PKCS#11 token
	StorageSoft   Storage = "soft"   // a password-protected PKCS#12 file
)

// ParseKind, ParseState and ParseStorage validate user input.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", Fieldf("kind", "unknown kind %q; use one of %v", s, Kinds)
}

func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", Fieldf("state", "unknown state %q; use one of %v", s, States)
}

func ParseStorage(s string) (Storage, error) {
	switch Storage(s) {
	case StorageUSBKey, StorageSoft:
		return Storage(s), nil
	case "usb", "token", "pkcs11":
		return StorageUSBKey, nil
	case "p12", "pkcs12", "software":
		return StorageSoft, nil
	}
	return "", Fieldf("storage", "unknown storage %q; use usbkey or soft", s)
}

// transitions is the state machine, per kind. A transition not listed here
// is refused with ErrConflict before anything is written.
var transitions = map[Kind]map[State][]State{
	KindNew: {
		StateSubmitted: {StateApproved, StateRejected},
		StateApproved:  {StateIssued},
		StateIssued:    {StateIssued, StateCompleted}, // issued->issued: passcode resent
	},
	KindReissue: {
		StateSubmitted: {StateApproved, StateRejected},
		StateApproved:  {StateIssued},
		StateIssued:    {StateIssued, StateCompleted},
	},
	KindRenew: {
		StateSubmitted: {StateApproved, StateRejected},
		StateApproved:  {StateIssued, StateCompleted}, // approved->completed: renewal inside the window
		StateIssued:    {StateIssued, StateCompleted},
	},
	KindRevoke: {
		StateSubmitted: {StateCompleted, StateRejected}, // approval of a revocation puts it in effect
	},
}

// CanTransition reports whether a request of kind k may move from one state
// to another.
func CanTransition(k Kind, from, to State) bool {
	for _, s := range transitions[k][from] {
		if s == to {
			return true
		}
	}
	return false
}

// CheckTransition returns an ErrConflict naming the states when the move is
// not allowed.
func CheckTransition(ref string, k Kind, from, to State) error {
	if CanTransition(k, from, to) {
		return nil
	}
	return msg.Errorf("request %s (%s) is %s and cannot become %s: %w", ref, k, from, to, ErrConflict)
}

// Final reports whether no further transition exists from s.
func (s State) Final() bool { return s == StateRejected || s == StateCompleted }

// Request is one application or certificate-management request.
type Request struct {
	Ref              string    `json:"ref"`
	Kind             Kind      `json:"kind"`
	State            State     `json:"state"`
	Applicant        Applicant `json:"applicant"`
	Agent            *Agent    `json:"agent,omitempty"`
	UsageType        string    `json:"usage_type"`
	AcceptancePoint  string    `json:"acceptance_point"`
	Storage          Storage   `json:"storage"`
	AgreementVersion string    `json:"agreement_version,omitempty"`
	TargetSerial     string    `json:"target_serial,omitempty"` // the certificate a renew/revoke/reissue acts on
	// TargetStatus is the status of the target certificate when the
	// request was read (valid, revoked, expired): filled in by the service
	// for review and status, never stored.
	TargetStatus CertStatus `json:"target_status,omitempty"`
	// TargetRevocationReason is the target's revocation reason, if revoked;
	// like TargetStatus it is read, not stored.
	TargetRevocationReason string    `json:"target_revocation_reason,omitempty"`
	Reason                 string    `json:"reason,omitempty"`  // revocation/reissue reason
	Comment                string    `json:"comment,omitempty"` // applicant's or operator's justification
	DecisionReason         string    `json:"decision_reason,omitempty"`
	SubmittedBy            string    `json:"submitted_by"`
	DecidedBy              string    `json:"decided_by,omitempty"`
	IssuedBy               string    `json:"issued_by,omitempty"`
	CertSerial             string    `json:"cert_serial,omitempty"` // the certificate this request produced
	PasscodeExpires        time.Time `json:"passcode_expires,omitzero"`
	PasscodeAttempts       int       `json:"passcode_attempts,omitempty"`
	PasscodeUsed           bool      `json:"passcode_used,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
}

// Event is one entry of a request's history (a row of the audit log).
type Event struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Operator string    `json:"operator"`
	Action   string    `json:"action"`
	Ref      string    `json:"ref,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	From     State     `json:"from,omitempty"`
	To       State     `json:"to,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// crockford is Crockford's base32 alphabet: no I, L, O, U, so references and
// passcodes survive being read over the phone.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func randomBase32(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	for i := range b {
		b[i] = crockford[b[i]&31]
	}
	return string(b)
}

// NewRef makes a reference number (业务受理号): the date and 40 random bits,
// e.g. 20261125-7KQ3PZ4M. The store enforces uniqueness.
func NewRef(now time.Time) string {
	return now.UTC().Format("20060102") + "-" + randomBase32(8)
}
