package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/geohub/geohub/geoloc"
)

// Threshold rules on sensor readings: geohub rule add|list|remove.

type ruleArgs struct {
	Rules []*geoloc.Rule `json:"rules,omitempty"`
	IDs   []string       `json:"ids,omitempty"`
}

func rule(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("rule: give a command (add, list, remove)")
	}
	switch args[0] {
	case "add":
		return ruleAdd(args[1:])
	case "list", "ls":
		return ruleList(args[1:])
	case "remove", "rm":
		return ruleRemove(args[1:])
	}
	return fmt.Errorf("unknown rule command %q (add, list, remove)", args[0])
}

// optionalFloat is a number flag that knows whether it was given.
type optionalFloat struct{ v *float64 }

func (o *optionalFloat) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatFloat(*o.v, 'f', -1, 64)
}

func (o *optionalFloat) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return errors.New("not a number")
	}
	o.v = &v
	return nil
}

// splitList is the values of a list flag, each also split at commas.
func splitList(l listFlag) []string {
	var out []string
	for _, v := range l {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func ruleAdd(args []string) error {
	fs := newFlagSet("rule add", "geohub rule add --name NAME --sensor SENSOR [--below X] [--above Y] [--devices A,B] [--groups G] [--notify OP] [--hysteresis H]")
	data, format := dataFlag(fs), formatFlag(fs)
	r := &geoloc.Rule{}
	fs.StringVar(&r.Name, "name", "", "name of the rule, shown in its alerts")
	fs.StringVar(&r.Sensor, "sensor", "", "the sensor it watches: the XEP-0323 field name, as battery")
	var below, above optionalFloat
	fs.Var(&below, "below", "alert when a reading is less than this")
	fs.Var(&above, "above", "alert when a reading is more than this")
	fs.Float64Var(&r.Hysteresis, "hysteresis", 0, "re-arm only once a reading is back past the threshold by this much")
	var devs, groups, notify listFlag
	fs.Var(&devs, "devices", "devices it watches (repeat, or separate with commas; with no --groups either: every device)")
	fs.Var(&groups, "groups", "groups whose devices it watches (repeat, or separate with commas)")
	fs.Var(&notify, "notify", "operators told of each alert by chat message (repeat, or separate with commas)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	r.Below, r.Above = below.v, above.v
	r.Devices, r.Groups, r.Notify = splitList(devs), splitList(groups), splitList(notify)
	var out []*geoloc.Rule
	if err := adminCall(*data, "rule.add", ruleArgs{Rules: []*geoloc.Rule{r}}, &out); err != nil {
		return err
	}
	return printRules(*format, out)
}

func ruleList(args []string) error {
	fs := newFlagSet("rule list", "geohub rule list [--format text|json]")
	data, format := dataFlag(fs), formatFlag(fs)
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	var out []*geoloc.Rule
	if err := adminCall(*data, "rule.list", nil, &out); err != nil {
		return err
	}
	return printRules(*format, out)
}

func ruleRemove(args []string) error {
	fs := newFlagSet("rule remove", "geohub rule remove ID...")
	data := dataFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("give the IDs of the rules to remove")
	}
	return adminCall(*data, "rule.remove", ruleArgs{IDs: pos}, nil)
}

func printRules(format string, rules []*geoloc.Rule) error {
	switch format {
	case "json":
		if rules == nil {
			rules = []*geoloc.Rule{}
		}
		return printJSON(os.Stdout, rules)
	case "text":
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tALERT WHEN\tWATCHES\tNOTIFY")
		for _, r := range rules {
			watches := strings.Join(append(r.Devices, prefixed("group:", r.Groups)...), ",")
			if watches == "" {
				watches = "all devices"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Condition(), watches, strings.Join(r.Notify, ","))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (text or json)", format)
}
