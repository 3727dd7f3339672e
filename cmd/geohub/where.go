package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/geohub/geohub/geoloc"
)

func where(args []string) error {
	fs := newFlagSet("where", "geohub where [NAME...] [--format text|json]")
	data, format := dataFlag(fs), formatFlag(fs)
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var out []geoloc.Position
	if err := adminCall(*data, "position.get", whereArgs{Names: names}, &out); err != nil {
		return err
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "text":
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tTIME\tLAT\tLON\tACCURACY\tSPEED\tSOURCE")
		for _, p := range out {
			fmt.Fprintf(tw, "%s\t%s\t%.6f\t%.6f\t%s\t%s\t%s\n", p.Device, p.Time.Format(time.RFC3339),
				p.Lat, p.Lon, optional(p.Geoloc.Accuracy, "m"), optional(p.Geoloc.Speed, "m/s"), p.Source)
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (text or json)", *format)
}

func optional(v *float64, unit string) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64) + " " + unit
}
