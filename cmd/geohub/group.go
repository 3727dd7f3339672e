package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Settings of a group: geohub group set|list. A group exists as long as
// accounts are in it; its settings are kept by the geo store.

type groupArgs struct {
	Group          string        `json:"group,omitempty"`
	TrailRetention time.Duration `json:"trail_retention"`
}

func group(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("group: give a command (set, list)")
	}
	switch args[0] {
	case "set":
		return groupSet(args[1:])
	case "list", "ls":
		return groupList(args[1:])
	}
	return fmt.Errorf("unknown group command %q (set, list)", args[0])
}

func groupSet(args []string) error {
	fs := newFlagSet("group set", "geohub group set GROUP --trail-retention D")
	data := dataFlag(fs)
	var retention days
	fs.Var(&retention, "trail-retention", "how long the trails of the group's devices are kept, such as 90d or 36h "+
		"(a device in several groups keeps the longest; 0: the hub's --trail-retention again)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("give the group, such as: geohub group set fleet --trail-retention 90d")
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "trail-retention" })
	if !given {
		return errors.New("--trail-retention: required")
	}
	return adminCall(*data, "group.set", groupArgs{Group: pos[0], TrailRetention: time.Duration(retention)}, nil)
}

func groupList(args []string) error {
	fs := newFlagSet("group list", "geohub group list [--format text|json]")
	data, format := dataFlag(fs), formatFlag(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	var out []groupArgs
	if err := adminCall(*data, "group.list", nil, &out); err != nil {
		return err
	}
	if *format == "json" {
		return printJSON(os.Stdout, out)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tTRAIL RETENTION")
	for _, g := range out {
		fmt.Fprintf(w, "%s\t%s\n", g.Group, days(g.TrailRetention))
	}
	return w.Flush()
}

// days is a duration flag that also takes whole days: 90d.
type days time.Duration

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			return fmt.Errorf("%q: not a number of days", s)
		}
		*d = days(time.Duration(v) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: give days (90d) or a duration (36h)", s)
	}
	*d = days(v)
	return nil
}

func (d days) String() string {
	if v := time.Duration(d); v > 0 && v%(24*time.Hour) == 0 {
		return strconv.Itoa(int(v/(24*time.Hour))) + "d"
	}
	return time.Duration(d).String()
}

// groupSettings lists the groups with settings, by name.
func groupSettings(m map[string]time.Duration) []groupArgs {
	out := make([]groupArgs, 0, len(m))
	for g, d := range m {
		out = append(out, groupArgs{Group: g, TrailRetention: d})
	}
	slices.SortFunc(out, func(a, b groupArgs) int { return strings.Compare(a.Group, b.Group) })
	return out
}
