package blob_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/blob"
	"switchboard/internal/blob/blobtest"
)

func TestFSContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) (blob.Store, func() int) {
		s, err := blob.NewFS(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return s, func() int {
			n := 0
			err := filepath.WalkDir(s.Dir(), func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() {
					if strings.HasPrefix(d.Name(), ".tmp-") {
						t.Errorf("temporary file left: %s", p)
					}
					n++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	})
}
