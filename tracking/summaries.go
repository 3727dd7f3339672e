package tracking

import (
	"fmt"
	"strings"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
)

// Daily summaries: an operator who sends "summary daily 06:30" gets each
// day at 06:30 UTC the summary of the day before, a chat message from the
// hub's JID (kept offline until they log in); "summary daily off" stops
// it. The choice is stored with the geo data (geoloc.SetDailySummary).

// summaryCheck is how often the time of the summaries is checked.
const summaryCheck = 20 * time.Second

func (app *App) cmdDailySummary(a devices.Account, args []string) string {
	const usage = "Usage: summary daily HH:MM (UTC) or summary daily off"
	if len(args) != 1 {
		return usage
	}
	me := app.accounts.JID(a.Name)
	if strings.EqualFold(args[0], "off") {
		if err := app.geo.SetDailySummary(me, 0, false); err != nil {
			return "Not changed: " + err.Error()
		}
		return "You no longer get a daily summary."
	}
	hm, err := time.Parse("15:04", args[0])
	if err != nil {
		return usage
	}
	at := time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute
	if err := app.geo.SetDailySummary(me, at, true); err != nil {
		return "Not changed: " + err.Error()
	}
	return fmt.Sprintf("You get the summary of the day before every day at %s UTC. Send summary daily off to stop.", hm.Format("15:04"))
}

// sendSummaries sends the daily summaries as they fall due, until the
// sweep stops.
func (app *App) sendSummaries() {
	defer close(app.summaryDone)
	t := time.NewTicker(summaryCheck)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-app.sweepStop:
			return
		case now := <-t.C:
			app.dueSummaries(last, now)
			last = now
		}
	}
}

// dueSummaries sends the summaries whose time of day falls in (last, now],
// each of the day before it. An account no longer an operator or admin is
// dropped from the list.
func (app *App) dueSummaries(last, now time.Time) {
	for jid, at := range app.geo.DailySummaries() {
		a, ok := app.accounts.Get(short(jid))
		if !ok || !a.Role.Watches() || app.accounts.JID(a.Name) != jid {
			app.geo.SetDailySummary(jid, 0, false)
			continue
		}
		for day := last.UTC().Truncate(24 * time.Hour); !day.After(now); day = day.AddDate(0, 0, 1) {
			if due := day.Add(at); due.After(last) && !due.After(now) {
				app.hub.SendChat(hub.Chat{To: jid, ID: "summary-" + day.Format("20060102"), Body: app.summary(a, day.AddDate(0, 0, -1))})
			}
		}
	}
}
