package main

import (
	"os"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

// TestMain gives every test a default (strict) estate; tests that need
// other settings or an inventory install their own with useEstate or
// buildTestEstate.
func TestMain(m *testing.M) {
	estate = newEstate(&options{})
	os.Exit(m.Run())
}

// useEstate makes e the process's estate for the rest of the test.
func useEstate(t *testing.T, e *Estate) *Estate {
	t.Helper()
	old := estate
	estate = e
	t.Cleanup(func() { estate = old })
	return e
}

// buildTestEstate builds a full estate (vcsim model included) from a YAML
// inventory, as main does, and tears it down after the test.
func buildTestEstate(t *testing.T, yaml string, o *options) *Estate {
	t.Helper()
	inv, err := loadInventory("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if o == nil {
		o = &options{}
	}
	if o.copyRate == 0 {
		o.copyRate = 100 << 30
	}
	if o.apiVersion == "" {
		o.apiVersion = "7.0.3.0"
	}
	old := estate
	e := newEstate(o)
	model, err := buildEstate(e, inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		model.Remove()
		e.close()
		estate = old
	})
	return e
}

// vmNamed finds an inventory VM by name.
func (e *Estate) vmNamed(t *testing.T, name string) *PVM {
	t.Helper()
	for _, vm := range e.vms {
		if vm.Name == name {
			return vm
		}
	}
	t.Fatalf("no VM %s", name)
	return nil
}

const smallInventory = `
datacenter: DC0
clusters:
  - name: C1
    hosts:
      - {name: esx-01, pmem: 64GiB}
      - {name: esx-02, pmem: 16GiB}
      - {name: esx-03}
datastores:
  - {name: san-01, capacity: 1TiB}
  - {name: san-02, capacity: 100GiB, hosts: [esx-01, esx-02]}
vms:
  - {name: app-01, host: esx-01, disks: [{size: 40GiB, datastore: san-01}, {size: 8GiB, datastore: pmem}]}
  - {name: db-01, host: esx-01, guest_id: rhel8_64Guest, disks: [{size: 20GiB, datastore: san-01}], nvdimms: [8GiB]}
  - {name: snap-01, host: esx-01, disks: [{size: 10GiB, datastore: san-01}], snapshots: 1}
`

func TestBuildEstateState(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	if estate != e {
		t.Fatal("buildEstate must install the estate it builds")
	}
	if len(e.dcs) != 1 || len(e.hosts) != 3 || len(e.hostByRef) != 3 || len(e.vms) != 3 {
		t.Fatalf("index: %d dcs, %d hosts, %d VMs", len(e.dcs), len(e.hosts), len(e.vms))
	}
	h1 := e.dcs[0].host("esx-01")
	if h1 == nil || h1.pmemDS == nil || e.dcs[0].host("esx-03").pmemDS != nil {
		t.Fatal("PMem datastores")
	}
	// 64 GiB - 8 GiB vPMemDisk - 8 GiB NVDIMM
	if got := h1.pmemFree(); got != 48<<30 {
		t.Fatalf("esx-01 PMem free %d", got)
	}
	// datastore-N morefs, numbered by the estate's own counter
	if ds := e.dcs[0].datastores["san-01"]; ds == nil || !strings.HasPrefix(ds.Self.Value, "datastore-") {
		t.Fatalf("datastore moref: %+v", ds)
	}
	if e.dsSeq != 4 { // san-01, san-02 and the PMem datastores of esx-01, esx-02
		t.Fatalf("dsSeq %d", e.dsSeq)
	}
	if len(e.tempDirs) != 1 {
		t.Fatalf("temp dirs %v", e.tempDirs)
	}
	dir := e.tempDirs[0]
	e.close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("close left %s: %v", dir, err)
	}
	if a, b := e.nextID(), e.nextID(); b != a+1 {
		t.Fatalf("nextID %d %d", a, b)
	}
	var none types.ManagedObjectReference
	if e.hostByRef[none] != nil {
		t.Fatal("zero moref")
	}
}
