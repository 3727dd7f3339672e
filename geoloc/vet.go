package geoloc

import (
	"fmt"
	"slices"
)

// Accounts is what vetting a fence or a rule needs of the accounts; the
// account store implements it.
type Accounts interface {
	// ResolveDevices turns device names or bare JIDs into bare JIDs, or
	// fails for one that is not a device account.
	ResolveDevices(names []string) ([]string, error)
	// ResolveWatchers does the same for accounts that may be notified of
	// alerts (operators and admins).
	ResolveWatchers(names []string) ([]string, error)
	// GroupExists reports whether any account is in the group.
	GroupExists(group string) bool
}

// VetFence checks a fence against the accounts: the devices it names must
// be devices, its groups must exist, the JIDs it notifies must be operators
// or admins. Names become bare JIDs. Every way of adding a fence uses it.
func VetFence(a Accounts, f *Fence) error {
	return vetWatch(a, &f.Devices, &f.Near, append(slices.Clone(f.Groups), f.NearGroups...), &f.Notify)
}

// VetRule checks a rule against the accounts as VetFence checks a fence.
func VetRule(a Accounts, r *Rule) error {
	return vetWatch(a, &r.Devices, nil, r.Groups, &r.Notify)
}

// vetWatch checks what a fence or a rule watches, the devices a fence is
// near (nil for a rule) and whom it notifies.
func vetWatch(a Accounts, devices, near *[]string, groups []string, notify *[]string) (err error) {
	if *devices, err = a.ResolveDevices(*devices); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if near != nil {
		if *near, err = a.ResolveDevices(*near); err != nil {
			return fmt.Errorf("near: %w", err)
		}
	}
	for _, g := range groups {
		if !a.GroupExists(g) {
			return fmt.Errorf("groups: no account is in group %q", g)
		}
	}
	if *notify, err = a.ResolveWatchers(*notify); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
