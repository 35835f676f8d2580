package service

import (
	"github.com/cmca/cmca/internal/msg"
	"strings"

	"github.com/cmca/cmca/internal/ra"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// checkNotApplicant is the second half of the four-eyes rule: a request's
// own applicant may not approve it.
//
// An applicant who submitted the request under their own operator name is
// already stopped by "the approver may not be the submitter" (r.SubmittedBy;
// this covers renewals and revocations a holder files themselves). An
// application entered by a counter clerk for an applicant who is also an
// operator is not: cmca knows operators by name only, so the applicant (or
// the agent who acted for them) is recognised by name, compared after NFC
// normalisation, case folding and removal of spaces and name dots. A false
// match (an operator who shares a name with an applicant) costs a second
// operator's time; a missed one would let a person approve their own
// certificate, so the comparison errs on the side of refusing.
func checkNotApplicant(operator string, r *ra.Request) error {
	if operator == "system" {
		return nil // renewals inside the window approve themselves by design
	}
	op := nameKey(operator)
	if op == "" {
		return nil
	}
	if op == nameKey(r.Applicant.Name) {
		return ra.WithCode("policy.four_eyes", msg.Errorf("four-eyes rule: operator %s is the applicant of request %s and may not approve it; ask another operator: %w", operator, r.Ref, ra.ErrPolicy), "ref", r.Ref)
	}
	if r.Agent != nil && op == nameKey(r.Agent.Name) {
		return ra.WithCode("policy.four_eyes", msg.Errorf("four-eyes rule: operator %s is the agent who applied for request %s and may not approve it; ask another operator: %w", operator, r.Ref, ra.ErrPolicy), "ref", r.Ref)
	}
	return nil
}

var nameKeyDrop = strings.NewReplacer(" ", "", "\u3000", "", "·", "", "・", "", ".", "", "-", "")

func nameKey(s string) string {
	return nameKeyDrop.Replace(cases.Fold().String(norm.NFC.String(strings.TrimSpace(s))))
}
