package store

import "context"

type affinityKey struct{}

// WithAffinity marks the transactions run with ctx as belonging to key (a
// conversation id, say). A store that commits on several connections at once
// (PostgreSQL with several writers) runs the calls of one key on the same
// connection, one after another in the order they were made, so their
// commits and OnCommit callbacks keep that order and they never wait for
// each other's row locks across connections. Other stores ignore it.
func WithAffinity(ctx context.Context, key int64) context.Context {
	return context.WithValue(ctx, affinityKey{}, uint64(key))
}

// AffinityKey returns the key WithAffinity set on ctx, if any.
func AffinityKey(ctx context.Context) (uint64, bool) {
	k, ok := ctx.Value(affinityKey{}).(uint64)
	return k, ok
}
