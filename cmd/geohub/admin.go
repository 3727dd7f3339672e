package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/admin"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/operations"
	"github.com/paulmach/orb/geojson"
)

// Admin commands, served on the running hub's socket and run directly on
// the data folder when no hub holds it.

type addArgs struct {
	Accounts []newAccount `json:"accounts"`
}

type newAccount struct {
	Name     string   `json:"name"`
	Role     string   `json:"role,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Password string   `json:"password,omitempty"`
}

// credentialOut is a created account as printed: the password appears once.
type credentialOut struct {
	JID      string   `json:"jid"`
	Password string   `json:"password"`
	Role     string   `json:"role"`
	Groups   []string `json:"groups,omitempty"`
}

type listArgs struct {
	Role  string `json:"role,omitempty"`
	Group string `json:"group,omitempty"`
	Text  string `json:"text,omitempty"`
}

type accountOut struct {
	JID    string `json:"jid"`
	Online bool   `json:"online"`
	devices.Account
}

type namesArgs struct {
	Names []string `json:"names"`
}

type passwdArgs struct {
	Name     string `json:"name"`
	Password string `json:"password,omitempty"`
}

func decode[T any](raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 {
		return v, nil
	}
	err := json.Unmarshal(raw, &v)
	return v, err
}

type fenceArgs struct {
	GeoJSON json.RawMessage `json:"geojson,omitempty"`
	IDs     []string        `json:"ids,omitempty"`
}

type whereArgs struct {
	Names []string `json:"names,omitempty"`
}

func adminHandlers(accounts *devices.Store, geo *geoloc.Store, tokens *operations.Tokens, bk backupper) map[string]admin.Handler {
	ops := &operations.Service{Accounts: accounts, Geo: geo, Tokens: tokens}
	return map[string]admin.Handler{
		"backup": func(json.RawMessage) (any, error) {
			path, err := bk.make()
			return struct{ Path string }{path}, err
		},
		"token.add": func(raw json.RawMessage) (any, error) {
			args, err := decode[tokenArgs](raw)
			if err != nil {
				return nil, err
			}
			tok, err := ops.AddToken(args.Name, args.Account)
			if err != nil {
				return nil, err
			}
			return tok, nil
		},
		"token.list": func(json.RawMessage) (any, error) {
			return ops.ListTokens(), nil
		},
		"token.revoke": func(raw json.RawMessage) (any, error) {
			args, err := decode[tokenArgs](raw)
			if err != nil {
				return nil, err
			}
			return args.IDs, ops.RevokeTokens(args.IDs...)
		},
		"fence.add": func(raw json.RawMessage) (any, error) {
			args, err := decode[fenceArgs](raw)
			if err != nil {
				return nil, err
			}
			fences, err := geoloc.ParseFences(args.GeoJSON)
			if err != nil {
				return nil, err
			}
			if fences, err = ops.AddFences(fences, nil); err != nil {
				return nil, err
			}
			return featureCollection(fences), nil
		},
		"hub.name": func(raw json.RawMessage) (any, error) {
			args, err := decode[hubNameArgs](raw)
			if err != nil {
				return nil, err
			}
			return accounts.CheckHubName(args.Name)
		},
		"fence.list": func(json.RawMessage) (any, error) {
			return featureCollection(geo.Fences()), nil
		},
		"fence.remove": func(raw json.RawMessage) (any, error) {
			args, err := decode[fenceArgs](raw)
			if err != nil {
				return nil, err
			}
			return args.IDs, ops.RemoveFences(args.IDs...)
		},
		"rule.add": func(raw json.RawMessage) (any, error) {
			args, err := decode[ruleArgs](raw)
			if err != nil {
				return nil, err
			}
			return ops.AddRules(args.Rules)
		},
		"group.set": func(raw json.RawMessage) (any, error) {
			args, err := decode[groupArgs](raw)
			if err != nil {
				return nil, err
			}
			return nil, geo.SetGroupRetention(args.Group, args.TrailRetention)
		},
		"group.list": func(json.RawMessage) (any, error) {
			return groupSettings(geo.GroupRetentions()), nil
		},
		"rule.list": func(json.RawMessage) (any, error) {
			return geo.Rules(), nil
		},
		"rule.remove": func(raw json.RawMessage) (any, error) {
			args, err := decode[ruleArgs](raw)
			if err != nil {
				return nil, err
			}
			return args.IDs, ops.RemoveRules(args.IDs...)
		},
		"where.get": func(raw json.RawMessage) (any, error) {
			args, err := decode[whereArgs](raw)
			if err != nil {
				return nil, err
			}
			return whereEntries(accounts, geo, args.Names)
		},
		"position.get": func(raw json.RawMessage) (any, error) {
			args, err := decode[whereArgs](raw)
			if err != nil {
				return nil, err
			}
			if len(args.Names) == 0 {
				return geo.All(), nil
			}
			var out []geoloc.Position
			for _, n := range args.Names {
				a, ok := accounts.Get(n)
				if !ok {
					return nil, fmt.Errorf("%s: %w", n, devices.ErrNotFound)
				}
				if p, ok := geo.Latest(accounts.JID(a.Name)); ok {
					out = append(out, p)
				}
			}
			return out, nil
		},
		"device.add": func(raw json.RawMessage) (any, error) {
			args, err := decode[addArgs](raw)
			if err != nil {
				return nil, err
			}
			reqs := make([]devices.NewAccount, len(args.Accounts))
			for i, a := range args.Accounts {
				reqs[i] = devices.NewAccount{Name: a.Name, Role: devices.Role(a.Role), Groups: a.Groups, Password: a.Password}
			}
			created, err := ops.AddAccounts(reqs...)
			if err != nil {
				return nil, err
			}
			out := make([]credentialOut, len(created))
			for i, c := range created {
				out[i] = credentialOut{JID: accounts.JID(c.Account.Name), Password: c.Password, Role: string(c.Account.Role), Groups: c.Account.Groups}
			}
			return out, nil
		},
		"device.list": func(raw json.RawMessage) (any, error) {
			args, err := decode[listArgs](raw)
			if err != nil {
				return nil, err
			}
			var role devices.Role
			if args.Role != "" {
				if role, err = devices.ParseRole(args.Role); err != nil {
					return nil, err
				}
			}
			list := accounts.List(devices.Filter{Role: role, Group: args.Group, Text: args.Text})
			out := make([]accountOut, len(list))
			for i, a := range list {
				out[i] = accountOut{JID: accounts.JID(a.Name), Online: accounts.Online(a.Name), Account: a}
			}
			return out, nil
		},
		"device.remove": func(raw json.RawMessage) (any, error) {
			args, err := decode[namesArgs](raw)
			if err != nil {
				return nil, err
			}
			return args.Names, ops.RemoveAccounts(args.Names...)
		},
		"device.passwd": func(raw json.RawMessage) (any, error) {
			args, err := decode[passwdArgs](raw)
			if err != nil {
				return nil, err
			}
			pw, err := ops.SetPassword(args.Name, args.Password)
			if err != nil {
				return nil, err
			}
			a, _ := accounts.Get(args.Name)
			return credentialOut{JID: accounts.JID(a.Name), Password: pw, Role: string(a.Role), Groups: a.Groups}, nil
		},
	}
}

func featureCollection(fences []*geoloc.Fence) *geojson.FeatureCollection {
	fc := geojson.NewFeatureCollection()
	for _, f := range fences {
		fc.Append(f.Feature())
	}
	return fc
}

// adminCall runs an admin command through the running hub when one holds the
// data folder, or directly on the folder otherwise.
func adminCall(dataDir, cmd string, args, out any) error {
	dir, err := store.Lock(dataDir)
	if errors.Is(err, store.ErrLocked) {
		return admin.Call(filepath.Join(dataDir, admin.SocketFile), cmd, args, out)
	}
	if err != nil {
		return err
	}
	defer dir.Unlock()
	db, err := dir.Open()
	if err != nil {
		return err
	}
	defer db.Close()
	accounts, err := devices.Open(db, devices.Options{})
	if err != nil {
		return err
	}
	defer accounts.Close()
	commit := store.NewCommitter(db)
	defer commit.Close()
	hist, err := openHistory(dir, 0)
	if err != nil {
		return err
	}
	defer hist.Close()
	// No sealer: the next serve seals what is left in the database.
	geo, err := geoloc.OpenStore(db, geoloc.Options{Commit: commit, History: hist, SealEvery: -1})
	if err != nil {
		return err
	}
	tokens, err := operations.OpenTokens(db, accounts)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	res, err := adminHandlers(accounts, geo, tokens, backupper{dir.Path, db, hist})[cmd](raw)
	if res != nil && out != nil {
		b, jerr := json.Marshal(res)
		if jerr != nil {
			return jerr
		}
		if jerr := json.Unmarshal(b, out); jerr != nil {
			return fmt.Errorf("%s: %w", cmd, jerr)
		}
	}
	return err
}
