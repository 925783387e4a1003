package main

import (
	"fmt"
	"path"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// move is one file (disk or NVDIMM) changing datastore.
type move struct {
	key  int32
	from *PDatastore
	to   *PDatastore
	size int64
}

// relocPlan is a validated RelocateVM_Task.
type relocPlan struct {
	target   *hostState
	home     *PDatastore // nil = home stays
	pool     *types.ManagedObjectReference
	folder   *types.ManagedObjectReference
	moves    []move
	bytes    int64              // copied bytes, for the task duration
	svm      bool               // storage moves (or host change) -> counts against the limits
	pmemNeed int64              // bytes of PMem needed on the target host
	policies map[int32][]string // disk key -> PBM association after the move
}

func (p *relocPlan) resources(vm *PVM) *svmResources {
	if !p.svm {
		return nil
	}
	r := &svmResources{}
	seenH := map[types.ManagedObjectReference]bool{}
	addH := func(ref types.ManagedObjectReference) {
		if !seenH[ref] {
			seenH[ref] = true
			r.hosts = append(r.hosts, ref)
		}
	}
	addH(*vm.Runtime.Host)
	addH(p.target.ref())
	seenD := map[types.ManagedObjectReference]bool{}
	addD := func(ds *PDatastore) {
		if ds != nil && !seenD[ds.Self] {
			seenD[ds.Self] = true
			r.dss = append(r.dss, ds.Self)
		}
	}
	if p.home != nil {
		addD(vm.homeDatastore())
		addD(p.home)
	}
	for _, m := range p.moves {
		addD(m.from)
		addD(m.to)
	}
	return r
}

// RelocateVMTask implements Storage vMotion (and vMotion) with disk
// locators, the deviceChange+profile way of moving disks onto PMem, VM home
// moves and host changes. The plan is validated when the task starts, the
// copy lasts (bytes moved) / --copy-rate, and the commit re-validates under
// the lock so concurrent tasks can never over-commit a datastore.
func (vm *PVM) RelocateVMTask(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	spec := req.Spec
	if f := relocateMorefsExist(&spec); f != nil {
		return &methods.RelocateVM_TaskBody{Fault_: f}
	}
	var res *svmResources
	estate.withLock(func() {
		if p, tf := vm.planRelocate(&spec); tf == nil {
			res = p.resources(vm)
		}
	})
	ref := vm.vmTask("RelocateVM_Task", "relocate", res, func(j *job) (types.AnyType, *taskFault) {
		var plan *relocPlan
		var tf *taskFault
		lockVM(vm, func() { plan, tf = vm.planRelocate(&spec) })
		if tf != nil {
			return nil, tf
		}
		d := time.Duration(float64(plan.bytes) / estate.copyRate * float64(time.Second))
		if d < quickTaskTime {
			d = quickTaskTime
		}
		if f := j.work(d); f != nil {
			return nil, f
		}
		lockVM(vm, func() {
			if plan, tf = vm.planRelocate(&spec); tf == nil {
				vm.commitRelocate(plan)
			}
		})
		return nil, tf
	})
	return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: ref}}
}

// relocateMorefsExist checks every moref of a RelocateSpec: vCenter answers
// a moref that does not exist with a ManagedObjectNotFound SOAP fault
// before any task is created.
func relocateMorefsExist(spec *types.VirtualMachineRelocateSpec) *soap.Fault {
	refs := []*types.ManagedObjectReference{spec.Host, spec.Datastore, spec.Pool, spec.Folder}
	for i := range spec.Disk {
		refs = append(refs, &spec.Disk[i].Datastore)
	}
	for _, r := range refs {
		if r != nil && simulator.Map.Get(*r) == nil {
			return simulator.Fault(fmt.Sprintf("The object '%s:%s' has already been deleted or has not been completely created", r.Type, r.Value),
				&types.ManagedObjectNotFound{Obj: *r})
		}
	}
	return nil
}

func invalidDatastore(ds *PDatastore, h *hostState) *taskFault {
	return newFault(&types.InvalidDatastore{Datastore: &ds.Self, Name: ds.Name},
		"Datastore %s is not accessible from host %s", ds.Name, h.name)
}

// planRelocate validates a RelocateSpec against the current state. Callers hold estate.mu.
func (vm *PVM) planRelocate(spec *types.VirtualMachineRelocateSpec) (*relocPlan, *taskFault) {
	src := vm.host()
	p := &relocPlan{target: src, pool: spec.Pool, folder: spec.Folder, policies: map[int32][]string{}}
	if spec.Pool != nil {
		if _, ok := simulator.Map.Get(*spec.Pool).(*simulator.ResourcePool); !ok {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.pool"}, "%s is not a resource pool", spec.Pool.Value)
		}
	}
	if spec.Folder != nil {
		if _, ok := simulator.Map.Get(*spec.Folder).(*PFolder); !ok {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.folder"}, "%s is not a VM folder", spec.Folder.Value)
		}
	}
	if spec.Host != nil {
		h := estate.hostByRef[*spec.Host]
		if h == nil {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.host"}, "host %s not found", spec.Host.Value)
		}
		p.target = h
	}
	t := p.target
	hostChange := t != src
	curHome := vm.homeDatastore()
	if spec.Datastore != nil {
		ds, ok := simulator.Map.Get(*spec.Datastore).(*PDatastore)
		if !ok {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.datastore"}, "datastore %s not found", spec.Datastore.Value)
		}
		if f := rulePMemDatastoreDirect(0, ds); f != nil {
			return nil, f
		}
		if ds.isPMem() {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.datastore"},
				"The virtual machine home (configuration files) cannot be placed on the PMem datastore %s", ds.Name)
		}
		if ds != curHome {
			p.home = ds
		}
	}
	home := curHome
	if p.home != nil {
		home = p.home
	}
	if home != nil && !t.reaches(home) {
		return nil, invalidDatastore(home, t)
	}

	locators := map[int32]*types.VirtualMachineRelocateSpecDiskLocator{}
	for i := range spec.Disk {
		l := &spec.Disk[i]
		dev := vm.devices().FindByKey(l.DiskId)
		if _, ok := dev.(*types.VirtualDisk); !ok {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.disk.diskId"}, "%s has no disk with key %d", vm.Name, l.DiskId)
		}
		if f := rulePMemDatastoreDirect(i, datastoreByRef(l.Datastore)); f != nil {
			return nil, f
		}
		locators[l.DiskId] = l
	}
	// deviceChange edits of disks carry their storage profile (GOVH
	// VirtualMachineRelocateSpec.DeviceChange): the PMem profile moves the
	// disk onto the target host's PMem datastore.
	toPMem := map[int32]bool{}
	dcProfiles := map[int32][]types.BaseVirtualMachineProfileSpec{}
	for _, ch := range spec.DeviceChange {
		dc := ch.GetVirtualDeviceConfigSpec()
		if dc.Device == nil {
			continue
		}
		if _, ok := dc.Device.(*types.VirtualDisk); ok && len(dc.Profile) > 0 {
			key := dc.Device.GetVirtualDevice().Key
			if _, ok := vm.devices().FindByKey(key).(*types.VirtualDisk); !ok {
				return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.deviceChange.device.key"}, "%s has no disk with key %d", vm.Name, key)
			}
			dcProfiles[key] = dc.Profile
			toPMem[key] = hasPMemProfile(dc.Profile)
		}
	}
	needPMem := func() (*PDatastore, *taskFault) {
		if t.pmemDS == nil {
			return nil, newFault(&types.InsufficientResourcesFault{}, "Insufficient persistent memory: host %s has no PMem", t.name)
		}
		return t.pmemDS, nil
	}

	for _, d := range vm.Config.Hardware.Device {
		if !isStorageDevice(d) {
			continue
		}
		key := d.GetVirtualDevice().Key
		from := deviceDatastore(d)
		to := from
		switch d.(type) {
		case *types.VirtualNVDIMM:
			if hostChange {
				ds, tf := needPMem()
				if tf != nil {
					return nil, newFault(&types.InsufficientResourcesFault{},
						"Insufficient persistent memory: %s has NVDIMMs and host %s has no PMem", vm.Name, t.name)
				}
				to = ds
			}
		case *types.VirtualDisk:
			if l := locators[key]; l != nil {
				ds, ok := simulator.Map.Get(l.Datastore).(*PDatastore)
				if !ok {
					return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.disk.datastore"}, "datastore %s not found", l.Datastore.Value)
				}
				if (hasPMemProfile(l.Profile) || toPMem[key]) && !ds.isPMem() {
					return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.disk.profile"},
						"The PMem storage policy requires the PMem datastore, not %s", ds.Name)
				}
				to = ds
			} else if toPMem[key] {
				ds, tf := needPMem()
				if tf != nil {
					return nil, tf
				}
				to = ds
			} else if from != nil && from.isPMem() && hostChange {
				// A vPMemDisk follows the VM to the target host's PMem; without
				// PMem there it goes with the VM home (vSphere 6.7 migrate docs).
				if t.pmemDS != nil {
					to = t.pmemDS
				} else if p.home != nil {
					to = p.home
				} else {
					return nil, newFault(&types.InsufficientResourcesFault{},
						"Insufficient persistent memory: host %s has no PMem for the vPMemDisks of %s; give spec.datastore to move them off PMem", t.name, vm.Name)
				}
			} else if p.home != nil && (from == nil || !from.isPMem()) {
				to = p.home
			}
		}
		if to == nil {
			continue
		}
		if !t.reaches(to) {
			return nil, invalidDatastore(to, t)
		}
		if _, disk := d.(*types.VirtualDisk); disk {
			if f := p.planPolicy(vm, d, locators[key], dcProfiles[key], to, from); f != nil {
				return nil, f
			}
		}
		if to != from {
			size := deviceBytes(d)
			if to.isPMem() {
				size = roundMiB(size)
			}
			p.moves = append(p.moves, move{key: key, from: from, to: to, size: size})
			p.bytes += size
		}
	}

	// capacity on every target datastore
	need := map[*PDatastore]int64{}
	for _, m := range p.moves {
		need[m.to] += m.size
	}
	for ds, n := range need {
		if n <= ds.Summary.FreeSpace {
			continue
		}
		if ds.isPMem() {
			return nil, newFault(&types.InsufficientResourcesFault{},
				"Insufficient persistent memory: requested %d MB, host %s has %d MB free", n>>20, ds.pmemHost.name, ds.Summary.FreeSpace>>20)
		}
		return nil, newFault(&types.InsufficientStorageSpace{},
			"Insufficient disk space on datastore %s: requested %d MB, %d MB free", ds.Name, n>>20, ds.Summary.FreeSpace>>20)
	}
	p.svm = p.home != nil || len(p.moves) > 0
	return p, nil
}

// planPolicy decides a disk's PBM association after the relocation: a
// locator's or deviceChange's profile sets it (policyFromSpec); a moved disk
// without one keeps its association, so a vPMemDisk moved off PMem without a
// profile keeps the PMem policy and turns non-compliant (GUESS, probe step
// 3). A disk moving onto PMem on a VM with snapshots is refused
// (rulePMemDiskSnapshots).
func (p *relocPlan) planPolicy(vm *PVM, d types.BaseVirtualDevice, l *types.VirtualMachineRelocateSpecDiskLocator,
	dcProfile []types.BaseVirtualMachineProfileSpec, to, from *PDatastore) *taskFault {
	key := d.GetVirtualDevice().Key
	if to != from && to.isPMem() && (from == nil || !from.isPMem()) {
		if f := rulePMemDiskSnapshots(vm, "Cannot move a disk onto PMem"); f != nil {
			return f
		}
	}
	var profiles []types.BaseVirtualMachineProfileSpec
	if l != nil && len(l.Profile) > 0 {
		profiles = l.Profile
	} else {
		profiles = dcProfile
	}
	if ids, set := policyFromSpec(profiles, to); set {
		p.policies[key] = ids
	} else if to != from {
		p.policies[key] = vm.diskPolicy(d)
	}
	return nil
}

// commitRelocate applies a validated plan. Callers hold the VM lock and estate.mu.
func (vm *PVM) commitRelocate(p *relocPlan) {
	for k, ids := range p.policies {
		vm.setDiskPolicy(k, ids)
	}
	devs := append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...)
	list := object.VirtualDeviceList(devs)
	for _, m := range p.moves {
		m.from.adjustFree(m.size)
		m.to.adjustFree(-m.size)
		for i, d := range list {
			if d.GetVirtualDevice().Key != m.key {
				continue
			}
			c := cloneDevice(d)
			b := backingFile(c)
			var dp object.DatastorePath
			dp.FromString(b.FileName)
			newName := fmt.Sprintf("[%s] %s", m.to.Name, dp.Path)
			switch x := c.(type) {
			case *types.VirtualDisk:
				x.Backing = makeDiskBacking(m.to, newName, diskMode(x), diskUUIDOf(x))
				if m.to.isPMem() {
					x.CapacityInBytes = m.size
					x.CapacityInKB = m.size / 1024
				}
			case *types.VirtualNVDIMM:
				x.Backing = &types.VirtualNVDIMMBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
					FileName: newName, Datastore: &m.to.Self}}
			}
			list[i] = c
		}
	}
	changes := []types.PropertyChange{{Name: "config.hardware.device", Val: []types.BaseVirtualDevice(list)}}
	if p.home != nil {
		var dp object.DatastorePath
		dp.FromString(vm.Config.Files.VmPathName)
		vmx := fmt.Sprintf("[%s] %s", p.home.Name, dp.Path)
		dir := fmt.Sprintf("[%s] %s/", p.home.Name, path.Dir(dp.Path))
		files := vm.Config.Files
		files.VmPathName, files.SnapshotDirectory, files.SuspendDirectory, files.LogDirectory = vmx, dir, dir, dir
		changes = append(changes,
			types.PropertyChange{Name: "config.files", Val: files},
			types.PropertyChange{Name: "summary.config.vmPathName", Val: vmx})
	}
	src := vm.host()
	if p.target != src {
		simulator.RemoveReference(&src.host.Vm, vm.Self)
		simulator.Map.Update(src.host, []types.PropertyChange{{Name: "vm", Val: src.host.Vm}})
		p.target.host.Vm = append(p.target.host.Vm, vm.Self)
		simulator.Map.Update(p.target.host, []types.PropertyChange{{Name: "vm", Val: p.target.host.Vm}})
		ref := p.target.ref()
		changes = append(changes,
			types.PropertyChange{Name: "runtime.host", Val: ref},
			types.PropertyChange{Name: "summary.runtime.host", Val: ref},
			types.PropertyChange{Name: "environmentBrowser", Val: p.target.envb})
		if p.pool == nil && src.pool != p.target.pool {
			pool := p.target.pool
			p.pool = &pool
		}
	}
	if p.pool != nil && (vm.ResourcePool == nil || *vm.ResourcePool != *p.pool) {
		if old, ok := simulator.Map.Get(*vm.ResourcePool).(*simulator.ResourcePool); ok {
			simulator.RemoveReference(&old.Vm, vm.Self)
		}
		if np, ok := simulator.Map.Get(*p.pool).(*simulator.ResourcePool); ok {
			np.Vm = append(np.Vm, vm.Self)
		}
		changes = append(changes, types.PropertyChange{Name: "resourcePool", Val: *p.pool})
	}
	if p.folder != nil && *p.folder != *vm.Parent {
		if f := folderMO(*p.folder); f != nil {
			if old := folderMO(*vm.Parent); old != nil {
				simulator.RemoveReference(&old.ChildEntity, vm.Self)
				simulator.Map.Update(old, []types.PropertyChange{{Name: "childEntity", Val: old.ChildEntity}})
			}
			f.ChildEntity = append(f.ChildEntity, vm.Self)
			simulator.Map.Update(f, []types.PropertyChange{{Name: "childEntity", Val: f.ChildEntity}})
			changes = append(changes, types.PropertyChange{Name: "parent", Val: f.Self})
		}
	}
	simulator.Map.Update(vm, changes)
	vm.syncDatastores()
	vm.refreshLayout()
}
