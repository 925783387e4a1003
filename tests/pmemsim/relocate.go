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

// planRelocate validates a RelocateSpec against the current state and
// plans the moves, one rule at a time (the first refusal wins; each rule
// function names its source). Callers hold estate.mu.
func (vm *PVM) planRelocate(spec *types.VirtualMachineRelocateSpec) (*relocPlan, *taskFault) {
	p := &relocPlan{pool: spec.Pool, folder: spec.Folder, policies: map[int32][]string{}}
	if f := ruleRelocatePool(spec.Pool); f != nil {
		return nil, f
	}
	if f := ruleRelocateFolder(spec.Folder); f != nil {
		return nil, f
	}
	var f *taskFault
	if p.target, f = relocateTargetHost(vm, spec.Host); f != nil {
		return nil, f
	}
	if p.home, f = ruleRelocateHome(vm, spec.Datastore); f != nil {
		return nil, f
	}
	if f := ruleHomeReachable(vm, p); f != nil {
		return nil, f
	}
	locators, f := ruleDiskLocators(vm, spec.Disk)
	if f != nil {
		return nil, f
	}
	dcProfiles, f := ruleDeviceChangeProfiles(vm, spec.DeviceChange)
	if f != nil {
		return nil, f
	}
	for _, d := range vm.Config.Hardware.Device {
		if !isStorageDevice(d) {
			continue
		}
		key := d.GetVirtualDevice().Key
		from := deviceDatastore(d)
		var to *PDatastore
		switch x := d.(type) {
		case *types.VirtualNVDIMM:
			to, f = p.placeNVDIMM(vm, from)
		case *types.VirtualDisk:
			to, f = p.placeDisk(vm, x, locators[key], hasPMemProfile(dcProfiles[key]), from)
		}
		if f != nil {
			return nil, f
		}
		if to == nil {
			continue
		}
		if !p.target.reaches(to) {
			return nil, invalidDatastore(to, p.target)
		}
		if _, disk := d.(*types.VirtualDisk); disk {
			if f := p.planPolicy(vm, d, locators[key], dcProfiles[key], to, from); f != nil {
				return nil, f
			}
		}
		p.addMove(d, from, to)
	}
	if f := ruleRelocateCapacity(p.moves); f != nil {
		return nil, f
	}
	p.svm = p.home != nil || len(p.moves) > 0
	return p, nil
}

// ruleRelocatePool: spec.pool is "the resource pool to which this virtual
// machine should be attached" (GOVH VirtualMachineRelocateSpec.Pool). A moref
// of another kind is InvalidArgument (GUESS; a moref that does not exist is
// ManagedObjectNotFound before any task, relocateMorefsExist).
func ruleRelocatePool(pool *types.ManagedObjectReference) *taskFault {
	if pool == nil {
		return nil
	}
	if _, ok := simulator.Map.Get(*pool).(*simulator.ResourcePool); !ok {
		return newFault(&types.InvalidArgument{InvalidProperty: "spec.pool"}, "%s is not a resource pool", pool.Value)
	}
	return nil
}

// ruleRelocateFolder: spec.folder is the VM folder the VM moves to (GOVH
// VirtualMachineRelocateSpec.Folder); another kind of object is
// InvalidArgument (GUESS, as ruleRelocatePool).
func ruleRelocateFolder(folder *types.ManagedObjectReference) *taskFault {
	if folder == nil {
		return nil
	}
	if _, ok := simulator.Map.Get(*folder).(*PFolder); !ok {
		return newFault(&types.InvalidArgument{InvalidProperty: "spec.folder"}, "%s is not a VM folder", folder.Value)
	}
	return nil
}

// relocateTargetHost is spec.host, or the VM's own host when unset ("If not
// specified, if resource pool is not specified, current host is used",
// vSphere API VirtualMachineRelocateSpec.host, as in GOVH; pmemsim keeps
// the current host with a pool too: no DRS model). Not a host:
// InvalidArgument (GUESS).
func relocateTargetHost(vm *PVM, host *types.ManagedObjectReference) (*hostState, *taskFault) {
	if host == nil {
		return vm.host(), nil
	}
	h := estate.hostByRef[*host]
	if h == nil {
		return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.host"}, "host %s not found", host.Value)
	}
	return h, nil
}

// ruleRelocateHome: spec.datastore moves the VM home (GOVH
// VirtualMachineRelocateSpec.Datastore). It may not name a PMem datastore:
// rulePMemDatastoreDirect (RB168; GUESS that relocation runs that check,
// probe step 2), and with --relax pmem-locator still InvalidArgument, since
// only disks and NVDIMMs can be on PMem, never the configuration files
// (D-STOR67). The current home datastore is no move (nil).
func ruleRelocateHome(vm *PVM, dsRef *types.ManagedObjectReference) (*PDatastore, *taskFault) {
	if dsRef == nil {
		return nil, nil
	}
	ds, ok := simulator.Map.Get(*dsRef).(*PDatastore)
	if !ok {
		return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.datastore"}, "datastore %s not found", dsRef.Value)
	}
	if f := rulePMemDatastoreDirect(0, ds); f != nil {
		return nil, f
	}
	if ds.isPMem() {
		return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.datastore"},
			"The virtual machine home (configuration files) cannot be placed on the PMem datastore %s", ds.Name)
	}
	if ds == vm.homeDatastore() {
		return nil, nil
	}
	return ds, nil
}

// ruleHomeReachable: the VM home (moved or not) must be on a datastore the
// target host mounts (InvalidDatastore, the fault vCenter's migration
// compatibility check gives for an inaccessible datastore; GUESS for the
// exact type).
func ruleHomeReachable(vm *PVM, p *relocPlan) *taskFault {
	home := vm.homeDatastore()
	if p.home != nil {
		home = p.home
	}
	if home != nil && !p.target.reaches(home) {
		return invalidDatastore(home, p.target)
	}
	return nil
}

// ruleDiskLocators: a DiskLocator's diskId is "the device key of the disk"
// (GOVH VirtualMachineRelocateSpecDiskLocator.DiskId): not a disk of the VM
// is InvalidArgument (GUESS). A locator naming the PMem datastore is
// rulePMemDatastoreDirect (RB168; GUESS for locators, probe step 2), with
// the locator's index in spec.disk as deviceIndex.
func ruleDiskLocators(vm *PVM, disks []types.VirtualMachineRelocateSpecDiskLocator) (map[int32]*types.VirtualMachineRelocateSpecDiskLocator, *taskFault) {
	locators := map[int32]*types.VirtualMachineRelocateSpecDiskLocator{}
	for i := range disks {
		l := &disks[i]
		if _, ok := vm.devices().FindByKey(l.DiskId).(*types.VirtualDisk); !ok {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.disk.diskId"}, "%s has no disk with key %d", vm.Name, l.DiskId)
		}
		if f := rulePMemDatastoreDirect(i, datastoreByRef(l.Datastore)); f != nil {
			return nil, f
		}
		locators[l.DiskId] = l
	}
	return locators, nil
}

// ruleDeviceChangeProfiles: RelocateSpec.deviceChange edits of disks carry
// "the storage profile for destination disks. The storage profiles are used
// to either upgrade the virtual disk's storage to a persistent memory, or
// keep the virtual disk in persistent memory ... All other specification are
// ignored" (GOVH VirtualMachineRelocateSpec.DeviceChange). So only disk
// entries with a profile count; their key must be a disk of the VM
// (InvalidArgument, GUESS). Returns disk key -> profiles.
func ruleDeviceChangeProfiles(vm *PVM, changes []types.BaseVirtualDeviceConfigSpec) (map[int32][]types.BaseVirtualMachineProfileSpec, *taskFault) {
	profiles := map[int32][]types.BaseVirtualMachineProfileSpec{}
	for _, ch := range changes {
		dc := ch.GetVirtualDeviceConfigSpec()
		if dc.Device == nil {
			continue
		}
		if _, ok := dc.Device.(*types.VirtualDisk); !ok || len(dc.Profile) == 0 {
			continue
		}
		key := dc.Device.GetVirtualDevice().Key
		if _, ok := vm.devices().FindByKey(key).(*types.VirtualDisk); !ok {
			return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.deviceChange.device.key"}, "%s has no disk with key %d", vm.Name, key)
		}
		profiles[key] = dc.Profile
	}
	return profiles, nil
}

// placeNVDIMM: NVDIMMs follow the VM to the target host's PMem datastore; a
// VM with NVDIMMs "can only go to a host with PMem", else the compatibility
// check fails (D-MIG67, D-RM67p48). InsufficientResourcesFault is a GUESS.
// Without a host change an NVDIMM stays put.
func (p *relocPlan) placeNVDIMM(vm *PVM, from *PDatastore) (*PDatastore, *taskFault) {
	if p.target == vm.host() {
		return from, nil
	}
	if p.target.pmemDS == nil {
		return nil, newFault(&types.InsufficientResourcesFault{},
			"Insufficient persistent memory: %s has NVDIMMs and host %s has no PMem", vm.Name, p.target.name)
	}
	return p.target.pmemDS, nil
}

// placeDisk decides where one disk goes, in this order: its locator
// (placeByLocator); a deviceChange PMem profile (onto the target host's PMem
// datastore, GOVH VirtualMachineRelocateSpec.DeviceChange); a vPMemDisk on a
// host change (placePMemDiskOnHostChange); else with spec.datastore ("The
// datastore where the virtual machine should be located", GOVH
// VirtualMachineRelocateSpec.Datastore; that it takes the disks without a
// locator is a GUESS, the docs only say DiskLocator "allows specifying the
// datastore location for each virtual disk"), except vPMemDisks, which stay
// on PMem ("keep the virtual disk in persistent memory when moving the
// virtual machine's overall storage", GOVH
// VirtualMachineRelocateSpec.DeviceChange).
func (p *relocPlan) placeDisk(vm *PVM, d *types.VirtualDisk, l *types.VirtualMachineRelocateSpecDiskLocator, pmemProfile bool, from *PDatastore) (*PDatastore, *taskFault) {
	switch {
	case l != nil:
		return placeByLocator(l, pmemProfile)
	case pmemProfile:
		if p.target.pmemDS == nil {
			return nil, newFault(&types.InsufficientResourcesFault{}, "Insufficient persistent memory: host %s has no PMem", p.target.name)
		}
		return p.target.pmemDS, nil
	case from != nil && from.isPMem() && p.target != vm.host():
		return p.placePMemDiskOnHostChange(vm)
	case p.home != nil && (from == nil || !from.isPMem()):
		return p.home, nil
	}
	return from, nil
}

// placeByLocator: a DiskLocator names the disk's target datastore
// (required, PYTI). The PMem storage policy (in the locator or a
// deviceChange edit) on a non-PMem datastore is refused: it is the
// "default profile for PMem datastores" (GOVH pbm/types/enum.go
// PmemDefaultProfile) and "can be applied only to virtual disks" on them
// (D-STOR67). InvalidArgument spec.disk.profile is a GUESS.
func placeByLocator(l *types.VirtualMachineRelocateSpecDiskLocator, pmemProfile bool) (*PDatastore, *taskFault) {
	ds, ok := simulator.Map.Get(l.Datastore).(*PDatastore)
	if !ok {
		return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.disk.datastore"}, "datastore %s not found", l.Datastore.Value)
	}
	if (hasPMemProfile(l.Profile) || pmemProfile) && !ds.isPMem() {
		return nil, newFault(&types.InvalidArgument{InvalidProperty: "spec.disk.profile"},
			"The PMem storage policy requires the PMem datastore, not %s", ds.Name)
	}
	return ds, nil
}

// placePMemDiskOnHostChange: a vPMemDisk follows the VM to the target host's
// PMem; if the target has no PMem, "all the hard disks will use the storage
// policy and datastore selected for the configuration files" (D-MIG67), so
// it goes with spec.datastore, and without one the move is refused
// (InsufficientResourcesFault, GUESS).
func (p *relocPlan) placePMemDiskOnHostChange(vm *PVM) (*PDatastore, *taskFault) {
	t := p.target
	if t.pmemDS != nil {
		return t.pmemDS, nil
	}
	if p.home != nil {
		return p.home, nil
	}
	return nil, newFault(&types.InsufficientResourcesFault{},
		"Insufficient persistent memory: host %s has no PMem for the vPMemDisks of %s; give spec.datastore to move them off PMem", t.name, vm.Name)
}

// addMove records a device changing datastore; disks on PMem are sized in
// whole MiB, as pmemsim's PMem accounting (GUESS, README "Guesses").
func (p *relocPlan) addMove(d types.BaseVirtualDevice, from, to *PDatastore) {
	if to == from {
		return
	}
	size := deviceBytes(d)
	if to.isPMem() {
		size = roundMiB(size)
	}
	p.moves = append(p.moves, move{key: d.GetVirtualDevice().Key, from: from, to: to, size: size})
	p.bytes += size
}

// ruleRelocateCapacity: every target datastore must hold what moves onto it
// (disks thick), checked in the order of the moves. Regular datastores:
// InsufficientStorageSpace; the PMem datastore: InsufficientResourcesFault,
// the host's PMem being a resource reserved for the VM "until the VM is
// migrated or removed" (D-RM70). Fault types GUESS.
func ruleRelocateCapacity(moves []move) *taskFault {
	need := map[*PDatastore]int64{}
	var order []*PDatastore
	for _, m := range moves {
		if _, ok := need[m.to]; !ok {
			order = append(order, m.to)
		}
		need[m.to] += m.size
	}
	for _, ds := range order {
		n := need[ds]
		if n <= ds.Summary.FreeSpace {
			continue
		}
		if ds.isPMem() {
			return newFault(&types.InsufficientResourcesFault{},
				"Insufficient persistent memory: requested %d MB, host %s has %d MB free", n>>20, ds.pmemHost.name, ds.Summary.FreeSpace>>20)
		}
		return newFault(&types.InsufficientStorageSpace{},
			"Insufficient disk space on datastore %s: requested %d MB, %d MB free", ds.Name, n>>20, ds.Summary.FreeSpace>>20)
	}
	return nil
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
