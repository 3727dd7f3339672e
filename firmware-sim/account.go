package firmwaresim

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Account is what a simulated device logs in with.
type Account struct {
	JID      string `json:"jid"`
	Password string `json:"password"`
}

// Name is the account's local part.
func (a Account) Name() string {
	name, _, _ := strings.Cut(a.JID, "@")
	return name
}

// LoadAccounts reads the accounts `geohub device add --count N` printed,
// in any of its formats: text ("JID PASSWORD" lines), CSV (with its
// jid,password header) or JSON.
func LoadAccounts(path string) ([]Account, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	accounts, err := ParseAccounts(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return accounts, nil
}

// ParseAccounts reads accounts in any format LoadAccounts takes.
func ParseAccounts(b []byte) ([]Account, error) {
	b = bytes.TrimSpace(b)
	var out []Account
	switch {
	case len(b) == 0:
		return nil, errors.New("no accounts")
	case b[0] == '[':
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("not a JSON list of accounts: %w", err)
		}
	case bytes.HasPrefix(b, []byte("jid,")):
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			return nil, err
		}
		for _, r := range rows[1:] {
			if len(r) >= 2 {
				out = append(out, Account{JID: r[0], Password: r[1]})
			}
		}
	default:
		for i, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: want JID PASSWORD", i+1)
			}
			out = append(out, Account{JID: f[0], Password: f[1]})
		}
	}
	for i, a := range out {
		if !strings.Contains(a.JID, "@") || a.Password == "" {
			return nil, fmt.Errorf("account %d: %q is not a JID with a password", i+1, a.JID)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no accounts")
	}
	return out, nil
}
