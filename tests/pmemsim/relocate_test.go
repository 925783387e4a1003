package main

import (
	"reflect"
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

// Unit tests of the RelocateVM_Task rules (relocate.go) on a small built
// estate (smallInventory, estate_test.go): esx-01 64 GiB PMem, esx-02
// 16 GiB PMem, esx-03 none; san-01 on all hosts, san-02 (100 GiB) on
// esx-01 and esx-02.

func faultType(tf *taskFault) string {
	if tf == nil {
		return ""
	}
	return reflect.TypeOf(tf.fault).Elem().Name()
}

// vmDisks are the VM's disks in device order.
func vmDisks(vm *PVM) []*types.VirtualDisk {
	var out []*types.VirtualDisk
	for _, d := range vm.Config.Hardware.Device {
		if x, ok := d.(*types.VirtualDisk); ok {
			out = append(out, x)
		}
	}
	return out
}

func pmemProfileSpec() []types.BaseVirtualMachineProfileSpec {
	return []types.BaseVirtualMachineProfileSpec{&types.VirtualMachineDefinedProfileSpec{ProfileId: pmemProfileID}}
}

func TestRelocateTargetAndKinds(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	vm := e.vmNamed(t, "app-01")
	h3 := e.dcs[0].host("esx-03")
	if h, tf := relocateTargetHost(vm, nil); tf != nil || h != vm.host() {
		t.Fatalf("unset host: %v %v", h, tf)
	}
	if h, tf := relocateTargetHost(vm, &h3.host.Self); tf != nil || h != h3 {
		t.Fatalf("esx-03: %v %v", h, tf)
	}
	notHost := e.dcs[0].datastores["san-01"].Self
	if _, tf := relocateTargetHost(vm, &notHost); faultType(tf) != "InvalidArgument" {
		t.Fatalf("a datastore as host: %v", tf)
	}
	if tf := ruleRelocatePool(&notHost); faultType(tf) != "InvalidArgument" {
		t.Fatalf("a datastore as pool: %v", tf)
	}
	if tf := ruleRelocatePool(&vm.host().pool); tf != nil {
		t.Fatalf("the host's pool: %v", tf)
	}
	if tf := ruleRelocateFolder(&notHost); faultType(tf) != "InvalidArgument" {
		t.Fatalf("a datastore as folder: %v", tf)
	}
	if tf := ruleRelocateFolder(&e.dcs[0].vmFolder); tf != nil {
		t.Fatalf("the VM folder: %v", tf)
	}
}

func TestRuleRelocateHome(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	vm := e.vmNamed(t, "app-01")
	pmem := vm.host().pmemDS.Self
	if _, tf := ruleRelocateHome(vm, &pmem); faultKey(tf) != keyPMemDatastoreSetDirectly {
		t.Fatalf("PMem home: %v", tf)
	}
	e.relax["pmem-locator"] = true
	if _, tf := ruleRelocateHome(vm, &pmem); faultType(tf) != "InvalidArgument" {
		t.Fatalf("PMem home, relaxed: %v", tf)
	}
	delete(e.relax, "pmem-locator")
	cur := vm.homeDatastore().Self
	if ds, tf := ruleRelocateHome(vm, &cur); ds != nil || tf != nil {
		t.Fatalf("current home is no move: %v %v", ds, tf)
	}
	san2 := e.dcs[0].datastores["san-02"]
	if ds, tf := ruleRelocateHome(vm, &san2.Self); ds != san2 || tf != nil {
		t.Fatalf("san-02: %v %v", ds, tf)
	}
	// san-02 is not mounted on esx-03
	p := &relocPlan{target: e.dcs[0].host("esx-03"), home: san2}
	if tf := ruleHomeReachable(vm, p); faultType(tf) != "InvalidDatastore" {
		t.Fatalf("home not mounted on the target: %v", tf)
	}
}

func TestRuleDiskLocatorsAndDeviceChange(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	vm := e.vmNamed(t, "app-01")
	disks := vmDisks(vm)
	san2 := e.dcs[0].datastores["san-02"].Self
	pmem := vm.host().pmemDS.Self
	locs, tf := ruleDiskLocators(vm, []types.VirtualMachineRelocateSpecDiskLocator{{DiskId: disks[0].Key, Datastore: san2}})
	if tf != nil || locs[disks[0].Key] == nil {
		t.Fatalf("locator: %v %v", locs, tf)
	}
	if _, tf := ruleDiskLocators(vm, []types.VirtualMachineRelocateSpecDiskLocator{{DiskId: 99, Datastore: san2}}); faultType(tf) != "InvalidArgument" {
		t.Fatalf("unknown diskId: %v", tf)
	}
	_, tf = ruleDiskLocators(vm, []types.VirtualMachineRelocateSpecDiskLocator{
		{DiskId: disks[1].Key, Datastore: san2}, {DiskId: disks[0].Key, Datastore: pmem}})
	if faultKey(tf) != keyPMemDatastoreSetDirectly || tf.fault.(*types.InvalidDeviceSpec).DeviceIndex != 1 {
		t.Fatalf("locator onto PMem: %v", tf)
	}

	edit := func(d types.BaseVirtualDevice, prof []types.BaseVirtualMachineProfileSpec) []types.BaseVirtualDeviceConfigSpec {
		return []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: d, Profile: prof}}
	}
	if prof, tf := ruleDeviceChangeProfiles(vm, edit(disks[0], pmemProfileSpec())); tf != nil || !hasPMemProfile(prof[disks[0].Key]) {
		t.Fatalf("PMem profile edit: %v %v", prof, tf)
	}
	if prof, tf := ruleDeviceChangeProfiles(vm, edit(disks[0], nil)); tf != nil || len(prof) != 0 {
		t.Fatalf("an edit without a profile is ignored: %v %v", prof, tf)
	}
	ghost := &types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: 77}}
	if _, tf := ruleDeviceChangeProfiles(vm, edit(ghost, pmemProfileSpec())); faultType(tf) != "InvalidArgument" {
		t.Fatalf("profile on an unknown disk: %v", tf)
	}
}

func TestPlaceDevices(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	db := e.vmNamed(t, "db-01")
	h1, h2, h3 := e.dcs[0].host("esx-01"), e.dcs[0].host("esx-02"), e.dcs[0].host("esx-03")
	nv := deviceDatastore(db.nvdimms()[0])
	if to, tf := (&relocPlan{target: h1}).placeNVDIMM(db, nv); to != nv || tf != nil {
		t.Fatal("NVDIMM without a host change stays")
	}
	if to, tf := (&relocPlan{target: h2}).placeNVDIMM(db, nv); to != h2.pmemDS || tf != nil {
		t.Fatalf("NVDIMM follows to esx-02's PMem: %v %v", to, tf)
	}
	if _, tf := (&relocPlan{target: h3}).placeNVDIMM(db, nv); faultType(tf) != "InsufficientResourcesFault" {
		t.Fatalf("NVDIMM to a host without PMem: %v", tf)
	}

	app := e.vmNamed(t, "app-01")
	disks := vmDisks(app)
	flat, vpmem := deviceDatastore(disks[0]), deviceDatastore(disks[1])
	san2 := e.dcs[0].datastores["san-02"]
	if !vpmem.isPMem() || flat.isPMem() {
		t.Fatal("app-01's second disk is the vPMemDisk")
	}
	// locator with the PMem policy onto VMFS
	l := &types.VirtualMachineRelocateSpecDiskLocator{DiskId: disks[0].Key, Datastore: san2.Self, Profile: pmemProfileSpec()}
	if _, tf := placeByLocator(l, false); faultType(tf) != "InvalidArgument" {
		t.Fatalf("PMem profile on VMFS: %v", tf)
	}
	l.Profile = nil
	if to, tf := placeByLocator(l, false); to != san2 || tf != nil {
		t.Fatalf("plain locator: %v %v", to, tf)
	}
	if _, tf := placeByLocator(l, true); faultType(tf) != "InvalidArgument" {
		t.Fatalf("deviceChange PMem profile with a VMFS locator: %v", tf)
	}
	// deviceChange PMem profile: onto the target's PMem, or refused without PMem
	if to, _ := (&relocPlan{target: h1}).placeDisk(app, disks[0], nil, true, flat); to != h1.pmemDS {
		t.Fatalf("onto PMem: %v", to)
	}
	if _, tf := (&relocPlan{target: h3}).placeDisk(app, disks[0], nil, true, flat); faultType(tf) != "InsufficientResourcesFault" {
		t.Fatalf("onto PMem of a host without: %v", tf)
	}
	// spec.datastore takes the flat disk, not the vPMemDisk
	p := &relocPlan{target: h1, home: san2}
	if to, _ := p.placeDisk(app, disks[0], nil, false, flat); to != san2 {
		t.Fatalf("flat disk follows the home: %v", to)
	}
	if to, _ := p.placeDisk(app, disks[1], nil, false, vpmem); to != vpmem {
		t.Fatalf("vPMemDisk stays on PMem: %v", to)
	}
	// host change: the vPMemDisk follows to esx-02's PMem; to esx-03 only with a home
	if to, _ := (&relocPlan{target: h2}).placeDisk(app, disks[1], nil, false, vpmem); to != h2.pmemDS {
		t.Fatalf("vPMemDisk follows the VM: %v", to)
	}
	if _, tf := (&relocPlan{target: h3}).placePMemDiskOnHostChange(app); faultType(tf) != "InsufficientResourcesFault" {
		t.Fatalf("vPMemDisk to a host without PMem, no home: %v", tf)
	}
	san1 := e.dcs[0].datastores["san-01"]
	if to, tf := (&relocPlan{target: h3, home: san1}).placePMemDiskOnHostChange(app); to != san1 || tf != nil {
		t.Fatalf("vPMemDisk goes with the home: %v %v", to, tf)
	}
}

func TestRuleRelocateCapacity(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	h2 := e.dcs[0].host("esx-02")
	san2 := e.dcs[0].datastores["san-02"]
	if tf := ruleRelocateCapacity([]move{{to: h2.pmemDS, size: 16 << 30}}); tf != nil {
		t.Fatalf("exactly the free PMem: %v", tf)
	}
	// two moves that fit alone but not together
	tf := ruleRelocateCapacity([]move{{to: h2.pmemDS, size: 10 << 30}, {to: h2.pmemDS, size: 10 << 30}})
	if faultType(tf) != "InsufficientResourcesFault" {
		t.Fatalf("PMem over-commit: %v", tf)
	}
	// the first over-committed target in move order is the one reported
	tf = ruleRelocateCapacity([]move{{to: san2, size: 200 << 30}, {to: h2.pmemDS, size: 20 << 30}})
	if faultType(tf) != "InsufficientStorageSpace" {
		t.Fatalf("datastore over-commit first: %v", tf)
	}
}

func TestPlanRelocate(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	app := e.vmNamed(t, "app-01")
	disks := vmDisks(app)
	h1 := app.host()
	onto := &types.VirtualMachineRelocateSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disks[0], Profile: pmemProfileSpec()}}}
	var p *relocPlan
	var tf *taskFault
	e.withLock(func() { p, tf = app.planRelocate(onto) })
	if tf != nil || len(p.moves) != 1 || p.moves[0].to != h1.pmemDS || !p.svm || p.bytes != 40<<30 {
		t.Fatalf("onto PMem: %+v %v", p, tf)
	}
	if ids := p.policies[disks[0].Key]; len(ids) != 1 || ids[0] != pmemProfileID {
		t.Fatalf("PBM association after the move: %v", ids)
	}
	// nothing to do: no slot
	e.withLock(func() { p, tf = app.planRelocate(&types.VirtualMachineRelocateSpec{}) })
	if tf != nil || p.svm || p.resources(app) != nil {
		t.Fatalf("empty spec: %+v %v", p, tf)
	}
	// the same move on a VM with snapshots
	snap := e.vmNamed(t, "snap-01")
	sd := vmDisks(snap)[0]
	onto.DeviceChange[0].GetVirtualDeviceConfigSpec().Device = sd
	e.withLock(func() { p, tf = snap.planRelocate(onto) })
	if faultKey(tf) != keyPMemDiskSnapshots {
		t.Fatalf("onto PMem with snapshots: %v", tf)
	}
	// host change of the NVDIMM VM to esx-02 moves the NVDIMM and holds both hosts
	db := e.vmNamed(t, "db-01")
	h2 := e.dcs[0].host("esx-02")
	e.withLock(func() { p, tf = db.planRelocate(&types.VirtualMachineRelocateSpec{Host: &h2.host.Self}) })
	if tf != nil || len(p.moves) != 1 || p.moves[0].to != h2.pmemDS {
		t.Fatalf("NVDIMM host change: %+v %v", p, tf)
	}
	if r := p.resources(db); r == nil || len(r.hosts) != 2 || len(r.dss) != 2 {
		t.Fatalf("svMotion slots: %+v", r)
	}
}
