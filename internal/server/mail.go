package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"switchboard/internal/chat"
	"switchboard/internal/email"
)

// mailSecretFile holds a single node's generated reply-address key.
const mailSecretFile = "mail.secret"

// setupMail validates the email configuration, settles the reply-address
// secret and creates the outbox. It returns the chat service's view of it
// (zero when email is off).
func (s *Server) setupMail() (chat.MailConfig, error) {
	cfg := &s.cfg.Mail
	if cfg.From == "" {
		if cfg.SMTP != "" || cfg.Listen != "" {
			return chat.MailConfig{}, errors.New("email: set --mail-from (the address mails come from) to use --smtp or --smtp-listen")
		}
		return chat.MailConfig{}, nil
	}
	addr, err := mail.ParseAddress(cfg.From)
	if err != nil || addr.Address != cfg.From || !strings.Contains(cfg.From, "@") {
		return chat.MailConfig{}, fmt.Errorf("email: --mail-from %q is not a plain address like support@example.com", cfg.From)
	}
	if cfg.SMTP == "" {
		return chat.MailConfig{}, errors.New("email: --smtp (the outgoing mail server) is required with --mail-from")
	}
	if len(cfg.Secret) == 0 {
		if s.cfg.StoreURL != "" {
			return chat.MailConfig{}, errors.New("email: set --mail-secret (SWITCHBOARD_MAIL_SECRET): every node must sign reply addresses with the same key")
		}
		if cfg.Secret, err = loadOrCreateSecret(filepath.Join(s.cfg.DataDir, mailSecretFile)); err != nil {
			return chat.MailConfig{}, err
		}
	}
	if len(cfg.Secret) < 16 {
		return chat.MailConfig{}, errors.New("email: --mail-secret must be at least 16 bytes")
	}
	sender, err := email.NewSMTPSender(cfg.SMTP, cfg.Timeout)
	if err != nil {
		return chat.MailConfig{}, fmt.Errorf("email: %w", err)
	}
	s.outbox = email.NewOutbox(s.Store, sender, s.cfg.Clock, s.log.With("component", "outbox"), s.cfg.NodeID, email.OutboxOptions{})
	return chat.MailConfig{From: cfg.From, Secret: cfg.Secret, Kick: s.outbox.Kick}, nil
}

// loadOrCreateSecret reads a key from path, creating a random one (0600)
// the first time.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("email: %s is shorter than 32 bytes; delete it to generate a new key", path)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("email: read %s: %w", path, err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("email: write %s: %w", path, err)
	}
	return b, nil
}

// listenMail opens the inbound SMTP listener when configured.
func (s *Server) listenMail() error {
	if s.cfg.Mail.Listen == "" || s.cfg.Mail.From == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Mail.Listen)
	if err != nil {
		return fmt.Errorf("email: listen on %s: %w", s.cfg.Mail.Listen, err)
	}
	s.mailLn = ln
	return nil
}

// MailAddr is the inbound SMTP listener's address ("" when off).
func (s *Server) MailAddr() string {
	if s.mailLn == nil {
		return ""
	}
	return s.mailLn.Addr().String()
}

// serveMail starts the inbound listener on the socket Listen opened.
func (s *Server) serveMail() error {
	if s.mailLn == nil {
		return nil
	}
	l, err := email.NewListener(s.cfg.Mail, s.Chat, s.log.With("component", "smtp-in"))
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	s.inbound = l
	go func() {
		if err := l.Serve(s.mailLn); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("inbound SMTP listener stopped", "err", err)
		}
	}()
	s.log.Info("receiving mail", "addr", s.MailAddr())
	return nil
}

// stopMail stops the listener and the outbox (sends in flight finish).
func (s *Server) stopMail() {
	if s.inbound != nil {
		_ = s.inbound.Close()
	} else if s.mailLn != nil {
		_ = s.mailLn.Close()
	}
	s.inbound, s.mailLn = nil, nil
	if s.outbox != nil {
		s.outbox.Stop()
		s.outbox = nil
	}
}
