package resolvers

import (
	"testing"
	"time"

	gqlmodel "meridian/graph/model"
)

func TestPeriodRangeFollowsTheShanghaiCalendar(t *testing.T) {
	// Sunday 2026-11-22 23:30 in Shanghai is 15:30 UTC the same day.
	now := time.Date(2026, 11, 22, 15, 30, 0, 0, time.UTC)
	shanghai := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 0, 0, 0, 0, time.FixedZone("", 8*3600)).UTC()
	}
	tests := []struct {
		period gqlmodel.Period
		from   time.Time
	}{
		{gqlmodel.PeriodToday, shanghai(2026, 11, 22)},
		{gqlmodel.PeriodThisWeek, shanghai(2026, 11, 16)}, // the week starts on Monday
		{gqlmodel.PeriodThisMonth, shanghai(2026, 11, 1)},
		{gqlmodel.PeriodLast30Days, now.Add(-30 * 24 * time.Hour)},
		{gqlmodel.PeriodThisYear, shanghai(2026, 1, 1)},
	}
	for _, tt := range tests {
		t.Run(string(tt.period), func(t *testing.T) {
			from, to := periodRange(tt.period, now)
			if !from.Equal(tt.from) || !to.Equal(now) {
				t.Errorf("got [%v, %v), want [%v, %v)", from, to, tt.from, now)
			}
		})
	}
	// Just after midnight in Shanghai, TODAY has begun although UTC is
	// still on the previous day.
	early := time.Date(2026, 11, 22, 16, 5, 0, 0, time.UTC) // 00:05 on the 23rd in Shanghai
	if from, _ := periodRange(gqlmodel.PeriodToday, early); !from.Equal(shanghai(2026, 11, 23)) {
		t.Errorf("TODAY at 00:05 Shanghai starts %v, want %v", from, shanghai(2026, 11, 23))
	}
}
