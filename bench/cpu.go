package main

import (
	"time"
)

// cpuWindow is the processor time spent over one or more measured
// windows: by this process (gateway, simulator and load generator alike),
// by every other process of the machine (user and system time), and stolen
// by the hypervisor. Figures taken on a shared machine mean little without
// it.
type cpuWindow struct {
	Known  bool
	Wall   time.Duration
	Self   time.Duration
	Others time.Duration
	Steal  time.Duration
}

// add sums two windows (for measurements over several rounds).
func (w cpuWindow) add(o cpuWindow) cpuWindow {
	if w.Wall == 0 {
		return o
	}
	if o.Wall == 0 {
		return w
	}
	return cpuWindow{
		Known: w.Known && o.Known, Wall: w.Wall + o.Wall,
		Self: w.Self + o.Self, Others: w.Others + o.Others, Steal: w.Steal + o.Steal,
	}
}

// cores turns a processor time into the average number of cores it kept
// busy over the window.
func (w cpuWindow) cores(d time.Duration) float64 {
	if w.Wall <= 0 {
		return 0
	}
	return d.Seconds() / w.Wall.Seconds()
}

// cpuMark is the processor counters at one moment.
type cpuMark struct {
	at    time.Time
	known bool
	self  time.Duration // this process, user and system
	busy  time.Duration // the whole machine's user and system time
	steal time.Duration
}

// window returns the processor time spent between m and a later mark.
func (m cpuMark) window(later cpuMark) cpuWindow {
	w := cpuWindow{Known: m.known && later.known, Wall: later.at.Sub(m.at)}
	if !w.Known {
		return w
	}
	w.Self = later.self - m.self
	w.Others = max(0, later.busy-m.busy-w.Self)
	w.Steal = later.steal - m.steal
	return w
}
