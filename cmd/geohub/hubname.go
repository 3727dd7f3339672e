package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/geohub/geohub/internal/store"
)

type hubNameArgs struct {
	Name string `json:"name,omitempty"`
}

// checkHubName checks, for --check-config, that no account in the data
// folder holds the hub's name (empty: the one the folder remembers), through
// the running hub's admin socket or on the folder directly. A folder
// without a database has no accounts.
func checkHubName(data, name string) error {
	if _, err := os.Stat(filepath.Join(data, store.DBFile)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := adminCall(data, "hub.name", hubNameArgs{Name: name}, nil); err != nil {
		return fmt.Errorf("--hub-name: %w", err)
	}
	return nil
}
