package main

import (
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Custom attributes from the inventory are CustomFieldsManager fields on
// VirtualMachine, listed in every VM's availableField, with each VM's own
// values in customValue (vcsim's AddCustomFieldDef / SetField shapes).
func TestInventoryAttributesAreCustomFields(t *testing.T) {
	e := buildTestEstate(t, `
hosts: [{name: esx-01, pmem: 64GiB}]
datastores: [{name: san-01, capacity: 1TiB}]
vms:
  - {name: a, host: esx-01, attributes: {team: db, tier: gold}}
  - {name: b, host: esx-01, attributes: {team: web}}
  - {name: c, host: esx-01}
`, nil)
	cfm := simulator.Map.CustomFieldsManager()
	keys := map[string]int32{}
	for _, f := range cfm.Field {
		if f.ManagedObjectType == "VirtualMachine" {
			keys[f.Name] = f.Key
		}
	}
	_, team := keys["team"]
	_, tier := keys["tier"]
	if len(keys) != 2 || !team || !tier {
		t.Fatalf("fields %v, want team and tier", cfm.Field)
	}
	values := func(name string) map[int32]string {
		out := map[int32]string{}
		for _, v := range e.vmNamed(t, name).CustomValue {
			out[v.GetCustomFieldValue().Key] = v.(*types.CustomFieldStringValue).Value
		}
		return out
	}
	if got := values("a"); got[keys["team"]] != "db" || got[keys["tier"]] != "gold" || len(got) != 2 {
		t.Fatalf("a: %v", got)
	}
	if got := values("b"); got[keys["team"]] != "web" || len(got) != 1 {
		t.Fatalf("b: %v", got)
	}
	if got := values("c"); len(got) != 0 {
		t.Fatalf("c: %v", got)
	}
	if n := len(e.vmNamed(t, "c").AvailableField); n != 2 {
		t.Fatalf("c lists %d available fields, want 2", n)
	}
}

func TestInventoryAttributesMustBeStrings(t *testing.T) {
	_, err := loadInventory("test.yaml", []byte(`
hosts: [{name: esx-01}]
datastores: [{name: san-01, capacity: 1TiB}]
vms: [{name: a, host: esx-01, attributes: {team: [db]}}]
`))
	if err == nil || err.Error() != "test.yaml:4: vms[0].attributes.team: want a string value" {
		t.Fatalf("err = %v", err)
	}
}
