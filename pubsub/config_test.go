package pubsub

import (
	"slices"
	"testing"
)

func submit(fields ...field) *form {
	return &form{Type: "submit", Fields: append([]field{{Var: "FORM_TYPE", Values: []string{formTypeNodeConfig}}}, fields...)}
}

func TestConfigFormApply(t *testing.T) {
	c := ServiceDefaults()
	err := c.apply(submit(
		field{Var: "pubsub#access_model", Values: []string{"whitelist"}},
		field{Var: "pubsub#max_items", Values: []string{"max"}},
		field{Var: "pubsub#deliver_payloads", Values: []string{"0"}},
		field{Var: "pubsub#roster_groups_allowed", Values: []string{"a", "b"}},
	), formTypeNodeConfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessModel != AccessWhitelist || c.MaxItems != maxItemsLimit || c.DeliverPayloads || !slices.Equal(c.RosterGroupsAllowed, []string{"a", "b"}) {
		t.Errorf("applied: %+v", c)
	}
	for _, bad := range []*form{
		submit(field{Var: "pubsub#access_model", Values: []string{"everyone"}}),
		submit(field{Var: "pubsub#max_items", Values: []string{"0"}}),
		submit(field{Var: "pubsub#notify_retract", Values: []string{"maybe"}}),
		submit(field{Var: "pubsub#unknown", Values: []string{"1"}}),
		{Type: "form"},
		{Type: "submit", Fields: []field{{Var: "FORM_TYPE", Values: []string{"urn:other"}}}},
	} {
		c := ServiceDefaults()
		if err := c.apply(bad, formTypeNodeConfig); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestPublishOptionsMatch(t *testing.T) {
	c := PEPDefaults()
	opts := &form{Type: "submit", Fields: []field{
		{Var: "FORM_TYPE", Values: []string{formTypePublishOptions}},
		{Var: "pubsub#access_model", Values: []string{"presence"}},
	}}
	if f, err := c.matches(opts); err != nil || f != "" {
		t.Errorf("matching options: %q %v", f, err)
	}
	opts.Fields[1].Values = []string{"open"}
	if f, _ := c.matches(opts); f != "pubsub#access_model" {
		t.Errorf("mismatch reported as %q", f)
	}
}
