package main

import (
	"cmp"
	"slices"
	"time"
)

// summary is what a measurement's samples add up to. Latency percentiles
// are exact (nearest rank over every recorded duration) and include failed
// requests: a request that waited five seconds for an error was waited for.
type summary struct {
	Requests  int
	Elapsed   time.Duration
	PerSecond float64
	P50       time.Duration
	P95       time.Duration
	P99       time.Duration
	Max       time.Duration
	Transport int // requests without an HTTP response
	Status    int // responses other than 200
	GraphQL   int // 200 responses with GraphQL errors
	Degraded  int // responses listing extensions.degraded
	// CPU is the processor time spent while the requests ran.
	CPU cpuWindow
	// Codes counts failures by the first GraphQL error's code, the HTTP
	// status, or the kind of transport failure.
	Codes map[string]int
}

// Errors is every failed request, of any kind.
func (s summary) Errors() int { return s.Transport + s.Status + s.GraphQL }

func summarize(c collected) summary {
	s := summary{Requests: len(c.samples), Elapsed: c.elapsed, CPU: c.cpu}
	if s.Requests == 0 {
		return s
	}
	ds := make([]time.Duration, len(c.samples))
	for i, x := range c.samples {
		ds[i] = x.d
		switch x.outcome {
		case outcomeTransport:
			s.Transport++
		case outcomeStatus:
			s.Status++
		case outcomeGraphQL:
			s.GraphQL++
		}
		if x.degraded {
			s.Degraded++
		}
		if x.outcome != outcomeOK {
			if s.Codes == nil {
				s.Codes = map[string]int{}
			}
			s.Codes[cmp.Or(x.code, "no code")]++
		}
	}
	slices.Sort(ds)
	s.P50, s.P95, s.P99 = percentile(ds, 50), percentile(ds, 95), percentile(ds, 99)
	s.Max = ds[len(ds)-1]
	if c.elapsed > 0 {
		s.PerSecond = float64(s.Requests) / c.elapsed.Seconds()
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted: the
// smallest value with at least p% of the values at or below it.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(rank, 1)-1]
}
