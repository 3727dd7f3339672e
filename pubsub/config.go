package pubsub

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Access and publish models and last-item policies (XEP-0060 §4.5, §16.4).
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessRoster    = "roster"
	AccessWhitelist = "whitelist"

	PublishPublishers  = "publishers"
	PublishSubscribers = "subscribers"
	PublishOpen        = "open"

	SendLastNever               = "never"
	SendLastOnSub               = "on_sub"
	SendLastOnSubAndPresence    = "on_sub_and_presence"
	maxItemsLimit               = 1000 // items kept per node at most
	defaultServiceMaxItems      = 10
	defaultPEPMaxItems          = 1
	formTypeNodeConfig          = "http://jabber.org/protocol/pubsub#node_config"
	formTypePublishOptions      = "http://jabber.org/protocol/pubsub#publish-options"
	formTypeMetaData            = "http://jabber.org/protocol/pubsub#meta-data"
	formTypeSubscribeAuthorized = "http://jabber.org/protocol/pubsub#subscribe_authorization"
)

// NodeConfig is a node's configuration.
type NodeConfig struct {
	Title                 string   `json:"title,omitempty"`
	AccessModel           string   `json:"access_model"`
	PublishModel          string   `json:"publish_model"`
	MaxItems              int      `json:"max_items"`
	PersistItems          bool     `json:"persist_items"`
	DeliverPayloads       bool     `json:"deliver_payloads"`
	NotifyRetract         bool     `json:"notify_retract"`
	NotifyDelete          bool     `json:"notify_delete"`
	SendLastPublishedItem string   `json:"send_last_published_item"`
	RosterGroupsAllowed   []string `json:"roster_groups_allowed,omitempty"`
}

// Bounds on what one account's PEP service holds: any device has one.
const (
	maxPEPNodes    = 64
	maxPEPMaxItems = 32
)

// checkLimits refuses a configuration beyond what its service allows.
func checkLimits(service string, c NodeConfig) *Error {
	if strings.IndexByte(service, '@') >= 0 && c.MaxItems > maxPEPMaxItems {
		return errInvalidOptions.with(fmt.Sprintf("a PEP node keeps at most %d items", maxPEPMaxItems))
	}
	return nil
}

// ServiceDefaults is the configuration of a new node on the pubsub service.
func ServiceDefaults() NodeConfig {
	return NodeConfig{
		AccessModel: AccessOpen, PublishModel: PublishPublishers, MaxItems: defaultServiceMaxItems,
		PersistItems: true, DeliverPayloads: true, NotifyRetract: true, NotifyDelete: true,
		SendLastPublishedItem: SendLastOnSub,
	}
}

// PEPDefaults is the configuration of a new PEP node (XEP-0163 §4): only the
// owner publishes, contacts with a presence subscription read, the last item
// is what counts.
func PEPDefaults() NodeConfig {
	return NodeConfig{
		AccessModel: AccessPresence, PublishModel: PublishPublishers, MaxItems: defaultPEPMaxItems,
		PersistItems: true, DeliverPayloads: true, NotifyRetract: true, NotifyDelete: true,
		SendLastPublishedItem: SendLastOnSubAndPresence,
	}
}

// field is one data form field (XEP-0004).
type field struct {
	Var, Type, Label string
	Values           []string
}

// form is a data form.
type form struct {
	Type   string
	Fields []field
}

func (f *form) formType() string {
	for _, fl := range f.Fields {
		if fl.Var == "FORM_TYPE" && len(fl.Values) > 0 {
			return fl.Values[0]
		}
	}
	return ""
}

// configField describes one configurable option: how to read it into a
// NodeConfig and how to show it.
type configField struct {
	name    string // without the pubsub# prefix
	kind    string // data form field type
	label   string
	options []string
	get     func(*NodeConfig) []string
	set     func(*NodeConfig, []string) error
}

func boolValue(v []string) (bool, error) {
	if len(v) != 1 {
		return false, fmt.Errorf("expected one value")
	}
	switch strings.ToLower(v[0]) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v[0])
}

func oneOf(v []string, options ...string) (string, error) {
	if len(v) != 1 || !slices.Contains(options, v[0]) {
		return "", fmt.Errorf("expected one of %s", strings.Join(options, ", "))
	}
	return v[0], nil
}

func boolField(name, label string, p func(*NodeConfig) *bool) configField {
	return configField{name: name, kind: "boolean", label: label,
		get: func(c *NodeConfig) []string { return []string{strconv.FormatBool(*p(c))} },
		set: func(c *NodeConfig, v []string) (err error) { *p(c), err = boolValue(v); return err },
	}
}

func choiceField(name, label string, options []string, p func(*NodeConfig) *string) configField {
	return configField{name: name, kind: "list-single", label: label, options: options,
		get: func(c *NodeConfig) []string { return []string{*p(c)} },
		set: func(c *NodeConfig, v []string) (err error) { *p(c), err = oneOf(v, options...); return err },
	}
}

// configFields are the options a node has, in the order forms show them.
var configFields = []configField{
	{name: "title", kind: "text-single", label: "A friendly name for the node",
		get: func(c *NodeConfig) []string { return []string{c.Title} },
		set: func(c *NodeConfig, v []string) error {
			if len(v) > 1 {
				return fmt.Errorf("expected one value")
			}
			c.Title = strings.Join(v, "")
			return nil
		}},
	choiceField("access_model", "Who may subscribe and retrieve items",
		[]string{AccessOpen, AccessPresence, AccessRoster, AccessWhitelist}, func(c *NodeConfig) *string { return &c.AccessModel }),
	choiceField("publish_model", "Who may publish",
		[]string{PublishPublishers, PublishSubscribers, PublishOpen}, func(c *NodeConfig) *string { return &c.PublishModel }),
	{name: "max_items", kind: "text-single", label: "How many items to keep",
		get: func(c *NodeConfig) []string { return []string{strconv.Itoa(c.MaxItems)} },
		set: func(c *NodeConfig, v []string) error {
			if len(v) != 1 {
				return fmt.Errorf("expected one value")
			}
			if v[0] == "max" {
				c.MaxItems = maxItemsLimit
				return nil
			}
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 || n > maxItemsLimit {
				return fmt.Errorf("expected a number from 1 to %d, or max", maxItemsLimit)
			}
			c.MaxItems = n
			return nil
		}},
	boolField("persist_items", "Keep items", func(c *NodeConfig) *bool { return &c.PersistItems }),
	boolField("deliver_payloads", "Send payloads with notifications", func(c *NodeConfig) *bool { return &c.DeliverPayloads }),
	boolField("notify_retract", "Notify subscribers when items are retracted", func(c *NodeConfig) *bool { return &c.NotifyRetract }),
	boolField("notify_delete", "Notify subscribers when the node is deleted", func(c *NodeConfig) *bool { return &c.NotifyDelete }),
	choiceField("send_last_published_item", "When to send the last published item",
		[]string{SendLastNever, SendLastOnSub, SendLastOnSubAndPresence}, func(c *NodeConfig) *string { return &c.SendLastPublishedItem }),
	{name: "roster_groups_allowed", kind: "list-multi", label: "Roster groups allowed to subscribe",
		get: func(c *NodeConfig) []string { return c.RosterGroupsAllowed },
		set: func(c *NodeConfig, v []string) error { c.RosterGroupsAllowed = slices.Clone(v); return nil }},
}

func lookupField(v string) (configField, bool) {
	name, ok := strings.CutPrefix(v, "pubsub#")
	if !ok {
		return configField{}, false
	}
	for _, f := range configFields {
		if f.name == name {
			return f, true
		}
	}
	return configField{}, false
}

// apply sets the options of a submitted node configuration form on c. An
// unknown option or a bad value is an error naming the field.
func (c *NodeConfig) apply(f *form, formType string) error {
	if f.Type != "submit" {
		return fmt.Errorf("the form must be of type submit")
	}
	if ft := f.formType(); ft != "" && ft != formType {
		return fmt.Errorf("FORM_TYPE %q is not %s", ft, formType)
	}
	for _, fl := range f.Fields {
		if fl.Var == "FORM_TYPE" {
			continue
		}
		cf, ok := lookupField(fl.Var)
		if !ok {
			return fmt.Errorf("%s is not a supported option", fl.Var)
		}
		if err := cf.set(c, fl.Values); err != nil {
			return fmt.Errorf("%s: %v", fl.Var, err)
		}
	}
	return nil
}

// matches reports the first publish-option that c does not satisfy
// (XEP-0060 §7.1.5 preconditions), or "".
func (c *NodeConfig) matches(f *form) (string, error) {
	want := *c
	if err := want.apply(f, formTypePublishOptions); err != nil {
		return "", err
	}
	for _, cf := range configFields {
		if !slices.Equal(cf.get(c), cf.get(&want)) {
			return "pubsub#" + cf.name, nil
		}
	}
	return "", nil
}

// appendForm writes c as a data form of the given type and FORM_TYPE.
func (c *NodeConfig) appendForm(b []byte, typ, formType string) []byte {
	b = append(b, "<x xmlns='jabber:x:data' type='"+typ+"'><field var='FORM_TYPE' type='hidden'><value>"+formType+"</value></field>"...)
	for _, cf := range configFields {
		b = append(b, "<field var='pubsub#"+cf.name+"'"...)
		if typ == "form" {
			b = append(b, " type='"+cf.kind+"'"...)
			b = xmlesc.Attr(b, "label", cf.label)
		}
		b = append(b, '>')
		if typ == "form" {
			for _, o := range cf.options {
				b = append(b, "<option><value>"+o+"</value></option>"...)
			}
		}
		for _, v := range cf.get(c) {
			b = append(b, "<value>"...)
			b = xmlesc.Text(b, v)
			b = append(b, "</value>"...)
		}
		b = append(b, "</field>"...)
	}
	return append(b, "</x>"...)
}
