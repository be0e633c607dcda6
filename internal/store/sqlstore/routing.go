package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// Routing: departments, the queue and offers (migrations/*/00003_routing.sql).
//
// The reads here run on every routing decision, with thousands of chats
// waiting and hundreds of agents, so each is one indexed query:
//   - ListQueue of one queue walks queue_oldest or queue_priority in the
//     order it returns, one index range per state, and stops at the limit.
//     Both states at once are two such ranges, each read in order up to the
//     limit, then merged (UNION ALL ... ORDER BY ... LIMIT: SQLite merges
//     the arms, PostgreSQL plans a Merge Append), never a sort of the whole
//     queue. Only AnyDepartment, for overviews and the startup scan, sorts
//     what it selects.
//   - ListRoutingAgents walks user_sites_site_user or the department's
//     members (primary key order) and looks each user up by id: no sort, no
//     query per agent.

// ---- departments

const departmentCols = "id, site_id, name, strategy, offer_timeout_seconds, max_wait_seconds, hours, created_at"

func scanDepartment(s scanner) (model.Department, error) {
	var v model.Department
	err := s.Scan(&v.ID, &v.SiteID, &v.Name, &v.Strategy, &v.OfferTimeoutSeconds, &v.MaxWaitSeconds,
		rawJSONCol{&v.Hours}, timeCol{&v.CreatedAt})
	v.MemberIDs = []int64{}
	return v, err
}

type departmentMember struct{ departmentID, userID int64 }

func scanDepartmentMember(s scanner) (departmentMember, error) {
	var v departmentMember
	err := s.Scan(&v.departmentID, &v.userID)
	return v, err
}

func (r *reader) GetDepartment(ctx context.Context, id int64) (model.Department, error) {
	var d model.Department
	err := r.snapshot(ctx, func(q queryer) error {
		var err error
		d, err = one(ctx, q, "department", scanDepartment, "SELECT "+departmentCols+" FROM departments WHERE id = ?", id)
		if err != nil {
			return err
		}
		d.MemberIDs, err = collect(ctx, q, scanInt64,
			"SELECT user_id FROM department_members WHERE department_id = ? ORDER BY user_id", id)
		if err != nil {
			return fmt.Errorf("get department: members: %w", err)
		}
		return nil
	})
	if err != nil {
		return model.Department{}, err
	}
	return d, nil
}

func (r *reader) ListDepartments(ctx context.Context, siteID int64) ([]model.Department, error) {
	depts := "SELECT " + departmentCols + " FROM departments"
	members := "SELECT m.department_id, m.user_id FROM department_members m"
	var args []any
	if siteID != 0 {
		depts += " WHERE site_id = ?"
		members += " JOIN departments d ON d.id = m.department_id WHERE d.site_id = ?"
		args = append(args, siteID)
	}
	depts += " ORDER BY id"
	members += " ORDER BY m.department_id, m.user_id"
	var out []model.Department
	err := r.snapshot(ctx, func(q queryer) error {
		var err error
		out, err = collect(ctx, q, scanDepartment, depts, args...)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		ms, err := collect(ctx, q, scanDepartmentMember, members, args...)
		if err != nil {
			return err
		}
		idx := make(map[int64]int, len(out))
		for i, d := range out {
			idx[d.ID] = i
		}
		for _, m := range ms {
			if i, ok := idx[m.departmentID]; ok {
				out[i].MemberIDs = append(out[i].MemberIDs, m.userID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	return out, nil
}

// ---- agents

// routingAgentsOfSite and routingAgentsOfDepartment select the staff who may
// take a queue's chats. Each walks an index in user id order and looks the
// users up by primary key.
const (
	routingAgentsOfSite = "SELECT " + userCols + " FROM user_sites us JOIN users u ON u.id = us.user_id " +
		"WHERE us.site_id = ? AND NOT u.disabled AND u.role <> ? ORDER BY us.user_id"
	routingAgentsOfDepartment = "SELECT " + userCols + " FROM department_members m " +
		"JOIN departments d ON d.id = m.department_id JOIN users u ON u.id = m.user_id " +
		"WHERE m.department_id = ? AND d.site_id = ? AND NOT u.disabled AND u.role <> ? ORDER BY m.user_id"
)

// candidateCols and candidatesWithRoom narrow the routing agents queries to
// what a decision needs, among the agents with room now.
const (
	candidateCols      = "u.id, u.availability, u.capacity, u.load, u.last_offer_at"
	candidatesWithRoom = " AND u.availability IN ('available', 'busy') AND u.load < u.capacity"
)

var (
	candidatesOfSite = strings.Replace(strings.Replace(routingAgentsOfSite, userCols, candidateCols, 1),
		" ORDER BY", candidatesWithRoom+" ORDER BY", 1)
	candidatesOfDepartment = strings.Replace(strings.Replace(routingAgentsOfDepartment, userCols, candidateCols, 1),
		" ORDER BY", candidatesWithRoom+" ORDER BY", 1)
)

func scanCandidate(s scanner) (model.AgentLoad, error) {
	var v model.AgentLoad
	err := s.Scan(&v.UserID, &v.Availability, &v.Capacity, &v.Load, timeCol{&v.LastOfferAt})
	return v, err
}

func (r *reader) ListRoutingCandidates(ctx context.Context, siteID, departmentID int64) ([]model.AgentLoad, error) {
	var v []model.AgentLoad
	var err error
	if departmentID == 0 {
		v, err = collect(ctx, r.q, scanCandidate, candidatesOfSite, siteID, string(model.RoleSupervisor))
	} else {
		v, err = collect(ctx, r.q, scanCandidate, candidatesOfDepartment, departmentID, siteID, string(model.RoleSupervisor))
	}
	if err != nil {
		return nil, fmt.Errorf("list routing candidates: %w", err)
	}
	return v, nil
}

// staffedOfSite and staffedOfDepartment count the routing agents who are
// available or busy, with the same index walks as the queries they narrow.
var (
	staffedOfSite = strings.Replace(strings.Replace(routingAgentsOfSite, userCols, "COUNT(*)", 1),
		" ORDER BY us.user_id", staffed, 1)
	staffedOfDepartment = strings.Replace(strings.Replace(routingAgentsOfDepartment, userCols, "COUNT(*)", 1),
		" ORDER BY m.user_id", staffed, 1)
)

const staffed = " AND u.availability IN ('available', 'busy')"

func (r *reader) CountStaffedAgents(ctx context.Context, siteID, departmentID int64) (int, error) {
	var n int
	var err error
	if departmentID == 0 {
		err = queryRow(ctx, r.q, staffedOfSite, siteID, string(model.RoleSupervisor)).Scan(&n)
	} else {
		err = queryRow(ctx, r.q, staffedOfDepartment, departmentID, siteID, string(model.RoleSupervisor)).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("count staffed agents: %w", err)
	}
	return n, nil
}

func (r *reader) ListRoutingAgents(ctx context.Context, siteID, departmentID int64) ([]model.User, error) {
	var v []model.User
	var err error
	if departmentID == 0 {
		v, err = collect(ctx, r.q, scanUser, routingAgentsOfSite, siteID, string(model.RoleSupervisor))
	} else {
		v, err = collect(ctx, r.q, scanUser, routingAgentsOfDepartment, departmentID, siteID, string(model.RoleSupervisor))
	}
	if err != nil {
		return nil, fmt.Errorf("list routing agents: %w", err)
	}
	return v, nil
}

// ---- queue

// queueCols ends with priority_rank, which scanQueueEntry skips: a queue
// read as a UNION ALL may only be ordered by its selected columns.
const queueCols = "chat_id, conversation_id, site_id, department_id, priority, requested_at, state, deadline, manual, priority_rank"

func scanQueueEntry(s scanner) (model.QueueEntry, error) {
	var v model.QueueEntry
	var rank int
	err := s.Scan(&v.ChatID, &v.ConversationID, &v.SiteID, &v.DepartmentID, &v.Priority, timeCol{&v.RequestedAt},
		&v.State, timeCol{&v.Deadline}, &v.Manual, &rank)
	return v, err
}

const (
	queueOrderOldest   = " ORDER BY requested_at, chat_id"
	queueOrderPriority = " ORDER BY priority_rank DESC, requested_at, chat_id"
)

// queueQuery builds ListQueue's statement (see the top of this file).
func queueQuery(qq store.QueueQuery) (string, []any) {
	order := queueOrderOldest
	if qq.ByPriority {
		order = queueOrderPriority
	}
	var query string
	var args []any
	switch {
	case !qq.AnyDepartment && qq.State != "":
		query = "SELECT " + queueCols + " FROM queue WHERE site_id = ? AND department_id = ? AND state = ?"
		args = []any{qq.SiteID, qq.DepartmentID, string(qq.State)}
	case !qq.AnyDepartment:
		// Each state's range in order, merged. With a limit, each arm is
		// limited on its own first: PostgreSQL merges the arms (Merge
		// Append) only then, and SQLite sorts at most the limit per arm.
		arm := "SELECT " + queueCols + " FROM queue WHERE site_id = ? AND department_id = ? AND state = ?"
		waiting := []any{qq.SiteID, qq.DepartmentID, string(model.QueueWaiting)}
		pending := []any{qq.SiteID, qq.DepartmentID, string(model.QueuePending)}
		if qq.Limit > 0 {
			arm += order + " LIMIT ?"
			waiting, pending = append(waiting, qq.Limit), append(pending, qq.Limit)
			query = "SELECT * FROM (" + arm + ") w UNION ALL SELECT * FROM (" + arm + ") p"
		} else {
			query = arm + " UNION ALL " + arm
		}
		args = append(waiting, pending...)
	default:
		var where []string
		if qq.SiteID != 0 {
			where = append(where, "site_id = ?")
			args = append(args, qq.SiteID)
		}
		if qq.State != "" {
			where = append(where, "state = ?")
			args = append(args, string(qq.State))
		}
		query = "SELECT " + queueCols + " FROM queue"
		if len(where) > 0 {
			query += " WHERE " + strings.Join(where, " AND ")
		}
	}
	query += order
	if qq.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, qq.Limit)
	}
	return query, args
}

func (r *reader) ListQueue(ctx context.Context, qq store.QueueQuery) ([]model.QueueEntry, error) {
	query, args := queueQuery(qq)
	v, err := collect(ctx, r.q, scanQueueEntry, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	return v, nil
}

// GetQueueEntry locks the entry inside a Tx (PostgreSQL), as GetChat does:
// "read the entry, check it is still waiting, offer it" runs on one node at
// a time.
// QueuePosition counts, with the queue's indexes, the entries served before
// the chat's: same site and department, ahead in the order.
func (r *reader) QueuePosition(ctx context.Context, chatID int64, byPriority bool) (int, error) {
	e, err := one(ctx, r.q, "queue_entry", scanQueueEntry, "SELECT "+queueCols+" FROM queue WHERE chat_id = ?", chatID)
	if err != nil {
		return 0, err
	}
	at := dbTimeNotNull(e.RequestedAt)
	older := "(requested_at < ? OR (requested_at = ? AND chat_id < ?))"
	query := "SELECT COUNT(*) FROM queue WHERE site_id = ? AND department_id = ? AND " + older
	args := []any{e.SiteID, e.DepartmentID, at, at, e.ChatID}
	if byPriority {
		rank := e.Priority.Rank()
		query = "SELECT COUNT(*) FROM queue WHERE site_id = ? AND department_id = ? AND " +
			"(priority_rank > ? OR (priority_rank = ? AND " + older + "))"
		args = []any{e.SiteID, e.DepartmentID, rank, rank, at, at, e.ChatID}
	}
	var ahead int
	if err := queryRow(ctx, r.q, query, args...).Scan(&ahead); err != nil {
		return 0, fmt.Errorf("queue position: %w", err)
	}
	return ahead + 1, nil
}

func (r *reader) GetQueueEntry(ctx context.Context, chatID int64) (model.QueueEntry, error) {
	return one(ctx, r.q, "queue_entry", scanQueueEntry, "SELECT "+queueCols+" FROM queue WHERE chat_id = ?"+r.lock, chatID)
}

// ---- offers

const offerCols = "chat_id, user_id, kind, from_user_id, state, exclusive, offered_at, expires_at, resolved_at"

func scanOffer(s scanner) (model.Offer, error) {
	var v model.Offer
	err := s.Scan(&v.ChatID, &v.UserID, &v.Kind, &v.FromUserID, &v.State, &v.Exclusive, timeCol{&v.OfferedAt},
		timeCol{&v.ExpiresAt}, timeCol{&v.ResolvedAt})
	return v, err
}

// ListOffers with neither ChatID nor UserID (outside the contract) returns
// every offer, or with PendingOnly every pending one.
func (r *reader) ListOffers(ctx context.Context, oq store.OfferQuery) ([]model.Offer, error) {
	var where []string
	var args []any
	if oq.ChatID != 0 {
		where = append(where, "chat_id = ?")
		args = append(args, oq.ChatID)
	}
	if oq.UserID != 0 {
		where = append(where, "user_id = ?")
		args = append(args, oq.UserID)
	}
	if oq.PendingOnly {
		where = append(where, "state = ?")
		args = append(args, string(model.OfferPending))
	}
	query := "SELECT " + offerCols + " FROM offers"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY offered_at, user_id, chat_id"
	v, err := collect(ctx, r.q, scanOffer, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list offers: %w", err)
	}
	return v, nil
}

// ---- writes

// normIDs returns ids sorted, without duplicates and zeros, non-nil.
func normIDs(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id != 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// mustExistAll returns thing_not_found unless table has a row for each of
// ids (distinct).
func mustExistAll(ctx context.Context, q queryer, table, thing string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var n int
	err := queryRow(ctx, q, "SELECT COUNT(*) FROM "+table+" WHERE id IN ("+placeholders(len(ids))+")", args...).Scan(&n)
	if err != nil {
		return fmt.Errorf("check %s: %w", thing, err)
	}
	if n != len(ids) {
		return apperr.NotFound(thing)
	}
	return nil
}

func (t *txImpl) insertMembers(ctx context.Context, departmentID int64, userIDs []int64) error {
	return insertChildren(ctx, t.q, "department_members (department_id, user_id)", departmentID, userIDs)
}

// CreateDepartment stores MemberIDs sorted, without duplicates, and sets
// d.MemberIDs to them (site_not_found, user_not_found).
func (t *txImpl) CreateDepartment(ctx context.Context, d *model.Department) error {
	if err := mustExist(ctx, t.q, "sites", "site", d.SiteID); err != nil {
		return err
	}
	members := normIDs(d.MemberIDs)
	if err := mustExistAll(ctx, t.q, "users", "user", members); err != nil {
		return err
	}
	var id int64
	err := queryRow(ctx, t.q,
		"INSERT INTO departments (site_id, name, strategy, offer_timeout_seconds, max_wait_seconds, hours, created_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
		d.SiteID, d.Name, d.Strategy, d.OfferTimeoutSeconds, d.MaxWaitSeconds, dbRawJSON(d.Hours),
		dbTime(d.CreatedAt)).Scan(&id)
	if err != nil {
		return fmt.Errorf("create department: %w", err)
	}
	if err := t.insertMembers(ctx, id, members); err != nil {
		return fmt.Errorf("create department: members: %w", err)
	}
	d.ID = id
	d.MemberIDs = members
	return nil
}

// UpdateDepartment locks the department's row first (PostgreSQL), so that
// two nodes replacing its members serialise (department_not_found,
// user_not_found). SiteID and CreatedAt are not written.
func (t *txImpl) UpdateDepartment(ctx context.Context, d model.Department) error {
	if err := mustExistLock(ctx, t.q, "departments", "department", d.ID, t.lock); err != nil {
		return err
	}
	members := normIDs(d.MemberIDs)
	if err := mustExistAll(ctx, t.q, "users", "user", members); err != nil {
		return err
	}
	_, err := t.q.exec(ctx,
		"UPDATE departments SET name = ?, strategy = ?, offer_timeout_seconds = ?, max_wait_seconds = ?, hours = ? WHERE id = ?",
		d.Name, d.Strategy, d.OfferTimeoutSeconds, d.MaxWaitSeconds, dbRawJSON(d.Hours), d.ID)
	if err != nil {
		return fmt.Errorf("update department: %w", err)
	}
	if _, err := t.q.exec(ctx, "DELETE FROM department_members WHERE department_id = ?", d.ID); err != nil {
		return fmt.Errorf("update department: members: %w", err)
	}
	if err := t.insertMembers(ctx, d.ID, members); err != nil {
		return fmt.Errorf("update department: members: %w", err)
	}
	return nil
}

// DeleteDepartment moves the department's queue entries and conversations
// to department 0 (the site's general queue), then deletes its members and
// itself. A site's Routing.DefaultDepartmentID is the caller's to clear.
func (t *txImpl) DeleteDepartment(ctx context.Context, id int64) error {
	if err := mustExistLock(ctx, t.q, "departments", "department", id, t.lock); err != nil {
		return err
	}
	for _, stmt := range []string{
		"UPDATE queue SET department_id = 0 WHERE department_id = ?",
		"UPDATE conversations SET department_id = 0 WHERE department_id = ?",
		"DELETE FROM department_members WHERE department_id = ?",
		"DELETE FROM departments WHERE id = ?",
	} {
		if _, err := t.q.exec(ctx, stmt, id); err != nil {
			return fmt.Errorf("delete department: %w", err)
		}
	}
	return nil
}

// PutQueueEntry: chat_not_found if the chat does not exist. PriorityRank is
// derived from Priority.
func (t *txImpl) PutQueueEntry(ctx context.Context, e model.QueueEntry) error {
	if err := mustExist(ctx, t.q, "chats", "chat", e.ChatID); err != nil {
		return err
	}
	_, err := t.q.exec(ctx,
		"INSERT INTO queue (chat_id, conversation_id, site_id, department_id, priority, priority_rank, requested_at, "+
			"state, deadline, manual) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "+
			"ON CONFLICT (chat_id) DO UPDATE SET conversation_id = excluded.conversation_id, site_id = excluded.site_id, "+
			"department_id = excluded.department_id, priority = excluded.priority, priority_rank = excluded.priority_rank, "+
			"requested_at = excluded.requested_at, state = excluded.state, deadline = excluded.deadline, manual = excluded.manual",
		e.ChatID, e.ConversationID, e.SiteID, e.DepartmentID, string(e.Priority), e.Priority.Rank(),
		dbTimeNotNull(e.RequestedAt), string(e.State), dbTime(e.Deadline), e.Manual)
	if err != nil {
		return fmt.Errorf("put queue entry: %w", err)
	}
	return nil
}

func (t *txImpl) DeleteQueueEntry(ctx context.Context, chatID int64) error {
	if _, err := t.q.exec(ctx, "DELETE FROM queue WHERE chat_id = ?", chatID); err != nil {
		return fmt.Errorf("delete queue entry: %w", err)
	}
	return nil
}

// PutOffer: chat_not_found or user_not_found if either does not exist.
func (t *txImpl) PutOffer(ctx context.Context, o model.Offer) error {
	var chat, user int
	err := queryRow(ctx, t.q, "SELECT (SELECT COUNT(*) FROM chats WHERE id = ?), (SELECT COUNT(*) FROM users WHERE id = ?)",
		o.ChatID, o.UserID).Scan(&chat, &user)
	if err != nil {
		return fmt.Errorf("put offer: check references: %w", err)
	}
	if chat == 0 {
		return apperr.NotFound("chat")
	}
	if user == 0 {
		return apperr.NotFound("user")
	}
	_, err = t.q.exec(ctx,
		"INSERT INTO offers (chat_id, user_id, kind, from_user_id, state, exclusive, offered_at, expires_at, resolved_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "+
			"ON CONFLICT (chat_id, user_id) DO UPDATE SET kind = excluded.kind, from_user_id = excluded.from_user_id, "+
			"state = excluded.state, exclusive = excluded.exclusive, offered_at = excluded.offered_at, "+
			"expires_at = excluded.expires_at, resolved_at = excluded.resolved_at",
		o.ChatID, o.UserID, string(o.Kind), o.FromUserID, string(o.State), o.Exclusive, dbTimeNotNull(o.OfferedAt),
		dbTime(o.ExpiresAt), dbTime(o.ResolvedAt))
	if err != nil {
		return fmt.Errorf("put offer: %w", err)
	}
	return nil
}

func (t *txImpl) ResolveOffers(ctx context.Context, chatID, exceptUserID int64, state model.OfferState, at time.Time) ([]int64, error) {
	ids, err := collect(ctx, t.q, scanInt64,
		"UPDATE offers SET state = ?, resolved_at = ? WHERE chat_id = ? AND state = ? AND user_id <> ? RETURNING user_id",
		string(state), dbTime(at), chatID, string(model.OfferPending), exceptUserID)
	if err != nil {
		return nil, fmt.Errorf("resolve offers: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// RecountLoad counts with participants_user_present and offers_user_state.
// In PostgreSQL it locks the user's row first (see postgres.go): every
// transaction that changed the user's participations or offers recounts, so
// holds this lock until it commits, and the count, a later statement than
// the lock, sees all of them.
func (t *txImpl) RecountLoad(ctx context.Context, userID int64) (int, error) {
	if t.lock != "" {
		if err := mustExistLock(ctx, t.q, "users", "user", userID, t.lock); err != nil {
			return 0, err
		}
	}
	var load int
	err := queryRow(ctx, t.q,
		"UPDATE users SET load = "+
			"(SELECT COUNT(*) FROM participants WHERE user_id = ? AND left_at IS NULL) + "+
			"(SELECT COUNT(*) FROM offers WHERE user_id = ? AND state = ? AND exclusive) "+
			"WHERE id = ? RETURNING load",
		userID, userID, string(model.OfferPending), userID).Scan(&load)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.NotFound("user")
	}
	if err != nil {
		return 0, fmt.Errorf("recount load: %w", err)
	}
	return load, nil
}
