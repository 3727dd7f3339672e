package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
)

// nodeConfig is the one node's configuration on every server: anyone may
// publish (the devices have no affiliation), anyone may subscribe, the
// last 10 items are kept and every notification carries its item.
var nodeConfig = map[string]string{
	"access_model":     "open",
	"publish_model":    "open",
	"max_items":        "10",
	"persist_items":    "true",
	"deliver_payloads": "true",
}

// runServer starts a server, runs the three phases against it and stops
// it, whatever happens. The idle phase comes first, on the fresh server,
// so that memory the later phases leave behind in the server's heap does
// not hide what idle sessions take.
func runServer(ctx context.Context, c benchConfig, kind string) (res benchResult, err error) {
	res.Server = kind
	say := func(format string, args ...any) {
		fmt.Fprintf(c.progress, "%s: %s\n", kind, fmt.Sprintf(format, args...))
	}
	accounts := max(c.logins, c.devices+c.abuse, c.idle)
	s, err := startServer(ctx, c, kind, accounts, func(msg string) { say("%s", msg) })
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w\nserver output:\n%s", err, s.logTail())
		}
		if serr := s.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		say("stopped")
	}()
	pid := s.pid()
	start, err := readProc(pid)
	if err != nil {
		return res, err
	}
	say("ready on %s, pid %d, open-files limit %d", s.addr(), pid, start.openFiles)
	if start.openFiles < int64(c.idle+64) {
		return res, fmt.Errorf("the server may open %d files; the idle phase needs %d: raise its limit (LimitNOFILE, "+
			"ulimit -n before starting the bench) or lower --idle", start.openFiles, c.idle+64)
	}
	hub, err := hubFor(s, c.timeout)
	if err != nil {
		return res, err
	}
	target := firmwaresim.Target{Service: c.serviceName, Node: c.nodeName}
	if sv, ok := s.(interface{ service() string }); ok {
		target.Service = sv.service()
	}

	// One subscriber, who creates the node first.
	pubStats := firmwaresim.NewStats(c.devices)
	sub, err := firmwaresim.Subscribe(ctx, firmwaresim.SubscriberOptions{Hub: hub, Account: s.subscriber(),
		Target: target, Stats: pubStats, Create: true, Config: nodeConfig})
	if err != nil {
		return res, fmt.Errorf("subscriber: %w", err)
	}
	defer sub.Close()

	if err := idlePhase(ctx, c, s, hub, &res, say); err != nil {
		return res, fmt.Errorf("idle phase: %w", err)
	}
	if err := loginPhase(ctx, c, s, hub, &res, say); err != nil {
		return res, fmt.Errorf("login phase: %w", err)
	}
	if err := publishPhase(ctx, c, s, hub, target, pubStats, sub, &res, say); err != nil {
		return res, fmt.Errorf("publish phase: %w", err)
	}
	end, err := readProc(pid)
	if err != nil {
		return res, err
	}
	res.PeakRSSMiB = mib(end.hwm)
	res.CPUTotalSeconds = round3((end.cpu - start.cpu).Seconds())
	return res, nil
}

// hubFor is how firmware-sim reaches s: its address, trusting its
// certificate.
func hubFor(s benchServer, timeout time.Duration) (firmwaresim.Hub, error) {
	pem, err := os.ReadFile(s.cert())
	if err != nil {
		return firmwaresim.Hub{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return firmwaresim.Hub{}, fmt.Errorf("%s holds no certificate", s.cert())
	}
	return firmwaresim.Hub{Addr: s.addr(), TLS: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, Timeout: timeout,
		Source: fleetSource}, nil
}

// fleetSource spreads the honest clients over 127.1.0.0/20 by account,
// a few accounts an address, as a real fleet comes from many addresses:
// the servers' limits per address stay at their defaults, and the
// abusive clients (127.0.0.2 to .5) trip them alone.
func fleetSource(account string) *net.TCPAddr {
	h := fnv.New32a()
	h.Write([]byte(account))
	n := h.Sum32() % 4096
	return &net.TCPAddr{IP: net.IPv4(127, 1, byte(n>>8), byte(n))}
}

// idlePhase connects c.idle devices that send initial presence and then
// nothing, and measures what the server's RSS grew by, each reading taken
// once the RSS has settled.
func idlePhase(ctx context.Context, c benchConfig, s benchServer, hub firmwaresim.Hub, res *benchResult, say func(string, ...any)) error {
	before, ok1, err := settle(ctx, s.pid(), c.settleEvery, time.Minute)
	if err != nil {
		return err
	}
	say("idle phase: RSS %.1f MiB, connecting %d devices", mib(before), c.idle)
	stats := firmwaresim.NewStats(c.idle)
	clients, _, err := connectAll(ctx, hub, s.accounts()[:c.idle], c.concurrency, true, stats)
	defer closeAll(clients)
	if err != nil {
		return err
	}
	n := 0
	for _, cl := range clients {
		if cl != nil {
			n++
		}
	}
	if n < c.idle {
		return fmt.Errorf("only %d of %d idle devices connected: %v", n, c.idle, stats.Summary().Errors)
	}
	after, ok2, err := settle(ctx, s.pid(), c.settleEvery, 2*time.Minute)
	if err != nil {
		return err
	}
	res.IdleDevices, res.IdleSettled = n, ok1 && ok2
	res.IdleBeforeMiB, res.IdleAfterMiB = round1(mib(before)), round1(mib(after))
	res.RSSPerDeviceKiB = round1(float64(after-before) / float64(n) / 1024)
	say("idle phase: RSS %.1f MiB with %d devices: %.1f KiB each", mib(after), n, res.RSSPerDeviceKiB)
	return nil
}

// loginPhase logs c.logins devices in, c.concurrency at a time, as fast
// as the server takes them; each stays connected until the last has
// logged in.
func loginPhase(ctx context.Context, c benchConfig, s benchServer, hub firmwaresim.Hub, res *benchResult, say func(string, ...any)) error {
	if _, _, err := settle(ctx, s.pid(), c.settleEvery, 30*time.Second); err != nil {
		return err
	}
	stats := firmwaresim.NewStats(c.logins)
	p0, err := readProc(s.pid())
	if err != nil {
		return err
	}
	clients, took, err := connectAll(ctx, hub, s.accounts()[:c.logins], c.concurrency, false, stats)
	p1, perr := readProc(s.pid())
	closeAll(clients)
	if err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	sum := stats.Summary()
	res.Logins, res.LoginErrors = sum.Logins, sum.ErrorsTotal
	if sum.Logins == 0 {
		return fmt.Errorf("no login succeeded: %v", sum.Errors)
	}
	res.LoginsPerS = round1(float64(sum.Logins) / took.Seconds())
	res.LoginCPUMicros = round1(float64((p1.cpu - p0.cpu).Microseconds()) / float64(sum.Logins))
	res.LoginP50Ms, res.LoginP99Ms = sum.LoginP50Ms, sum.LoginP99Ms
	say("login phase: %d logins in %v: %.0f/s, p50 %.2f ms, p99 %.2f ms", sum.Logins, took.Round(time.Millisecond),
		res.LoginsPerS, res.LoginP50Ms, res.LoginP99Ms)
	return nil
}

// connectAll logs accounts in, concurrency at a time, each with its
// login time in stats; with presence each then sends initial presence.
// It returns the clients (nil where the login failed) and how long it
// all took; an error only when ctx ended.
func connectAll(ctx context.Context, hub firmwaresim.Hub, accounts []firmwaresim.Account, concurrency int, presence bool,
	stats *firmwaresim.Stats) ([]*firmwaresim.Client, time.Duration, error) {
	clients := make([]*firmwaresim.Client, len(accounts))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(concurrency, len(accounts)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(accounts) {
					return
				}
				t := time.Now()
				cl, err := firmwaresim.Dial(ctx, hub, accounts[i], "bench")
				if err != nil {
					var f *firmwaresim.Failure
					kind := "other"
					if errors.As(err, &f) {
						kind = f.Kind
					}
					stats.Error(kind)
					continue
				}
				stats.LoginTook(time.Since(t))
				if presence {
					if err := cl.Available(ctx); err != nil {
						stats.Error("presence")
						cl.Close()
						continue
					}
				}
				clients[i] = cl
			}
		})
	}
	wg.Wait()
	return clients, time.Since(start), ctx.Err()
}

// closeAll ends the sessions, 64 at a time.
func closeAll(clients []*firmwaresim.Client) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, cl := range clients {
		if cl == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cl.Close()
		})
	}
	wg.Wait()
}

// publishPhase runs c.devices devices publishing fixes back to back (one
// publish in flight each, the next sent when the last is acknowledged) to
// the node, measures c.duration once all are online and warmed up, and
// then checks that the subscriber got a notification for every
// acknowledged fix.
func publishPhase(ctx context.Context, c benchConfig, s benchServer, hub firmwaresim.Hub, target firmwaresim.Target,
	stats *firmwaresim.Stats, sub *firmwaresim.Subscriber, res *benchResult, say func(string, ...any)) error {
	var err error
	if _, res.PublishSettled, err = settle(ctx, s.pid(), c.settleEvery, 30*time.Second); err != nil {
		return err
	}
	sc := firmwaresim.DefaultScenario(c.devices, firmwaresim.Box{})
	g := &sc.Groups[0]
	// An interval of 1 ns: a device sends its next fix as soon as the
	// last one is acknowledged.
	g.Name, g.Interval, g.Jitter, g.Telemetry = "bench", time.Nanosecond, 0, nil
	if c.rate > 0 {
		g.Interval, g.Jitter = time.Duration(float64(c.devices)/c.rate*float64(time.Second)), 0.5
	}
	// Devices come online at half the measured login rate, and hold
	// their first fix until all are online (or the time for that has
	// passed): logins do not compete with publishes, and every device
	// publishes from the start of the warm-up.
	rate := min(max(res.LoginsPerS/2, 20), 500)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ran := make(chan error, 1)
	hold := make(chan struct{})
	acks := newLastAcks()
	go func() {
		if c.lean {
			ran <- runLean(runCtx, hub, target, s.accounts()[:c.devices], rate, c.rate, stats, hold, acks.acked)
			return
		}
		ran <- firmwaresim.Run(runCtx, sc, firmwaresim.Options{Hub: hub, Target: target,
			Accounts: s.accounts()[:c.devices], LoginRate: rate, Stats: stats, Hold: hold, Acked: acks.acked})
	}()
	say("publish phase: %d devices coming online at %.0f/s", c.devices, rate)
	online := time.Now().Add(c.timeout + time.Duration(float64(c.devices)/rate*float64(time.Second)))
	for stats.Snapshot().Connected < int64(c.devices) && time.Now().Before(online) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-ran:
			return fmt.Errorf("the fleet stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	say("publish phase: %d devices online, publishing", stats.Snapshot().Connected)
	close(hold)
	var ab *abuse
	if c.abuse > 0 {
		// The abusive clients use the accounts after the devices'.
		ab = startAbuse(ctx, hub, s.accounts()[c.devices:c.devices+c.abuse], s.subscriber().JID)
		defer func() {
			if ab != nil {
				ab.stop()
			}
		}()
		say("publish phase: %d abusive clients started", c.abuse)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(c.warmup):
	}

	// The measurement: between two snapshots, whose windows cover it.
	m0, metrics, err := s.pressure()
	if err != nil {
		return fmt.Errorf("reading the server's metrics: %w", err)
	}
	p0, err := readProc(s.pid())
	if err != nil {
		return err
	}
	busy0, self0, s0 := machineBusy(), selfCPU(), stats.Snapshot()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(c.duration):
	}
	p1, err := readProc(s.pid())
	if err != nil {
		return err
	}
	busy1, self1, s1 := machineBusy(), selfCPU(), stats.Snapshot()
	if m1, _, err := s.pressure(); err != nil {
		return fmt.Errorf("reading the server's metrics: %w", err)
	} else if metrics && m1.Batches > m0.Batches {
		res.PublishesPerSync = round1(float64(s1.Acked-s0.Acked) / float64(m1.Batches-m0.Batches))
		if acked := s1.Acked - s0.Acked; acked > 0 {
			res.AllocKiBPerPublish = round1(float64(m1.Allocated-m0.Allocated) / 1024 / float64(acked))
		}
		res.GCsPerS = round1(float64(m1.GCs-m0.GCs) / c.duration.Seconds())
	}
	if ab != nil {
		counts := ab.stop()
		ab, res.Abuse = nil, &counts
		say("publish phase: abusive clients stopped: %+v", counts)
	}
	stopRun()
	<-ran
	// Once publishing stops, the subscriber should hold every device's
	// last acknowledged fix promptly, however far behind it was.
	stopped := time.Now()
	res.LatestAfterStopMs = -1
	for deadline := stopped.Add(10 * time.Second); time.Now().Before(deadline); {
		if res.DevicesBehind = acks.behind(sub); res.DevicesBehind == 0 {
			res.LatestAfterStopMs = ms(time.Since(stopped))
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}

	res.DevicesOnline = s0.Connected
	res.Publishes = s1.Acked - s0.Acked
	res.PublishesPerS = round1(s1.AckedPerSec)
	res.AckP50Ms, res.AckP90Ms, res.AckP99Ms = ms(s1.AckWindow.P50), ms(s1.AckWindow.P90), ms(s1.AckWindow.P99)
	res.Notifications = s1.Notified - s0.Notified
	res.NotificationsPerS = round1(s1.NotifiedPerSec)
	res.NotifyP50Ms, res.NotifyP90Ms, res.NotifyP99Ms = ms(s1.NotifyWindow.P50), ms(s1.NotifyWindow.P90), ms(s1.NotifyWindow.P99)
	res.CPUSeconds = round3((p1.cpu - p0.cpu).Seconds())
	res.LoadCPUSeconds = round3((self1 - self0).Seconds())
	res.LoadSharePct = round1(100 * (self1 - self0).Seconds() / (c.duration.Seconds() * float64(runtime.NumCPU())))
	// What else ran on the machine meanwhile: a figure to trust only when
	// this is near 0.
	res.OtherCPUSeconds = round3(max(busy1-busy0-(p1.cpu-p0.cpu)-(self1-self0), 0).Seconds())
	if res.Publishes > 0 {
		res.CPUMicrosPerPublish = round1(float64((p1.cpu - p0.cpu).Microseconds()) / float64(res.Publishes))
	}
	say("publish phase: %.0f publishes/s, ack p50 %.2f ms p99 %.2f ms; %.0f notifications/s, p50 %.2f ms p99 %.2f ms; server CPU %.2f s",
		res.PublishesPerS, res.AckP50Ms, res.AckP99Ms, res.NotificationsPerS, res.NotifyP50Ms, res.NotifyP99Ms, res.CPUSeconds)

	// Every fix acknowledged in the phase should reach the subscriber;
	// the last ones may still be on their way.
	sum := stats.Summary()
	res.PublishErrors, res.RefusedPublishes = sum.Errors, sum.RefusedUnexpected
	for deadline := time.Now().Add(10 * time.Second); sub.Received() < sum.Acked && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	res.NotificationsMissing = max(int64(sum.Acked)-int64(sub.Received()), 0)
	res.SubscriberConnected = sub.Connected()
	if p, ok, err := s.pressure(); err != nil {
		return fmt.Errorf("reading the server's metrics: %w", err)
	} else if ok {
		res.NotificationsConflated, res.PendingPeakKiB, res.SessionsCutOff = p.Conflated, round1(p.PendingPeak/1024), p.CutOff
	}
	if res.Publishes == 0 {
		return fmt.Errorf("no publish was acknowledged while measuring: errors %v, %d refused", sum.Errors, sum.RefusedUnexpected)
	}
	return nil
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }
func round3(f float64) float64   { return float64(int64(f*1000+0.5)) / 1000 }
