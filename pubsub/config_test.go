package pubsub

import (
	"errors"
	"slices"
	"testing"
)

func submit(fields ...field) *form {
	return &form{Type: "submit", Fields: append([]field{{Var: "FORM_TYPE", Values: []string{formTypeNodeConfig}}}, fields...)}
}

func publishOptions(fields ...field) *form {
	return &form{Type: "submit", Fields: append([]field{{Var: "FORM_TYPE", Values: []string{formTypePublishOptions}}}, fields...)}
}

func TestConfigFormApply(t *testing.T) {
	c := ServiceDefaults()
	err := c.apply(submit(
		field{Var: "pubsub#access_model", Values: []string{"whitelist"}},
		field{Var: "pubsub#max_items", Values: []string{"max"}},
		field{Var: "pubsub#deliver_payloads", Values: []string{"0"}},
		field{Var: "pubsub#roster_groups_allowed", Values: []string{"b", "a", "", "b"}},
	), formTypeNodeConfig, maxItemsLimit)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessModel != AccessWhitelist || c.MaxItems != maxItemsLimit || c.DeliverPayloads || !slices.Equal(c.RosterGroupsAllowed, []string{"a", "b"}) {
		t.Errorf("applied: %+v", c)
	}
	for _, tc := range []struct {
		form   *form
		option bool   // refused as an option (not-acceptable), not as a form
		app    string // pubsub#errors condition
	}{
		{submit(field{Var: "pubsub#access_model", Values: []string{"authorize"}}), true, "unsupported-access-model"},
		{submit(field{Var: "pubsub#max_items", Values: []string{"0"}}), true, ""},
		{submit(field{Var: "pubsub#max_items", Values: []string{"1001"}}), true, ""},
		{submit(field{Var: "pubsub#notify_retract", Values: []string{"maybe"}}), true, ""},
		{submit(field{Var: "pubsub#send_last_published_item", Values: []string{"never", "on_sub"}}), true, ""},
		{submit(field{Var: "pubsub#unknown", Values: []string{"1"}}), true, ""},
		{&form{Type: "form"}, false, ""},
		{&form{Type: "submit", Fields: []field{{Var: "FORM_TYPE", Values: []string{"urn:other"}}}}, false, ""},
	} {
		c := ServiceDefaults()
		err := c.apply(tc.form, formTypeNodeConfig, maxItemsLimit)
		var oe *optionError
		if err == nil || errors.As(err, &oe) != tc.option || oe != nil && oe.app != tc.app {
			t.Errorf("%+v: %v", tc.form, err)
		}
		e := configError(err)
		if want := map[bool]string{true: "not-acceptable", false: "bad-request"}[tc.option]; e.Cond != want || e.App != tc.app {
			t.Errorf("%+v: replied %s/%s", tc.form, e.Cond, e.App)
		}
	}
}

// A form read and sent back whole (Converse's config.set) carries blank
// values for options shown without one: they change nothing.
func TestConfigFormBlankValuesKeepOptions(t *testing.T) {
	c := PEPDefaults()
	err := c.apply(submit(
		field{Var: "pubsub#title", Values: []string{""}},
		field{Var: "pubsub#publish_model", Values: []string{""}},
		field{Var: "pubsub#persist_items"},
		field{Var: "pubsub#roster_groups_allowed", Values: []string{""}},
		field{Var: "pubsub#access_model", Values: []string{"open"}},
	), formTypeNodeConfig, maxPEPMaxItems)
	if err != nil {
		t.Fatal(err)
	}
	want := PEPDefaults()
	want.AccessModel = AccessOpen
	if !slices.Equal(c.RosterGroupsAllowed, nil) || c.PublishModel != want.PublishModel || c.PersistItems != want.PersistItems || c.AccessModel != AccessOpen {
		t.Errorf("applied: %+v", c)
	}
}

// max means the service's own limit: the PEP limit on an account, the
// service's on pubsub.<domain>.
func TestMaxItemsMax(t *testing.T) {
	max := func(service string) int {
		t.Helper()
		c := PEPDefaults()
		if err := c.apply(publishOptions(field{Var: "pubsub#max_items", Values: []string{"max"}}), formTypePublishOptions, maxItemsOf(service)); err != nil {
			t.Fatal(err)
		}
		return c.MaxItems
	}
	if got := max("car@localhost"); got != maxPEPMaxItems {
		t.Errorf("PEP max: %d", got)
	}
	if got := max("pubsub.localhost"); got != maxItemsLimit {
		t.Errorf("service max: %d", got)
	}
	c := PEPDefaults()
	err := c.apply(publishOptions(field{Var: "pubsub#max_items", Values: []string{"33"}}), formTypePublishOptions, maxPEPMaxItems)
	if e := configError(err); e.Cond != "not-acceptable" {
		t.Errorf("33 items on PEP: %v", err)
	}
}

func TestPublishOptionsMatch(t *testing.T) {
	c := PEPDefaults()
	match := func(fields ...field) error {
		t.Helper()
		return c.matches(publishOptions(fields...), maxPEPMaxItems)
	}
	if err := match(field{Var: "pubsub#access_model", Values: []string{"presence"}}); err != nil {
		t.Errorf("matching options: %v", err)
	}
	err := match(field{Var: "pubsub#access_model", Values: []string{"open"}})
	var oe *optionError
	if !errors.As(err, &oe) || oe.field != "pubsub#access_model" {
		t.Errorf("mismatch reported as %v", err)
	}
	if e := preconditionError(err); e.Cond != "conflict" || e.App != "precondition-not-met" {
		t.Errorf("mismatch replied %s/%s", e.Cond, e.App)
	}
	// max against a node at the limit, set as a number or as max.
	if err := match(field{Var: "pubsub#max_items", Values: []string{"max"}}); err == nil {
		t.Errorf("max matched a node keeping 1 item")
	}
	c.MaxItems = maxPEPMaxItems
	if err := match(field{Var: "pubsub#max_items", Values: []string{"max"}}); err != nil {
		t.Errorf("max against a node at the limit: %v", err)
	}
	// What bookmarks (XEP-0402) and Conversations send.
	c.AccessModel, c.SendLastPublishedItem = AccessWhitelist, SendLastNever
	if err := match(
		field{Var: "pubsub#persist_items", Values: []string{"1"}},
		field{Var: "pubsub#max_items", Values: []string{"max"}},
		field{Var: "pubsub#send_last_published_item", Values: []string{"never"}},
		field{Var: "pubsub#access_model", Values: []string{"whitelist"}},
		field{Var: "pubsub#notify_delete", Values: []string{"true"}},
		field{Var: "pubsub#notify_retract", Values: []string{"true"}},
	); err != nil {
		t.Errorf("bookmarks options: %v", err)
	}
	// Roster groups compare as sets.
	c.RosterGroupsAllowed = []string{"a", "b"}
	if err := match(field{Var: "pubsub#roster_groups_allowed", Values: []string{"b", "a"}}); err != nil {
		t.Errorf("groups in another order: %v", err)
	}
	// An option the service lacks is a precondition no node meets; a
	// broken form is a bad request.
	if e := preconditionError(match(field{Var: "pubsub#item_expire", Values: []string{"60"}})); e.Cond != "conflict" || e.App != "precondition-not-met" {
		t.Errorf("unknown option replied %s/%s", e.Cond, e.App)
	}
	if e := preconditionError(c.matches(&form{Type: "form"}, maxPEPMaxItems)); e.Cond != "bad-request" {
		t.Errorf("a form of type form replied %s", e.Cond)
	}
}
