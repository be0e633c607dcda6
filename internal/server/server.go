// Package server is the composition root: it opens the store, the bus and
// the blob store, wires the services, serves HTTP, and shuts everything
// down in the order that loses nothing acknowledged.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/docs"
	"switchboard/internal/blob"
	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/clock"
	"switchboard/internal/email"
	"switchboard/internal/gateway"
	"switchboard/internal/httpapi"
	"switchboard/internal/identity"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore"
	"switchboard/web"
)

// Config is everything a node needs. Zero values take the documented
// defaults (docs/operations.md).
type Config struct {
	Addr    string // listen address; default ":8080"
	DataDir string // SQLite database and attachments; default "./switchboard-data"
	BaseURL string // public URL printed in links; default derived from Addr
	NodeID  string // default: hostname-pid
	// StoreURL selects the database: "" for embedded SQLite in DataDir, or a
	// PostgreSQL URL ("postgres://user@host/db") for several nodes. With
	// PostgreSQL, apply migrations first with `switchboard migrate`.
	StoreURL string
	// StoreBatch bounds group commit: the most write transactions of callers
	// committed together in one database transaction (default 256 on
	// SQLite, 64 on PostgreSQL).
	StoreBatch int
	// StoreWriters is how many write connections a PostgreSQL store
	// commits on side by side (0: the store's default, 4). SQLite has one.
	StoreWriters int
	// BusURL selects the event bus between nodes: "" for in-process (one
	// node), or a NATS URL ("nats://host:4222", comma-separated for a
	// cluster) to run several nodes.
	BusURL     string
	BusSubject string // NATS subject; default "switchboard.events"
	// Blobs says where attachment contents live: "fs" (files in
	// DataDir/blobs, one node's own) or "db" (in PostgreSQL, so every node
	// serves every attachment). Default: "db" with PostgreSQL, "fs" with
	// SQLite; "db" needs PostgreSQL.
	Blobs string

	SecureCookies bool
	TrustProxy    bool
	// Geo names the headers a trusted proxy sets with visitors' country and
	// city, for the console's visit history (docs/operations.md). Zero: off.
	GeoCountryHeader, GeoCityHeader string
	// VisitorStartEvery/Burst rate-limit new visitor sessions per client
	// address (defaults: one per second, bursts of 30).
	VisitorStartEvery  time.Duration
	VisitorStartBurst  int
	BcryptCost         int
	MaxAttachmentBytes int64
	PresenceTTL        time.Duration
	ShutdownTimeout    time.Duration // default 20s
	// DebugAddr, when set, serves Go's profiler (net/http/pprof) on a
	// separate listener, e.g. "127.0.0.1:6060". Keep it off public networks.
	DebugAddr string
	// DrainDelay is how long /readyz reports "draining" before the node
	// stops accepting connections, so a load balancer stops sending new
	// ones first. Default 0 (no load balancer).
	DrainDelay time.Duration
	Gateway    gateway.Options
	// Mail turns on email (docs/email.md): outgoing through Mail.SMTP from
	// Mail.From, inbound replies on Mail.Listen. Zero: no email.
	Mail email.Config
	// Channels turns on SMS and WhatsApp (Twilio). Zero: off.
	Channels ChannelsConfig

	Logger *slog.Logger
	Clock  clock.Clock
}

// Server is one running node.
type Server struct {
	cfg   Config
	log   *slog.Logger
	Store store.Store
	Bus   bus.Bus
	Chat  *chat.Service
	Ident *identity.Service
	GW    *gateway.Gateway

	handler  http.Handler
	http     *http.Server
	ln       net.Listener
	notReady atomic.Bool // shutdown has begun
	blobs    blob.Store
	fsBlobs  *blob.FS        // the file-system store, for its housekeeping; nil with "db"
	dbBlobs  *sqlstore.Blobs // the PostgreSQL store, closed last; nil with "fs"
	outbox   *email.Outbox   // nil: email off
	mailLn   net.Listener    // inbound SMTP; nil: off
	inbound  *email.Listener

	channelOutboxes map[string]*email.Outbox // by transport

	janitorMu sync.Mutex
	janitor   clock.Timer // next housekeeping run; nil once stopped
	stopped   bool
}

// janitorEvery is how often housekeeping runs.
const janitorEvery = time.Hour

// housekeeping removes what would otherwise only pile up: expired staff
// sessions and temporary files of uploads a crash interrupted. It runs at
// start and then every hour on the injected clock.
func (s *Server) housekeeping() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n, err := s.Ident.PurgeExpiredSessions(ctx); err != nil {
		s.log.Warn("housekeeping: purge expired sessions", "err", err)
	} else if n > 0 {
		s.log.Info("housekeeping: purged expired sessions", "count", n)
	}
	if s.fsBlobs == nil {
		// The database store leaves nothing behind: an upload is one transaction.
	} else if n, err := s.fsBlobs.RemoveStaleTemp(s.cfg.Clock.Now().Add(-time.Hour)); err != nil {
		s.log.Warn("housekeeping: remove stale uploads", "err", err)
	} else if n > 0 {
		s.log.Info("housekeeping: removed stale upload files", "count", n)
	}
	s.janitorMu.Lock()
	defer s.janitorMu.Unlock()
	if !s.stopped {
		s.janitor = s.cfg.Clock.AfterFunc(janitorEvery, s.housekeeping)
	}
}

func (s *Server) stopHousekeeping() {
	s.janitorMu.Lock()
	defer s.janitorMu.Unlock()
	s.stopped = true
	if s.janitor != nil {
		s.janitor.Stop()
	}
}

// New opens the data directory and wires the node. It does not listen yet.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = ":8080"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "./switchboard-data"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.NodeID == "" {
		host, _ := os.Hostname()
		cfg.NodeID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, Store: st}
	// fail releases what was opened so far.
	fail := func(err error) (*Server, error) {
		st.Close()
		if s.Bus != nil {
			s.Bus.Close()
		}
		s.closeBlobs()
		return nil, err
	}
	if err := s.openBlobs(ctx); err != nil {
		return fail(err)
	}
	var b bus.Bus
	if cfg.BusURL == "" {
		b = bus.NewMemory()
	} else {
		nb, err := bus.NewNATS(ctx, cfg.BusURL, bus.NATSOptions{Name: cfg.NodeID, Subject: cfg.BusSubject, Logger: cfg.Logger})
		if err != nil {
			return fail(fmt.Errorf("connect bus: %w", err))
		}
		b = nb
	}
	s.Bus = b
	mailCfg, err := s.setupMail()
	if err != nil {
		return fail(err)
	}
	chCfg, err := s.setupChannels()
	if err != nil {
		return fail(err)
	}
	s.Ident = identity.New(st, b, cfg.Clock, identity.Options{BcryptCost: cfg.BcryptCost, Logger: cfg.Logger})
	s.Chat = chat.New(chat.Config{Store: st, Bus: b, Blobs: s.blobs, Clock: cfg.Clock, NodeID: cfg.NodeID,
		Logger: cfg.Logger, Limits: chat.Limits{MaxAttachmentBytes: cfg.MaxAttachmentBytes}, PresenceTTL: cfg.PresenceTTL,
		Mail: mailCfg, Channels: chCfg})
	s.GW, err = gateway.New(s.Chat, st, b, cfg.Clock, cfg.Logger, cfg.Gateway)
	if err != nil {
		return fail(fmt.Errorf("start gateway: %w", err))
	}
	s.Ident.OnRevoked(s.GW.RevokeUser)
	api := httpapi.New(s.Chat, s.Ident, s.GW, cfg.Clock, cfg.Logger, httpapi.Options{SecureCookies: cfg.SecureCookies, TrustProxy: cfg.TrustProxy,
		VisitorStartEvery: cfg.VisitorStartEvery, VisitorStartBurst: cfg.VisitorStartBurst, Geo: httpapi.GeoHeaders{Country: cfg.GeoCountryHeader, City: cfg.GeoCityHeader}})

	mux := http.NewServeMux()
	api.Register(mux)
	if cfg.Channels.Twilio.AccountSID != "" {
		// Twilio posts inbound texts here (signed; see docs/email.md).
		mux.Handle("POST /webhooks/twilio", s.channelWebhook())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "node": cfg.NodeID})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /api/v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(docs.OpenAPI)
	})
	web.Register(mux)
	s.handler = securityHeaders(mux)
	return s, nil
}

// openBlobs opens the attachment store cfg.Blobs names (see Config.Blobs).
func (s *Server) openBlobs(ctx context.Context) error {
	kind := s.cfg.Blobs
	if kind == "" {
		kind = "fs"
		if s.cfg.StoreURL != "" {
			kind = "db"
		}
	}
	switch kind {
	case "fs":
		fs, err := blob.NewFS(filepath.Join(s.cfg.DataDir, "blobs"))
		if err != nil {
			return fmt.Errorf("open blob store: %w", err)
		}
		s.blobs, s.fsBlobs = fs, fs
		if s.cfg.StoreURL != "" {
			s.log.Warn("attachments are kept in this node's --data directory: other nodes cannot serve them (use --blobs db)")
		}
	case "db":
		if s.cfg.StoreURL == "" {
			return fmt.Errorf("--blobs db needs --store postgres://... (SQLite keeps attachments in --data/blobs)")
		}
		db, err := sqlstore.OpenPostgresBlobs(ctx, s.cfg.StoreURL, sqlstore.BlobOptions{})
		if err != nil {
			return fmt.Errorf("open blob store: %w", err)
		}
		s.blobs, s.dbBlobs = db, db
	default:
		return fmt.Errorf("--blobs must be fs or db, not %q", kind)
	}
	return nil
}

func (s *Server) closeBlobs() error {
	if s.dbBlobs == nil {
		return nil
	}
	return s.dbBlobs.Close()
}

// openStore opens SQLite in the data directory, or PostgreSQL.
func openStore(ctx context.Context, cfg Config) (*sqlstore.Store, error) {
	if cfg.StoreURL == "" {
		st, err := sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "switchboard.db"), sqlstore.Options{Logger: cfg.Logger, MaxBatch: cfg.StoreBatch})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return st, nil
	}
	if !sqlstore.IsPostgresDSN(cfg.StoreURL) {
		return nil, fmt.Errorf("--store must be a postgres:// URL (or empty for SQLite in --data)")
	}
	// Batches of at most 64 calls keep PostgreSQL's subtransaction cache cheap.
	batch := cfg.StoreBatch
	if batch <= 0 {
		batch = 64
	}
	st, err := sqlstore.OpenPostgres(ctx, cfg.StoreURL, sqlstore.PostgresOptions{Logger: cfg.Logger, MaxBatch: batch, Writers: cfg.StoreWriters})
	if errors.Is(err, sqlstore.ErrSchemaTooOld) {
		return nil, fmt.Errorf("open store: %w: run `switchboard migrate --store ...` first", err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// ready reports whether this node can serve: the store answers with its
// migrations applied, and the node is not draining.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.notReady.Load() || s.GW.Draining() {
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// securityHeaders sets headers every response should carry.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// Handler is the node's whole HTTP surface (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the address. Addr reports it afterwards (useful with ":0").
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	if err := s.listenMail(); err != nil {
		ln.Close()
		return err
	}
	s.ln = ln
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// BaseURL is the public URL of this node.
func (s *Server) BaseURL() string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return "http://" + s.Addr()
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Serve serves HTTP until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if s.cfg.DebugAddr != "" {
		dbg := http.NewServeMux()
		dbg.HandleFunc("/debug/pprof/", pprof.Index)
		dbg.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dbg.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
		dsrv := &http.Server{Addr: s.cfg.DebugAddr, Handler: dbg, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dsrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("debug listener", "addr", s.cfg.DebugAddr, "err", err)
			}
		}()
		go func() { <-ctx.Done(); dsrv.Close() }()
		s.log.Info("profiler listening", "addr", s.cfg.DebugAddr)
	}
	// Chats queued before a restart, and deadlines a dead node left, are
	// picked up here; from now on routing is event-driven.
	if err := s.Chat.StartRouting(ctx); err != nil {
		s.log.Error("start routing", "err", err)
	}
	if s.outbox != nil {
		s.outbox.Start()
	}
	s.startChannels()
	if err := s.serveMail(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	go s.housekeeping()
	s.log.Info("switchboard listening", "addr", s.Addr(), "url", s.BaseURL(), "node", s.cfg.NodeID)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			s.Close()
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	return s.Shutdown()
}

// Shutdown stops the node without losing anything acknowledged: stop
// accepting connections and finish in-flight HTTP requests; drain the
// gateway (in-flight commands finish, replies are written, sockets get 1012
// and reconnect elsewhere); then close the store, which commits what is queued.
func (s *Server) Shutdown() error {
	s.notReady.Store(true)
	if s.cfg.DrainDelay > 0 {
		s.log.Info("draining: readiness reports 503", "delay", s.cfg.DrainDelay)
		time.Sleep(s.cfg.DrainDelay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.log.Info("shutting down")
	var errs []error
	if s.http != nil {
		// Hijacked WebSocket connections are not tracked by http.Server;
		// the gateway drains them below.
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if err := s.GW.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("gateway shutdown: %w", err))
	}
	if err := s.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close releases the store and bus without draining (see Shutdown).
func (s *Server) Close() error {
	s.stopHousekeeping()
	s.stopMail()
	s.stopChannels()
	s.Chat.StopRouting()
	var errs []error
	// The store first: it commits what is queued, and its after-commit
	// callbacks still publish on the open bus.
	if err := s.Store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	if err := s.Bus.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close bus: %w", err))
	}
	if err := s.closeBlobs(); err != nil {
		errs = append(errs, fmt.Errorf("close blob store: %w", err))
	}
	return errors.Join(errs...)
}
