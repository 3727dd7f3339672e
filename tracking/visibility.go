package tracking

import (
	"slices"
	"strings"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
)

// Alerts over XMPP follow the API's visibility (dashboard/fences.go,
// dashboard/alerts.go): admins see every alert; an operator sees the alerts
// about devices that share a group with them, reads a fence that concerns
// them, and gets a fence's alerts (its chat messages, its node, watch)
// only when every device it may alert about is one they see.

// readsFence reports whether a may read f: it notifies them, watches every
// device, or names one of their devices or groups.
func (app *App) readsFence(a devices.Account, f *geoloc.Fence) bool {
	if a.Role == devices.RoleAdmin || slices.Contains(f.Notify, app.accounts.JID(a.Name)) ||
		len(f.Devices) == 0 && len(f.Groups) == 0 {
		return true
	}
	sees := func(d string) bool { return app.mayWatch(a, d) }
	return slices.ContainsFunc(f.Devices, sees) || slices.ContainsFunc(f.Near, sees) ||
		slices.ContainsFunc(f.Groups, a.InGroup) || slices.ContainsFunc(f.NearGroups, a.InGroup)
}

// seesAll reports whether every device of these lists and groups is one a
// sees: so each alert about them is one a may get. Naming nothing means
// every device, which only admins see.
func (app *App) seesAll(a devices.Account, jids, groups []string) bool {
	if a.Role == devices.RoleAdmin {
		return true
	}
	if len(jids) == 0 && len(groups) == 0 {
		return false
	}
	for _, d := range jids {
		if !app.mayWatch(a, d) {
			return false
		}
	}
	for _, g := range groups {
		if !a.InGroup(g) {
			return false
		}
	}
	return true
}

// getsFence reports whether a may get every alert of f.
func (app *App) getsFence(a devices.Account, f *geoloc.Fence) bool {
	return app.seesAll(a, append(slices.Clone(f.Devices), f.Near...), append(slices.Clone(f.Groups), f.NearGroups...))
}

// getsRule reports whether a may get every alert of r.
func (app *App) getsRule(a devices.Account, r *geoloc.Rule) bool {
	return app.seesAll(a, r.Devices, r.Groups)
}

// getsAlert reports whether the account with the JID j may get e: an admin,
// or an operator who sees its device (as the API's alert list decides).
func (app *App) getsAlert(j string, e geoloc.Event) bool {
	a, ok := app.account(j)
	return ok && a.Role.Watches() && app.mayWatch(a, e.Device)
}

// account returns the account of a bare or full JID: a local one, or a
// remote account (devices.IsRemote) named by the bare JID.
func (app *App) account(j string) (devices.Account, bool) {
	name, ok := app.accountName(j)
	if !ok {
		return devices.Account{}, false
	}
	return app.accounts.Get(name)
}

// accountName is the name of the account a bare or full JID would be.
func (app *App) accountName(j string) (string, bool) {
	bare, _, _ := strings.Cut(j, "/")
	local, domain, ok := strings.Cut(bare, "@")
	switch {
	case !ok:
		return "", false
	case domain != app.accounts.Domain():
		return bare, true
	}
	return local, true
}
