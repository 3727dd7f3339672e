package main

import (
	"fmt"

	"github.com/geohub/geohub/internal/store"
)

// repair runs `geohub repair --data DIR`: the database file is rewritten
// with every record that reads whole, the damaged one kept beside it. The
// hub must be stopped.
func repair(args []string) error {
	fs := newFlagSet("repair", "geohub repair [--data DIR]   (with the hub stopped)")
	data := fs.String("data", "./data", "data folder")
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("repair: unexpected argument %q", pos[0])
	}
	dir, err := store.Lock(*data)
	if err != nil {
		return fmt.Errorf("%w (stop the hub first)", err)
	}
	defer dir.Unlock()
	path := dir.File(store.DBFile)
	damage, err := store.Check(path)
	if err != nil {
		return err
	}
	if damage == nil {
		fmt.Printf("%s reads whole: nothing to repair\n", path)
		return nil
	}
	rep, err := store.Repair(path)
	if err != nil {
		return fmt.Errorf("repair %s: %w", path, err)
	}
	fmt.Printf("%s repaired: %d records kept, %d damaged stretches left out:\n", path, rep.Kept, len(rep.Dropped))
	for _, d := range rep.Dropped {
		fmt.Println("  " + d)
	}
	fmt.Printf("the file as it was: %s\n", rep.Copy)
	return nil
}
