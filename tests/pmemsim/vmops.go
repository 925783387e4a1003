package main

import (
	"fmt"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vmTask submits a task on this VM.
func (vm *PVM) vmTask(method, descID string, svm *svmResources, run func(j *job) (types.AnyType, *taskFault)) types.ManagedObjectReference {
	return submitTask(vm, vm.Self, vm.Name, method, descID, svm, run)
}

func (vm *PVM) powerTask(method, descID string, want types.VirtualMachinePowerState) types.ManagedObjectReference {
	return vm.vmTask(method, descID, nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		var tf *taskFault
		lockVM(vm, func() {
			if vm.Config.Template {
				tf = newFault(&types.InvalidState{}, "%s is a template", vm.Name)
				return
			}
			if vm.Runtime.PowerState == want {
				tf = newFault(&types.InvalidPowerState{RequestedState: want, ExistingState: vm.Runtime.PowerState},
					"The attempted operation cannot be performed in the current state (%s).", vm.Runtime.PowerState)
				return
			}
			if want == types.VirtualMachinePowerStatePoweredOn {
				vm.boot()
				return
			}
			vm.setPower(want)
		})
		return nil, tf
	})
}

func (vm *PVM) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{
		Returnval: vm.powerTask("PowerOnVM_Task", "powerOn", types.VirtualMachinePowerStatePoweredOn)}}
}

func (vm *PVM) PowerOffVMTask(ctx *simulator.Context, req *types.PowerOffVM_Task) soap.HasFault {
	return &methods.PowerOffVM_TaskBody{Res: &types.PowerOffVM_TaskResponse{
		Returnval: vm.powerTask("PowerOffVM_Task", "powerOff", types.VirtualMachinePowerStatePoweredOff)}}
}

func (vm *PVM) SuspendVMTask(ctx *simulator.Context, req *types.SuspendVM_Task) soap.HasFault {
	return &methods.SuspendVM_TaskBody{Res: &types.SuspendVM_TaskResponse{
		Returnval: vm.powerTask("SuspendVM_Task", "suspend", types.VirtualMachinePowerStateSuspended)}}
}

func (vm *PVM) ResetVMTask(ctx *simulator.Context, req *types.ResetVM_Task) soap.HasFault {
	ref := vm.vmTask("ResetVM_Task", "reset", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		var tf *taskFault
		lockVM(vm, func() {
			if !vm.poweredOn() {
				tf = newFault(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn,
					ExistingState: vm.Runtime.PowerState}, "The VM is not powered on")
				return
			}
			vm.boot() // a reset reboots the guest: Tools stop and come back
		})
		return nil, tf
	})
	return &methods.ResetVM_TaskBody{Res: &types.ResetVM_TaskResponse{Returnval: ref}}
}

// guestPowerOp checks that a guest operation is possible now: powered on
// and VMware Tools running. Otherwise it returns the SOAP fault.
func (vm *PVM) guestPowerOp() *soap.Fault {
	if !vm.poweredOn() {
		return simulator.Fault("The VM is not powered on", &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: vm.Runtime.PowerState})
	}
	// Still booting (--tools-delay) counts as not running, as on vCenter.
	if !vm.tools || vm.Guest == nil || vm.Guest.ToolsRunningStatus != "guestToolsRunning" {
		return simulator.Fault("VMware Tools is not running in the guest", &types.ToolsUnavailable{})
	}
	return nil
}

// ShutdownGuest is not a task: it returns at once and the guest powers off
// about 200ms later.
func (vm *PVM) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) soap.HasFault {
	if f := vm.guestPowerOp(); f != nil {
		return &methods.ShutdownGuestBody{Fault_: f}
	}
	time.AfterFunc(200*time.Millisecond, func() {
		lockVM(vm, func() {
			if vm.poweredOn() {
				vm.setPower(types.VirtualMachinePowerStatePoweredOff)
			}
		})
	})
	return &methods.ShutdownGuestBody{Res: &types.ShutdownGuestResponse{}}
}

func (vm *PVM) RebootGuest(ctx *simulator.Context, req *types.RebootGuest) soap.HasFault {
	if f := vm.guestPowerOp(); f != nil {
		return &methods.RebootGuestBody{Fault_: f}
	}
	return &methods.RebootGuestBody{Res: &types.RebootGuestResponse{}}
}

func (vm *PVM) StandbyGuest(ctx *simulator.Context, req *types.StandbyGuest) soap.HasFault {
	if f := vm.guestPowerOp(); f != nil {
		return &methods.StandbyGuestBody{Fault_: f}
	}
	time.AfterFunc(200*time.Millisecond, func() {
		lockVM(vm, func() {
			if vm.poweredOn() {
				vm.setPower(types.VirtualMachinePowerStateSuspended)
			}
		})
	})
	return &methods.StandbyGuestBody{Res: &types.StandbyGuestResponse{}}
}

// UpgradeVMTask honours req.Version (stock vcsim always sets vmx-13):
// powered on -> InvalidPowerState, not newer than the current version ->
// AlreadyUpgraded, empty version -> the newest version pmemsim knows (vmx-21).
func (vm *PVM) UpgradeVMTask(ctx *simulator.Context, req *types.UpgradeVM_Task) soap.HasFault {
	ref := vm.vmTask("UpgradeVM_Task", "upgradeVM", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		var tf *taskFault
		lockVM(vm, func() {
			target := req.Version
			if target == "" {
				target = "vmx-21"
			}
			n := parseHW(target)
			if n == 0 {
				tf = newFault(&types.InvalidArgument{InvalidProperty: "version"}, "invalid hardware version %q", req.Version)
				return
			}
			if vm.poweredOn() {
				tf = newFault(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff,
					ExistingState: vm.Runtime.PowerState}, "The VM must be powered off to upgrade its hardware version")
				return
			}
			if n <= vm.hwVersion() {
				tf = newFault(&types.AlreadyUpgraded{}, "The VM is already at hardware version %s (requested %s)", vm.Config.Version, target)
				return
			}
			vm.setVersion(fmt.Sprintf("vmx-%02d", n))
		})
		return nil, tf
	})
	return &methods.UpgradeVM_TaskBody{Res: &types.UpgradeVM_TaskResponse{Returnval: ref}}
}

func (vm *PVM) setVersion(v string) {
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "config.version", Val: v},
		{Name: "summary.config.hwVersion", Val: v},
	})
}

// DestroyTask removes the VM and gives its disk and PMem space back.
func (vm *PVM) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	ref := vm.vmTask("Destroy_Task", "destroy", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		var tf *taskFault
		lockVM(vm, func() {
			if vm.poweredOn() {
				tf = newFault(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff,
					ExistingState: vm.Runtime.PowerState}, "The attempted operation cannot be performed in the current state (Powered on).")
				return
			}
			for _, d := range vm.Config.Hardware.Device {
				if isStorageDevice(d) {
					if ds := deviceDatastore(d); ds != nil {
						ds.adjustFree(deviceBytes(d))
					}
				}
			}
			vm.unregister()
		})
		return nil, tf
	})
	return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: ref}}
}

// UnregisterVM removes the VM from the inventory but keeps its files (and
// therefore its space).
func (vm *PVM) UnregisterVM(ctx *simulator.Context, req *types.UnregisterVM) soap.HasFault {
	if vm.poweredOn() {
		return &methods.UnregisterVMBody{Fault_: simulator.Fault("", &types.InvalidPowerState{
			RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: vm.Runtime.PowerState})}
	}
	estate.withLock(vm.unregister)
	return &methods.UnregisterVMBody{Res: &types.UnregisterVMResponse{}}
}

// unregister drops every reference to the VM. Callers hold estate.mu.
func (vm *PVM) unregister() {
	if h := vm.host(); h != nil {
		simulator.RemoveReference(&h.host.Vm, vm.Self)
		simulator.Map.Update(h.host, []types.PropertyChange{{Name: "vm", Val: h.host.Vm}})
	}
	if vm.ResourcePool != nil {
		if pool, ok := simulator.Map.Get(*vm.ResourcePool).(*simulator.ResourcePool); ok {
			simulator.RemoveReference(&pool.Vm, vm.Self)
		}
	}
	for _, ref := range vm.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*PDatastore); ok {
			simulator.RemoveReference(&ds.Vm, vm.Self)
			simulator.Map.Update(ds, []types.PropertyChange{{Name: "vm", Val: ds.Vm}})
		}
	}
	if f := folderMO(*vm.Parent); f != nil {
		simulator.RemoveReference(&f.ChildEntity, vm.Self)
		simulator.Map.Update(f, []types.PropertyChange{{Name: "childEntity", Val: f.ChildEntity}})
	}
	if vm.Snapshot != nil {
		for _, s := range allSnapshots(vm.Snapshot.RootSnapshotList) {
			simulator.Map.Remove(s)
		}
	}
	estate.forgetVM(vm)
	simulator.Map.Remove(vm.Self)
}

// RefreshStorageInfo: the stock version stats files and assumes FlatVer2.
func (vm *PVM) RefreshStorageInfo(ctx *simulator.Context, req *types.RefreshStorageInfo) soap.HasFault {
	estate.withLock(vm.refreshLayout)
	return &methods.RefreshStorageInfoBody{Res: &types.RefreshStorageInfoResponse{}}
}

// CloneVMTask is not modelled (stock cloning writes files and assumes
// FlatVer2 disks on local directories): the task fails with NotSupported.
func (vm *PVM) CloneVMTask(ctx *simulator.Context, req *types.CloneVM_Task) soap.HasFault {
	ref := vm.vmTask("CloneVM_Task", "clone", nil, func(j *job) (types.AnyType, *taskFault) {
		return nil, newFault(&types.NotSupported{}, "pmemsim does not simulate CloneVM_Task")
	})
	return &methods.CloneVM_TaskBody{Res: &types.CloneVM_TaskResponse{Returnval: ref}}
}

// ---- snapshots ----

// PSnapshot is pmemsim's snapshot object; stock snapshot methods look the
// VM up as *simulator.VirtualMachine and write files, so they are replaced.
type PSnapshot struct {
	simulator.VirtualMachineSnapshot
}

func (s *PSnapshot) Get() mo.Reference { return &s.VirtualMachineSnapshot }

func (s *PSnapshot) vm() *PVM {
	vm, _ := simulator.Map.Get(s.Vm).(*PVM)
	return vm
}

// addSnapshot creates a snapshot as a child of the current one. Callers
// hold estate.mu (or run at load time).
func (vm *PVM) addSnapshot(name, desc string, quiesce bool) types.ManagedObjectReference {
	snap := &PSnapshot{}
	snap.Self = types.ManagedObjectReference{Type: "VirtualMachineSnapshot"}
	snap.Vm = vm.Self
	cfg := *vm.Config
	snap.Config = cfg
	simulator.Map.Put(snap)
	info := vm.Snapshot
	if info == nil {
		info = &types.VirtualMachineSnapshotInfo{}
	} else {
		c := *info
		info = &c
	}
	item := types.VirtualMachineSnapshotTree{Snapshot: snap.Self, Vm: vm.Self, Name: name, Description: desc,
		Id: int32(len(allSnapshots(info.RootSnapshotList)) + 1), CreateTime: time.Now(), State: vm.Runtime.PowerState,
		Quiesced: quiesce, ReplaySupported: types.NewBool(false)}
	if info.CurrentSnapshot == nil {
		info.RootSnapshotList = append(info.RootSnapshotList, item)
	} else {
		if parent := findSnapshot(info.RootSnapshotList, *info.CurrentSnapshot); parent != nil {
			parent.ChildSnapshotList = append(parent.ChildSnapshotList, item)
		}
		if p, ok := simulator.Map.Get(*info.CurrentSnapshot).(*PSnapshot); ok {
			p.ChildSnapshot = append(p.ChildSnapshot, snap.Self)
		}
	}
	info.CurrentSnapshot = &snap.Self
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "snapshot", Val: info},
		{Name: "rootSnapshot", Val: rootRefs(info.RootSnapshotList)},
	})
	return snap.Self
}

func rootRefs(tree []types.VirtualMachineSnapshotTree) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, t := range tree {
		out = append(out, t.Snapshot)
	}
	return out
}

func findSnapshot(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference) *types.VirtualMachineSnapshotTree {
	for i := range tree {
		if tree[i].Snapshot == ref {
			return &tree[i]
		}
		if s := findSnapshot(tree[i].ChildSnapshotList, ref); s != nil {
			return s
		}
	}
	return nil
}

func allSnapshots(tree []types.VirtualMachineSnapshotTree) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, t := range tree {
		out = append(out, t.Snapshot)
		out = append(out, allSnapshots(t.ChildSnapshotList)...)
	}
	return out
}

// removeSnapshot removes ref from the tree; its children move up to its
// parent unless removeChildren. Returns the new tree and the parent.
func removeSnapshot(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference, removeChildren bool, removed *[]types.ManagedObjectReference) []types.VirtualMachineSnapshotTree {
	var out []types.VirtualMachineSnapshotTree
	for _, t := range tree {
		if t.Snapshot == ref {
			*removed = append(*removed, t.Snapshot)
			if removeChildren {
				*removed = append(*removed, allSnapshots(t.ChildSnapshotList)...)
			} else {
				out = append(out, t.ChildSnapshotList...)
			}
			continue
		}
		t.ChildSnapshotList = removeSnapshot(t.ChildSnapshotList, ref, removeChildren, removed)
		out = append(out, t)
	}
	return out
}

func parentSnapshot(tree []types.VirtualMachineSnapshotTree, parent *types.ManagedObjectReference, ref types.ManagedObjectReference) (*types.ManagedObjectReference, bool) {
	for _, t := range tree {
		if t.Snapshot == ref {
			return parent, true
		}
		self := t.Snapshot
		if p, ok := parentSnapshot(t.ChildSnapshotList, &self, ref); ok {
			return p, true
		}
	}
	return nil, false
}

// CreateSnapshotTask refuses VMs with NVDIMMs unless pmem.snapshotMode is
// set (ruleSnapshotNVDIMM).
func (vm *PVM) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	ref := vm.vmTask("CreateSnapshot_Task", "createSnapshot", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		var tf *taskFault
		var snap types.ManagedObjectReference
		lockVM(vm, func() {
			if tf = ruleSnapshotNVDIMM(vm); tf != nil {
				return
			}
			snap = vm.addSnapshot(req.Name, req.Description, req.Quiesce)
		})
		if tf != nil {
			return nil, tf
		}
		return snap, nil
	})
	return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: ref}}
}

func (vm *PVM) RemoveAllSnapshotsTask(ctx *simulator.Context, req *types.RemoveAllSnapshots_Task) soap.HasFault {
	ref := vm.vmTask("RemoveAllSnapshots_Task", "removeAllSnapshots", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		lockVM(vm, func() {
			if vm.Snapshot == nil {
				return
			}
			for _, s := range allSnapshots(vm.Snapshot.RootSnapshotList) {
				simulator.Map.Remove(s)
			}
			simulator.Map.Update(vm, []types.PropertyChange{{Name: "snapshot", Val: nil}, {Name: "rootSnapshot", Val: nil}})
		})
		return nil, nil
	})
	return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: ref}}
}

func (vm *PVM) RevertToCurrentSnapshotTask(ctx *simulator.Context, req *types.RevertToCurrentSnapshot_Task) soap.HasFault {
	if vm.Snapshot == nil || vm.Snapshot.CurrentSnapshot == nil {
		return &methods.RevertToCurrentSnapshot_TaskBody{Fault_: simulator.Fault("snapshot not found", &types.NotFound{})}
	}
	ref := vm.vmTask("RevertToCurrentSnapshot_Task", "revertToCurrentSnapshot", nil, func(j *job) (types.AnyType, *taskFault) {
		return nil, j.work(quickTaskTime)
	})
	return &methods.RevertToCurrentSnapshot_TaskBody{Res: &types.RevertToCurrentSnapshot_TaskResponse{Returnval: ref}}
}

func (s *PSnapshot) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	vm := s.vm()
	if vm == nil {
		return &methods.RemoveSnapshot_TaskBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: s.Vm})}
	}
	ref := submitTask(vm, vm.Self, vm.Name, "RemoveSnapshot_Task", "removeSnapshot", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		lockVM(vm, func() {
			if vm.Snapshot == nil {
				return
			}
			info := *vm.Snapshot
			var removed []types.ManagedObjectReference
			parent, _ := parentSnapshot(info.RootSnapshotList, nil, req.This)
			info.RootSnapshotList = removeSnapshot(info.RootSnapshotList, req.This, req.RemoveChildren, &removed)
			for _, r := range removed {
				if info.CurrentSnapshot != nil && *info.CurrentSnapshot == r {
					info.CurrentSnapshot = parent
				}
				simulator.Map.Remove(r)
			}
			if len(info.RootSnapshotList) == 0 {
				simulator.Map.Update(vm, []types.PropertyChange{{Name: "snapshot", Val: nil}, {Name: "rootSnapshot", Val: nil}})
				return
			}
			simulator.Map.Update(vm, []types.PropertyChange{{Name: "snapshot", Val: &info},
				{Name: "rootSnapshot", Val: rootRefs(info.RootSnapshotList)}})
		})
		return nil, nil
	})
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: ref}}
}

// RevertToSnapshotTask only moves currentSnapshot (as stock vcsim does): the
// configuration is not rolled back.
func (s *PSnapshot) RevertToSnapshotTask(ctx *simulator.Context, req *types.RevertToSnapshot_Task) soap.HasFault {
	vm := s.vm()
	if vm == nil {
		return &methods.RevertToSnapshot_TaskBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: s.Vm})}
	}
	ref := submitTask(vm, vm.Self, vm.Name, "RevertToSnapshot_Task", "revertToSnapshot", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		lockVM(vm, func() {
			if vm.Snapshot != nil {
				info := *vm.Snapshot
				self := s.Self
				info.CurrentSnapshot = &self
				simulator.Map.Update(vm, []types.PropertyChange{{Name: "snapshot", Val: &info}})
			}
		})
		return nil, nil
	})
	return &methods.RevertToSnapshot_TaskBody{Res: &types.RevertToSnapshot_TaskResponse{Returnval: ref}}
}

func (vm *PVM) nvdimms() []*types.VirtualNVDIMM {
	var out []*types.VirtualNVDIMM
	for _, d := range vm.Config.Hardware.Device {
		if nv, ok := d.(*types.VirtualNVDIMM); ok {
			out = append(out, nv)
		}
	}
	return out
}
