package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// withRelax gives the test a fresh estate with the given --relax rules.
func withRelax(t *testing.T, rules ...string) {
	relax := map[string]bool{}
	for _, r := range rules {
		relax[r] = true
	}
	useEstate(t, newEstate(&options{relax: relax}))
}

func faultKey(tf *taskFault) string {
	if tf == nil {
		return ""
	}
	return tf.fault.GetMethodFault().FaultMessage[0].Key
}

func testVM(version string, power types.VirtualMachinePowerState) *PVM {
	vm := &PVM{}
	vm.Name = "t"
	vm.Config = &types.VirtualMachineConfigInfo{Version: version}
	vm.Runtime.PowerState = power
	return vm
}

func TestVcFaultShape(t *testing.T) {
	tf := invalidSpecKey(3, keyPMemDatastoreSetDirectly, "why %d", 1)
	if tf.msg != "Invalid configuration for device '3'." {
		t.Fatalf("localizedMessage %q", tf.msg)
	}
	m := tf.fault.GetMethodFault().FaultMessage
	if len(m) != 1 || m[0].Key != keyPMemDatastoreSetDirectly || m[0].Message != "why 1" {
		t.Fatalf("faultMessage %+v", m)
	}
	ps := vcFault(&types.InvalidPowerState{ExistingState: types.VirtualMachinePowerStatePoweredOn}, keyPowerState, "x")
	if ps.msg != "The attempted operation cannot be performed in the current state (Powered on)." {
		t.Fatalf("power state message %q", ps.msg)
	}
}

func TestRuleReconfigVersion(t *testing.T) {
	withRelax(t)
	vm := testVM("vmx-13", types.VirtualMachinePowerStatePoweredOff)
	if v, tf := ruleReconfigVersion(vm, "vmx-13"); v != "" || tf != nil {
		t.Fatalf("same version: %q %v", v, tf)
	}
	if _, tf := ruleReconfigVersion(vm, "vmx-14"); faultKey(tf) != keyReconfigVersion {
		t.Fatalf("change: %v", tf)
	}
	withRelax(t, "reconfig-version")
	if v, tf := ruleReconfigVersion(vm, "vmx-14"); v != "vmx-14" || tf != nil {
		t.Fatalf("relaxed: %q %v", v, tf)
	}
	on := testVM("vmx-13", types.VirtualMachinePowerStatePoweredOn)
	if _, tf := ruleReconfigVersion(on, "vmx-14"); faultKey(tf) != keyPowerState {
		t.Fatalf("relaxed, powered on: %v", tf)
	}
}

func TestRuleNVDIMMSize(t *testing.T) {
	withRelax(t)
	for mb, ok := range map[int64]bool{4: true, 1024: true, maxNVDIMMMB: true, 0: false, 2: false, 1026: false, maxNVDIMMMB + 4: false} {
		if got := ruleNVDIMMSize(0, mb) == nil; got != ok {
			t.Errorf("%d MB: accepted=%v, want %v", mb, got, ok)
		}
	}
	withRelax(t, "nvdimm-granularity")
	if ruleNVDIMMSize(0, 1026) != nil || ruleNVDIMMSize(0, 1) != nil || ruleNVDIMMSize(0, 0) == nil {
		t.Error("relaxed granularity")
	}
}

func TestRulePMemDatastoreDirect(t *testing.T) {
	withRelax(t)
	pmem := &PDatastore{pmemHost: &hostState{name: "h"}}
	pmem.Name = "PMemDS-x"
	plain := &PDatastore{}
	if rulePMemDatastoreDirect(0, nil) != nil || rulePMemDatastoreDirect(0, plain) != nil {
		t.Fatal("non-PMem refused")
	}
	tf := rulePMemDatastoreDirect(2, pmem)
	if faultKey(tf) != keyPMemDatastoreSetDirectly || !strings.HasPrefix(tf.fault.GetMethodFault().FaultMessage[0].Message, msgPMemDatastoreSetDirectly) {
		t.Fatalf("%v", tf)
	}
	withRelax(t, "pmem-locator")
	if rulePMemDatastoreDirect(0, pmem) != nil {
		t.Fatal("relaxed")
	}
}

func TestRuleNVDIMMPolicy(t *testing.T) {
	if ruleNVDIMMPolicy(0, nil) != nil {
		t.Fatal("no profile must be accepted")
	}
	ok := []types.BaseVirtualMachineProfileSpec{&types.VirtualMachineDefinedProfileSpec{ProfileId: pmemProfileID}}
	bad := []types.BaseVirtualMachineProfileSpec{&types.VirtualMachineDefinedProfileSpec{ProfileId: vsanDefaultProfileID}}
	if ruleNVDIMMPolicy(0, ok) != nil || faultKey(ruleNVDIMMPolicy(1, bad)) != keyInvalidNVDIMMPolicy {
		t.Fatal("policy rule")
	}
}

func TestRuleSnapshots(t *testing.T) {
	withRelax(t)
	vm := testVM("vmx-19", types.VirtualMachinePowerStatePoweredOff)
	vm.Config.Hardware.Device = []types.BaseVirtualDevice{&types.VirtualNVDIMM{CapacityInMB: 4}}
	if faultKey(ruleSnapshotNVDIMM(vm)) != keySnapshotNVDIMM {
		t.Fatal("NVDIMM without snapshotMode must be refused")
	}
	set := []types.BaseOptionValue{&types.OptionValue{Key: snapshotModeKey, Value: "independent_persistent"}}
	if ruleSnapshotModeSet(vm, set) != nil {
		t.Fatal("setting without snapshots")
	}
	vm.Config.ExtraConfig = set
	if ruleSnapshotNVDIMM(vm) != nil {
		t.Fatal("snapshotMode set")
	}
	bad := []types.BaseOptionValue{&types.OptionValue{Key: snapshotModeKey, Value: "nope"}}
	if faultKey(ruleSnapshotModeSet(vm, bad)) != keySnapshotMode {
		t.Fatal("bad value")
	}
	vm.Snapshot = &types.VirtualMachineSnapshotInfo{RootSnapshotList: []types.VirtualMachineSnapshotTree{{Name: "s"}}}
	other := []types.BaseOptionValue{&types.OptionValue{Key: snapshotModeKey, Value: "independent_eraseonrevert"}}
	if faultKey(ruleSnapshotModeSet(vm, other)) != keySnapshotMode {
		t.Fatal("changing with snapshots")
	}
	if ruleSnapshotModeSet(vm, set) != nil {
		t.Fatal("same value with snapshots is a no-op")
	}
	if faultKey(rulePMemDiskSnapshots(vm, "x")) != keyPMemDiskSnapshots {
		t.Fatal("PMem disk with snapshots")
	}
}

func TestPolicyFromSpecAndCompliance(t *testing.T) {
	pmem := &PDatastore{pmemHost: &hostState{}}
	vmfs := &PDatastore{}
	vmfs.Summary.Type = "VMFS"
	vsan := &PDatastore{}
	vsan.Summary.Type = "vsan"
	if _, set := policyFromSpec(nil, vmfs); set {
		t.Fatal("no profile keeps the association")
	}
	def := []types.BaseVirtualMachineProfileSpec{&types.VirtualMachineDefaultProfileSpec{}}
	if ids, _ := policyFromSpec(def, vmfs); len(ids) != 0 {
		t.Fatalf("VMFS default: %v", ids)
	}
	if ids, _ := policyFromSpec(def, vsan); len(ids) != 1 || ids[0] != vsanDefaultProfileID {
		t.Fatalf("vsan default: %v", ids)
	}
	empty := []types.BaseVirtualMachineProfileSpec{&types.VirtualMachineEmptyProfileSpec{}}
	if ids, set := policyFromSpec(empty, pmem); !set || len(ids) != 0 {
		t.Fatal("empty clears")
	}
	p := []string{pmemProfileID}
	if compliance(p, pmem) != "compliant" || compliance(p, vmfs) != "nonCompliant" || compliance(nil, vmfs) != "notApplicable" {
		t.Fatal("compliance")
	}
}

func TestRecentTaskWindowAndCap(t *testing.T) {
	useEstate(t, newEstate(&options{recentWindow: 50 * time.Millisecond}))
	f := &simulator.Folder{}
	f.Self = types.ManagedObjectReference{Type: "Folder", Value: "pmemsim-test-folder"}
	simulator.Map.Put(f)
	defer simulator.Map.Remove(f.Self)
	for i := 0; i < recentTaskCap+5; i++ {
		addRecentTask(f.Self, types.ManagedObjectReference{Type: "Task", Value: "t" + string(rune('a'+i%26)) + time.Now().String()})
	}
	if n := len(f.RecentTask); n != recentTaskCap {
		t.Fatalf("recentTask has %d entries, want %d", n, recentTaskCap)
	}
	last := f.RecentTask[len(f.RecentTask)-1]
	expireRecentTask(f.Self, last)
	if f.RecentTask[len(f.RecentTask)-1] != last {
		t.Fatal("dropped before the window")
	}
	time.Sleep(150 * time.Millisecond)
	for _, r := range f.RecentTask {
		if r == last {
			t.Fatal("still listed after the window")
		}
	}
}
