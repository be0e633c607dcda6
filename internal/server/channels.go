package server

import (
	"fmt"
	"net/http"

	"switchboard/internal/channel"
	"switchboard/internal/chat"
	"switchboard/internal/email"
)

// ChannelsConfig turns on SMS and WhatsApp through Twilio.
type ChannelsConfig struct {
	Twilio channel.TwilioConfig
	// SiteKey is the site whose conversations the numbers serve.
	SiteKey string
}

// setupChannels creates the Twilio adapters and one outbox sender per
// transport. It returns the chat service's view (zero when off).
func (s *Server) setupChannels() (chat.ChannelConfig, error) {
	cfg := s.cfg.Channels
	if cfg.Twilio.AccountSID == "" {
		return chat.ChannelConfig{}, nil
	}
	if cfg.SiteKey == "" {
		return chat.ChannelConfig{}, fmt.Errorf("channels: set --twilio-site (the site key whose conversations the numbers serve)")
	}
	tw, err := channel.NewTwilio(cfg.Twilio)
	if err != nil {
		return chat.ChannelConfig{}, fmt.Errorf("channels: %w", err)
	}
	out := chat.ChannelConfig{SiteKey: cfg.SiteKey, Enabled: map[string]bool{}}
	s.channelOutboxes = map[string]*email.Outbox{}
	for transport, on := range map[string]bool{"sms": cfg.Twilio.From != "", "whatsapp": cfg.Twilio.WhatsAppFrom != ""} {
		if !on {
			continue
		}
		adapter := tw.SMS()
		if transport == "whatsapp" {
			adapter = tw.WhatsApp()
		}
		s.channelOutboxes[transport] = email.NewOutbox(s.Store, chat.ChannelSender{Adapter: adapter}, s.cfg.Clock,
			s.log.With("component", "outbox-"+transport), s.cfg.NodeID,
			email.OutboxOptions{Transport: transport, Permanent: chat.ChannelPermanent})
		out.Enabled[transport] = true
	}
	boxes := s.channelOutboxes
	out.Kick = func(transport string) {
		if o := boxes[transport]; o != nil {
			o.Kick()
		}
	}
	return out, nil
}

// channelWebhook serves Twilio's inbound message webhook, checking its
// signature against the public URL Twilio called.
func (s *Server) channelWebhook() http.Handler {
	publicURL := func(r *http.Request) string { return s.BaseURL() + r.URL.RequestURI() }
	return channel.NewWebhook(s.cfg.Channels.Twilio.AuthToken, publicURL, s.Chat.DeliverChannel)
}

func (s *Server) startChannels() {
	for _, o := range s.channelOutboxes {
		o.Start()
	}
}

func (s *Server) stopChannels() {
	for _, o := range s.channelOutboxes {
		o.Stop()
	}
	s.channelOutboxes = nil
}
