// Command geohub runs the GeoHub server and manages its accounts.
//
//	geohub serve                 run the hub
//	geohub device add car-17     create an account and print its JID and password
//
// Run "geohub help" for the full list.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `GeoHub: an XMPP-native hub for tracking fleets and sensors.

Usage:
  geohub serve [flags]                       run the hub (see geohub serve --help)
  geohub device add NAME [flags]             create an account, print its JID and password
  geohub device add --count N --prefix P     create N accounts P1..PN at once
  geohub device list [flags]                 list accounts
  geohub device remove NAME...               delete accounts
  geohub device passwd NAME [--password P]   set or generate a new password
  geohub where [NAME...]                     the last position and readings of devices (all without names)
  geohub fence add FILE.geojson              add geofences (a GeoJSON Feature or FeatureCollection)
  geohub fence list                          list geofences
  geohub fence remove ID...                  remove geofences
  geohub rule add --name N --sensor S --below X|--above Y [flags]
                                             add a threshold rule on sensor readings
  geohub rule list                           list threshold rules
  geohub rule remove ID...                   remove threshold rules
  geohub token add NAME --account A          make an API token acting as operator or admin A (shown once)
  geohub token list                          list API tokens
  geohub token revoke ID...                  revoke API tokens
  geohub group set G --trail-retention 90d   keep the trails of group G's devices this long
  geohub group list                          list groups with settings of their own
  geohub backup FILE [--data DIR]            a consistent copy of the data folder, made while the hub runs or not
  geohub restore FILE --data DIR [--force]   put a backup into a data folder no hub is using
  geohub repair [--data DIR]                 rewrite a damaged database with every record that reads whole
  geohub config example                      print a configuration file (--config) with every default
  geohub version                             print the version

Every flag can also be given as an environment variable: GEOHUB_ and the flag
name in capitals with '-' as '_' (GEOHUB_DATA, GEOHUB_C2S_TLS, ...), and the
flags of geohub serve in a configuration file (--config). A flag on the command
line wins over its variable, the variable over the file, the file over the
default.
`

func main() {
	// What the hub writes is private to its user: BuntDB creates its file,
	// and rewrites it when it shrinks, with mode 0666 less the umask.
	syscall.Umask(0o077)
	err := run(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		// --help printed the usage; that is success.
	case err != nil:
		fmt.Fprintln(os.Stderr, "geohub:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "device", "devices":
		return device(args[1:])
	case "where":
		return where(args[1:])
	case "fence", "fences":
		return fence(args[1:])
	case "rule", "rules":
		return rule(args[1:])
	case "token", "tokens":
		return token(args[1:])
	case "group", "groups":
		return group(args[1:])
	case "backup":
		return backup(args[1:])
	case "restore":
		return restore(args[1:])
	case "repair":
		return repair(args[1:])
	case "config":
		return config(args[1:])
	case "version", "--version":
		fmt.Println("geohub", version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (try geohub help)", args[0])
}
