package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

func device(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("device: give a command (add, list, remove, passwd)")
	}
	switch args[0] {
	case "add":
		return deviceAdd(args[1:])
	case "list", "ls":
		return deviceList(args[1:])
	case "remove", "rm":
		return deviceRemove(args[1:])
	case "passwd":
		return devicePasswd(args[1:])
	}
	return fmt.Errorf("unknown device command %q (add, list, remove, passwd)", args[0])
}

func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "./data", "data folder of the hub")
}

func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", "text", "output format: text, csv or json")
}

// printJSON writes v as indented JSON, the --format json of every command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func deviceAdd(args []string) error {
	fs := newFlagSet("device add", "geohub device add NAME [--role R] [--group G] [--password P] | --count N [--prefix P]")
	data, format := dataFlag(fs), formatFlag(fs)
	role := fs.String("role", "device", "role: device, operator or admin")
	var groups listFlag
	fs.Var(&groups, "group", "group to join (repeat, or separate with commas)")
	password := fs.String("password", "", "password (default: generated)")
	count := fs.Int("count", 0, "create this many accounts named PREFIX1..PREFIXN")
	prefix := fs.String("prefix", "", "name prefix with --count (default: NAME, else device-)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var accts []newAccount
	switch {
	case *count > 0:
		p := *prefix
		if p == "" && len(pos) == 1 {
			p = pos[0]
		} else if p == "" {
			p = "device-"
		}
		if len(pos) > 1 || *password != "" {
			return fmt.Errorf("--count takes at most a prefix, and generates every password")
		}
		for i := 1; i <= *count; i++ {
			accts = append(accts, newAccount{Name: p + strconv.Itoa(i), Role: *role, Groups: groups})
		}
	case len(pos) == 1:
		accts = []newAccount{{Name: pos[0], Role: *role, Groups: groups, Password: *password}}
	default:
		return fmt.Errorf("give one account NAME, or --count N")
	}
	var out []credentialOut
	if err := adminCall(*data, "device.add", addArgs{Accounts: accts}, &out); err != nil {
		return err
	}
	return printCredentials(os.Stdout, *format, out)
}

func printCredentials(w io.Writer, format string, creds []credentialOut) error {
	switch format {
	case "json":
		return printJSON(w, creds)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"jid", "password", "role", "groups"})
		for _, c := range creds {
			cw.Write([]string{c.JID, c.Password, c.Role, strings.Join(c.Groups, ",")})
		}
		cw.Flush()
		return cw.Error()
	case "text":
		for _, c := range creds {
			if c.Password == "" {
				fmt.Fprintf(w, "%s (remote: no password, its own server authenticates it over federation)\n", c.JID)
				continue
			}
			fmt.Fprintf(w, "%s %s\n", c.JID, c.Password)
		}
		return nil
	}
	return fmt.Errorf("unknown format %q (text, csv or json)", format)
}

func deviceList(args []string) error {
	fs := newFlagSet("device list", "geohub device list [--role R] [--group G] [--text S]")
	data, format := dataFlag(fs), formatFlag(fs)
	var a listArgs
	fs.StringVar(&a.Role, "role", "", "only this role")
	fs.StringVar(&a.Group, "group", "", "only members of this group")
	fs.StringVar(&a.Text, "text", "", "only names containing this")
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	var out []accountOut
	if err := adminCall(*data, "device.list", a, &out); err != nil {
		return err
	}
	switch *format {
	case "json":
		return printJSON(os.Stdout, out)
	case "csv":
		cw := csv.NewWriter(os.Stdout)
		cw.Write([]string{"jid", "role", "groups", "online", "last_seen"})
		for _, o := range out {
			cw.Write([]string{o.JID, string(o.Role), strings.Join(o.Groups, ","), strconv.FormatBool(o.Online), lastSeen(o)})
		}
		cw.Flush()
		return cw.Error()
	case "text":
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JID\tROLE\tGROUPS\tONLINE\tLAST SEEN")
		for _, o := range out {
			role := string(o.Role)
			if o.Demo {
				role += " (demo)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", o.JID, role, strings.Join(o.Groups, ","), o.Online, lastSeen(o))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (text, csv or json)", *format)
}

func lastSeen(o accountOut) string {
	if o.LastSeen.IsZero() {
		return "-"
	}
	return o.LastSeen.Format("2006-01-02 15:04:05Z")
}

func deviceRemove(args []string) error {
	fs := newFlagSet("device remove", "geohub device remove NAME...")
	data := dataFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("give the accounts to remove")
	}
	return adminCall(*data, "device.remove", namesArgs{Names: pos}, nil)
}

func devicePasswd(args []string) error {
	fs := newFlagSet("device passwd", "geohub device passwd NAME [--password P]")
	data, format := dataFlag(fs), formatFlag(fs)
	password := fs.String("password", "", "new password (default: generated)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("give one account NAME")
	}
	var out credentialOut
	if err := adminCall(*data, "device.passwd", passwdArgs{Name: pos[0], Password: *password}, &out); err != nil {
		return err
	}
	return printCredentials(os.Stdout, *format, []credentialOut{out})
}
