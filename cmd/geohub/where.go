package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
)

// whereOut is what geohub where shows of a device: its latest position,
// when it has one, and the latest reading of each of its sensors. In JSON
// the position's fields sit at the top, as they did before readings.
type whereOut struct {
	Device string `json:"device"`
	*geoloc.Position
	Readings map[string]geoloc.Reading `json:"readings,omitempty"`
}

// whereEntries is the answer to where.get: the named devices (accounts),
// or every device with a position or readings.
func whereEntries(accounts *devices.Store, geo *geoloc.Store, names []string) ([]whereOut, error) {
	var jids []string
	if len(names) == 0 {
		seen := map[string]bool{}
		for _, p := range geo.All() {
			seen[p.Device] = true
		}
		for _, d := range geo.ReportingDevices() {
			seen[d] = true
		}
		jids = slices.Sorted(maps.Keys(seen))
	}
	for _, n := range names {
		a, ok := accounts.Get(n)
		if !ok {
			return nil, fmt.Errorf("%s: %w", n, devices.ErrNotFound)
		}
		jids = append(jids, accounts.JID(a.Name))
	}
	out := []whereOut{}
	for _, j := range jids {
		w := whereOut{Device: j, Readings: geo.Readings(j)}
		if p, ok := geo.Latest(j); ok {
			w.Position = &p
		}
		if w.Position != nil || w.Readings != nil {
			out = append(out, w)
		}
	}
	return out, nil
}

func where(args []string) error {
	fs := newFlagSet("where", "geohub where [NAME...] [--format text|json]")
	data, format := dataFlag(fs), formatFlag(fs)
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var out []whereOut
	if err := adminCall(*data, "where.get", whereArgs{Names: names}, &out); err != nil {
		return err
	}
	switch *format {
	case "json":
		return printJSON(os.Stdout, out)
	case "text":
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tTIME\tLAT\tLON\tACCURACY\tSPEED\tSOURCE\tREADINGS")
		for _, w := range out {
			p := w.Position
			if p == nil {
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t%s\n", w.Device, readingsText(w.Readings))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.6f\t%.6f\t%s\t%s\t%s\t%s\n", w.Device, p.Time.Format(time.RFC3339),
				p.Lat, p.Lon, optional(p.Geoloc.Accuracy, "m"), optional(p.Geoloc.Speed, "m/s"), p.Source, readingsText(w.Readings))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (text or json)", *format)
}

// readingsText is "battery=87 %, temperature=4.2 C", by sensor name.
func readingsText(rs map[string]geoloc.Reading) string {
	if len(rs) == 0 {
		return "-"
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(rs)) {
		r := rs[name]
		s := name + "=" + strconv.FormatFloat(r.Value, 'f', -1, 64)
		if r.Unit != "" {
			s += " " + r.Unit
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func optional(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64) + " " + unit
}
