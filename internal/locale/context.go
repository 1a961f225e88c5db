package locale

import "context"

// ctxKey is unexported so that no other package can set or shadow the
// request locale except through WithLocale.
type ctxKey struct{}

// WithLocale returns a copy of ctx that carries l as the request's locale.
func WithLocale(ctx context.Context, l Locale) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the locale stored by WithLocale, or Default if ctx
// carries none. Resolvers can therefore always render, even when a code path
// forgot to negotiate.
func FromContext(ctx context.Context) Locale {
	if l, ok := ctx.Value(ctxKey{}).(Locale); ok {
		return l
	}
	return Default()
}
