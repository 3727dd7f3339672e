package firmwaresim

import "time"

// Fix is one position report of a simulated device.
type Fix struct {
	Time     time.Time
	Lat, Lon float64 // degrees
	Speed    float64 // metres per second
	Bearing  float64 // degrees from true north, [0, 360)
	Accuracy float64 // metres, the horizontal error the device claims
}

// Mover moves one device. Next advances it by dt (the time since the last
// call) and returns where it is at t, with the speed and bearing of that
// movement. Movers are not safe for concurrent use: each device has its own.
type Mover interface {
	Next(t time.Time, dt time.Duration) Fix
}
