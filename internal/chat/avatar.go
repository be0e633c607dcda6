package chat

import (
	"bytes"
	"context"
	"errors"
	"io"

	"switchboard/internal/apperr"
	"switchboard/internal/blob"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// MaxAvatarBytes bounds a profile picture. It is its own limit, far below
// attachments': the picture is shown small, and served publicly.
const MaxAvatarBytes = 1 << 20

// SetAvatar stores a staff user's own profile picture through the blob
// store (so it works with every blob backend) and makes it their avatar;
// the previous picture's blob is deleted once the change is committed.
// Only raster images (PNG, JPEG, GIF, WebP, as sniffed by the blob package)
// are accepted, and they are refused before anything is stored.
func (s *Service) SetAvatar(ctx context.Context, a Actor, name string, r io.Reader) (model.User, error) {
	if !a.IsStaff() {
		return model.User{}, apperr.Forbidden("staff_only", "staff only")
	}
	// Sniff first: the blob store also allows PDFs, text, audio...; an
	// avatar must be an image a browser shows inline.
	head := make([]byte, blob.SniffLen)
	n, err := io.ReadFull(r, head)
	switch {
	case err == io.EOF:
		return model.User{}, apperr.Invalid("empty_file", "the file is empty")
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		if ce := ctx.Err(); ce != nil {
			return model.User{}, ce
		}
		return model.User{}, apperr.Wrap(apperr.KindInvalid, "upload_failed", "could not read the upload", err)
	}
	head = head[:n]
	if _, allowed, inline := blob.Classify(head); !allowed || !inline {
		return model.User{}, apperr.Invalid("file_type_not_allowed", "a profile picture must be a PNG, JPEG, GIF or WebP image")
	}
	obj, err := s.blobs.Put(ctx, name, io.MultiReader(bytes.NewReader(head), r), MaxAvatarBytes)
	if err != nil {
		return model.User{}, err
	}
	out, old, err := s.setAvatarKey(ctx, a.User.ID, obj.Key)
	if err != nil {
		_ = s.blobs.Delete(context.WithoutCancel(ctx), obj.Key)
		return model.User{}, err
	}
	s.deleteAvatarBlob(ctx, old)
	return out, nil
}

// RemoveAvatar removes a staff user's own profile picture (no error when
// there is none) and deletes its blob.
func (s *Service) RemoveAvatar(ctx context.Context, a Actor) (model.User, error) {
	if !a.IsStaff() {
		return model.User{}, apperr.Forbidden("staff_only", "staff only")
	}
	out, old, err := s.setAvatarKey(ctx, a.User.ID, "")
	if err != nil {
		return model.User{}, err
	}
	s.deleteAvatarBlob(ctx, old)
	return out, nil
}

// setAvatarKey points the user at key and returns the user and the key it
// replaced.
func (s *Service) setAvatarKey(ctx context.Context, userID int64, key string) (model.User, string, error) {
	var out model.User
	var old string
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		old = u.AvatarKey
		u.AvatarKey, u.AvatarURL, u.UpdatedAt = key, model.AvatarPath(key), s.now()
		if err := tx.SetUserAvatar(ctx, userID, key, u.UpdatedAt); err != nil {
			return err
		}
		out = u
		return nil
	})
	return out, old, err
}

// deleteAvatarBlob deletes a replaced picture. A failure only leaves an
// unreferenced blob behind (never served: the avatar route serves current
// avatars only), so it is logged, not returned.
func (s *Service) deleteAvatarBlob(ctx context.Context, key string) {
	if key == "" {
		return
	}
	if err := s.blobs.Delete(context.WithoutCancel(ctx), key); err != nil {
		s.log.Warn("delete replaced avatar", "key", key, "err", err)
	}
}

// OpenAvatar returns a profile picture for the public avatar route. Only a
// key that is some user's current avatar is served, so the route cannot be
// used to read attachments or any other blob; everything else is
// avatar_not_found.
func (s *Service) OpenAvatar(ctx context.Context, key string) (io.ReadSeekCloser, blob.Object, error) {
	notFound := apperr.NotFound("avatar")
	if !blob.ValidKey(key) {
		return nil, blob.Object{}, notFound
	}
	if _, err := s.st.GetUserByAvatar(ctx, key); err != nil {
		if apperr.IsNotFound(err) {
			return nil, blob.Object{}, notFound
		}
		return nil, blob.Object{}, err
	}
	rc, obj, err := s.blobs.Open(ctx, key)
	if err != nil {
		if apperr.IsNotFound(err) {
			return nil, blob.Object{}, notFound
		}
		return nil, blob.Object{}, err
	}
	if !obj.Inline { // cannot happen for a key SetAvatar stored; refuse anyway
		rc.Close()
		return nil, blob.Object{}, notFound
	}
	return rc, obj, nil
}
