package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/geohub/geohub/operations"
)

// API tokens for scripts: geohub token add|list|revoke. Like the other
// commands they go through the running hub's admin socket, or straight to
// the data folder when no hub runs.

type tokenArgs struct {
	Name    string   `json:"name,omitempty"`
	Account string   `json:"account,omitempty"`
	IDs     []string `json:"ids,omitempty"`
}

func token(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("token: give a command (add, list, revoke)")
	}
	switch args[0] {
	case "add":
		return tokenAdd(args[1:])
	case "list", "ls":
		return tokenList(args[1:])
	case "revoke", "remove", "rm":
		return tokenRevoke(args[1:])
	}
	return fmt.Errorf("unknown token command %q (add, list, revoke)", args[0])
}

func tokenAdd(args []string) error {
	fs := newFlagSet("token add", "geohub token add NAME --account ACCOUNT [--format text|json]")
	data, format := dataFlag(fs), formatFlag(fs)
	account := fs.String("account", "", "the operator or admin account the token acts as (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("give the token's name, such as: geohub token add backup-script --account alice")
	}
	if *account == "" {
		return errors.New("--account: required (the operator or admin the token acts as)")
	}
	var out operations.IssuedToken
	if err := adminCall(*data, "token.add", tokenArgs{Name: pos[0], Account: *account}, &out); err != nil {
		return err
	}
	switch *format {
	case "json":
		return printJSON(os.Stdout, out)
	case "text":
		fmt.Println(out.Secret)
		fmt.Fprintf(os.Stderr, "token %s (%s) for %s: keep it now, it is not shown again\n", out.ID, out.Name, out.Account)
		return nil
	}
	return fmt.Errorf("unknown format %q (text or json)", *format)
}

func tokenList(args []string) error {
	fs := newFlagSet("token list", "geohub token list [--format text|json]")
	data, format := dataFlag(fs), formatFlag(fs)
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	var out []operations.Token
	if err := adminCall(*data, "token.list", nil, &out); err != nil {
		return err
	}
	switch *format {
	case "json":
		if out == nil {
			out = []operations.Token{}
		}
		return printJSON(os.Stdout, out)
	case "text":
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tACCOUNT\tCREATED\tLAST USED")
		for _, t := range out {
			used := "never"
			if t.LastUsed != nil {
				used = t.LastUsed.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Account, t.Created.Format(time.RFC3339), used)
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (text or json)", *format)
}

func tokenRevoke(args []string) error {
	fs := newFlagSet("token revoke", "geohub token revoke ID...")
	data := dataFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("give the IDs of the tokens to revoke (geohub token list shows them)")
	}
	return adminCall(*data, "token.revoke", tokenArgs{IDs: pos}, nil)
}
