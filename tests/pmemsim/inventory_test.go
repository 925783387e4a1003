package main

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

func TestLoadDatacenters(t *testing.T) {
	inv, err := loadInventory("inv.yaml", []byte(`
datacenters:
  - name: East
    local_datastores: true
    clusters:
      - name: C1
        ha: {pmem_admission_control: true}
        hosts: [{name: esx-1, pmem: 16GiB}, {name: esx-2}]
    vms:
      - {name: a/b, host: esx-1, folder: "x%/y", disks: [{size: 1GiB, datastore: datastore1}]}
  - name: West
    hosts: [{name: esx-1}]
    datastores: [{name: datastore1, capacity: 1TiB}]
    vms:
      - {name: a/b, host: esx-1}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Datacenters) != 2 || inv.Datacenters[1].index != 1 {
		t.Fatalf("datacenters: %+v", inv.Datacenters)
	}
	east := inv.Datacenters[0]
	var names []string
	for _, d := range east.Datastores {
		names = append(names, d.Name)
	}
	if got := strings.Join(names, ","); got != "datastore1,datastore1 (1)" {
		t.Errorf("local datastores: %s", got)
	}
	vm := east.VMs[0]
	if vm.Name != "a%2fb" || vm.Folder != "x%25/y" || vm.Home != "datastore1" {
		t.Errorf("escaping: %+v", vm)
	}
	if ha := east.Clusters[0].HA; ha == nil || !ha.PMemAdmission || !ha.AutoPercent {
		t.Errorf("ha: %+v", ha)
	}
	if inv.Datacenters[1].VMs[0].Home != "datastore1" {
		t.Errorf("West VM home: %+v", inv.Datacenters[1].VMs[0])
	}
}

func TestSingleDatacenterFormDefaults(t *testing.T) {
	inv, err := loadInventory("demo.yaml", []byte(demoInventory))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Datacenters) != 1 || inv.Datacenters[0].Name != "DC0" || len(inv.Datacenters[0].VMs) != 8 {
		t.Fatalf("demo: %+v", inv.Datacenters)
	}
}

func TestInventoryErrorsNameFileLineKey(t *testing.T) {
	cases := []struct{ text, want string }{
		{"datacenter: A\ndatacenters: [{name: B}]\n", "inv.yaml:1: datacenter: not allowed with datacenters:"},
		{"datacenters:\n  - {name: A, bogus: 1}\n", "inv.yaml:2: datacenters[0].bogus: unknown key"},
		{"datacenters:\n  - {hosts: []}\n", "inv.yaml:2: datacenters[0].name: missing key"},
		{"hosts: [{name: h}, {name: h}]\n", `inv.yaml:1: hosts[1].name: duplicate name "h"`},
		{"datacenters:\n  - name: A\n    datastores: [{name: d, capacity: 1TiB}, {name: d, capacity: 1TiB}]\n",
			`inv.yaml:3: datacenters[0].datastores[1].name: duplicate datastore name "d" in datacenter A`},
		{"hosts: [{name: h}]\ndatastores: [{name: d, capacity: 1TiB}]\nvms: [{name: v, host: h, folder: f}, {name: v, host: h, folder: f}]\n",
			`inv.yaml:3: vms[1].name: duplicate VM name "v" in folder "f"`},
		{"clusters: [{name: c, ha: {pmem_failover_percent: 101}}]\n", "inv.yaml:1: clusters[0].ha.pmem_failover_percent: want an integer from 0 to 100"},
	}
	for _, c := range cases {
		_, err := loadInventory("inv.yaml", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.text, err, c.want)
		}
	}
}

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{"a/b": "a%2fb", `a\b`: "a%5cb", "50%": "50%25", "%2f": "%252f", "plain": "plain"} {
		if got := escapeName(in); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPageLimit(t *testing.T) {
	cases := []struct {
		maxObjects int32
		maxPage    int
		want       int
	}{{0, 100, 100}, {1000, 100, 100}, {40, 100, 40}, {0, 0, 0}, {200, 0, 200}}
	for _, c := range cases {
		if got := pageLimit(c.maxObjects, c.maxPage); got != c.want {
			t.Errorf("pageLimit(%d, %d) = %d, want %d", c.maxObjects, c.maxPage, got, c.want)
		}
	}
	pc := &PPropertyCollector{}
	objs := make([]types.ObjectContent, 250)
	first, token := pc.page(objs, pageLimit(0, 100))
	sizes := []int{len(first)}
	for token != "" {
		p := pc.takePage(token)
		var next []types.ObjectContent
		next, token = pc.page(p.rest, p.size)
		sizes = append(sizes, len(next))
	}
	if len(sizes) != 3 || sizes[0] != 100 || sizes[2] != 50 {
		t.Errorf("pages: %v", sizes)
	}
	if (&PPropertyCollector{}).takePage("1") != nil {
		t.Error("a token is not valid on another collector")
	}
}

func TestTakeBacklogTruncates(t *testing.T) {
	f1 := types.ManagedObjectReference{Type: "PropertyFilter", Value: "1"}
	w := &waitState{backlog: []types.PropertyFilterUpdate{{Filter: f1, ObjectSet: make([]types.ObjectUpdate, 150)}}}
	out, truncated := w.takeBacklog(100)
	if !truncated || len(out) != 1 || len(out[0].ObjectSet) != 100 {
		t.Fatalf("first: %d %v", len(out), truncated)
	}
	out, truncated = w.takeBacklog(100)
	if truncated || len(out[0].ObjectSet) != 50 {
		t.Fatalf("second: %v", truncated)
	}
}
