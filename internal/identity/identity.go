// Package identity owns staff accounts and their sign-in: password hashing,
// sessions and their tokens, and the rate limits that protect login.
//
// Guarantees:
//   - Only hashes are stored: bcrypt for passwords, SHA-256 for session tokens
//     (NewToken, HashToken).
//   - Login answers a wrong password, an unknown email and a disabled account
//     with the same error (code "invalid_credentials") after comparable work
//     (a bcrypt comparison in every case), so it does not reveal which emails
//     have accounts.
//   - Disabling a user or changing their password deletes all their sessions
//     in the same transaction and, once it is committed, publishes a
//     bus.TypeUserRevoked event so the gateways close their sockets.
//
// Expected failures are *apperr.Error values with stable codes, listed on
// each method. Nothing here knows about HTTP, cookies or SQL.
package identity

import (
	"context"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"switchboard/internal/apperr"
	"switchboard/internal/bus"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// Defaults for Options fields left zero.
const (
	DefaultSessionTTL = 30 * 24 * time.Hour
	DefaultLoginEvery = 6 * time.Second
	DefaultLoginBurst = 10
	DefaultCapacity   = 5
	MaxCapacity       = 100
	// DefaultMaxCapacity is the admin maximum of a new user's own capacity
	// setting (raised to their capacity if an admin gave more).
	DefaultMaxCapacity = 10
	MaxNameRunes       = 200
	MaxEmailBytes      = 254
)

// Options configure a Service. The zero value is production-ready.
type Options struct {
	BcryptCost int           // 0: bcrypt.DefaultCost; tests use bcrypt.MinCost
	SessionTTL time.Duration // 0: DefaultSessionTTL (30 days)
	LoginEvery time.Duration // refill of the login limiters: 0: one attempt per 6 s
	LoginBurst int           // login attempts allowed at once per IP and per email; 0: 10
	Logger     *slog.Logger  // nil: slog.Default()
}

// Service manages staff users and their sessions. It is safe for concurrent
// use.
type Service struct {
	st   store.Store
	bus  bus.Bus
	clk  clock.Clock
	opts Options
	log  *slog.Logger

	loginByIP    *Limiter
	loginByEmail *Limiter

	dummyOnce sync.Once
	dummyHash string // a bcrypt hash at opts.BcryptCost, compared for unknown emails

	onRevoked atomic.Pointer[func(userID int64)]
}

// OnRevoked registers f to run, on this node, as soon as a change that
// revokes a user's sessions or access commits, before the call that made it
// returns. The bus event user_revoked tells the other nodes; this hook makes
// the change take effect here at once (the gateway closes the user's sockets).
func (s *Service) OnRevoked(f func(userID int64)) { s.onRevoked.Store(&f) }

// New returns a Service over st that publishes revocations on b and reads
// the time from clk (session expiry, login rate limits). Zero Options fields
// take the defaults documented on Options.
func New(st store.Store, b bus.Bus, clk clock.Clock, opts Options) *Service {
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.DefaultCost
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.LoginEvery <= 0 {
		opts.LoginEvery = DefaultLoginEvery
	}
	if opts.LoginBurst <= 0 {
		opts.LoginBurst = DefaultLoginBurst
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{
		st:           st,
		bus:          b,
		clk:          clk,
		opts:         opts,
		log:          opts.Logger,
		loginByIP:    NewLimiter(clk, opts.LoginEvery, opts.LoginBurst),
		loginByEmail: NewLimiter(clk, opts.LoginEvery, opts.LoginBurst),
	}
}

// Sentinels for errors.Is (which matches *apperr.Error on its code). The
// methods return fresh copies, so a caller that decorates an error it got
// cannot affect another caller.
var (
	// ErrInvalidCredentials answers every failed login: unknown email, wrong
	// password, disabled account.
	ErrInvalidCredentials = apperr.New(apperr.KindUnauthenticated, "invalid_credentials", "email or password is incorrect")
	// ErrRateLimited answers a login attempted too often from one IP or for one email.
	ErrRateLimited = apperr.New(apperr.KindRateLimited, "rate_limited", "too many sign-in attempts; try again later")
	// ErrUnauthenticated answers Authenticate with a missing, unknown or
	// expired token, or the token of a disabled user.
	ErrUnauthenticated = apperr.Unauthenticated("not signed in or session expired")
)

// fresh returns a copy of a sentinel error.
func fresh(e *apperr.Error) error { c := *e; return &c }

// now is the clock's time in the store's precision (UTC, microseconds), so
// what a method returns equals what a later read returns.
func (s *Service) now() time.Time { return s.clk.Now().UTC().Truncate(time.Microsecond) }

// Login checks a staff user's email and password and opens a session.
//
// It returns the session token (to put in a cookie; only its hash is
// stored), the session (with a CSRF token and ExpiresAt = now+SessionTTL) and
// the user. Errors: "rate_limited" (KindRateLimited) when remoteIP or the
// email has used up its attempts (checked before any password work);
// "invalid_credentials" (KindUnauthenticated) for an unknown email, a wrong
// password or a disabled user, indistinguishably.
//
// remoteIP is the client address as the HTTP layer determined it (behind a
// trusted proxy, the forwarded one); all callers passing "" share one
// bucket. The limits are per process, not per cluster.
func (s *Service) Login(ctx context.Context, email, password, remoteIP string) (token string, sess model.AuthSession, u model.User, err error) {
	emailKey := strings.ToLower(strings.TrimSpace(email))
	if !s.loginByIP.Allow(remoteIP) || !s.loginByEmail.Allow(emailKey) {
		return "", model.AuthSession{}, model.User{}, fresh(ErrRateLimited)
	}
	u, err = s.st.GetUserByEmail(ctx, emailKey)
	switch {
	case apperr.IsNotFound(err):
		// Spend the same time as a real comparison, then fail the same way.
		CheckPassword(s.dummy(), password)
		return "", model.AuthSession{}, model.User{}, fresh(ErrInvalidCredentials)
	case err != nil:
		return "", model.AuthSession{}, model.User{}, err
	}
	// Compare first, then look at Disabled, so that a disabled account costs
	// the same time as any other failure.
	if !CheckPassword(u.PasswordHash, password) || u.Disabled {
		return "", model.AuthSession{}, model.User{}, fresh(ErrInvalidCredentials)
	}

	token, hash := NewToken()
	csrf, _ := NewToken()
	now := s.now()
	sess = model.AuthSession{TokenHash: hash, UserID: u.ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(s.opts.SessionTTL)}
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		// Re-read inside the transaction: a disable or password change that
		// committed since the check above must win.
		cur, err := tx.GetUser(ctx, u.ID)
		if apperr.IsNotFound(err) {
			return fresh(ErrInvalidCredentials)
		}
		if err != nil {
			return err
		}
		if cur.Disabled || cur.PasswordHash != u.PasswordHash {
			return fresh(ErrInvalidCredentials)
		}
		u = cur
		return tx.CreateAuthSession(ctx, sess)
	})
	if err != nil {
		return "", model.AuthSession{}, model.User{}, err
	}
	return token, sess, u, nil
}

// dummy returns a bcrypt hash at the service's cost, made once.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		pw, _ := NewToken()
		h, err := bcrypt.GenerateFromPassword([]byte(pw[:32]), s.opts.BcryptCost)
		if err != nil {
			s.log.Error("identity: dummy bcrypt hash", "err", err)
		}
		s.dummyHash = string(h)
	})
	return s.dummyHash
}

// Authenticate returns the user and session a token belongs to. It fails
// with "unauthenticated" (KindUnauthenticated) when the token is empty,
// malformed or unknown, the session has expired (ExpiresAt at or before
// now), or the user is disabled or gone. An expired session is deleted on
// the way (best effort). Other errors come from the store.
func (s *Service) Authenticate(ctx context.Context, token string) (model.User, model.AuthSession, error) {
	if len(token) != TokenLen {
		return model.User{}, model.AuthSession{}, fresh(ErrUnauthenticated)
	}
	hash := HashToken(token)
	sess, err := s.st.GetAuthSession(ctx, hash)
	if apperr.IsNotFound(err) {
		return model.User{}, model.AuthSession{}, fresh(ErrUnauthenticated)
	}
	if err != nil {
		return model.User{}, model.AuthSession{}, err
	}
	if !s.clk.Now().Before(sess.ExpiresAt) {
		if err := s.st.InTx(ctx, func(tx store.Tx) error { return tx.DeleteAuthSession(ctx, hash) }); err != nil {
			s.log.Warn("identity: deleting an expired session", "err", err)
		}
		return model.User{}, model.AuthSession{}, fresh(ErrUnauthenticated)
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if apperr.IsNotFound(err) {
		return model.User{}, model.AuthSession{}, fresh(ErrUnauthenticated)
	}
	if err != nil {
		return model.User{}, model.AuthSession{}, err
	}
	if u.Disabled {
		return model.User{}, model.AuthSession{}, fresh(ErrUnauthenticated)
	}
	return u, sess, nil
}

// Logout deletes the session of token. It is idempotent: an empty, unknown
// or expired token is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	hash := HashToken(token)
	return s.st.InTx(ctx, func(tx store.Tx) error { return tx.DeleteAuthSession(ctx, hash) })
}

// PurgeExpiredSessions deletes the staff sessions that have expired, which
// would otherwise only go when someone presents their token again.
func (s *Service) PurgeExpiredSessions(ctx context.Context) (int64, error) {
	var n int64
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteExpiredAuthSessions(ctx, s.now())
		return err
	})
	return n, err
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Email    string
	Name     string
	Password string
	Role     model.Role
	Capacity int // 0: DefaultCapacity
	// MaxCapacity bounds the capacity the user may set themselves; 0:
	// DefaultMaxCapacity, or Capacity if higher.
	MaxCapacity int
	SiteIDs     []int64 // sites the user is a member of; each must exist
}

// CreateUser validates in and stores a new user, offline, with its site
// memberships, in one transaction. The email is stored lower-cased.
//
// Errors (KindInvalid unless noted): "invalid_email" (not a bare address,
// e.g. "Name <a@b>" is refused), "invalid_name" (empty, over 200
// characters, or with control characters), "invalid_role",
// "invalid_capacity" (outside 1..100), "password_too_short",
// "password_too_long", "site_not_found" (KindNotFound), "email_taken"
// (KindConflict, from the store).
func (s *Service) CreateUser(ctx context.Context, in NewUser) (model.User, error) {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return model.User{}, err
	}
	name, err := normalizeName(in.Name)
	if err != nil {
		return model.User{}, err
	}
	if !in.Role.Valid() {
		return model.User{}, fresh(errInvalidRole)
	}
	capacity := in.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	if err := validateCapacity(capacity); err != nil {
		return model.User{}, err
	}
	maxCapacity := in.MaxCapacity
	if maxCapacity == 0 {
		maxCapacity = max(DefaultMaxCapacity, capacity)
	}
	if err := validateCapacity(maxCapacity); err != nil {
		return model.User{}, err
	}
	if capacity > maxCapacity {
		return model.User{}, apperr.Invalid("capacity_above_maximum", "capacity is above max_capacity")
	}
	sites, err := normalizeSiteIDs(in.SiteIDs)
	if err != nil {
		return model.User{}, err
	}
	// bcrypt runs outside the transaction: InTx's fn must not block on
	// anything but the Tx (it may hold a group-commit batch open).
	hash, err := HashPassword(in.Password, s.opts.BcryptCost)
	if err != nil {
		return model.User{}, err
	}
	now := s.now()
	u := model.User{
		Email:        email,
		Name:         name,
		Role:         in.Role,
		PasswordHash: hash,
		Availability: model.Offline,
		Capacity:     capacity,
		MaxCapacity:  maxCapacity,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		if err := checkSitesExist(ctx, tx, sites); err != nil {
			return err
		}
		u.ID = 0 // in case a group commit retries fn
		if err := tx.CreateUser(ctx, &u); err != nil {
			return err
		}
		if len(sites) > 0 {
			return tx.SetUserSites(ctx, u.ID, sites)
		}
		return nil
	})
	if err != nil {
		return model.User{}, err
	}
	return u, nil
}

// UserPatch is the input of UpdateUser: nil fields are left unchanged.
type UserPatch struct {
	Name     *string
	Role     *model.Role
	Disabled *bool
	Password *string
	Capacity *int
	// MaxCapacity bounds the user's own capacity setting; lowering it below
	// their capacity lowers the capacity too.
	MaxCapacity *int
	SiteIDs     *[]int64 // replaces the memberships; each site must exist
}

// UpdateUser applies p to the user id, with the validation and error codes
// of CreateUser, plus "user_not_found" (KindNotFound).
//
// When the user becomes disabled, or a new password is set, every session of
// the user is deleted in the same transaction and, after it commits, a
// bus.Event{Type: bus.TypeUserRevoked, UserID: id} is published (best
// effort: a failed publish is logged; the sessions are gone regardless, so
// the user's next request fails). A disabled user is also set offline.
func (s *Service) UpdateUser(ctx context.Context, id int64, p UserPatch) (model.User, error) {
	var name string
	if p.Name != nil {
		n, err := normalizeName(*p.Name)
		if err != nil {
			return model.User{}, err
		}
		name = n
	}
	if p.Role != nil && !p.Role.Valid() {
		return model.User{}, fresh(errInvalidRole)
	}
	if p.Capacity != nil {
		if err := validateCapacity(*p.Capacity); err != nil {
			return model.User{}, err
		}
	}
	if p.MaxCapacity != nil {
		if err := validateCapacity(*p.MaxCapacity); err != nil {
			return model.User{}, err
		}
	}
	var sites []int64
	if p.SiteIDs != nil {
		var err error
		if sites, err = normalizeSiteIDs(*p.SiteIDs); err != nil {
			return model.User{}, err
		}
	}
	var hash string
	if p.Password != nil {
		var err error
		if hash, err = HashPassword(*p.Password, s.opts.BcryptCost); err != nil {
			return model.User{}, err
		}
	}

	var u model.User
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		if u, err = tx.GetUser(ctx, id); err != nil {
			return err
		}
		// revoke: sign out everywhere. reconnect: the user's access changed
		// (role, sites); open sockets hold the old access, so they are closed
		// and reconnect with the session they still have.
		revoke, reconnect := false, false
		wasAdmin := u.Role == model.RoleAdmin && !u.Disabled
		if p.Name != nil {
			u.Name = name
		}
		if p.Role != nil {
			reconnect = reconnect || u.Role != *p.Role
			u.Role = *p.Role
		}
		if p.SiteIDs != nil {
			reconnect = true
		}
		if p.MaxCapacity != nil {
			u.MaxCapacity = *p.MaxCapacity
			u.Capacity = min(u.Capacity, u.MaxCapacity)
		}
		if p.Capacity != nil {
			if *p.Capacity > u.MaxCapacity {
				return apperr.Invalid("capacity_above_maximum", "capacity is above max_capacity")
			}
			u.Capacity = *p.Capacity
		}
		if p.Password != nil {
			u.PasswordHash = hash
			revoke = true
		}
		if p.Disabled != nil {
			if *p.Disabled && !u.Disabled {
				revoke = true
			}
			u.Disabled = *p.Disabled
		}
		if u.Disabled {
			u.Availability = model.Offline
		}
		if wasAdmin && (u.Role != model.RoleAdmin || u.Disabled) {
			// Someone must be left to administer the server.
			users, err := tx.ListUsers(ctx)
			if err != nil {
				return err
			}
			others := 0
			for _, o := range users {
				if o.ID != u.ID && o.Role == model.RoleAdmin && !o.Disabled {
					others++
				}
			}
			if others == 0 {
				return apperr.Conflict("last_admin", "this is the last enabled admin: make someone else admin first")
			}
		}
		u.UpdatedAt = s.now()
		if p.SiteIDs != nil {
			if err := checkSitesExist(ctx, tx, sites); err != nil {
				return err
			}
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if p.SiteIDs != nil {
			if err := tx.SetUserSites(ctx, id, sites); err != nil {
				return err
			}
		}
		if revoke {
			if err := tx.DeleteUserAuthSessions(ctx, id); err != nil {
				return err
			}
		}
		if revoke || reconnect {
			tx.OnCommit(func() { s.publishRevoked(ctx, id) })
		}
		return nil
	})
	if err != nil {
		return model.User{}, err
	}
	return u, nil
}

// publishRevoked tells every node to close the user's sockets. It runs in
// OnCommit, so it must not block; it survives the caller's cancellation.
func (s *Service) publishRevoked(ctx context.Context, userID int64) {
	if f := s.onRevoked.Load(); f != nil {
		(*f)(userID)
	}
	if s.bus == nil {
		return
	}
	err := s.bus.Publish(context.WithoutCancel(ctx), bus.Event{Type: bus.TypeUserRevoked, UserID: userID})
	if err != nil {
		s.log.Warn("identity: publishing user_revoked", "user_id", userID, "err", err)
	}
}

// HasUsers reports whether any staff user exists, so that a fresh install
// can offer to create the first admin.
func (s *Service) HasUsers(ctx context.Context) (bool, error) {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	return len(users) > 0, nil
}

var (
	errInvalidEmail    = apperr.Invalid("invalid_email", "email must be a plain address like name@example.com")
	errInvalidName     = apperr.Invalid("invalid_name", "name must have 1 to 200 characters and no control characters")
	errInvalidRole     = apperr.Invalid("invalid_role", "role must be admin, supervisor or agent")
	errInvalidCapacity = apperr.Invalid("invalid_capacity", "capacity must be between 1 and 100")
)

// NormalizeEmail returns the lower-cased form of a bare email address
// ("a@example.com", not "A <a@example.com>"), or an "invalid_email" error.
// It is the form users are stored and looked up under.
func NormalizeEmail(s string) (string, error) { return normalizeEmail(s) }

func normalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxEmailBytes {
		return "", fresh(errInvalidEmail)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fresh(errInvalidEmail)
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f || r > unicode.MaxASCII {
			// Keep stored addresses plain ASCII: no spaces, controls or
			// look-alike Unicode (internationalised addresses can come later).
			return "", fresh(errInvalidEmail)
		}
	}
	return strings.ToLower(s), nil
}

func normalizeName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameRunes {
		return "", fresh(errInvalidName)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "", fresh(errInvalidName)
		}
	}
	return s, nil
}

func validateCapacity(c int) error {
	if c < 1 || c > MaxCapacity {
		return fresh(errInvalidCapacity)
	}
	return nil
}

// normalizeSiteIDs sorts and de-duplicates ids; a non-positive id cannot
// exist.
func normalizeSiteIDs(ids []int64) ([]int64, error) {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 0 && out[0] <= 0 {
		return nil, apperr.NotFound("site")
	}
	if out == nil {
		out = []int64{}
	}
	return out, nil
}

func checkSitesExist(ctx context.Context, tx store.Tx, ids []int64) error {
	for _, id := range ids {
		if _, err := tx.GetSite(ctx, id); err != nil {
			if apperr.IsNotFound(err) {
				return apperr.NotFound("site")
			}
			return err
		}
	}
	return nil
}
