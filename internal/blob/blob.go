// Package blob stores the bytes of attachments. The database keeps the
// metadata (model.Attachment, whose BlobKey names the object); this package
// keeps the content, behind a small Store interface so that object storage
// can replace the file system later.
//
// Security (DESIGN.md §6): the type of a file is decided by sniffing its
// first 512 bytes with http.DetectContentType, never by a client's claimed
// type or file name; only a short allow-list of types is accepted, and the
// size limit is enforced while streaming.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/internal/apperr"
)

// Store keeps attachment contents.
//
// Errors are *apperr.Error for expected failures: "empty_file" and
// "file_type_not_allowed" (KindInvalid), "file_too_large" (KindTooLarge),
// "attachment_not_found" (KindNotFound).
type Store interface {
	// Put reads r to the end (or to maxBytes+1 bytes) and stores it under a
	// new random key. It sniffs the type from the first 512 bytes and
	// refuses a type that is not allowed before storing anything, and fails
	// with file_too_large as soon as more than maxBytes arrive. Either the
	// whole object is stored and returned, or nothing is: a partial object is
	// never visible. name is the client's file name, for logs or object
	// metadata only; it never decides the type.
	Put(ctx context.Context, name string, r io.Reader, maxBytes int64) (Object, error)

	// Open returns the content of key, positioned at its start, with its
	// metadata. The caller closes it. An unknown or malformed key is
	// attachment_not_found.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, Object, error)

	// Delete removes key. Deleting a key that does not exist (any more) is
	// not an error, so a cleanup may be retried; a malformed key is
	// attachment_not_found.
	Delete(ctx context.Context, key string) error
}

// Object describes a stored blob.
type Object struct {
	Key         string // opaque; 32 lower-case hex characters for FS
	Size        int64  // bytes
	ContentType string // sniffed, e.g. "image/png", "text/plain; charset=utf-8"
	// Inline is true only for raster images (png, jpeg, gif, webp), which
	// browsers may display in the page. Everything else must be served with
	// Content-Disposition: attachment (and, always, X-Content-Type-Options:
	// nosniff).
	Inline bool
}

// SniffLen is how many leading bytes decide a file's type
// (http.DetectContentType reads at most this many).
const SniffLen = 512

// Classify maps the first bytes of a file (at most SniffLen are looked at) to
// its sniffed content type, and reports whether that type is allowed and
// whether it may be shown inline.
//
// Allowed: image/png, image/jpeg, image/gif, image/webp (inline);
// application/pdf; text/plain in any charset (which also covers CSV, JSON,
// source code: served as attachments with nosniff they are harmless);
// application/zip (also docx, xlsx, ...); audio/mpeg, audio/wave,
// application/ogg, video/mp4, video/webm. Everything else is refused: HTML,
// XML (and so SVG with an XML prolog), PostScript, fonts, archives other than
// zip, and application/octet-stream (executables, unknown binaries).
func Classify(head []byte) (contentType string, allowed, inline bool) {
	ct := http.DetectContentType(head)
	base, _, _ := strings.Cut(ct, ";")
	switch base {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return ct, true, true
	case "application/pdf", "text/plain", "application/zip",
		"audio/mpeg", "audio/wave", "application/ogg", "audio/ogg",
		"video/mp4", "video/webm":
		return ct, true, false
	}
	return ct, false, false
}

// MaxFilenameBytes is the longest name SafeFilename returns.
const MaxFilenameBytes = 200

// SafeFilename turns a client's file name into one that is safe to store and
// to put in a Content-Disposition header: it keeps only the last path
// component (after any '/' or '\'), removes control and invisible
// formatting characters (including bidirectional overrides that disguise
// extensions), quotes, and invalid UTF-8, trims spaces and dots at the
// ends, and cuts it to MaxFilenameBytes bytes on a character boundary,
// keeping a short extension. An empty result, "." or ".." become "file".
func SafeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for i, r := range name {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size <= 1 {
				continue // invalid byte
			}
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			continue // controls, bidi overrides, zero-width characters
		}
		switch r {
		case '"', '\'', '`':
			continue
		}
		b.WriteRune(r)
	}
	name = strings.Trim(b.String(), " .\u00a0")
	if len(name) > MaxFilenameBytes {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		name = truncateUTF8(name[:len(name)-len(ext)], MaxFilenameBytes-len(ext)) + ext
	}
	if name == "" {
		return "file"
	}
	return name
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// keyLen is the length of an object key in hex characters.
const keyLen = 32

// NewKey returns a new object key: 128 random bits as lower-case hex.
func NewKey() string {
	var b [keyLen / 2]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidKey reports whether key is exactly 32 lower-case hex characters, the
// form of every key a Store hands out; stores refuse any other as not found.
func ValidKey(key string) bool {
	if len(key) != keyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Incoming is an upload whose first bytes were read and whose type is
// allowed. Every Store's Put starts with Accept, so they all refuse the same
// files with the same errors before storing anything.
type Incoming struct {
	Head        []byte    // the first bytes (up to SniffLen), already read
	Rest        io.Reader // the remainder: at most one byte more than allowed
	ContentType string    // sniffed from Head
	Inline      bool      // see Object.Inline
	max         int64
}

// Accept reads the first bytes of r (never more than maxBytes+1 in all),
// refuses an empty file (empty_file), one already over maxBytes
// (file_too_large) or of a type that is not allowed (file_type_not_allowed),
// and returns the rest to be stored. Reads fail once ctx is done. A
// non-positive maxBytes refuses every non-empty file as too large.
func Accept(ctx context.Context, r io.Reader, maxBytes int64) (*Incoming, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	maxBytes = max(maxBytes, 0)
	r = ctxReader{ctx, r}
	in := &Incoming{max: maxBytes}
	head := make([]byte, min(SniffLen, maxBytes+1))
	n, err := io.ReadFull(r, head)
	switch {
	case err == io.EOF:
		return nil, apperr.Invalid("empty_file", "the file is empty")
	case err == io.ErrUnexpectedEOF:
		// a file shorter than head
	case err != nil:
		return nil, in.ReadErr(ctx, err)
	}
	in.Head = head[:n]
	if int64(n) > maxBytes {
		return nil, tooLarge(maxBytes)
	}
	var allowed bool
	in.ContentType, allowed, in.Inline = Classify(in.Head)
	if !allowed {
		return nil, apperr.Invalid("file_type_not_allowed", "this type of file cannot be uploaded")
	}
	in.Rest = io.LimitReader(r, maxBytes-int64(n)+1)
	return in, nil
}

// Check fails with file_too_large when size, the bytes read in all, exceeds
// the limit given to Accept.
func (in *Incoming) Check(size int64) error {
	if size > in.max {
		return tooLarge(in.max)
	}
	return nil
}

// ReadErr reports a failed read of the upload: the context's error when it
// is done (the client went away), the read error otherwise.
func (in *Incoming) ReadErr(ctx context.Context, err error) error {
	if ce := ctx.Err(); ce != nil {
		return ce
	}
	return fmt.Errorf("blob: read upload: %w", err)
}

func tooLarge(maxBytes int64) error {
	return apperr.TooLarge("file_too_large", fmt.Sprintf("the file is larger than %d bytes", maxBytes))
}

// ctxReader fails reads once ctx is done, so that an abandoned upload stops
// promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
