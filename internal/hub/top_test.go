package hub

import (
	"fmt"
	"testing"
	"time"
)

// Top lists the channels with the most local subscribers, then the most
// publications, and never more than asked.
func TestTop(t *testing.T) {
	f := newFixture(t, 16)
	for i := range 20 {
		for j := 0; j <= i%5; j++ {
			f.subscribe(t, &recorder{}, fmt.Sprintf("ch:%02d", i), nil)
		}
	}
	for range 3 {
		f.publish(t, "ch:09")
	}
	waitTop := func() []ChannelStat {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			top := f.h.Top(3)
			if len(top) == 3 && top[0].Publications == 3 {
				return top
			}
		}
		t.Fatal("the publications were not counted")
		return nil
	}
	top := waitTop()
	want := []string{"ch:09", "ch:04", "ch:14"}
	for i, w := range want {
		if top[i].Channel != w || top[i].Subscribers != 5 {
			t.Fatalf("Top(3) = %+v, want %v with 5 subscribers each", top, want)
		}
	}
	if f.h.Top(0) != nil || len(f.h.Top(100)) != 20 {
		t.Fatal("Top's bound")
	}
}
