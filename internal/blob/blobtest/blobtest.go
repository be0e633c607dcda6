// Package blobtest is the contract every blob.Store passes: the file system
// store on every machine, the database store where PostgreSQL runs. A store
// is correct when Run passes against it.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"switchboard/internal/apperr"
	"switchboard/internal/blob"
)

// Factory returns an empty store and a function counting the complete
// objects it holds (to check that refused or failed uploads left nothing).
type Factory func(t *testing.T) (s blob.Store, count func() int)

// Run runs the contract against stores made by f.
func Run(t *testing.T, f Factory) {
	t.Run("RoundTripSeekDelete", func(t *testing.T) { roundTrip(t, f) })
	t.Run("Types", func(t *testing.T) { types(t, f) })
	t.Run("SizeLimit", func(t *testing.T) { sizeLimit(t, f) })
	t.Run("FailureLeavesNothing", func(t *testing.T) { failure(t, f) })
	t.Run("BadKeys", func(t *testing.T) { badKeys(t, f) })
	t.Run("ConcurrentPuts", func(t *testing.T) { concurrent(t, f) })
}

func wantCode(t *testing.T, err error, kind apperr.Kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s/%s", kind, code)
	}
	if e := apperr.As(err); e.Kind != kind || e.Code != code {
		t.Fatalf("got %s/%s (%v), want %s/%s", e.Kind, e.Code, err, kind, code)
	}
}

func wantCount(t *testing.T, count func() int, n int) {
	t.Helper()
	if got := count(); got != n {
		t.Fatalf("%d objects stored, want %d", got, n)
	}
}

func roundTrip(t *testing.T, f Factory) {
	s, count := f(t)
	ctx := context.Background()
	// 3 MiB plus a bit: more than one chunk for a store that keeps chunks.
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	copy(data, "\x89PNG\r\n\x1a\n")
	obj, err := s.Put(ctx, "big.png", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !blob.ValidKey(obj.Key) || obj.Size != int64(len(data)) || obj.ContentType != "image/png" || !obj.Inline {
		t.Fatalf("Put: %+v", obj)
	}
	wantCount(t, count, 1)
	rc, got, err := s.Open(ctx, obj.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got != obj {
		t.Fatalf("Open described %+v, Put %+v", got, obj)
	}
	// Seekable in every direction, as http.ServeContent needs for ranges.
	if end, err := rc.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
		t.Fatalf("Seek end = %d, %v", end, err)
	}
	for _, at := range []int64{1000, 1<<20 - 50, 2<<20 + 7, int64(len(data)) - 100} {
		if _, err := rc.Seek(at, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 100)
		if _, err := io.ReadFull(rc, part); err != nil || !bytes.Equal(part, data[at:at+100]) {
			t.Fatalf("ranged read at %d: %v", at, err)
		}
	}
	if pos, err := rc.Seek(-200, io.SeekCurrent); err != nil || pos != int64(len(data))-200 {
		t.Fatalf("Seek current = %d, %v", pos, err)
	}
	if _, err := rc.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("seek before the start succeeded")
	}
	if _, err := rc.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("content differs (%v)", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}

	if err := s.Delete(ctx, obj.Key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(ctx, obj.Key); !apperr.IsNotFound(err) {
		t.Fatalf("Open after Delete = %v", err)
	}
	if err := s.Delete(ctx, obj.Key); err != nil {
		t.Fatalf("second Delete = %v", err)
	}
	wantCount(t, count, 0)
}

func pad(head string) []byte {
	return append([]byte(head), bytes.Repeat([]byte{0x42}, 600)...)
}

func types(t *testing.T, f Factory) {
	s, count := f(t)
	ctx := context.Background()
	for _, c := range []struct {
		data   []byte
		ok     bool
		ctBase string
		inline bool
	}{
		{pad("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), true, "image/png", true},
		{pad("%PDF-1.7\n"), true, "application/pdf", false},
		{[]byte("hello, world\n"), true, "text/plain", false},
		{[]byte("<!DOCTYPE html><script>alert(1)</script>"), false, "", false},
		{pad("MZ\x90\x00\x03\x00"), false, "", false},
	} {
		// The claimed name never decides the type.
		obj, err := s.Put(ctx, "innocent.png", bytes.NewReader(c.data), 1<<20)
		if !c.ok {
			wantCode(t, err, apperr.KindInvalid, "file_type_not_allowed")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		base, _, _ := strings.Cut(obj.ContentType, ";")
		if base != c.ctBase || obj.Inline != c.inline {
			t.Fatalf("got %+v, want %s inline %v", obj, c.ctBase, c.inline)
		}
	}
	_, err := s.Put(ctx, "empty.txt", strings.NewReader(""), 100)
	wantCode(t, err, apperr.KindInvalid, "empty_file")
	wantCount(t, count, 3)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

func sizeLimit(t *testing.T, f Factory) {
	s, count := f(t)
	ctx := context.Background()
	for _, limit := range []int64{1, 511, 512, 513, 300_000} {
		at := bytes.Repeat([]byte("a"), int(limit))
		obj, err := s.Put(ctx, "a.txt", bytes.NewReader(at), limit)
		if err != nil || obj.Size != limit {
			t.Fatalf("exactly %d bytes: %+v, %v", limit, obj, err)
		}
		cr := &countingReader{r: io.MultiReader(bytes.NewReader(at), infinite{})}
		_, err = s.Put(ctx, "a.txt", cr, limit)
		wantCode(t, err, apperr.KindTooLarge, "file_too_large")
		if cr.n > limit+1 {
			t.Fatalf("limit %d: read %d bytes, want at most %d", limit, cr.n, limit+1)
		}
	}
	_, err := s.Put(ctx, "a.txt", strings.NewReader("x"), 0)
	wantCode(t, err, apperr.KindTooLarge, "file_too_large")
	wantCount(t, count, 5)
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

type cancelAfter struct {
	r      io.Reader
	n      int
	after  int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p[:min(len(p), 4096)])
	c.n += n
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func failure(t *testing.T, f Factory) {
	s, count := f(t)
	boom := errors.New("connection reset")
	big := bytes.Repeat([]byte("plain text "), 60_000) // > 600 KB: past a chunk
	_, err := s.Put(context.Background(), "x.txt", &failingReader{data: big, err: boom}, 1<<22)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the reader's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{r: bytes.NewReader(big), after: 400_000, cancel: cancel}
	_, err = s.Put(ctx, "x.txt", r, 1<<22)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	wantCount(t, count, 0)
}

func badKeys(t *testing.T, f Factory) {
	s, _ := f(t)
	ctx := context.Background()
	obj, err := s.Put(ctx, "a.txt", strings.NewReader("hello there"), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"", "../secret", "/etc/passwd", "' OR '1'='1", strings.ToUpper(obj.Key), obj.Key[:31], obj.Key + "0",
		"ab/cd/" + obj.Key, "0123456789abcdef0123456789abcdeg", "0123456789abcdef0123456789abcde\x00",
		"00000000000000000000000000000000", // well-formed but absent
	} {
		if _, _, err := s.Open(ctx, key); !apperr.IsNotFound(err) || apperr.CodeOf(err) != "attachment_not_found" {
			t.Errorf("Open(%q) = %v, want attachment_not_found", key, err)
		}
	}
	if err := s.Delete(ctx, "../secret"); !apperr.IsNotFound(err) {
		t.Fatalf("Delete(bad key) = %v", err)
	}
	if rc, _, err := s.Open(ctx, obj.Key); err != nil {
		t.Fatalf("the good object: %v", err)
	} else {
		rc.Close()
	}
}

func concurrent(t *testing.T, f Factory) {
	s, count := f(t)
	ctx := context.Background()
	const n = 32
	var wg sync.WaitGroup
	keys := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{'a' + byte(i%26)}, 1000+i)
			obj, err := s.Put(ctx, "f.txt", bytes.NewReader(body), 10_000)
			keys[i], errs[i] = obj.Key, err
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put %d: %v", i, errs[i])
		}
		if seen[keys[i]] {
			t.Fatal("duplicate key")
		}
		seen[keys[i]] = true
		rc, obj, err := s.Open(ctx, keys[i])
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if obj.Size != int64(1000+i) || !bytes.Equal(body, bytes.Repeat([]byte{'a' + byte(i%26)}, 1000+i)) {
			t.Fatalf("object %d corrupted", i)
		}
	}
	wantCount(t, count, n)
}
