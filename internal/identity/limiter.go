package identity

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"switchboard/internal/clock"
)

// DefaultMaxKeys is how many keys a Limiter tracks at most.
const DefaultMaxKeys = 100_000

// Limiter is a keyed token-bucket rate limiter (one golang.org/x/time/rate
// bucket per key) driven by an injected clock, so tests advance a fake clock
// instead of sleeping. It is safe for concurrent use.
//
// Memory is bounded: a key idle for long enough that its bucket has refilled
// completely is forgotten (forgetting it changes nothing: a new bucket starts
// full too), and at most DefaultMaxKeys keys are kept; past that the least
// recently used key is evicted even if its bucket is not full, which gives it
// a fresh bucket. With a flood of distinct keys a single key may therefore
// get more than its burst; the bound on memory takes precedence.
type Limiter struct {
	clk     clock.Clock
	limit   rate.Limit
	burst   int
	idle    time.Duration // after this long unused, a bucket is full again
	maxKeys int

	mu   sync.Mutex
	keys map[string]*list.Element // of *limiterEntry
	lru  list.List                // front: most recently used
}

type limiterEntry struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

// NewLimiter returns a limiter that allows, per key, burst events at once
// and then one event per every. every <= 0 means no refill (at most burst
// events per key, while the key is remembered); burst < 1 is treated as 1.
func NewLimiter(clk clock.Clock, every time.Duration, burst int) *Limiter {
	if burst < 1 {
		burst = 1
	}
	l := &Limiter{
		clk:     clk,
		burst:   burst,
		maxKeys: DefaultMaxKeys,
		keys:    make(map[string]*list.Element),
	}
	if every > 0 {
		l.limit = rate.Every(every)
		l.idle = every * time.Duration(burst)
	} else {
		l.limit = 0
		l.idle = 0 // never refills: never evicted as idle
	}
	return l
}

// maxKeyBytes bounds the memory one key costs: longer keys (an attacker's
// megabyte-long "email") are replaced by their SHA-256.
const maxKeyBytes = 64

// Allow reports whether one event for key may happen now, and if so consumes
// it. Keys longer than 64 bytes are tracked by their SHA-256, so a key costs
// bounded memory whatever its length.
func (l *Limiter) Allow(key string) bool {
	if len(key) > maxKeyBytes {
		h := sha256.Sum256([]byte(key))
		key = string(h[:])
	}
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)
	el, ok := l.keys[key]
	if ok {
		l.lru.MoveToFront(el)
	} else {
		for len(l.keys) >= l.maxKeys {
			l.remove(l.lru.Back())
		}
		el = l.lru.PushFront(&limiterEntry{key: key, lim: rate.NewLimiter(l.limit, l.burst)})
		l.keys[key] = el
	}
	e := el.Value.(*limiterEntry)
	e.last = now
	return e.lim.AllowN(now, 1)
}

// Len returns how many keys the limiter currently tracks.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// evictIdle forgets keys, least recently used first, whose buckets have
// refilled completely. Amortised O(1) per Allow: each key is evicted once.
func (l *Limiter) evictIdle(now time.Time) {
	if l.idle <= 0 {
		return
	}
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		if now.Sub(el.Value.(*limiterEntry).last) < l.idle {
			return
		}
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*limiterEntry).key)
	l.lru.Remove(el)
}
