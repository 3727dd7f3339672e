package geoloc

import (
	"cmp"
	"slices"
	"time"
)

// DaySummary is a device's day: what its trips and stops add up to.
// A trip or stop belongs wholly to the day it starts in, so a trip across
// midnight counts in the day it set off (and the sum over the days is the
// sum over the trips).
type DaySummary struct {
	Day      string        // YYYY-MM-DD in the summary's time zone
	Distance float64       // metres driven
	Driving  time.Duration // time on trips
	Idle     time.Duration // time at stops
	MaxSpeed float64       // m/s
	Trips    int
	Stops    int
}

// Summarize adds trips and stops up by the day, in loc, that each starts
// in; days without either are left out. Days come oldest first.
func Summarize(trips []Trip, stops []Stop, loc *time.Location) []DaySummary {
	days := map[string]*DaySummary{}
	day := func(t time.Time) *DaySummary {
		k := t.In(loc).Format(time.DateOnly)
		d := days[k]
		if d == nil {
			d = &DaySummary{Day: k}
			days[k] = d
		}
		return d
	}
	for _, t := range trips {
		d := day(t.Start)
		d.Distance += t.Distance
		d.Driving += t.Duration()
		d.MaxSpeed = max(d.MaxSpeed, t.MaxSpeed)
		d.Trips++
	}
	for _, s := range stops {
		d := day(s.Arrival)
		d.Idle += s.Duration()
		d.Stops++
	}
	out := make([]DaySummary, 0, len(days))
	for _, d := range days {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DaySummary) int { return cmp.Compare(a.Day, b.Day) })
	return out
}
