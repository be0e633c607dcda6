package routing

import (
	"math"
	"sync"
	"time"
)

// Estimator predicts how long a queued visitor will wait, from the waits
// that recently ended in the same department.
//
// The method: each department keeps an exponentially weighted moving
// average of recent waits (time from request to the first agent joining),
// weight Alpha for the newest. A chat at position p in a queue served by n
// eligible agents expects to wait about avg × ceil(p / n): the head of the
// queue waits about one average wait, and every n chats ahead add another.
// With no history yet the estimate is unknown (ok = false), so the widget
// shows the position alone instead of inventing a number. Estimates are
// rounded up to whole minutes above one minute, to 15 s below, so they do
// not flicker with every sample.
type Estimator struct {
	Alpha float64 // weight of the newest sample, 0 < Alpha ≤ 1; default 0.2

	mu  sync.Mutex
	avg map[int64]float64 // department → seconds
}

// NewEstimator returns an estimator with the default weight.
func NewEstimator() *Estimator { return &Estimator{Alpha: 0.2} }

// Observe records a wait that just ended (a chat was joined) in a department.
func (e *Estimator) Observe(department int64, wait time.Duration) {
	if wait < 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.avg == nil {
		e.avg = make(map[int64]float64)
	}
	alpha := e.Alpha
	if alpha <= 0 || alpha > 1 {
		alpha = 0.2
	}
	s := wait.Seconds()
	if old, ok := e.avg[department]; ok {
		e.avg[department] = alpha*s + (1-alpha)*old
	} else {
		e.avg[department] = s
	}
}

// Estimate returns the expected wait for position (1-based) in a queue
// served by agents eligible agents (at least one is assumed).
func (e *Estimator) Estimate(department int64, position, agents int) (time.Duration, bool) {
	e.mu.Lock()
	avg, ok := e.avg[department]
	e.mu.Unlock()
	if !ok || position < 1 {
		return 0, false
	}
	if agents < 1 {
		agents = 1
	}
	rounds := math.Ceil(float64(position) / float64(agents))
	d := time.Duration(avg * rounds * float64(time.Second))
	step := 15 * time.Second
	if d > time.Minute {
		step = time.Minute
	}
	if r := d % step; r != 0 {
		d += step - r
	}
	if d < step {
		d = step
	}
	return d, true
}
