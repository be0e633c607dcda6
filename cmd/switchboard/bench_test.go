package main

import (
	"strings"
	"testing"
	"time"
)

func TestBenchHelpAndDirection(t *testing.T) {
	out, err := runCLI(t, 5*time.Second, "", "bench", "-h")
	if err != nil {
		t.Fatalf("bench -h: %v", err)
	}
	for _, want := range []string{"--direction agent", "-direction string", "-max-in-flight", "one agent socket per chat"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench -h does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cpuprofile") {
		t.Errorf("bench -h lists the developer flag --cpuprofile:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--target", "http://127.0.0.1:1", "--direction", "sideways"}, `--direction "sideways"`},
		{[]string{"bench", "--target", "http://127.0.0.1:1", "--direction", "agent", "--agent-replies"}, "--agent-replies"},
		{[]string{"bench", "--target", "http://127.0.0.1:1", "--direction", "both", "--idle"}, "--idle"},
	} {
		_, err := runCLI(t, 10*time.Second, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to mention %s", c.args, err, c.want)
		}
	}
}
