package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

const visitsCols = "contact_id, site_id, visits, first_seen, last_seen, time_zone, locale, country, city"

func scanVisits(s scanner) (model.Visits, error) {
	var v model.Visits
	err := s.Scan(&v.ContactID, &v.SiteID, &v.Count, timeCol{&v.FirstSeen}, timeCol{&v.LastSeen},
		&v.TimeZone, &v.Locale, &v.Country, &v.City)
	return v, err
}

const pageViewCols = "id, contact_id, visitor_session_id, visit, url, title, viewed_at"

func scanPageView(s scanner) (model.PageView, error) {
	var v model.PageView
	err := s.Scan(&v.ID, &v.ContactID, &v.VisitorSessionID, &v.Visit, &v.URL, &v.Title, timeCol{&v.ViewedAt})
	return v, err
}

func (r *reader) GetVisits(ctx context.Context, contactID int64) (model.Visits, error) {
	v, err := scanVisits(queryRow(ctx, r.q, "SELECT "+visitsCols+" FROM contact_visits WHERE contact_id = ?"+r.lock, contactID))
	if errors.Is(err, sql.ErrNoRows) {
		return model.Visits{ContactID: contactID}, nil
	}
	if err != nil {
		return model.Visits{}, fmt.Errorf("get visits: %w", err)
	}
	return v, nil
}

func (r *reader) ListPageViews(ctx context.Context, contactID int64, limit int) ([]model.PageView, error) {
	switch {
	case limit <= 0:
		limit = 100
	case limit > 1000:
		limit = 1000
	}
	v, err := collect(ctx, r.q, scanPageView, "SELECT "+pageViewCols+
		" FROM page_views WHERE contact_id = ? ORDER BY id DESC LIMIT ?", contactID, limit)
	if err != nil {
		return nil, fmt.Errorf("list page views: %w", err)
	}
	return v, nil
}

// Bounds of what a visitor's browser reports, cut on a rune boundary (the
// chat service validates them first; this only keeps the rows bounded).
const (
	maxViewURL   = 2048
	maxViewTitle = 512
	maxVisitTag  = 128 // time zone, locale, country, city
)

// RecordVisit is written so that two nodes recording the same contact at
// once never fail a batch: the counter row is created with ON CONFLICT DO
// NOTHING, then read with the dialect's row lock and updated.
func (t *txImpl) RecordVisit(ctx context.Context, in store.VisitRecord) (model.Visits, error) {
	gap, keep := in.Gap, in.Keep
	if gap <= 0 {
		gap = model.VisitGap
	}
	if keep <= 0 {
		keep = 100
	}
	var siteID int64
	err := queryRow(ctx, t.q, "SELECT site_id FROM contacts WHERE id = ?", in.ContactID).Scan(&siteID)
	if errors.Is(err, sql.ErrNoRows) {
		return model.Visits{}, apperr.NotFound("contact")
	}
	if err != nil {
		return model.Visits{}, fmt.Errorf("record visit: contact: %w", err)
	}
	at := dbTimeNotNull(in.At)
	if _, err := t.q.exec(ctx, "INSERT INTO contact_visits (contact_id, site_id, visits, first_seen, last_seen) VALUES (?, ?, 0, ?, ?)"+
		" ON CONFLICT (contact_id) DO NOTHING", in.ContactID, siteID, at, at); err != nil {
		return model.Visits{}, fmt.Errorf("record visit: create counter: %w", err)
	}
	v, err := t.GetVisits(ctx, in.ContactID)
	if err != nil {
		return model.Visits{}, err
	}
	newVisit := v.Count == 0 || in.At.Sub(v.LastSeen) > gap
	if newVisit {
		v.Count++
	}
	if in.At.After(v.LastSeen) {
		v.LastSeen = in.At.UTC().Truncate(time.Microsecond) // as stored
	}
	for _, f := range []struct {
		dst *string
		src string
	}{{&v.TimeZone, in.TimeZone}, {&v.Locale, in.Locale}, {&v.Country, in.Country}, {&v.City, in.City}} {
		if f.src != "" {
			*f.dst = cleanText(f.src, maxVisitTag)
		}
	}
	if _, err := t.q.exec(ctx, "UPDATE contact_visits SET visits = ?, last_seen = ?, time_zone = ?, locale = ?, country = ?, city = ? WHERE contact_id = ?",
		v.Count, dbTimeNotNull(v.LastSeen), v.TimeZone, v.Locale, v.Country, v.City, in.ContactID); err != nil {
		return model.Visits{}, fmt.Errorf("record visit: update counter: %w", err)
	}
	if in.URL == "" {
		return v, nil
	}
	url, title := cleanText(in.URL, maxViewURL), cleanText(in.Title, maxViewTitle)
	if !newVisit {
		var lastURL, lastTitle string
		var lastVisit int
		err := queryRow(ctx, t.q, "SELECT visit, url, title FROM page_views WHERE contact_id = ? ORDER BY id DESC LIMIT 1",
			in.ContactID).Scan(&lastVisit, &lastURL, &lastTitle)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return model.Visits{}, fmt.Errorf("record visit: latest view: %w", err)
		}
		if err == nil && lastVisit == v.Count && lastURL == url && lastTitle == title {
			return v, nil // the same page again (another tab, a reconnect)
		}
	}
	if _, err := t.q.exec(ctx, "INSERT INTO page_views (contact_id, visitor_session_id, visit, url, title, viewed_at) VALUES (?, ?, ?, ?, ?, ?)",
		in.ContactID, in.VisitorSessionID, v.Count, url, title, at); err != nil {
		return model.Visits{}, fmt.Errorf("record visit: page view: %w", err)
	}
	// Keep the newest views only: everything at or below the keep+1-th
	// newest id goes (nothing while there are fewer).
	if _, err := t.q.exec(ctx, "DELETE FROM page_views WHERE contact_id = ? AND id <= "+
		"(SELECT id FROM page_views WHERE contact_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
		in.ContactID, in.ContactID, keep); err != nil {
		return model.Visits{}, fmt.Errorf("record visit: trim views: %w", err)
	}
	return v, nil
}
