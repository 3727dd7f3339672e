package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/paulmach/orb/geojson"
)

func fence(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("fence: give a command (add, list, remove)")
	}
	switch args[0] {
	case "add":
		return fenceAdd(args[1:])
	case "list", "ls":
		return fenceList(args[1:])
	case "remove", "rm":
		return fenceRemove(args[1:])
	}
	return fmt.Errorf("unknown fence command %q (add, list, remove)", args[0])
}

func fenceAdd(args []string) error {
	fs := newFlagSet("fence add", "geohub fence add FILE.geojson (- for standard input)")
	data, format := dataFlag(fs), formatFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("give one GeoJSON file (a Feature or a FeatureCollection)")
	}
	var b []byte
	if pos[0] == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	var out geojson.FeatureCollection
	if err := adminCall(*data, "fence.add", fenceArgs{GeoJSON: b}, &out); err != nil {
		return err
	}
	return printFences(*format, &out)
}

func fenceList(args []string) error {
	fs := newFlagSet("fence list", "geohub fence list [--format text|json]")
	data, format := dataFlag(fs), formatFlag(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	var out geojson.FeatureCollection
	if err := adminCall(*data, "fence.list", nil, &out); err != nil {
		return err
	}
	return printFences(*format, &out)
}

func fenceRemove(args []string) error {
	fs := newFlagSet("fence remove", "geohub fence remove ID...")
	data := dataFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("give the IDs of the fences to remove")
	}
	return adminCall(*data, "fence.remove", fenceArgs{IDs: pos}, nil)
}

func printFences(format string, fc *geojson.FeatureCollection) error {
	switch format {
	case "json":
		return printJSON(os.Stdout, fc)
	case "text":
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSHAPE\tEVENTS\tWATCHES\tNOTIFY")
		for _, f := range fc.Features {
			p := f.Properties
			watches := strings.Join(append(stringsProp(p, "devices"), prefixed("group:", stringsProp(p, "groups"))...), ",")
			if watches == "" {
				watches = "all devices"
			}
			shape := "proximity"
			if f.Geometry != nil {
				shape = f.Geometry.GeoJSONType()
			}
			if r, ok := p["radius"].(float64); ok {
				shape += fmt.Sprintf(" %g m", r)
			}
			if near := append(stringsProp(p, "near"), prefixed("group:", stringsProp(p, "near_groups"))...); len(near) > 0 {
				shape += " of " + strings.Join(near, ",")
			}
			fmt.Fprintf(tw, "%v\t%s\t%s\t%s\t%s\t%s\n", f.ID, p.MustString("name", ""), shape,
				strings.Join(stringsProp(p, "events"), ","), watches, strings.Join(stringsProp(p, "notify"), ","))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (text or json)", format)
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// stringsProp reads a list-of-strings property; after a JSON round trip it
// arrives as []any.
func stringsProp(p geojson.Properties, key string) []string {
	switch v := p[key].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case string:
		return []string{v}
	}
	return nil
}
