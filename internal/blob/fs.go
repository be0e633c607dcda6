package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"switchboard/internal/apperr"
)

// FS is a Store on the local file system. An object with key
// "abcd0123..." (32 lower-case hex characters, 128 random bits) lives at
// dir/ab/cd/abcd0123....
//
// Guarantees:
//   - Put writes to a temporary file in the object's final directory, fsyncs
//     it, renames it into place and fsyncs the directory: an object is
//     either absent or complete and durable, never partial. A failed Put
//     removes its temporary file. Temporary files start with ".tmp-", which
//     no key matches, so Open never sees one (a crash may leave one behind:
//     RemoveStaleTemp deletes them).
//   - Open and Delete accept only well-formed keys, so no key can name a
//     path outside dir.
//   - Open re-sniffs the first 512 bytes to fill ContentType and Inline
//     rather than keeping a sidecar file: the type is a pure function of the
//     bytes, so it cannot disagree with them, and there is no second file to
//     keep atomic with the first. Should a future Go sniff an old file as a
//     type that is no longer allowed, Open reports it as
//     application/octet-stream, not inline: the safe default. (The type is
//     also in the attachment's database row.)
//
// FS is safe for concurrent use.
type FS struct {
	dir string
}

const (
	tempPrefix = ".tmp-"
	dirPerm    = 0o750
)

// NewFS returns a Store keeping its files under dir, which it creates if
// needed.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("blob: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("blob: create %s: %w", abs, err)
	}
	return &FS{dir: abs}, nil
}

// Dir returns the absolute directory the store keeps its files in.
func (f *FS) Dir() string { return f.dir }

func (f *FS) path(key string) string {
	return filepath.Join(f.dir, key[0:2], key[2:4], key)
}

func errNotFound() error { return apperr.NotFound("attachment") }

// Put stores r's content under a new key; see Store.Put. It reads at most
// maxBytes+1 bytes from r. A non-positive maxBytes refuses every non-empty
// file as too large.
func (f *FS) Put(ctx context.Context, name string, r io.Reader, maxBytes int64) (Object, error) {
	in, err := Accept(ctx, r, maxBytes)
	if err != nil {
		return Object{}, err
	}
	head, n, ct, inline := in.Head, len(in.Head), in.ContentType, in.Inline

	key := NewKey()
	final := f.path(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return Object{}, fmt.Errorf("blob: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+key+"-*")
	if err != nil {
		return Object{}, fmt.Errorf("blob: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	if _, err := tmp.Write(head); err != nil {
		return Object{}, fmt.Errorf("blob: write: %w", err)
	}
	// Copy the rest, reading at most one byte more than allowed.
	rest, err := io.Copy(tmp, in.Rest)
	if err != nil {
		return Object{}, in.ReadErr(ctx, err)
	}
	size := int64(n) + rest
	if err := in.Check(size); err != nil {
		return Object{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Object{}, fmt.Errorf("blob: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Object{}, fmt.Errorf("blob: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Object{}, fmt.Errorf("blob: rename: %w", err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		// The object is complete and in place; only its durability across a
		// power cut is in doubt. Report the failure and remove it, so that
		// the caller does not record an attachment that may vanish.
		os.Remove(final)
		return Object{}, fmt.Errorf("blob: sync dir: %w", err)
	}
	return Object{Key: key, Size: size, ContentType: ct, Inline: inline}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open returns the object's content positioned at its start; see Store.Open.
func (f *FS) Open(ctx context.Context, key string) (io.ReadSeekCloser, Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, Object{}, err
	}
	if !ValidKey(key) {
		return nil, Object{}, errNotFound()
	}
	file, err := os.Open(f.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Object{}, errNotFound()
	}
	if err != nil {
		return nil, Object{}, fmt.Errorf("blob: open: %w", err)
	}
	obj, err := describe(file, key)
	if err != nil {
		file.Close()
		return nil, Object{}, err
	}
	return file, obj, nil
}

// describe sniffs an open object and rewinds it.
func describe(file *os.File, key string) (Object, error) {
	st, err := file.Stat()
	if err != nil {
		return Object{}, fmt.Errorf("blob: stat: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Object{}, errNotFound()
	}
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(file, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return Object{}, fmt.Errorf("blob: read: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return Object{}, fmt.Errorf("blob: seek: %w", err)
	}
	ct, allowed, inline := Classify(head[:n])
	if !allowed {
		ct, inline = "application/octet-stream", false
	}
	return Object{Key: key, Size: st.Size(), ContentType: ct, Inline: inline}, nil
}

// Delete removes the object; see Store.Delete.
func (f *FS) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ValidKey(key) {
		return errNotFound()
	}
	err := os.Remove(f.path(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete: %w", err)
	}
	return nil
}

// RemoveStaleTemp deletes temporary files that a crashed Put left behind
// and that were last modified before cutoff (pass a time comfortably older
// than the longest upload, so that uploads in progress are not disturbed).
// It returns how many it removed. Call it at start-up or now and then.
func (f *FS) RemoveStaleTemp(cutoff time.Time) (int, error) {
	removed := 0
	err := filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Only the two shard levels exist below dir.
			if rel, _ := filepath.Rel(f.dir, path); rel != "." && strings.Count(rel, string(filepath.Separator)) > 1 {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // finished meanwhile
			}
			return err
		}
		if info.ModTime().Before(cutoff) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("blob: remove stale temp files: %w", err)
	}
	return removed, nil
}

var _ Store = (*FS)(nil)
