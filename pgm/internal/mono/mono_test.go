package mono_test

import (
	"testing"
	"time"

	"github.com/tickcast/tickcast/pgm/internal/mono"
)

func TestClockNeverGoesBackwards(t *testing.T) {
	epoch := time.Unix(1_700_000_000, 0)
	c := mono.New(epoch)
	steps := []struct {
		now  time.Duration // after the epoch
		want int64
	}{
		{0, 0},
		{5 * time.Millisecond, 5e6},
		{3 * time.Millisecond, 5e6}, // earlier: stays at the latest seen
		{-time.Second, 5e6},         // before the epoch: likewise
		{7 * time.Millisecond, 7e6},
	}
	for _, s := range steps {
		if got := c.At(epoch.Add(s.now)); got != s.want {
			t.Fatalf("At(epoch%+v) = %d, want %d", s.now, got, s.want)
		}
	}
	if c.Last() != 7e6 {
		t.Errorf("Last() = %d, want 7e6", c.Last())
	}
	if got, want := c.Time(c.Last()), epoch.Add(7*time.Millisecond); !got.Equal(want) {
		t.Errorf("Time(Last()) = %v, want %v", got, want)
	}
}
