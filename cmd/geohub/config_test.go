package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A flag wins over its variable, the variable over the file, the file over
// the default; lists and durations come from YAML as from flags.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeFile(t, "geohub.yaml", `
xmpp:
  c2s: "127.0.0.1:15222"
limits:
  stanza-rate: 77
  conn-rate: 66
  message-rate: 55
  idle-timeout: 3m
map:
  tiles: https://tile.example.org/{z}/{x}/{y}.png
  attribution: © Example
mqtt:
  broker: [tcp://127.0.0.1:1883, tcp://127.0.0.1:1884]
`)
	t.Setenv("GEOHUB_CONN_RATE", "5")
	t.Setenv("GEOHUB_MESSAGE_RATE", "4")
	c, parse := serveFlags()
	if err := parse([]string{"--config", path, "--message-rate", "9"}); err != nil {
		t.Fatal(err)
	}
	l := c.limits
	if c.c2s != "127.0.0.1:15222" || l.StanzaRate != 77 || l.ConnRate != 5 || l.MessageRate != 9 || l.IdleTimeout != 3*time.Minute {
		t.Errorf("c2s %q stanza-rate %v conn-rate %v message-rate %v idle-timeout %v; want the file's, the variable's, the flag's",
			c.c2s, l.StanzaRate, l.ConnRate, l.MessageRate, l.IdleTimeout)
	}
	if c.mapTiles != "https://tile.example.org/{z}/{x}/{y}.png" || c.mapAttribution != "© Example" {
		t.Errorf("map: %q %q", c.mapTiles, c.mapAttribution)
	}
	if len(c.mqtt.Brokers) != 2 || c.mqtt.Brokers[1] != "tcp://127.0.0.1:1884" {
		t.Errorf("mqtt brokers: %q", c.mqtt.Brokers)
	}
	if l.StanzaBurst != 1000 || c.http != ":8080" {
		t.Errorf("settings the file leaves out changed: stanza-burst %d http %q", l.StanzaBurst, c.http)
	}
}

// Each mistake in the file is reported with the file, its line and the key,
// all at once.
func TestConfigFileErrorsNameFileLineAndKey(t *testing.T) {
	path := writeFile(t, "bad.yaml", `xmpp:
  c2ss: ":5222"
  stanza-rate: 10
limits:
  conn-rate: fast
  idle-timeout: 5 minutes
nonsense:
  x: 1
`)
	_, parse := serveFlags()
	err := parse([]string{"--config", path})
	if err == nil {
		t.Fatal("a file with mistakes was accepted")
	}
	for _, want := range []string{
		path + `:2: xmpp.c2ss: unknown setting`,
		path + `:3: xmpp.stanza-rate: unknown setting here (it belongs in section limits)`,
		path + `:5: limits.conn-rate: value "fast"`,
		path + `:6: limits.idle-timeout: value "5 minutes"`,
		path + `:7: unknown section "nonsense"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, parse = serveFlags()
	if err := parse([]string{"--config", writeFile(t, "twice.yaml", "xmpp:\n  c2s: a\n  c2s: b\n")}); err == nil ||
		!strings.Contains(err.Error(), "twice.yaml:3: xmpp.c2s again (first on line 2)") {
		t.Errorf("a setting given twice: %v", err)
	}
	for _, text := range []string{"xmpp: [1, 2\n", "- just\n- a list\n"} {
		_, parse := serveFlags()
		if err := parse([]string{"--config", writeFile(t, "g.yaml", text)}); err == nil || !strings.Contains(err.Error(), "g.yaml") {
			t.Errorf("%q: %v, want an error naming the file", text, err)
		}
	}
	_, parse = serveFlags()
	if err := parse([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing file: %v", err)
	}
}

// The example names every setting of geohub serve but --config and
// --check-config, each at its default: uncommented, it loads and changes
// nothing.
func TestConfigExampleHoldsEverySettingAtItsDefault(t *testing.T) {
	_, fs := serveFlagSet()
	var b strings.Builder
	if err := writeConfigExample(&b, fs); err != nil {
		t.Fatal(err)
	}
	example := b.String()
	fs.VisitAll(func(f *flag.Flag) {
		s, key := sectionOf(f.Name)
		if s == "" {
			if !slices.Contains(notInFile, f.Name) {
				t.Errorf("--%s has no section in the configuration file", f.Name)
			}
			return
		}
		if !strings.Contains(example, "[--"+f.Name+"]") || !strings.Contains(example, "#"+key+": ") {
			t.Errorf("the example lacks --%s (%s.%s)", f.Name, s, key)
		}
	})
	uncommented := regexp.MustCompile(`(?m)^  #([a-z0-9-]+: )`).ReplaceAllString(example, "  $1")
	path := writeFile(t, "example.yaml", uncommented)
	c, parse := serveFlags()
	if err := parse([]string{"--config", path}); err != nil {
		t.Fatalf("the uncommented example: %v", err)
	}
	d, parseDefaults := serveFlags()
	if err := parseDefaults(nil); err != nil {
		t.Fatal(err)
	}
	c.configFile = ""
	if c.limits != d.limits || c.c2s != d.c2s || c.data != d.data || c.mqtt.QoS != d.mqtt.QoS || c.trails != d.trails {
		t.Errorf("the example at its defaults changed settings:\n%+v\n%+v", c, d)
	}
}

// --check-config loads the certificate and key it is given and says when
// they do not belong together.
func TestCheckConfigLoadsTheCertificate(t *testing.T) {
	data := t.TempDir()
	cert := writeFile(t, "cert.pem", "not a certificate")
	key := writeFile(t, "key.pem", "not a key")
	out, err := geohub(t, nil, "serve", "--check-config", "--data", data, "--tls-cert", cert, "--tls-key", key)
	if err == nil || !strings.Contains(out, "--tls-cert "+cert) {
		t.Errorf("a bad certificate: %v\n%s", err, out)
	}
	conf := writeFile(t, "geohub.yaml", "limits:\n  conn-rate: -3\n")
	out, err = geohub(t, nil, "serve", "--check-config", "--data", data, "--config", conf)
	if err == nil || !strings.Contains(out, "conn-rate") {
		t.Errorf("--check-config with a bad file: %v\n%s", err, out)
	}
	out, err = geohub(t, []string{"GEOHUB_CONFIG=" + writeFile(t, "ok.yaml", "limits:\n  conn-rate: 3\n")}, "serve", "--check-config", "--data", data)
	if err != nil || !strings.Contains(out, "ok") {
		t.Errorf("--check-config with a good file from GEOHUB_CONFIG: %v\n%s", err, out)
	}
}

// The start-up log names every setting not at its default, secrets masked.
func TestChangedSettingsMaskSecrets(t *testing.T) {
	c, parse := serveFlags()
	if err := parse([]string{"--conn-rate", "3", "--mqtt-username", "hub", "--mqtt-password", "hunter22", "--mqtt", "tcp://127.0.0.1:1883"}); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintln(c.changed...)
	for _, want := range []string{"conn-rate 3", "mqtt-password (set)", "mqtt tcp://127.0.0.1:1883"} {
		if !strings.Contains(got, want) {
			t.Errorf("changed settings %q lack %q", got, want)
		}
	}
	if strings.Contains(got, "hunter22") || strings.Contains(got, "stanza-rate") {
		t.Errorf("changed settings %q show a secret or a default", got)
	}
}
