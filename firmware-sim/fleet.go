package firmwaresim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Options are what a run needs besides its scenario.
type Options struct {
	Hub      Hub
	Target   Target
	MQTT     MQTT
	Accounts []Account // in order: the first group takes the first Count, and so on
	// LoginRate caps new logins per second, so that a large fleet does not
	// trip the hub's connection-rate limit (0: 100/s).
	LoginRate float64
	Stats     *Stats
	// Acked, when set, is told of every fix the hub (or broker)
	// acknowledged, from the device's goroutine.
	Acked func(Account, Fix)
	// Hold, when set, keeps each device from sending its first fix until
	// Hold is closed: connected, it waits. A benchmark brings a whole
	// fleet online this way before it starts measuring publishes, so
	// that logins do not compete with them.
	Hold <-chan struct{}
}

// NewFleet builds the devices of a scenario, each with its account, its
// movement and its own random source.
func NewFleet(sc *Scenario, opt Options) ([]*Device, error) {
	need := 0
	for _, g := range sc.Groups {
		need += g.Count
	}
	if len(opt.Accounts) < need {
		return nil, fmt.Errorf("the scenario has %d devices but there are %d accounts", need, len(opt.Accounts))
	}
	var out []*Device
	next := 0
	for gi := range sc.Groups {
		g := &sc.Groups[gi]
		for i := range g.Count {
			acct := opt.Accounts[next]
			next++
			rng := sc.Rand(g.Name, i)
			mover, err := g.NewMover(rng)
			if err != nil {
				return nil, fmt.Errorf("group %s: %w", g.Name, err)
			}
			d := &Device{Account: acct, rng: rng, mover: mover, stats: opt.Stats, behaviour: g.Behaviour(), onAck: opt.Acked, hold: opt.Hold}
			if g.Telemetry != nil {
				d.sensors = NewSensors(*g.Telemetry, rng)
			}
			switch g.Transport {
			case "mqtt":
				if opt.MQTT.Broker == "" {
					return nil, fmt.Errorf("group %s uses MQTT but no broker is given", g.Name)
				}
				d.out = newMQTTTransport(opt.MQTT, acct)
			default:
				if d.out, err = newXMPPTransport(opt.Hub, acct, opt.Target); err != nil {
					return nil, err
				}
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// Run runs a fleet until ctx ends (or the scenario's duration passes),
// starting devices at the login rate. It returns once every device has
// disconnected.
func Run(ctx context.Context, sc *Scenario, opt Options) error {
	if opt.Stats == nil {
		return errors.New("firmwaresim: Options.Stats is required")
	}
	fleet, err := NewFleet(sc, opt)
	if err != nil {
		return err
	}
	if sc.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sc.Duration)
		defer cancel()
	}
	rate := opt.LoginRate
	if rate <= 0 {
		rate = 100
	}
	every := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	for i, d := range fleet {
		if i > 0 && !sleep(ctx, every) {
			break
		}
		wg.Go(func() { d.Run(ctx) })
	}
	wg.Wait()
	return nil
}
