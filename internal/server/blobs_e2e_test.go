package server_test

import (
	"context"
	"strings"
	"testing"

	"switchboard/internal/server"
)

// TestBlobsFlagRefusesBadChoices: --blobs db needs PostgreSQL, and only fs
// and db exist; both mistakes stop the node at start with a clear message.
func TestBlobsFlagRefusesBadChoices(t *testing.T) {
	for _, c := range []struct{ blobs, want string }{
		{"db", "--blobs db needs --store postgres"},
		{"s3", `--blobs must be fs or db, not "s3"`},
	} {
		_, err := server.New(context.Background(), server.Config{DataDir: t.TempDir(), Blobs: c.blobs})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--blobs %s: got %v, want %q", c.blobs, err, c.want)
		}
	}
}
