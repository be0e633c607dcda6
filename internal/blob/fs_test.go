package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/apperr"
)

func newFS(t *testing.T) *FS {
	t.Helper()
	f, err := NewFS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wantCode(t *testing.T, err error, kind apperr.Kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s/%s", kind, code)
	}
	e := apperr.As(err)
	if e.Kind != kind || e.Code != code {
		t.Fatalf("got %s/%s (%v), want %s/%s", e.Kind, e.Code, err, kind, code)
	}
}

// files lists every regular file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pad(head string) []byte {
	b := []byte(head)
	return append(b, bytes.Repeat([]byte{0x42}, 600)...) // beyond the sniff window
}

var samples = []struct {
	name    string
	data    []byte
	allowed bool
	inline  bool
	ctBase  string
}{
	{"png", pad("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), true, true, "image/png"},
	{"jpeg", pad("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), true, true, "image/jpeg"},
	{"gif87", pad("GIF87a"), true, true, "image/gif"},
	{"gif89", pad("GIF89a\x01\x00\x01\x00"), true, true, "image/gif"},
	{"webp", pad("RIFF\x24\x00\x00\x00WEBPVP8 "), true, true, "image/webp"},
	{"pdf", pad("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), true, false, "application/pdf"},
	{"text", []byte("hello, world\nsecond line\n"), true, false, "text/plain"},
	{"csv", []byte("name,email\nann,ann@example.com\n"), true, false, "text/plain"},
	{"json", []byte(`{"a": [1, 2, 3]}`), true, false, "text/plain"},
	{"js", []byte("alert(document.cookie)\n"), true, false, "text/plain"},
	{"utf8 bom", []byte("\xef\xbb\xbfh\xc3\xa9llo"), true, false, "text/plain"},
	{"utf16le", []byte("\xff\xfeh\x00i\x00"), true, false, "text/plain"},
	{"svg without prolog", []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), true, false, "text/plain"},
	{"zip/docx", pad("PK\x03\x04\x14\x00\x06\x00"), true, false, "application/zip"},
	{"mp3", pad("ID3\x03\x00\x00\x00"), true, false, "audio/mpeg"},
	{"wav", pad("RIFF\x24\x08\x00\x00WAVEfmt "), true, false, "audio/wave"},
	{"mp4", pad("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), true, false, "video/mp4"},
	{"webm", pad("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"), true, false, "video/webm"},
	{"ogg", pad("OggS\x00\x02\x00\x00"), true, false, "application/ogg"},

	{"html doctype", []byte("<!DOCTYPE html><html><script>alert(1)</script>"), false, false, "text/html"},
	{"html tag", []byte("  <html><body>x</body></html>"), false, false, "text/html"},
	{"html script", []byte("<script>alert(1)</script>"), false, false, "text/html"},
	{"html comment", []byte("<!-- x --><p>hi</p>"), false, false, "text/html"},
	{"xml/svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), false, false, "text/xml"},
	{"exe", pad("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), false, false, "application/octet-stream"},
	{"elf", pad("\x7fELF\x02\x01\x01\x00"), false, false, "application/octet-stream"},
	{"postscript", pad("%!PS-Adobe-3.0"), false, false, "application/postscript"},
	{"gzip", pad("\x1f\x8b\x08\x00"), false, false, "application/x-gzip"},
	{"rar", pad("Rar!\x1a\x07\x01\x00"), false, false, "application/x-rar-compressed"},
	{"wasm", pad("\x00asm\x01\x00\x00\x00"), false, false, "application/wasm"},
	{"bmp", pad("BM"), false, false, "image/bmp"},
	{"ico", pad("\x00\x00\x01\x00"), false, false, "image/x-icon"},
	{"ttf", pad("\x00\x01\x00\x00"), false, false, "font/ttf"},
	{"woff", pad("wOFF"), false, false, "font/woff"},
	{"avi", pad("RIFF\x00\x00\x00\x00AVI "), false, false, "video/avi"},
	{"midi", pad("MThd\x00\x00\x00\x06"), false, false, "audio/midi"},
}

func TestPutTypes(t *testing.T) {
	f := newFS(t)
	ctx := context.Background()
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			// The claimed name never matters.
			obj, err := f.Put(ctx, "innocent.png", bytes.NewReader(s.data), 1<<20)
			if !s.allowed {
				wantCode(t, err, apperr.KindInvalid, "file_type_not_allowed")
				return
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			base, _, _ := strings.Cut(obj.ContentType, ";")
			if base != s.ctBase || obj.Inline != s.inline || obj.Size != int64(len(s.data)) || !ValidKey(obj.Key) {
				t.Fatalf("got %+v, want type %s inline %v size %d", obj, s.ctBase, s.inline, len(s.data))
			}
			rc, got, err := f.Open(ctx, obj.Key)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			if got != obj {
				t.Fatalf("Open described %+v, Put %+v", got, obj)
			}
			content, _ := io.ReadAll(rc)
			if !bytes.Equal(content, s.data) {
				t.Fatal("content differs")
			}
		})
		if s.allowed {
			continue
		}
		if _, allowed, _ := Classify(s.data); allowed {
			t.Errorf("%s: Classify allows it", s.name)
		}
	}
	// Refused types left nothing behind.
	n := 0
	for _, s := range samples {
		if s.allowed {
			n++
		}
	}
	if got := files(t, f.Dir()); len(got) != n {
		t.Fatalf("%d files stored, want %d: %v", len(got), n, got)
	}
}

func TestOpenRejectsBadKeys(t *testing.T) {
	f := newFS(t)
	ctx := context.Background()
	// A file outside the store that traversal would reach.
	secret := filepath.Join(filepath.Dir(f.Dir()), "secret")
	if err := os.WriteFile(secret, []byte("secret text"), 0o600); err != nil {
		t.Fatal(err)
	}
	obj, err := f.Put(ctx, "a.txt", strings.NewReader("hello there"), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"", "../secret", "../../secret", "..%2fsecret", "/etc/passwd",
		strings.ToUpper(obj.Key), obj.Key[:31], obj.Key + "0", obj.Key[:30] + "/.",
		"ab/cd/" + obj.Key, "0123456789abcdef0123456789abcdeg", "0123456789abcdef0123456789abcde\x00",
		"..\\..\\secret", "00000000000000000000000000000000", // well-formed but absent
	} {
		if _, _, err := f.Open(ctx, key); !apperr.IsNotFound(err) || apperr.CodeOf(err) != "attachment_not_found" {
			t.Errorf("Open(%q) = %v, want attachment_not_found", key, err)
		}
	}
	if err := f.Delete(ctx, "../secret"); !apperr.IsNotFound(err) {
		t.Fatalf("Delete(traversal) = %v", err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatal("the file outside was touched")
	}
}

// TestLayout checks where an object lives (the contract, blobtest, checks
// everything else about Put, Open and Delete).
func TestLayout(t *testing.T) {
	f := newFS(t)
	obj, err := f.Put(context.Background(), "a.txt", strings.NewReader("hello there"), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(obj.Key[:2], obj.Key[2:4], obj.Key)
	if got := files(t, f.Dir()); len(got) != 1 || got[0] != want {
		t.Fatalf("stored at %v, want %s", got, want)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	f := newFS(t)
	ctx := context.Background()
	obj, err := f.Put(ctx, "a.txt", strings.NewReader("keep me please"), 100)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.Dir(), obj.Key[:2], obj.Key[2:4])
	stale := filepath.Join(dir, tempPrefix+"x-1")
	fresh := filepath.Join(dir, tempPrefix+"x-2")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	n, err := f.RemoveStaleTemp(time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp = %d, %v", n, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("stale temp file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("recent temp file removed")
	}
	if _, _, err := f.Open(ctx, obj.Key); err != nil {
		t.Fatal("object removed")
	}
}

func TestSafeFilename(t *testing.T) {
	long := strings.Repeat("é", 150) + ".pdf" // 304 bytes
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\ann\My "Doc".docx`, "My Doc.docx"},
		{"/abs/path/", "file"},
		{"", "file"},
		{"..", "file"},
		{".", "file"},
		{" . ", "file"},
		{".bashrc", "bashrc"},
		{"a\x00b\nc\rd\te.txt", "abcde.txt"},
		{"evil\u202egpj.exe", "evilgpj.exe"}, // right-to-left override removed
		{"zero\u200bwidth.txt", "zerowidth.txt"},
		{"it's `fine`.txt", "its fine.txt"},
		{"bad\xff\xfeutf8.txt", "badutf8.txt"},
		{"名前.png", "名前.png"},
		{"trailing dots...", "trailing dots"},
	} {
		if got := SafeFilename(tc.in); got != tc.want {
			t.Errorf("SafeFilename(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	got := SafeFilename(long)
	if len(got) > MaxFilenameBytes || !strings.HasSuffix(got, ".pdf") || !utf8Valid(got) {
		t.Fatalf("long name -> %q (%d bytes)", got, len(got))
	}
	got = SafeFilename(strings.Repeat("x", 500))
	if len(got) != MaxFilenameBytes {
		t.Fatalf("long name without extension -> %d bytes", len(got))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
