package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// config runs `geohub config example`.
func config(args []string) error {
	if len(args) != 1 || args[0] != "example" {
		return errors.New("usage: geohub config example   (prints a configuration file with every setting and its default)")
	}
	_, fs := serveFlagSet()
	return writeConfigExample(os.Stdout, fs)
}

// writeConfigExample writes a configuration file that names every setting
// of fs, commented out at its default, under a comment that says what it
// does: uncomment what you change.
func writeConfigExample(w io.Writer, fs *flag.FlagSet) error {
	bySection := map[string][]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		if s, _ := sectionOf(f.Name); s != "" {
			bySection[s] = append(bySection[s], f)
		}
	})
	var b strings.Builder
	b.WriteString("# GeoHub configuration: geohub serve --config FILE.\n" +
		"# Each setting is a flag of geohub serve (shown in brackets); a flag on the\n" +
		"# command line or its GEOHUB_* environment variable wins over this file,\n" +
		"# and this file over the default. Every setting below is at its default:\n" +
		"# uncomment what you change. Durations: 90s, 10m, 168h.\n")
	for _, s := range sections {
		fmt.Fprintf(&b, "\n%s:\n", s)
		for _, f := range bySection[s] {
			_, key := sectionOf(f.Name)
			for _, line := range wrap(f.Usage+" [--"+f.Name+"]", 74) {
				fmt.Fprintf(&b, "  # %s\n", line)
			}
			fmt.Fprintf(&b, "  #%s: %s\n", key, yamlValue(f))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlValue is a flag's default as a YAML value: strings quoted, numbers
// and booleans as they are.
func yamlValue(f *flag.Flag) string {
	v := f.DefValue
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	if v == "true" || v == "false" {
		return v
	}
	return strconv.Quote(v)
}

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
