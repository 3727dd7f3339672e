package tracking

import (
	"fmt"
	"slices"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
)

// Alerts for an operator who is away are not put in the offline store,
// where any account's messages could push them out: when the operator's
// first resource becomes available, the alerts recorded since they were
// last seen that name them and that they did not get are sent from the
// alert records (kept for --alert-retention), oldest first. All of it runs
// on the delivery goroutine, so that no alert is sent twice:
//
//   - sentUpTo[account] is the newest alert ID the account got (live or
//     caught up) while the process runs: a catch-up starts after it, and a
//     live alert up to it was already sent by a catch-up;
//   - while a catch-up is pending (the resource is already taking
//     messages), live alerts sent meanwhile are noted in liveSent and
//     skipped by it.

// maxCatchUp is the most missed alerts sent at login; older ones are left
// to the dashboard, and the operator is told so.
const maxCatchUp = 200

// Available is the hub's AvailabilityHandler: an operator's first resource
// takes messages. It only takes note, for the delivery goroutine.
func (app *App) Available(account, resource string) {
	a, ok := app.accounts.Get(account)
	if !ok || !a.Role.Watches() {
		return
	}
	app.pendingMu.Lock()
	app.pending[account] = true
	app.pendingMu.Unlock()
	select {
	case app.catchUps <- catchUp{account, resource}:
	default:
		app.log.Warn("too many logins at once: missed alerts not sent", "account", account)
		app.pendingMu.Lock()
		delete(app.pending, account)
		app.pendingMu.Unlock()
	}
}

func (app *App) isPending(account string) bool {
	app.pendingMu.Lock()
	defer app.pendingMu.Unlock()
	return app.pending[account]
}

// sendAlert sends one alert to the bare JID j, live only. On the delivery
// goroutine.
func (app *App) sendAlert(j string, e geoloc.Event) {
	local, _ := app.accountName(j)
	if e.ID <= app.sentUpTo[local] {
		return // a catch-up sent it
	}
	if !app.hub.SendChat(hub.Chat{To: j, ID: "alert-" + e.ID, Body: e.Body(), Payload: e.Element(), Live: true}) {
		return // the catch-up at the next login sends it
	}
	if app.isPending(local) {
		if app.liveSent[local] == nil {
			app.liveSent[local] = map[string]bool{}
		}
		app.liveSent[local][e.ID] = true
		return
	}
	app.sentUpTo[local] = max(app.sentUpTo[local], e.ID)
}

// catchUp is an account's resource that became available.
type catchUp struct{ account, resource string }

// sendMissed sends c's account the alerts it missed, to c's resource (which
// may not count as available yet), else to those that are. On the delivery
// goroutine.
func (app *App) sendMissed(c catchUp) {
	account := c.account
	defer app.catchUpsDone.Add(1)
	defer func() {
		app.pendingMu.Lock()
		delete(app.pending, account)
		app.pendingMu.Unlock()
		delete(app.liveSent, account)
	}()
	a, ok := app.accounts.Get(account)
	if !ok || !a.Role.Watches() {
		return
	}
	me := app.accounts.JID(account)
	to := me + "/" + c.resource
	q := geoloc.AlertQuery{From: a.LastSeen, Limit: geoloc.MaxAlertLimit}
	if a.Role != devices.RoleAdmin {
		q.Visible = func(d string) bool { return app.mayWatch(a, d) }
	}
	records, more, err := app.geo.QueryAlerts(q)
	if err != nil {
		app.log.Error("reading missed alerts", "account", account, "err", err)
		return
	}
	var missed []geoloc.Event
	for _, r := range records { // newest first
		if r.ID <= app.sentUpTo[account] {
			break
		}
		if slices.Contains(r.Notify, me) && !app.liveSent[account][r.ID] {
			missed = append(missed, r.Event)
		}
	}
	newest := app.sentUpTo[account]
	if len(records) > 0 {
		newest = max(newest, records[0].ID)
	}
	for id := range app.liveSent[account] {
		newest = max(newest, id)
	}
	if len(missed) > maxCatchUp || more != "" {
		n := ""
		if len(missed) > maxCatchUp {
			n = fmt.Sprintf("%d ", len(missed)-maxCatchUp)
			missed = missed[:maxCatchUp]
		}
		app.hub.SendChat(hub.Chat{To: to, Body: "Older alerts you missed (" + n + "or more) are in the dashboard's alert list.", Live: true})
	}
	for i := len(missed) - 1; i >= 0; i-- {
		e := missed[i]
		if !app.hub.SendChat(hub.Chat{To: to, ID: "alert-" + e.ID, Body: e.Body(), Payload: e.Element(), Live: true, Delay: e.Time}) {
			// Away again: the next login goes on from here.
			app.caughtUp.Add(uint64(len(missed) - 1 - i))
			if i+1 < len(missed) {
				app.sentUpTo[account] = max(app.sentUpTo[account], missed[i+1].ID)
			}
			return
		}
	}
	app.caughtUp.Add(uint64(len(missed)))
	app.sentUpTo[account] = newest
}
