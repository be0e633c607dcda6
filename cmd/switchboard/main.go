// Command switchboard is the whole product in one binary.
//
//	switchboard serve [--demo]      run a node (embedded SQLite by default)
//	switchboard migrate             apply database migrations and exit
//	switchboard user create ...     create a staff user (the first admin)
//	switchboard bench ...           the load tool (docs/operations.md)
//	switchboard version
//
// Every flag can also be set as SWITCHBOARD_<FLAG> in the environment (dashes
// become underscores: --base-url is SWITCHBOARD_BASE_URL); a flag on the
// command line wins. docs/operations.md lists them all.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"switchboard/internal/apperr"
	"switchboard/internal/identity"
	"switchboard/internal/model"
	"switchboard/internal/server"
	"switchboard/internal/store/sqlstore"
)

var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

const usage = `usage: switchboard <command> [flags]

commands:
  serve         run a Switchboard node (add --demo for demo data)
  migrate       apply database migrations and exit
  user create   create a staff user, e.g. the first admin
  bench         drive a running deployment over the public protocol and report
                throughput, latency, losses and memory per connection
  version       print the version

Run "switchboard <command> -h" for its flags. Every flag can be set as
SWITCHBOARD_<FLAG> in the environment (e.g. SWITCHBOARD_ADDR=:9000).
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "migrate":
		return migrate(args[1:], stdout, stderr)
	case "user":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return errors.New(`unknown user command (want "user create")`)
		}
		return userCreate(args[2:], stdin, stdout, stderr)
	case "bench":
		return benchCommand(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "switchboard", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// parse parses flags, then fills every flag not given on the command line
// from SWITCHBOARD_<NAME>.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "SWITCHBOARD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	return errors.Join(errs...)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	fs.StringVar(&cfg.Addr, "addr", ":8080", "listen address")
	fs.StringVar(&cfg.DataDir, "data", "./switchboard-data", "data directory (SQLite database and attachments)")
	fs.StringVar(&cfg.BaseURL, "base-url", "", "public URL of this server, for printed links (default from --addr)")
	fs.StringVar(&cfg.NodeID, "node-id", "", "name of this node in logs and events (default hostname-pid)")
	fs.StringVar(&cfg.StoreURL, "store", "", "database: empty for SQLite in --data, or postgres://user@host/db (run migrate first)")
	fs.IntVar(&cfg.StoreBatch, "store-batch", 0, "group commit: most writes committed in one transaction (0: 256 on SQLite, 64 on PostgreSQL)")
	fs.IntVar(&cfg.StoreWriters, "store-writers", 0, "PostgreSQL: write connections committing batches side by side (0: 4; SQLite always has one)")
	fs.StringVar(&cfg.BusURL, "bus", "", "event bus between nodes: empty for one node, or nats://host:4222")
	fs.StringVar(&cfg.BusSubject, "bus-subject", "switchboard.events", "NATS subject the nodes share")
	fs.StringVar(&cfg.Blobs, "blobs", "", "where attachments live: fs (--data/blobs) or db (PostgreSQL, shared by every node); default db with --store postgres, fs otherwise")
	fs.BoolVar(&cfg.SecureCookies, "secure-cookies", false, "mark session cookies Secure (set when served over HTTPS)")
	fs.BoolVar(&cfg.TrustProxy, "trust-proxy", false, "take client addresses from X-Forwarded-For (behind a reverse proxy)")
	geo := fs.String("geo-header", "", "visitors' location from a trusted proxy's headers: country=CF-IPCountry,city=CF-IPCity (a bare name is the country header); empty: off")
	fs.DurationVar(&cfg.VisitorStartEvery, "visitor-session-every", time.Second, "one new visitor session per this interval per client address, after the burst")
	fs.IntVar(&cfg.VisitorStartBurst, "visitor-session-burst", 30, "new visitor sessions a client address may open at once")
	fs.Int64Var(&cfg.MaxAttachmentBytes, "max-upload-bytes", 10<<20, "largest attachment accepted")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long a graceful shutdown may take")
	fs.DurationVar(&cfg.DrainDelay, "drain-delay", 0, "on SIGTERM, report not-ready for this long before closing (behind a load balancer)")
	fs.StringVar(&cfg.Mail.SMTP, "smtp", "", "outgoing mail server: smtp://user:pass@host:587 (STARTTLS), smtps://…:465, or smtp+insecure://host:25")
	fs.StringVar(&cfg.Mail.From, "mail-from", "", "address mails come from (its domain receives replies), e.g. support@example.com; empty: no email")
	mailSecret := fs.String("mail-secret", "", "key signing reply addresses, shared by every node (prefer SWITCHBOARD_MAIL_SECRET; default: generated into --data)")
	fs.StringVar(&cfg.Mail.Listen, "smtp-listen", "", "receive replies by SMTP on this address, e.g. :2525 (off when empty)")
	fs.Int64Var(&cfg.Mail.MaxMessageBytes, "mail-max-bytes", 25<<20, "largest inbound mail accepted (refused at SMTP time)")
	fs.StringVar(&cfg.Channels.Twilio.AccountSID, "twilio-account-sid", "", "Twilio account SID (AC…): turns on SMS/WhatsApp")
	fs.StringVar(&cfg.Channels.Twilio.AuthToken, "twilio-auth-token", "", "Twilio auth token (prefer SWITCHBOARD_TWILIO_AUTH_TOKEN)")
	fs.StringVar(&cfg.Channels.Twilio.From, "twilio-from", "", "SMS sender: an E.164 number or a messaging service SID (MG…)")
	fs.StringVar(&cfg.Channels.Twilio.WhatsAppFrom, "twilio-whatsapp-from", "", "WhatsApp sender number (E.164)")
	fs.StringVar(&cfg.Channels.Twilio.BaseURL, "twilio-api", "", "Twilio API base URL (default https://api.twilio.com)")
	fs.StringVar(&cfg.Channels.SiteKey, "twilio-site", "", "site key whose conversations the Twilio numbers serve")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "serve Go's profiler (pprof) here, e.g. 127.0.0.1:6060; never on a public address")
	demo := fs.Bool("demo", false, "create a demo site, an admin and two agents, and print their logins")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *mailSecret != "" {
		cfg.Mail.Secret = []byte(*mailSecret)
	}
	var err error
	if cfg.GeoCountryHeader, cfg.GeoCityHeader, err = parseGeoHeaders(*geo); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	cfg.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		srv.Close()
		return err
	}
	if *demo {
		d, err := srv.SeedDemo(ctx)
		if err != nil {
			srv.Close()
			return err
		}
		fmt.Fprintf(stdout, "\nSwitchboard demo is ready.\n  console:   %s\n  demo page: %s\n  API docs:  %s/api/v1/openapi.yaml\n  logins:\n",
			d.ConsoleURL, d.DemoURL, srv.BaseURL())
		for _, l := range d.Logins {
			fmt.Fprintf(stdout, "    %-6s %-18s %s\n", l.Role, l.Email, l.Password)
		}
		fmt.Fprintln(stdout)
	} else if has, err := srv.Ident.HasUsers(ctx); err == nil && !has {
		fmt.Fprintf(stdout, "\nNo users yet. Create the first admin with:\n  switchboard user create --data %s --role admin --email you@example.com --name \"Your Name\"\n\n", cfg.DataDir)
	}
	return srv.Serve(ctx)
}

func migrate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./switchboard-data", "data directory (SQLite)")
	storeURL := fs.String("store", "", "postgres://... to migrate PostgreSQL instead of SQLite in --data")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if *storeURL != "" {
		if !sqlstore.IsPostgresDSN(*storeURL) {
			return errors.New("--store must be a postgres:// URL")
		}
		v, err := sqlstore.MigratePostgres(ctx, *storeURL, sqlstore.PostgresOptions{})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "database is at schema version %d\n", v)
		return nil
	}
	if err := os.MkdirAll(*data, 0o750); err != nil {
		return err
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(*data, "switchboard.db"), sqlstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database is at schema version %d\n", v)
	return nil
}

func userCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./switchboard-data", "data directory")
	email := fs.String("email", "", "email address (the login)")
	name := fs.String("name", "", "display name")
	role := fs.String("role", "agent", "admin, supervisor or agent")
	password := fs.String("password", "", "password (prefer SWITCHBOARD_PASSWORD or standard input: flags show in ps)")
	capacity := fs.Int("capacity", 0, "most concurrent chats (default 5)")
	sites := fs.String("sites", "", "comma-separated site keys the user belongs to")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" || *name == "" {
		return errors.New("--email and --name are required")
	}
	pw := *password
	if pw == "" {
		fmt.Fprint(stderr, "password: ")
		if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			b, err := term.ReadPassword(int(f.Fd())) // no echo
			fmt.Fprintln(stderr)
			if err != nil {
				return fmt.Errorf("read password: %w", err)
			}
			pw = string(b)
		} else {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("no password given (use --password, SWITCHBOARD_PASSWORD or standard input)")
			}
			pw = strings.TrimRight(line, "\r\n")
		}
	}
	if err := os.MkdirAll(*data, 0o750); err != nil {
		return err
	}
	ctx := context.Background()
	srv, err := server.New(ctx, server.Config{DataDir: *data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer srv.Close()
	var siteIDs []int64
	for _, key := range strings.Split(*sites, ",") {
		if key = strings.TrimSpace(key); key == "" {
			continue
		}
		s, err := srv.Store.GetSiteByKey(ctx, key)
		if err != nil {
			return fmt.Errorf("site %q: %w", key, err)
		}
		siteIDs = append(siteIDs, s.ID)
	}
	u, err := srv.Ident.CreateUser(ctx, identity.NewUser{Email: *email, Name: *name, Password: pw,
		Role: model.Role(*role), Capacity: *capacity, SiteIDs: siteIDs})
	if err != nil {
		if e := apperr.As(err); e.Kind != apperr.KindInternal {
			return errors.New(e.Message)
		}
		return err
	}
	fmt.Fprintf(stdout, "created %s %s (id %d)\n", u.Role, u.Email, u.ID)
	return nil
}

// parseGeoHeaders reads --geo-header: "country=H1,city=H2", or a bare
// header name for the country alone.
func parseGeoHeaders(v string) (country, city string, err error) {
	if strings.TrimSpace(v) == "" {
		return "", "", nil
	}
	for _, part := range strings.Split(v, ",") {
		key, name, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			key, name = "country", key
		}
		if !validHeaderName(name) {
			return "", "", fmt.Errorf("--geo-header: %q is not a header name", name)
		}
		switch strings.ToLower(key) {
		case "country":
			country = name
		case "city":
			city = name
		default:
			return "", "", fmt.Errorf("--geo-header: unknown field %q (use country= and city=)", key)
		}
	}
	return country, city, nil
}

// validHeaderName accepts HTTP header names (RFC 9110 tokens).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}
