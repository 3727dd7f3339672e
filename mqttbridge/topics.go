package mqttbridge

import (
	"errors"
	"fmt"
	"strings"
)

// template is a topic template such as sensors/{device}/location: literal
// levels, + for any level, and {device} once.
type template struct {
	levels []string
	device int    // index of {device}
	filter string // the subscription: {device} as +
}

func parseTemplate(s string) (*template, error) {
	if strings.HasPrefix(s, "$") {
		return nil, errors.New("topics starting with $ belong to the broker")
	}
	t := &template{levels: strings.Split(s, "/"), device: -1}
	filter := make([]string, len(t.levels))
	for i, l := range t.levels {
		switch {
		case l == "{device}":
			if t.device >= 0 {
				return nil, errors.New("{device} may appear once")
			}
			t.device = i
			filter[i] = "+"
		case l == "+":
			filter[i] = l
		case l == "":
			return nil, errors.New("no empty topic levels")
		case strings.ContainsAny(l, "+#{}\x00"):
			return nil, errors.New("a level is {device}, + or plain text (no #)")
		default:
			filter[i] = l
		}
	}
	if t.device < 0 {
		return nil, errors.New("the template needs a {device} level")
	}
	t.filter = strings.Join(filter, "/")
	return t, nil
}

// match returns the {device} level of topic, if topic fits the template.
func (t *template) match(topic string) (string, bool) {
	device := ""
	for i, l := range t.levels {
		level, rest, more := strings.Cut(topic, "/")
		if more != (i < len(t.levels)-1) {
			return "", false
		}
		switch {
		case i == t.device:
			device = level
		case l != "+" && l != level:
			return "", false
		}
		topic = rest
	}
	return device, device != ""
}

// segment is a piece of an account name template: literal text, or the
// topic's user or device.
type segment struct {
	lit  string
	part string // "user", "device" or "" for literal text
}

// parseName parses an account name template. Two placeholders need
// literal text between them, else the name is ambiguous.
func parseName(s string) ([]segment, error) {
	var out []segment
	placeholders := 0
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			out = append(out, segment{lit: s})
			break
		}
		if i > 0 {
			out = append(out, segment{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, errors.New("unclosed {")
		}
		switch name := s[i+1 : i+j]; name {
		case "user", "device":
			if n := len(out); n > 0 && out[n-1].part != "" {
				return nil, errors.New("{user} and {device} need literal text between them")
			}
			out = append(out, segment{part: name})
			placeholders++
		default:
			return nil, errors.New("{" + name + "}: want {user} or {device}")
		}
		s = s[i+j+1:]
	}
	if placeholders == 0 {
		return nil, errors.New("the name needs {user} or {device}")
	}
	return out, nil
}

// separators returns the characters of the literal text between
// placeholders of a name template: with {user}-{device}, "-".
func separators(segs []segment) string {
	var seps strings.Builder
	for i := 1; i+1 < len(segs); i++ {
		if segs[i].part == "" && segs[i-1].part != "" && segs[i+1].part != "" {
			seps.WriteString(segs[i].lit)
		}
	}
	return seps.String()
}

// renderName makes an account name from a topic's user and device levels.
// With a template of two placeholders, a level holding a character of the
// text between them is an error: with {user}-{device}, alice/bob-phone
// and alice-bob/phone would both be alice-bob-phone, so neither may be.
func renderName(segs []segment, user, device string) (string, error) {
	if len(segs) == 1 {
		switch segs[0].part { // the common cases, without building
		case "user":
			return user, nil
		case "device":
			return device, nil
		}
	}
	if seps := separators(segs); seps != "" {
		for _, l := range []string{user, device} {
			if strings.ContainsAny(l, seps) {
				return "", fmt.Errorf("topic level %q holds %q, which separates {user} from {device} in the account name", l, seps)
			}
		}
	}
	var b strings.Builder
	for _, s := range segs {
		switch s.part {
		case "user":
			b.WriteString(user)
		case "device":
			b.WriteString(device)
		default:
			b.WriteString(s.lit)
		}
	}
	return b.String(), nil
}

// ownTracksTopic splits <prefix>/<user>/<device>[/event].
func ownTracksTopic(prefix, topic string) (user, device string, event, ok bool) {
	rest, found := strings.CutPrefix(topic, prefix+"/")
	if !found {
		return "", "", false, false
	}
	user, rest, _ = strings.Cut(rest, "/")
	device, rest, more := strings.Cut(rest, "/")
	switch {
	case user == "" || device == "":
		return "", "", false, false
	case !more:
		return user, device, false, true
	case rest == "event":
		return user, device, true, true
	}
	return "", "", false, false
}

// isOwnTopic reports a topic of the shapes the bridge publishes under
// prefix: <prefix>/status, <prefix>/alerts/<id>, <prefix>/<device>/location
// and <prefix>/<device>/status.
func isOwnTopic(prefix, topic string) bool {
	if prefix == "" {
		return false
	}
	rest, found := strings.CutPrefix(topic, prefix+"/")
	if !found {
		return false
	}
	if rest == "status" {
		return true
	}
	first, last, ok := strings.Cut(rest, "/")
	if !ok || first == "" || strings.IndexByte(last, '/') >= 0 {
		return false
	}
	return first == "alerts" || last == "location" || last == "status"
}

// topicLevel makes an account name or ID safe as one topic level: a
// localpart may contain + and #, which are wildcards in MQTT.
func topicLevel(s string) string {
	if !strings.ContainsAny(s, "+#%/") {
		return s
	}
	return strings.NewReplacer("%", "%25", "+", "%2B", "#", "%23", "/", "%2F").Replace(s)
}
