package service

import "context"

type progressKey struct{}

// WithProgress returns a context whose long operations (Apply of a batch,
// ApproveMany) report how many items they have done, so a terminal can show
// a progress line. fn runs on the calling goroutine, inside the transaction:
// it must be quick and must not call the service.
func WithProgress(ctx context.Context, fn func(done, total int)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// reportProgress tells the context's progress function, if any.
func reportProgress(ctx context.Context, done, total int) {
	if fn, ok := ctx.Value(progressKey{}).(func(done, total int)); ok {
		fn(done, total)
	}
}
