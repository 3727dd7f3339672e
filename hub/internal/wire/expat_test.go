package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/peers"
)

// expatCheck parses each input inside a client stream with expat, the parser
// behind slixmpp and Gajim, namespaces on, and reports which it accepts.
const expatCheck = `
import json, sys, xml.parsers.expat
out = []
for el in json.load(sys.stdin):
    p = xml.parsers.expat.ParserCreate(namespace_separator=' ')
    try:
        p.Parse("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + el + "</stream:stream>", True)
        out.append(True)
    except xml.parsers.expat.ExpatError:
        out.append(False)
json.dump(out, sys.stdout)
`

// TestScannerAgreesWithExpat checks that every element the scanner accepts
// is one expat accepts too: a stanza the hub forwards must not break the
// recipient's stream. The inputs are the fuzz corpus and known traps.
func TestScannerAgreesWithExpat(t *testing.T) {
	// Debian's python3-slixmpp brings python3 and its expat; in CI the
	// peer is installed, never skipped.
	peers.Require(t, "slixmpp")
	inputs := []string{
		"<message><x\u00d7/></message>", "<message><\u01c5/></message>", "<message><a\u00a0b/></message>",
		`<message><x xmlns:p='urn:a' xmlns:q='urn:a' p:a='1' q:a='2'/></message>`,
		`<message><x xmlns:f='http://www.w3.org/2000/xmlns/'/></message>`,
		`<message><x xmlns:p='urn:a' p:a='1' a='2'/></message>`,
		"<message><body>\u00fcber &#x1F600; &#233;</body></message>",
		`<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
	}
	files, _ := filepath.Glob("testdata/fuzz/FuzzScanner/*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) > 1 && strings.HasPrefix(lines[1], "string(") {
			if s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")")); err == nil {
				inputs = append(inputs, s)
			}
		}
	}
	var accepted []string
	for _, in := range inputs {
		_, els, err := scanAll(t, in, len(in)+1, Limits{})
		if err != nil {
			continue
		}
		for _, el := range els {
			if el.Kind != KindStreamEnd && el.Kind != KindStreamError {
				accepted = append(accepted, string(el.Raw))
			}
		}
	}
	in, _ := json.Marshal(accepted)
	cmd := exec.Command(peers.Python, "-c", expatCheck)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("expat: %v", err)
	}
	var ok []bool
	if err := json.Unmarshal(out, &ok); err != nil || len(ok) != len(accepted) {
		t.Fatalf("expat answered %q: %v", out, err)
	}
	for i, good := range ok {
		if !good {
			t.Errorf("the scanner accepts %q, expat refuses it", accepted[i])
		}
	}
	t.Logf("%d accepted elements checked against expat", len(accepted))
}
