package ra

// CodedError gives an error a stable code from the API's catalogue
// (internal/api, docs/architecture.md) and the parameters a translated
// message needs. Its class is still the sentinel it wraps.
type CodedError struct {
	Code   string
	Params map[string]string
	Err    error
}

func (e *CodedError) Error() string { return e.Err.Error() }
func (e *CodedError) Unwrap() error { return e.Err }

// WithCode wraps err with a code and key, value parameter pairs.
func WithCode(code string, err error, params ...string) error {
	e := &CodedError{Code: code, Err: err}
	for i := 0; i+1 < len(params); i += 2 {
		if e.Params == nil {
			e.Params = map[string]string{}
		}
		e.Params[params[i]] = params[i+1]
	}
	return e
}
