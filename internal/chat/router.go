package chat

// The routing engine: it applies the pure rules of internal/routing to the
// queues in the store. See docs/routing.md for the model.
//
// Event-driven, never a polling timer: every change that can let a queue
// move (a request, a join, a leave, an end, an agent going available or
// raising their capacity, a declined or missed offer) kicks that queue on
// the node that committed the change. A kick runs the queue's dispatch loop
// on this node, coalescing kicks that arrive while it runs.
//
// Once across nodes (DESIGN.md §2.5): a decision is proposed from reads and
// claimed in one transaction that locks the chat row (it must still be
// waiting) and the agent's row (their load is recounted from the store's
// truth and must be under capacity). Two nodes racing for one chat or one
// agent's last slot serialise on those rows; the loser finds the chat taken
// or the agent full and tries its next candidate.
//
// Timers (offer timeout, max wait, disconnect grace, requeue) are the
// injected clock's. The node that creates a deadline schedules it; other
// nodes learn offers from the offer event; a sweep at start and every
// minute finds deadlines that a dead node left behind. Whoever fires first
// claims the work through the store (the offer must still be pending, the
// entry still queued); the others find nothing to do.

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/bus"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
	"switchboard/internal/routing"
	"switchboard/internal/store"
)

// Event types of the routing engine.
const (
	// TypeQueue tells a waiting visitor their place and estimated wait.
	TypeQueue = bus.TypeQueue
	// TypeOffer tells an agent a chat is offered to them, or that the
	// offer is gone (taken, withdrawn, missed).
	TypeOffer = bus.TypeOffer
)

// QueueStatus is where a waiting chat stands, as its visitor is told.
type QueueStatus struct {
	ChatID   int64 `json:"chat_id"`
	Position int   `json:"position,omitempty"` // 1-based; 0: hidden by the site
	// EstimateSeconds is the expected wait; 0: unknown or hidden.
	EstimateSeconds int    `json:"estimate_seconds,omitempty"`
	Message         string `json:"message,omitempty"` // the site's queue message
}

// OfferEvent is the data of an offer frame.
type OfferEvent struct {
	Offer        model.Offer        `json:"offer"`
	Conversation model.Conversation `json:"conversation"`
}

// sweepEvery is how often a node looks for deadlines another node left
// behind when it died. Deadlines this node knows about fire on time.
const sweepEvery = time.Minute

type timerKind byte

const (
	timerOffer timerKind = iota + 1
	timerMaxWait
	timerGrace
	timerRequeue
)

type timerKey struct {
	kind       timerKind
	chat, user int64
}

type queueRun struct{ running, again bool }

// staffPresence counts one agent's console sockets here and elsewhere.
type staffPresence struct {
	local  int
	gen    int                  // bumped on every local change; a grace timer of an old gen is void
	remote map[string]time.Time // node → last announcement
}

type router struct {
	s   *Service
	est *routing.Estimator

	mu      sync.Mutex
	cond    *sync.Cond
	running int // dispatch loops in flight (Settle waits for 0)
	queues  map[queueKey]*queueRun
	timers  map[timerKey]clock.Timer
	shown   map[int64]QueueStatus // chat → the status its visitor was last told
	staff   map[int64]*staffPresence
	closed  bool
	sweep   clock.Timer
}

func newRouter(s *Service) *router {
	r := &router{s: s, est: routing.NewEstimator(), queues: make(map[queueKey]*queueRun),
		timers: make(map[timerKey]clock.Timer), shown: make(map[int64]QueueStatus), staff: make(map[int64]*staffPresence)}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// StartRouting sweeps the store for deadlines and waiting chats (a restart
// may have left some) and arms the periodic sweep. Call it once, after the
// store is migrated.
func (s *Service) StartRouting(ctx context.Context) error {
	if err := s.router.sweepOnce(ctx); err != nil {
		return err
	}
	s.router.armSweep()
	return nil
}

// StopRouting stops the timers and waits for running dispatches.
func (s *Service) StopRouting() {
	r := s.router
	r.mu.Lock()
	r.closed = true
	for k, t := range r.timers {
		t.Stop()
		delete(r.timers, k)
	}
	if r.sweep != nil {
		r.sweep.Stop()
	}
	for r.running > 0 {
		r.cond.Wait()
	}
	r.mu.Unlock()
}

// SettleRouting waits until no dispatch is running on this node. Tests use
// it after a change instead of sleeping.
func (s *Service) SettleRouting() {
	r := s.router
	r.mu.Lock()
	for r.running > 0 {
		r.cond.Wait()
	}
	r.mu.Unlock()
}

// async runs f apart, counted as a running dispatch so SettleRouting waits
// for it.
func (r *router) async(f func()) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.running++
	r.mu.Unlock()
	go func() {
		defer func() {
			r.mu.Lock()
			r.running--
			r.cond.Broadcast()
			r.mu.Unlock()
		}()
		f()
	}()
}

// kick asks for a queue's dispatch loop to run.
func (r *router) kick(k queueKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	q := r.queues[k]
	if q == nil {
		q = &queueRun{}
		r.queues[k] = q
	}
	if q.running {
		q.again = true
		return
	}
	q.running = true
	r.running++
	go r.run(k, q)
}

func (r *router) run(k queueKey, q *queueRun) {
	defer func() {
		r.mu.Lock()
		r.running--
		r.cond.Broadcast()
		r.mu.Unlock()
	}()
	for {
		r.dispatch(k)
		r.publishPositions(k)
		r.mu.Lock()
		if !q.again || r.closed {
			q.running = false
			r.mu.Unlock()
			return
		}
		q.again = false
		r.mu.Unlock()
	}
}

// dispatch offers waiting chats of a queue until none can be offered.
func (r *router) dispatch(k queueKey) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 100_000 {
		did, err := r.dispatchOne(ctx, k)
		if err != nil {
			if !apperr.IsNotFound(err) {
				r.s.log.Error("routing dispatch", "site", k.site, "department", k.dept, "err", err)
			}
			return
		}
		if !did {
			return
		}
	}
}

// headSize is how many waiting chats one decision looks at: the head of
// the queue, plus a few behind it in case everyone eligible declined the
// first ones.
const headSize = 20

// dispatchOne makes at most one routing decision in one transaction.
func (r *router) dispatchOne(ctx context.Context, k queueKey) (bool, error) {
	s := r.s
	var did bool
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		did = false
		qs, err := s.settingsFor(ctx, tx, k)
		if err != nil {
			return err
		}
		head, err := tx.ListQueue(ctx, store.QueueQuery{SiteID: k.site, DepartmentID: k.dept, State: model.QueueWaiting,
			ByPriority: qs.strategy == routing.PriorityBased, Limit: headSize})
		if err != nil || len(head) == 0 {
			return err
		}
		agents, err := tx.ListRoutingCandidates(ctx, k.site, k.dept)
		if err != nil || len(agents) == 0 {
			return err // nobody has room: the queue waits for a kick
		}
		if qs.strategy == routing.Broadcast {
			// Offered to everyone with room: the console of every eligible
			// agent shows it; the first to join takes it.
			did, err = s.markPending(ctx, tx, head[0], nil)
			return err
		}
		for _, e := range head {
			offers, err := tx.ListOffers(ctx, store.OfferQuery{ChatID: e.ChatID})
			if err != nil {
				return err
			}
			declined, missed := map[int64]bool{}, map[int64]bool{}
			for _, o := range offers {
				switch o.State {
				case model.OfferDeclined:
					declined[o.UserID] = true
				case model.OfferMissed:
					missed[o.UserID], declined[o.UserID] = true, true
				}
			}
			try := func(uid int64) (bool, error) { return s.offer(ctx, tx, qs, e, uid, model.OfferRoute, 0) }
			cands := routingAgents(agents, declined)
			ok, err := bestFirst(qs.strategy, cands, try)
			if err == nil && !ok && len(missed) > 0 && !anyEligible(cands) {
				// Everyone with room has missed it once: offer it again
				// rather than let it wait (decliners are never asked again).
				for u := range missed {
					delete(declined, u)
				}
				ok, err = bestFirst(qs.strategy, routingAgents(agents, declined), try)
			}
			if err != nil || ok {
				did = ok
				return err
			}
		}
		return nil
	})
	return did, err
}

// bestFirst offers to the strategy's best candidate, and if the claim finds
// them full after all (another node took their last slot), to the next
// best, each found in one linear pass. It changes cands.
func bestFirst(st routing.Strategy, cands []routing.Agent, try func(uid int64) (bool, error)) (bool, error) {
	if st == routing.Broadcast {
		st = routing.RoundRobin
	}
	for range cands {
		ids := routing.Choose(st, cands)
		if len(ids) == 0 {
			return false, nil
		}
		ok, err := try(ids[0])
		if err != nil || ok {
			return ok, err
		}
		for i := range cands {
			if cands[i].UserID == ids[0] {
				cands[i].Capacity = 0 // not again in this decision
			}
		}
	}
	return false, nil
}

func anyEligible(cands []routing.Agent) bool {
	for _, a := range cands {
		if a.Eligible() {
			return true
		}
	}
	return false
}

// markPending moves a queued chat to pending (offered) and announces it.
// offer is the exclusive offer that made it pending, nil for broadcast.
func (s *Service) markPending(ctx context.Context, tx store.Tx, e model.QueueEntry, offer *model.Offer) (bool, error) {
	c, err := tx.GetChat(ctx, e.ChatID)
	if err != nil {
		return false, err
	}
	if c.State != model.ChatWaiting && c.State != model.ChatPending {
		return false, nil
	}
	now := s.now()
	c.State = model.ChatPending
	if c.OfferedAt.IsZero() {
		c.OfferedAt = now
	}
	if err := tx.UpdateChat(ctx, c); err != nil {
		return false, err
	}
	e.State = model.QueuePending
	if err := tx.PutQueueEntry(ctx, e); err != nil {
		return false, err
	}
	conv, err := tx.GetConversation(ctx, e.ConversationID)
	if err != nil {
		return false, err
	}
	conv.ChatState, conv.UpdatedAt = model.ChatPending, now
	if err := tx.UpdateConversation(ctx, conv); err != nil {
		return false, err
	}
	view, err := s.chatView(ctx, tx, c.ID)
	if err != nil {
		return false, err
	}
	ref := convRef{SiteID: conv.SiteID, ContactID: conv.ContactID}
	tx.OnCommit(func() {
		s.publishChat(ref, view)
		s.publishConversation(conv)
		if offer != nil {
			s.publishOffer(*offer, conv)
			s.router.scheduleOffer(*offer)
		}
	})
	return true, nil
}

// offer claims one agent's slot for a queued chat: the chat must still be
// queued (waiting, or pending for an assignment) and the agent, recounted
// under their row lock, must have room.
func (s *Service) offer(ctx context.Context, tx store.Tx, qs queueSettings, e model.QueueEntry, uid int64, kind model.OfferKind, from int64) (bool, error) {
	c, err := tx.GetChat(ctx, e.ChatID)
	if err != nil {
		return false, err
	}
	if c.State != model.ChatWaiting && !(kind == model.OfferAssign && c.State == model.ChatPending) {
		return false, nil
	}
	u, err := tx.GetUser(ctx, uid)
	if err != nil {
		return false, err
	}
	if u.Load, err = tx.RecountLoad(ctx, uid); err != nil {
		return false, err
	}
	if !hasRoom(u) {
		return false, nil
	}
	now := s.now()
	o := model.Offer{ChatID: c.ID, UserID: uid, Kind: kind, FromUserID: from, State: model.OfferPending,
		Exclusive: true, OfferedAt: now}
	if kind == model.OfferRoute && qs.offerTimeout > 0 {
		o.ExpiresAt = now.Add(qs.offerTimeout)
	}
	if err := tx.PutOffer(ctx, o); err != nil {
		return false, err
	}
	if _, err := tx.RecountLoad(ctx, uid); err != nil {
		return false, err
	}
	u.LastOfferAt = now
	if err := tx.UpdateUser(ctx, u); err != nil {
		return false, err
	}
	if kind == model.OfferAssign {
		e.Manual = true
	}
	return s.markPending(ctx, tx, e, &o)
}

// publishOffer tells the offered agent's consoles (and every node's router,
// which schedules its timeout too).
func (s *Service) publishOffer(o model.Offer, conv model.Conversation) {
	s.publish(bus.Event{Type: TypeOffer, SiteID: conv.SiteID, ConversationID: conv.ID, UserID: o.UserID,
		Visibility: model.Internal, Frame: protocol.Event(TypeOffer, conv.ID, 0, OfferEvent{Offer: o, Conversation: conv})})
}

// publishOfferTo tells another user (the inviter) about an offer's outcome.
func (s *Service) publishOfferTo(userID int64, o model.Offer, conv model.Conversation) {
	s.publish(bus.Event{Type: TypeOffer, SiteID: conv.SiteID, ConversationID: conv.ID, UserID: userID,
		Visibility: model.Internal, Frame: protocol.Event(TypeOffer, conv.ID, 0, OfferEvent{Offer: o, Conversation: conv})})
}

// ---- timers

func (r *router) schedule(k timerKey, at time.Time, f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if old, ok := r.timers[k]; ok {
		old.Stop()
	}
	d := at.Sub(r.s.clk.Now())
	if d < 0 {
		d = 0
	}
	var t clock.Timer
	t = r.s.clk.AfterFunc(d, func() {
		r.mu.Lock()
		if r.timers[k] == t {
			delete(r.timers, k)
		}
		r.mu.Unlock()
		f()
	})
	r.timers[k] = t
}

func (r *router) cancel(k timerKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.timers[k]; ok {
		t.Stop()
		delete(r.timers, k)
	}
}

func (r *router) scheduleOffer(o model.Offer) {
	if o.State != model.OfferPending || o.ExpiresAt.IsZero() {
		return
	}
	r.schedule(timerKey{timerOffer, o.ChatID, o.UserID}, o.ExpiresAt, func() { r.offerExpired(o.ChatID, o.UserID) })
}

func (r *router) scheduleMaxWait(e model.QueueEntry) {
	if e.Deadline.IsZero() {
		return
	}
	r.schedule(timerKey{timerMaxWait, e.ChatID, 0}, e.Deadline, func() { r.maxWaitPassed(e.ChatID) })
}

// offerExpired turns an unanswered offer into a miss and re-queues the chat.
func (r *router) offerExpired(chatID, userID int64) {
	s := r.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var k queueKey
	requeued := false
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		requeued = false
		o, ok, err := pendingOffer(ctx, tx, chatID, userID)
		if err != nil || !ok || o.ExpiresAt.IsZero() || o.ExpiresAt.After(s.now()) {
			return err
		}
		e, err := tx.GetQueueEntry(ctx, chatID)
		if err != nil {
			return err
		}
		k = queueKey{e.SiteID, e.DepartmentID}
		qs, err := s.settingsFor(ctx, tx, k)
		if err != nil {
			return err
		}
		o.State, o.ResolvedAt = model.OfferMissed, s.now()
		if err := tx.PutOffer(ctx, o); err != nil {
			return err
		}
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		if u.Load, err = tx.RecountLoad(ctx, userID); err != nil {
			return err
		}
		s.freed(tx, userID)
		u.MissedOffers++
		wentAway := qs.maxMisses > 0 && u.MissedOffers >= qs.maxMisses && (u.Availability == model.Available || u.Availability == model.Busy)
		if wentAway {
			u.Availability = model.Away
		}
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if wentAway {
			if err := s.announceAvailability(ctx, tx, u); err != nil {
				return err
			}
		}
		conv, err := tx.GetConversation(ctx, e.ConversationID)
		if err != nil {
			return err
		}
		tx.OnCommit(func() { s.publishOffer(o, conv) })
		return s.requeueIfUnoffered(ctx, tx, e, &requeued)
	})
	if err != nil && !apperr.IsNotFound(err) {
		s.log.Error("offer timeout", "chat", chatID, "user", userID, "err", err)
	}
	if k != (queueKey{}) {
		r.kick(k)
	}
}

// requeueIfUnoffered puts a pending chat back to waiting when no pending
// offer is left for it.
func (s *Service) requeueIfUnoffered(ctx context.Context, tx store.Tx, e model.QueueEntry, requeued *bool) error {
	left, err := tx.ListOffers(ctx, store.OfferQuery{ChatID: e.ChatID, PendingOnly: true})
	if err != nil || len(left) > 0 {
		return err
	}
	c, err := tx.GetChat(ctx, e.ChatID)
	if err != nil || c.State != model.ChatPending {
		return err
	}
	c.State = model.ChatWaiting
	if err := tx.UpdateChat(ctx, c); err != nil {
		return err
	}
	e.State, e.Manual = model.QueueWaiting, false
	if err := tx.PutQueueEntry(ctx, e); err != nil {
		return err
	}
	conv, err := tx.GetConversation(ctx, e.ConversationID)
	if err != nil {
		return err
	}
	conv.ChatState, conv.UpdatedAt = model.ChatWaiting, s.now()
	if err := tx.UpdateConversation(ctx, conv); err != nil {
		return err
	}
	view, err := s.chatView(ctx, tx, c.ID)
	if err != nil {
		return err
	}
	*requeued = true
	ref := convRef{SiteID: conv.SiteID, ContactID: conv.ContactID}
	tx.OnCommit(func() {
		s.publishChat(ref, view)
		s.publishConversation(conv)
	})
	return nil
}

// maxWaitPassed ends a chat nobody joined in time: unanswered, the
// conversation an open, unassigned ticket, the visitor told so.
func (r *router) maxWaitPassed(chatID int64) {
	s := r.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var k queueKey
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		e, err := tx.GetQueueEntry(ctx, chatID)
		if err != nil {
			return err
		}
		if e.Deadline.IsZero() || e.Deadline.After(s.now()) {
			return nil
		}
		k = queueKey{e.SiteID, e.DepartmentID}
		qs, err := s.settingsFor(ctx, tx, k)
		if err != nil {
			return err
		}
		msg := qs.site.Routing.UnansweredMessage
		if msg == "" {
			msg = "Sorry, nobody could answer in time. Leave us a message and we will reply by email."
		}
		_, err = s.endChat(ctx, tx, e.ConversationID, model.PartySystem, 0, model.EventUnanswered, msg)
		return err
	})
	if err != nil && !apperr.IsNotFound(err) {
		s.log.Error("max wait", "chat", chatID, "err", err)
	}
	if k != (queueKey{}) {
		r.kick(k)
	}
}

// ---- sweep

func (r *router) armSweep() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.sweep = r.s.clk.AfterFunc(sweepEvery, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := r.sweepOnce(ctx); err != nil {
			r.s.log.Warn("routing sweep", "err", err)
		}
		cancel()
		r.refreshStaff()
		r.armSweep()
	})
}

// sweepOnce schedules every deadline in the store and kicks every queue
// with waiting chats.
func (r *router) sweepOnce(ctx context.Context) error {
	entries, err := r.s.st.ListQueue(ctx, store.QueueQuery{AnyDepartment: true})
	if err != nil {
		return err
	}
	kicks := map[queueKey]bool{}
	for _, e := range entries {
		r.scheduleMaxWait(e)
		if e.State == model.QueueWaiting {
			kicks[queueKey{e.SiteID, e.DepartmentID}] = true
			continue
		}
		offers, err := r.s.st.ListOffers(ctx, store.OfferQuery{ChatID: e.ChatID, PendingOnly: true})
		if err != nil {
			return err
		}
		for _, o := range offers {
			r.scheduleOffer(o)
		}
	}
	for k := range kicks {
		r.kick(k)
	}
	return nil
}

// ---- what waiting visitors see

// publishPositions tells every queued visitor of a queue whose place or
// estimate changed where they stand now.
func (r *router) publishPositions(k queueKey) {
	s := r.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	qs, err := s.settingsFor(ctx, s.st, k)
	if err != nil {
		return
	}
	entries, err := s.st.ListQueue(ctx, store.QueueQuery{SiteID: k.site, DepartmentID: k.dept,
		ByPriority: qs.strategy == routing.PriorityBased})
	if err != nil {
		s.log.Warn("queue positions", "err", err)
		return
	}
	staffed := 0
	if qs.showEstimate() && len(entries) > 0 {
		if n, err := s.st.CountStaffedAgents(ctx, k.site, k.dept); err == nil {
			staffed = n
		}
	}
	for i, e := range entries {
		st := r.status(qs, e, i+1, staffed)
		r.mu.Lock()
		old, seen := r.shown[e.ChatID]
		if !seen || old != st {
			if len(r.shown) > 200_000 {
				r.shown = make(map[int64]QueueStatus) // bounded; worst case one repeat each
			}
			r.shown[e.ChatID] = st
		}
		r.mu.Unlock()
		if seen && old == st {
			continue
		}
		s.publish(bus.Event{Type: TypeQueue, SiteID: e.SiteID, ConversationID: e.ConversationID,
			ContactID: r.contactOf(ctx, e.ConversationID), Visibility: model.Public,
			Frame: protocol.Event(TypeQueue, e.ConversationID, 0, st)})
	}
}

func (r *router) contactOf(ctx context.Context, convID int64) int64 {
	ref, err := r.s.ref(ctx, convID)
	if err != nil {
		return 0
	}
	return ref.ContactID
}

// status is what the visitor at position (1-based) is told, within what
// the site chose to show.
func (r *router) status(qs queueSettings, e model.QueueEntry, position, staffed int) QueueStatus {
	st := QueueStatus{ChatID: e.ChatID, Message: qs.site.Routing.QueueMessage}
	if qs.showPosition() {
		st.Position = position
	}
	if qs.showEstimate() && staffed > 0 {
		if d, ok := r.est.Estimate(e.DepartmentID, position, staffed); ok {
			st.EstimateSeconds = int(d / time.Second)
		}
	}
	return st
}

// QueueStatusOf returns where a visitor's queued chat stands, or nil when
// it is not queued (answered, ended, or never asked for a human).
func (s *Service) queueStatusOf(ctx context.Context, chatID int64) (*QueueStatus, error) {
	e, err := s.st.GetQueueEntry(ctx, chatID)
	if apperr.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	k := queueKey{e.SiteID, e.DepartmentID}
	qs, err := s.settingsFor(ctx, s.st, k)
	if err != nil {
		return nil, err
	}
	// Counted with the queue's index, not by reading the queue.
	pos, err := s.st.QueuePosition(ctx, chatID, qs.strategy == routing.PriorityBased)
	if apperr.IsNotFound(err) {
		return nil, nil // answered meanwhile
	}
	if err != nil {
		return nil, err
	}
	staffed := 0
	if qs.showEstimate() {
		// Counted by the store: reading every agent cost ~2 ms at 1,000.
		if n, err := s.st.CountStaffedAgents(ctx, k.site, k.dept); err == nil {
			staffed = n
		}
	}
	st := s.router.status(qs, e, pos, staffed)
	return &st, nil
}

// ---- agents' consoles: presence with a grace period

// StaffConnected records that one of a user's consoles connected to this
// node. It does not block.
func (s *Service) StaffConnected(userID int64) {
	r := s.router
	r.mu.Lock()
	p := r.presenceOf(userID)
	p.local++
	p.gen++
	first := p.local == 1
	r.mu.Unlock()
	r.cancel(timerKey{timerGrace, 0, userID})
	if first {
		s.publishStaffPresence(userID, true)
	}
}

// StaffDisconnected records that one of a user's consoles here closed. When
// it was their last one on every node, they are set offline after the
// grace period (unless a console comes back).
func (s *Service) StaffDisconnected(userID int64) {
	r := s.router
	r.mu.Lock()
	p := r.presenceOf(userID)
	if p.local > 0 {
		p.local--
	}
	p.gen++
	gen, last := p.gen, p.local == 0
	r.mu.Unlock()
	if !last {
		return
	}
	s.publishStaffPresence(userID, false)
	r.async(func() { r.startGrace(userID, gen) })
}

func (r *router) presenceOf(userID int64) *staffPresence {
	p := r.staff[userID]
	if p == nil {
		p = &staffPresence{remote: map[string]time.Time{}}
		r.staff[userID] = p
	}
	return p
}

// graceFor is the shortest disconnect grace of the user's sites.
func (s *Service) graceFor(ctx context.Context, userID int64) time.Duration {
	grace := defaultDisconnectGrace
	sites, err := s.st.UserSiteIDs(ctx, userID)
	if err != nil {
		return grace
	}
	first := true
	for _, id := range sites {
		site, err := s.st.GetSite(ctx, id)
		if err != nil {
			continue
		}
		g := defaultDisconnectGrace
		if site.Routing.DisconnectGraceSeconds > 0 {
			g = time.Duration(site.Routing.DisconnectGraceSeconds) * time.Second
		}
		if first || g < grace {
			grace, first = g, false
		}
	}
	return grace
}

func (r *router) startGrace(userID int64, gen int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	grace := r.s.graceFor(ctx, userID)
	cancel()
	r.schedule(timerKey{timerGrace, 0, userID}, r.s.clk.Now().Add(grace), func() { r.graceOver(userID, gen) })
}

// remoteTTL is how long another node's word that a console is open counts.
const remoteTTL = 2 * sweepEvery

// connectedAnywhere reports whether the user has a console on any node.
func (r *router) connectedAnywhere(userID int64, gen int) (stale bool, connected bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.presenceOf(userID)
	if p.gen != gen {
		return true, p.local > 0
	}
	if p.local > 0 {
		return false, true
	}
	now := r.s.clk.Now()
	for node, at := range p.remote {
		if now.Sub(at) < remoteTTL {
			return false, true
		}
		delete(p.remote, node)
	}
	return false, false
}

// graceOver sets a user whose consoles are all gone offline for chat, and
// arms the requeue of their chats when a site asks for it.
func (r *router) graceOver(userID int64, gen int) {
	if stale, connected := r.connectedAnywhere(userID, gen); stale || connected {
		return
	}
	s := r.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil || !u.Availability.Online() {
			return err
		}
		u.Availability, u.UpdatedAt = model.Offline, s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.announceAvailability(ctx, tx, u)
	})
	if err != nil {
		s.log.Error("set a disconnected agent offline", "user", userID, "err", err)
		return
	}
	r.armRequeue(ctx, userID)
}

// armRequeue schedules, for each live chat the user is assigned, its return
// to the queue after the site's requeue delay without a reply.
func (r *router) armRequeue(ctx context.Context, userID int64) {
	s := r.s
	page, err := s.st.ListConversations(ctx, store.ConversationFilter{AssigneeID: userID, ChatLive: true, Limit: 200})
	if err != nil {
		return
	}
	for _, c := range page.Conversations {
		qs, err := s.settingsFor(ctx, s.st, queueKey{c.SiteID, c.DepartmentID})
		if err != nil || qs.requeueAfter <= 0 {
			continue
		}
		convID := c.ID
		r.schedule(timerKey{timerRequeue, convID, userID}, s.clk.Now().Add(qs.requeueAfter), func() { r.requeue(convID, userID) })
	}
}

// requeue takes a still-offline agent out of a chat and puts it back in
// the queue, unless they replied since they went offline.
func (r *router) requeue(convID, userID int64) {
	s := r.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := s.st.GetUser(ctx, userID)
	if err != nil || u.Availability.Online() {
		return
	}
	a := Actor{Party: model.PartyAgent, User: u}
	if _, err := s.leave(ctx, a, convID, true); err != nil && apperr.CodeOf(err) != "not_a_participant" && apperr.CodeOf(err) != "chat_ended" {
		s.log.Error("requeue a disconnected agent's chat", "conversation", convID, "user", userID, "err", err)
	}
}

// staffPresenceNote is the data of a routing presence announcement.
type staffPresenceNote struct {
	UserID    int64 `json:"user_id"`
	Connected bool  `json:"connected"`
}

func (s *Service) publishStaffPresence(userID int64, connected bool) {
	s.publish(bus.Event{Type: bus.TypeStaffPresence, UserID: userID, Visibility: model.Internal,
		Frame: mustJSON(staffPresenceNote{UserID: userID, Connected: connected})})
}

// refreshStaff re-announces the consoles open here, so other nodes keep
// knowing (their knowledge expires after remoteTTL).
func (r *router) refreshStaff() {
	r.mu.Lock()
	var users []int64
	for id, p := range r.staff {
		if p.local > 0 {
			users = append(users, id)
		}
	}
	r.mu.Unlock()
	for _, id := range users {
		r.s.publishStaffPresence(id, true)
	}
}

// observe handles events from other nodes that the router needs: their
// consoles, their offers (to time them out should they die), the waits
// they saw end (for estimates) and what they told visitors.
func (r *router) observe(e bus.Event) {
	switch e.Type {
	case bus.TypeStaffPresence:
		if e.Origin == r.s.node {
			return
		}
		var n staffPresenceNote
		if json.Unmarshal(e.Frame, &n) != nil {
			return
		}
		r.mu.Lock()
		p := r.presenceOf(n.UserID)
		if n.Connected {
			p.remote[e.Origin] = r.s.clk.Now()
		} else {
			delete(p.remote, e.Origin)
		}
		r.mu.Unlock()
	case TypeOffer:
		if e.Origin == r.s.node {
			return
		}
		var f struct {
			Data OfferEvent `json:"data"`
		}
		if json.Unmarshal(e.Frame, &f) == nil {
			if f.Data.Offer.State == model.OfferPending {
				r.scheduleOffer(f.Data.Offer)
			} else {
				r.cancel(timerKey{timerOffer, f.Data.Offer.ChatID, f.Data.Offer.UserID})
			}
		}
	case bus.TypeWaitSample:
		var w waitSample
		if json.Unmarshal(e.Frame, &w) == nil {
			r.est.Observe(w.DepartmentID, time.Duration(w.Millis)*time.Millisecond)
		}
	case TypeQueue:
		if e.Origin == r.s.node {
			return
		}
		var f struct {
			Data QueueStatus `json:"data"`
		}
		if json.Unmarshal(e.Frame, &f) == nil {
			r.mu.Lock()
			r.shown[f.Data.ChatID] = f.Data
			r.mu.Unlock()
		}
	}
}

// waitSample is a wait that just ended, for every node's estimator.
type waitSample struct {
	DepartmentID int64 `json:"department_id"`
	Millis       int64 `json:"millis"`
}

func (s *Service) publishWaitSample(dept int64, wait time.Duration) {
	s.publish(bus.Event{Type: bus.TypeWaitSample, Visibility: model.Internal,
		Frame: mustJSON(waitSample{DepartmentID: dept, Millis: wait.Milliseconds()})})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed, marshalable types are passed
	}
	return b
}
