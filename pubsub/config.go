package pubsub

import (
	"errors"
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

// maxItemsOf is the most items a node of service may keep: what
// pubsub#max_items "max" means there (XEP-0060 §16.4.3, integer-or-max).
func maxItemsOf(service string) int {
	if strings.IndexByte(service, '@') >= 0 {
		return maxPEPMaxItems
	}
	return maxItemsLimit
}

// optionError is a submitted option the service does not have or a value
// it does not take; other errors from apply are about the form itself.
type optionError struct {
	field string // the field's var
	app   string // the pubsub#errors condition, if XEP-0060 names one
	msg   string
}

func (e *optionError) Error() string { return e.field + ": " + e.msg }

// configError is the reply to a configuration form apply refused
// (XEP-0060 §8.1.3, §8.2.5): not-acceptable for an option, bad-request for
// the form.
func configError(err error) *Error {
	var oe *optionError
	if errors.As(err, &oe) {
		e := errNotAcceptable.with(oe.Error())
		e.App = oe.app
		return e
	}
	return errBadRequest.with(err.Error())
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
	app     string // pubsub#errors condition for a value refused
	get     func(*NodeConfig) []string
	set     func(*NodeConfig, []string) error
}

// single returns the one value of a single-valued field, and false for a
// blank one, which leaves the option as it is: clients that read a form
// and send it back (Converse) send options shown without a value that way.
func single(v []string) (string, bool, error) {
	switch {
	case len(v) == 0 || len(v) == 1 && v[0] == "":
		return "", false, nil
	case len(v) > 1:
		return "", false, fmt.Errorf("expected one value")
	}
	return v[0], true, nil
}

func boolField(name, label string, p func(*NodeConfig) *bool) configField {
	return configField{name: name, kind: "boolean", label: label,
		get: func(c *NodeConfig) []string { return []string{strconv.FormatBool(*p(c))} },
		set: func(c *NodeConfig, v []string) error {
			s, ok, err := single(v)
			if !ok {
				return err
			}
			switch strings.ToLower(s) {
			case "1", "true":
				*p(c) = true
			case "0", "false":
				*p(c) = false
			default:
				return fmt.Errorf("%q is not a boolean", s)
			}
			return nil
		},
	}
}

func choiceField(name, label string, options []string, p func(*NodeConfig) *string) configField {
	return configField{name: name, kind: "list-single", label: label, options: options,
		get: func(c *NodeConfig) []string { return []string{*p(c)} },
		set: func(c *NodeConfig, v []string) error {
			s, ok, err := single(v)
			if !ok {
				return err
			}
			if !slices.Contains(options, s) {
				return fmt.Errorf("%q is not one of %s", s, strings.Join(options, ", "))
			}
			*p(c) = s
			return nil
		},
	}
}

// maxItemsMax is what max_items "max" sets until apply knows the service.
const maxItemsMax = -1

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
	accessModelField,
	choiceField("publish_model", "Who may publish",
		[]string{PublishPublishers, PublishSubscribers, PublishOpen}, func(c *NodeConfig) *string { return &c.PublishModel }),
	{name: "max_items", kind: "text-single", label: "How many items to keep, or max",
		get: func(c *NodeConfig) []string { return []string{strconv.Itoa(c.MaxItems)} },
		set: func(c *NodeConfig, v []string) error {
			s, ok, err := single(v)
			if !ok {
				return err
			}
			if s == "max" {
				c.MaxItems = maxItemsMax
				return nil
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return fmt.Errorf("expected a positive number or max")
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
		get: func(c *NodeConfig) []string { return groupSet(c.RosterGroupsAllowed) },
		set: func(c *NodeConfig, v []string) error { c.RosterGroupsAllowed = groupSet(v); return nil }},
}

// accessModelField names the XEP-0060 condition for a model it lacks.
var accessModelField = func() configField {
	f := choiceField("access_model", "Who may subscribe and retrieve items",
		[]string{AccessOpen, AccessPresence, AccessRoster, AccessWhitelist}, func(c *NodeConfig) *string { return &c.AccessModel })
	f.app = "unsupported-access-model"
	return f
}()

// groupSet is a set of roster groups in one order, so that two lists of
// the same groups compare equal; blank values name no group.
func groupSet(v []string) []string {
	var out []string
	for _, g := range v {
		if g != "" {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
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

// apply sets the options of a submitted form on c; limit is the most items
// a node of its service keeps. An option the service lacks or a value it
// refuses is an *optionError; any other error is about the form.
func (c *NodeConfig) apply(f *form, formType string, limit int) error {
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
			return &optionError{field: fl.Var, msg: "not an option of this service"}
		}
		if err := cf.set(c, fl.Values); err != nil {
			return &optionError{field: fl.Var, app: cf.app, msg: err.Error()}
		}
	}
	switch {
	case c.MaxItems == maxItemsMax:
		c.MaxItems = limit
	case c.MaxItems > limit:
		return &optionError{field: "pubsub#max_items", msg: fmt.Sprintf("a node here keeps at most %d items (max)", limit)}
	}
	return nil
}

// preconditionError is the reply to publish-options an existing node does
// not meet (XEP-0060 §7.1.5): conflict with precondition-not-met, also for
// an option the service lacks, which no node can meet; bad-request for a
// broken form.
func preconditionError(err error) *Error {
	var oe *optionError
	if errors.As(err, &oe) {
		return errPrecondition.with(oe.Error())
	}
	return errBadRequest.with(err.Error())
}

// matches checks publish-options against c as preconditions (XEP-0060
// §7.1.5): it returns the first option c does not satisfy, an option the
// service lacks, or a value it never takes, as an *optionError; any other
// error is about the form.
func (c *NodeConfig) matches(f *form, limit int) error {
	want := *c
	if err := want.apply(f, formTypePublishOptions, limit); err != nil {
		return err
	}
	for _, cf := range configFields {
		if !slices.Equal(cf.get(c), cf.get(&want)) {
			return &optionError{field: "pubsub#" + cf.name, msg: "the node's option is " + strings.Join(cf.get(c), ", ")}
		}
	}
	return nil
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
