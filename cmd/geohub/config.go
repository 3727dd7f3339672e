package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The configuration file (--config) holds what the flags of geohub serve
// hold, in sections. A flag given on the command line or as a GEOHUB_*
// variable wins over the file, and the file over the default.

// sections are the file's sections, in the order `geohub config example`
// prints them.
var sections = []string{"xmpp", "component", "s2s", "http", "map", "mqtt", "storage", "limits", "log"}

// flagSections places the flags that no prefix rule of sectionOf places.
var flagSections = map[string]string{
	"data": "storage", "domain": "xmpp", "hub-name": "xmpp", "c2s": "xmpp", "c2s-tls": "xmpp",
	"allow-plain": "xmpp", "tls-cert": "xmpp", "tls-key": "xmpp", "devices-create-nodes": "xmpp",
	"offline-cap": "xmpp", "scram-iterations": "xmpp", "demo": "xmpp",
	"upstream": "component", "instance-upstream": "component", "peers": "component", "peer-timeout": "component",
	"shared-config": "component", "shared-config-node": "component",
	"sm-resume-window": "xmpp", "sm-max-unacked": "limits", "sm-max-hibernated": "limits",
	"metrics-token":   "http",
	"trail-retention": "storage", "trail-min-interval": "storage", "trail-min-distance": "storage",
	"telemetry-retention": "storage", "alert-retention": "storage", "mam-retention": "storage", "mam-cap": "storage",
	"history-cache": "storage", "history-seal-every": "storage", "history-seal-delay": "storage", "commit-window": "storage", "gc-heap-floor": "storage",
	"max-stanza-size": "limits", "max-depth": "limits", "negotiation-timeout": "limits", "idle-timeout": "limits",
	"max-auth-failures": "limits", "auth-failure-window": "limits", "max-conns-per-ip": "limits", "max-conns": "limits",
	"conn-rate": "limits", "conn-burst": "limits", "stanza-rate": "limits", "stanza-burst": "limits",
	"message-rate": "limits", "message-burst": "limits", "byte-rate": "limits", "byte-burst": "limits",
	"max-pending": "limits", "stall-timeout": "limits", "offline-bytes": "limits", "fix-rate": "limits", "fix-burst": "limits",
}

// sectionKeys renames the flags whose name would be an odd key in their
// section.
var sectionKeys = map[string]string{"http": "listen", "mqtt": "broker", "component": "domain", "s2s": "listen"}

// notInFile are the flags that make no sense in the file.
var notInFile = []string{"config", "check-config", "cpu-profile"}

// sectionOf returns the section of a flag and its key there, or "" for a
// flag the file does not hold.
func sectionOf(name string) (section, key string) {
	if slices.Contains(notInFile, name) {
		return "", ""
	}
	section = flagSections[name]
	if section == "" {
		for _, s := range sections {
			if name == s || strings.HasPrefix(name, s+"-") {
				section = s
				break
			}
		}
	}
	if section == "" {
		return "", ""
	}
	if k, ok := sectionKeys[name]; ok {
		return section, k
	}
	return section, strings.TrimPrefix(name, section+"-")
}

// applyConfigFile sets the flags of fs that the file at path holds, except
// those in given (set on the command line or from the environment). Each
// error names the file, the line and the key.
func applyConfigFile(fs *flag.FlagSet, path string, given map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want sections (%s), each a mapping of settings", path, root.Line, strings.Join(sections, ", "))
	}
	byKey := map[string]*flag.Flag{} // "section.key"
	fs.VisitAll(func(f *flag.Flag) {
		if s, k := sectionOf(f.Name); s != "" {
			byKey[s+"."+k] = f
		}
	})
	var errs []error
	seen := map[string]int{} // line of each section and setting
	again := func(key string, line int) bool {
		if first, ok := seen[key]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: %s again (first on line %d)", path, line, key, first))
			return true
		}
		seen[key] = line
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		name, body := root.Content[i], root.Content[i+1]
		if again(name.Value, name.Line) {
			continue
		}
		if !slices.Contains(sections, name.Value) {
			errs = append(errs, fmt.Errorf("%s:%d: unknown section %q (want %s)", path, name.Line, name.Value, strings.Join(sections, ", ")))
			continue
		}
		if body.Kind != yaml.MappingNode {
			if body.Tag != "!!null" {
				errs = append(errs, fmt.Errorf("%s:%d: section %s: want a mapping of settings", path, body.Line, name.Value))
			}
			continue
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			k, v := body.Content[j], body.Content[j+1]
			key := name.Value + "." + k.Value
			if again(key, k.Line) {
				continue
			}
			f := byKey[key]
			if f == nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: unknown setting%s", path, k.Line, key, elsewhere(byKey, k.Value)))
				continue
			}
			if given[f.Name] {
				continue
			}
			if err := setFromYAML(f, v); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, v.Line, key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// elsewhere says which section holds a key given in the wrong one.
func elsewhere(byKey map[string]*flag.Flag, key string) string {
	for _, s := range sections {
		if byKey[s+"."+key] != nil {
			return fmt.Sprintf(" here (it belongs in section %s)", s)
		}
	}
	return ""
}

// setFromYAML sets f from a scalar, or from each item of a list (for flags
// that may be repeated).
func setFromYAML(f *flag.Flag, v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return f.Value.Set("")
		}
		return setValue(f, v.Value)
	case yaml.SequenceNode:
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a plain value in the list", item.Line)
			}
			if err := setValue(f, item.Value); err != nil {
				return err
			}
		}
		return nil
	}
	return errors.New("want a value or a list of values")
}

func setValue(f *flag.Flag, s string) error {
	if err := f.Value.Set(s); err != nil {
		return fmt.Errorf("value %q: %w", s, err)
	}
	return nil
}

// changedSettings lists the flags of fs whose value is not their default,
// as name, value pairs for a log line; secrets are masked.
func changedSettings(fs *flag.FlagSet) []any {
	var out []any
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		if v == f.DefValue {
			return
		}
		if strings.Contains(f.Name, "password") || strings.Contains(f.Name, "secret") {
			v = "(set)"
		}
		out = append(out, f.Name, v)
	})
	return out
}
