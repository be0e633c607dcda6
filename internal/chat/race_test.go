package chat_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"switchboard/internal/blob"
	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore"
	"switchboard/internal/store/sqlstore/pgtest"
)

// raceNode is one chat service (a node) on a shared store.
type raceNode struct {
	st  store.Store
	svc *chat.Service
}

func newRaceNode(t *testing.T, st store.Store, b bus.Bus, name string) raceNode {
	t.Helper()
	blobs, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := chat.New(chat.Config{Store: st, Bus: b, Blobs: blobs, Clock: clock.Real{}, NodeID: name,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(svc.StopRouting)
	return raceNode{st: st, svc: svc}
}

// assignmentRace has visitors request chats on every node at once while
// agents on every node end what they were given, and checks that routing
// never offered a chat twice, never gave an agent more than their capacity,
// and that every offer is accounted for in the agents' loads.
func assignmentRace(t *testing.T, nodes []raceNode) {
	ctx := context.Background()
	admin := chat.Actor{Party: model.PartyAgent, User: model.User{Role: model.RoleAdmin, Name: "root"}}
	n0 := nodes[0]
	site := must(n0.svc.CreateSite(ctx, admin, chat.SiteInput{Name: ptr("Race"),
		Key: ptr(fmt.Sprintf("race%d", time.Now().UnixNano()))}))
	rs := model.RoutingSettings{Strategy: "round_robin"}
	must(n0.svc.UpdateSite(ctx, admin, site.ID, chat.SiteInput{Routing: &rs}))
	const agents, capacity, visitors = 6, 2, 48
	var staff []chat.Actor
	for i := range agents {
		u := model.User{Email: fmt.Sprintf("a%d-%d@race.test", i, site.ID), Name: fmt.Sprintf("A%d", i), Role: model.RoleAgent,
			Availability: model.Available, Capacity: capacity, MaxCapacity: 10}
		if err := n0.st.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateUser(ctx, &u); err != nil {
				return err
			}
			return tx.SetUserSites(ctx, u.ID, []int64{site.ID})
		}); err != nil {
			t.Fatal(err)
		}
		staff = append(staff, must(n0.svc.StaffActor(ctx, u)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, visitors)
	for i := range visitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[i%len(nodes)]
			vs, err := n.svc.StartVisitor(ctx, site.Key, "")
			if err != nil {
				errs <- err
				return
			}
			v, _, err := n.svc.AuthenticateVisitor(ctx, vs.Token)
			if err != nil {
				errs <- err
				return
			}
			if _, err := n.svc.RequestChat(ctx, v, chat.RequestChatInput{}); err != nil {
				errs <- err
			}
		}()
	}
	// Meanwhile each agent, on its own node, takes and ends what it is
	// offered, which frees room and makes every node dispatch again.
	stop := make(chan struct{})
	var agentsWG sync.WaitGroup
	for i, a := range staff {
		agentsWG.Add(1)
		go func() {
			defer agentsWG.Done()
			n := nodes[i%len(nodes)]
			for ended := 0; ended < 3; {
				select {
				case <-stop:
					return
				default:
				}
				page, err := n.st.ListConversations(ctx, store.ConversationFilter{SiteID: site.ID, ChatLive: true, Limit: 200})
				if err != nil {
					errs <- err
					return
				}
				for _, c := range page.Conversations {
					os, err := n.st.ListOffers(ctx, store.OfferQuery{ChatID: c.ChatID, UserID: a.User.ID, PendingOnly: true})
					if err != nil || len(os) == 0 {
						continue
					}
					if _, err := n.svc.Join(ctx, a, c.ID); err != nil {
						continue // withdrawn in between: fine
					}
					if _, err := n.svc.End(ctx, a, c.ID); err == nil {
						ended++
					}
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	agentsWG.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.svc.SettleRouting()
	}
	// The store's truth.
	page := must(n0.st.ListConversations(ctx, store.ConversationFilter{SiteID: site.ID, Limit: 200}))
	held := map[int64]int{}
	offered := 0
	for _, c := range page.Conversations {
		os := must(n0.st.ListOffers(ctx, store.OfferQuery{ChatID: c.ChatID}))
		pending, accepted := 0, 0
		for _, o := range os {
			switch o.State {
			case model.OfferPending:
				pending++
				held[o.UserID]++
			case model.OfferAccepted:
				accepted++
			}
		}
		if pending > 1 || accepted > 1 || pending+accepted > 1 {
			t.Fatalf("chat %d: %d pending and %d accepted offers", c.ChatID, pending, accepted)
		}
		if pending == 1 {
			offered++
		}
		for _, p := range must(n0.st.ListParticipants(ctx, c.ChatID)) {
			if p.LeftAt.IsZero() {
				held[p.UserID]++
			}
		}
	}
	for _, a := range staff {
		u := must(n0.st.GetUser(ctx, a.User.ID))
		if held[u.ID] > capacity {
			t.Fatalf("%s holds %d chats, capacity %d", u.Name, held[u.ID], capacity)
		}
		if u.Load != held[u.ID] {
			t.Fatalf("%s stored load %d, truth %d", u.Name, u.Load, held[u.ID])
		}
	}
	if offered != agents*capacity {
		t.Fatalf("%d chats offered at the end, want every slot filled (%d): waiting chats left while agents had room", offered, agents*capacity)
	}
}

func TestAssignmentRaceSQLite(t *testing.T) {
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := bus.NewMemory()
	t.Cleanup(func() { b.Close() })
	assignmentRace(t, []raceNode{newRaceNode(t, st, b, "n1"), newRaceNode(t, st, b, "n2"), newRaceNode(t, st, b, "n3")})
}

// TestAssignmentRacePostgresTwoNodes runs the race on two stores (two
// writers, as two server instances have) sharing one PostgreSQL database.
func TestAssignmentRacePostgresTwoNodes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	if _, err := sqlstore.MigratePostgres(ctx, dsn, sqlstore.PostgresOptions{}); err != nil {
		t.Fatal(err)
	}
	b := bus.NewMemory() // events between the two; the claims go through the database
	t.Cleanup(func() { b.Close() })
	var nodes []raceNode
	for _, n := range []string{"pg-a", "pg-b"} {
		st, err := sqlstore.OpenPostgres(ctx, dsn, sqlstore.PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes = append(nodes, newRaceNode(t, st, b, n))
	}
	assignmentRace(t, nodes)
}
