package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInDeadlineOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(start)
	var order []string
	c.AfterFunc(3*time.Second, func() { order = append(order, "c") })
	c.AfterFunc(time.Second, func() {
		order = append(order, "a")
		// A callback may schedule another timer that is due within the same Advance.
		c.AfterFunc(time.Second, func() { order = append(order, "b") })
	})
	stopped := c.AfterFunc(2500*time.Millisecond, func() { order = append(order, "x") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	c.Advance(3 * time.Second)
	if got := len(order); got != 3 || order[0] != "a" || order[1] != "b" || order[2] != "c" {
		t.Fatalf("order %v", order)
	}
	if !c.Now().Equal(start.Add(3 * time.Second)) {
		t.Fatalf("now %v", c.Now())
	}
	if stopped.Stop() {
		t.Fatal("second Stop returned true")
	}
}

func TestFakeNeverGoesBack(t *testing.T) {
	start := time.Unix(100, 0)
	c := NewFake(start)
	c.Set(time.Unix(50, 0))
	if !c.Now().Equal(start) {
		t.Fatalf("clock went back to %v", c.Now())
	}
}
