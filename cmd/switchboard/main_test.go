package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// runCLI runs the command line in-process and fails the test if it takes
// longer than limit: a bad setting must fail fast, never hang.
func runCLI(t *testing.T, limit time.Duration, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(args, strings.NewReader(stdin), &out, &errOut) }()
	select {
	case err := <-done:
		return out.String() + errOut.String(), err
	case <-time.After(limit):
		t.Fatalf("switchboard %s did not return within %v", strings.Join(args, " "), limit)
		return "", nil
	}
}

func TestBadSettingsFailFastWithAClearMessage(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--store", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, "open store"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--store", "mysql://x"}, "postgres://"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--bus", "nats://127.0.0.1:1"}, "connect bus"},
		{[]string{"serve", "--data", dir, "--addr", "256.0.0.1:99999"}, "listen"},
		{[]string{"serve", "--log-level", "loud"}, "log level"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--mail-from", "support@example.test"}, "--smtp"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--smtp", "smtp://relay.example:587"}, "--mail-from"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--mail-from", "Support <s@example.test>", "--smtp", "smtp://relay.example:587"}, "plain address"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--mail-from", "s@example.test", "--smtp", "ftp://relay.example"}, "email:"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--store", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "--mail-from", "s@example.test", "--smtp", "smtp://relay.example:587"}, ""},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--twilio-account-sid", "AC0123456789abcdef0123456789abcdef", "--twilio-auth-token", "t", "--twilio-from", "+14155550111"}, "--twilio-site"},
		{[]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--twilio-account-sid", "nope", "--twilio-auth-token", "t", "--twilio-from", "+1", "--twilio-site", "demo"}, "channels:"},
		{[]string{"serve", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"migrate", "--store", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, ""},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"user", "delete"}, "user create"},
		{[]string{"user", "create", "--data", dir}, "--email and --name are required"},
	}
	for _, c := range cases {
		out, err := runCLI(t, 15*time.Second, "", c.args...)
		if err == nil {
			t.Errorf("%v: succeeded, want an error", c.args)
			continue
		}
		if !strings.Contains(err.Error()+out, c.want) {
			t.Errorf("%v: %q does not say %q", c.args, err.Error(), c.want)
		}
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("SWITCHBOARD_LOG_LEVEL", "loud")
	if _, err := runCLI(t, 5*time.Second, "", "serve"); err == nil || !strings.Contains(err.Error(), "log level") {
		t.Fatalf("SWITCHBOARD_LOG_LEVEL was not read: %v", err)
	}
}

// TestFirstAdmin: the README's path to the first admin, password on stdin.
func TestFirstAdmin(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, 30*time.Second, "a long passphrase\n", "user", "create", "--data", dir,
		"--role", "admin", "--email", "Owner@Example.com", "--name", "Owner")
	if err != nil {
		t.Fatalf("user create: %v (%s)", err, out)
	}
	if !strings.Contains(out, "created admin owner@example.com") {
		t.Fatalf("output %q", out)
	}
	if _, err := runCLI(t, 30*time.Second, "a long passphrase\n", "user", "create", "--data", dir,
		"--role", "admin", "--email", "owner@example.com", "--name", "Owner"); err == nil {
		t.Fatal("a second user with the same email was created")
	}
	if _, err := runCLI(t, 30*time.Second, "short\n", "user", "create", "--data", dir,
		"--email", "b@example.com", "--name", "B"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("a short password was accepted: %v", err)
	}
	out, err = runCLI(t, 30*time.Second, "", "migrate", "--data", dir)
	if err != nil || !strings.Contains(out, "schema version") {
		t.Fatalf("migrate: %v %q", err, out)
	}
	out, _ = runCLI(t, 5*time.Second, "", "version")
	if !strings.HasPrefix(out, "switchboard ") {
		t.Fatalf("version: %q", out)
	}
}
