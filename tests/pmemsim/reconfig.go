package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// ReconfigVMTask validates the whole spec against a copy of the device list
// and only then commits it: a refused spec leaves the VM untouched. Faults
// come back as task errors, as on vCenter.
func (vm *PVM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	spec := req.Spec
	ref := vm.vmTask("ReconfigVM_Task", "reconfigure", nil, func(j *job) (types.AnyType, *taskFault) {
		if f := j.work(quickTaskTime); f != nil {
			return nil, f
		}
		var tf *taskFault
		lockVM(vm, func() { tf = vm.reconfigure(&spec) })
		return nil, tf
	})
	return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: ref}}
}

func hasPMemProfile(profiles []types.BaseVirtualMachineProfileSpec) bool {
	for _, p := range profiles {
		if d, ok := p.(*types.VirtualMachineDefinedProfileSpec); ok && d.ProfileId == pmemProfileID {
			return true
		}
	}
	return false
}

// cloneDevice makes a shallow copy of a device so that changes made while
// validating never touch the live configuration.
func cloneDevice(d types.BaseVirtualDevice) types.BaseVirtualDevice {
	v := reflect.New(reflect.TypeOf(d).Elem())
	v.Elem().Set(reflect.ValueOf(d).Elem())
	c := v.Interface().(types.BaseVirtualDevice)
	if vc, ok := c.(types.BaseVirtualController); ok {
		ctl := vc.GetVirtualController()
		ctl.Device = append([]int32(nil), ctl.Device...)
	}
	if di := c.GetVirtualDevice().DeviceInfo; di != nil {
		desc := *di.GetDescription()
		c.GetVirtualDevice().DeviceInfo = &desc
	}
	return c
}

// devEditor holds the device list being built by one reconfiguration.
type devEditor struct {
	vm   *PVM
	devs []types.BaseVirtualDevice
	keys map[int32]int32 // client (negative) keys -> assigned keys
}

func (e *devEditor) index(key int32) int {
	for i, d := range e.devs {
		if d.GetVirtualDevice().Key == key {
			return i
		}
	}
	return -1
}

func (e *devEditor) resolve(key int32) int32 {
	if k, ok := e.keys[key]; ok {
		return k
	}
	return key
}

func (e *devEditor) freeKey(base int32) int32 {
	for k := base; ; k++ {
		if e.index(k) < 0 {
			return k
		}
	}
}

// mutable returns a private copy of the device at index i.
func (e *devEditor) mutable(i int) types.BaseVirtualDevice {
	c := cloneDevice(e.devs[i])
	e.devs[i] = c
	return c
}

func (e *devEditor) controller(key int32) (types.BaseVirtualController, int) {
	i := e.index(key)
	if i < 0 {
		return nil, -1
	}
	c, ok := e.devs[i].(types.BaseVirtualController)
	if !ok {
		return nil, -1
	}
	return c, i
}

func (e *devEditor) nvdimmController() (int, bool) {
	for i, d := range e.devs {
		if _, ok := d.(*types.VirtualNVDIMMController); ok {
			return i, true
		}
	}
	return -1, false
}

func (e *devEditor) count(kind interface{}) int {
	n := 0
	t := reflect.TypeOf(kind)
	for _, d := range e.devs {
		if reflect.TypeOf(d) == t {
			n++
		}
	}
	return n
}

// freeLabel returns the smallest n for which "<prefix> n" is unused.
func (e *devEditor) freeLabel(prefix string) int {
	used := map[int]bool{}
	for _, d := range e.devs {
		if di := d.GetVirtualDevice().DeviceInfo; di != nil {
			l := di.GetDescription().Label
			if strings.HasPrefix(l, prefix+" ") {
				if n, err := strconv.Atoi(strings.TrimPrefix(l, prefix+" ")); err == nil {
					used[n] = true
				}
			}
		}
	}
	for n := 1; ; n++ {
		if !used[n] {
			return n
		}
	}
}

// freeUnit returns the smallest unit number free on a controller.
func (e *devEditor) freeUnit(ctlKey int32, max int32, skip int32) (int32, bool) {
	used := map[int32]bool{}
	for _, d := range e.devs {
		vd := d.GetVirtualDevice()
		if vd.ControllerKey == ctlKey && vd.UnitNumber != nil {
			used[*vd.UnitNumber] = true
		}
	}
	for u := int32(0); u < max; u++ {
		if u != skip && !used[u] {
			return u, true
		}
	}
	return 0, false
}

func unitLimits(c types.BaseVirtualController) (max, skip int32, ok bool) {
	switch c.(type) {
	case types.BaseVirtualSCSIController:
		return 16, 7, true
	case *types.VirtualIDEController:
		return 2, -1, true
	case types.BaseVirtualSATAController:
		return 30, -1, true
	case *types.VirtualNVMEController:
		return 15, -1, true
	case *types.VirtualNVDIMMController:
		return 64, -1, true
	}
	return 0, 0, false
}

func (e *devEditor) attach(ctlIdx int, key int32) {
	c := e.mutable(ctlIdx).(types.BaseVirtualController).GetVirtualController()
	c.Device = append(c.Device, key)
}

func (e *devEditor) detach(ctlKey, key int32) {
	if _, i := e.controller(ctlKey); i >= 0 {
		c := e.mutable(i).(types.BaseVirtualController).GetVirtualController()
		for k, d := range c.Device {
			if d == key {
				c.Device = append(c.Device[:k], c.Device[k+1:]...)
				break
			}
		}
	}
}

// uniqueDiskPath picks vm/vm.vmdk, vm/vm_1.vmdk, ... not used by another disk of the VM.
func (e *devEditor) uniqueDiskPath(ds *PDatastore) string {
	used := map[string]bool{}
	for _, d := range e.devs {
		if b := backingFile(d); b != nil {
			var p object.DatastorePath
			p.FromString(b.FileName)
			used[p.Path] = true
		}
	}
	for i := 0; ; i++ {
		name := diskFileName(ds, e.vm.Name, i)
		var p object.DatastorePath
		p.FromString(name)
		if !used[p.Path] {
			return name
		}
	}
}

const (
	maxNVDIMMMB  = 6291456  // VirtualNVDIMMOption.capacityInMB.max (6 TiB)
	maxDiskBytes = 62 << 40 // VMFS 6 maximum virtual disk size
)

func (vm *PVM) powerOffRequired(what string) *taskFault {
	if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff {
		return nil
	}
	return vcFault(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: vm.Runtime.PowerState},
		keyPowerState, "%s requires the VM to be powered off (%s is %s)", what, vm.Name, vm.Runtime.PowerState)
}

// reconfig is one ReconfigVM_Task (or CreateVM_Task deviceChange) being
// validated: the device list being built and what it will cost.
type reconfig struct {
	*devEditor
	vm         *PVM
	h          *hostState
	hw         int    // hardware version after the spec
	guestID    string // guest after the spec
	pmemDemand int64
	dsDemand   map[*PDatastore]int64
	policies   map[int32][]string // disk key -> new PBM association
	dropPolicy []int32            // removed disks
}

// reconfigure validates and applies a ConfigSpec. Callers hold the VM lock and estate.mu.
func (vm *PVM) reconfigure(spec *types.VirtualMachineConfigSpec) *taskFault {
	if vm.Config.Template {
		return newFault(&types.NotSupported{}, "%s is a template", vm.Name)
	}
	newVersion, tf := ruleReconfigVersion(vm, spec.Version)
	if tf != nil {
		return tf
	}
	r := &reconfig{vm: vm, h: vm.host(), hw: vm.hwVersion(), guestID: vm.Config.GuestId,
		devEditor: &devEditor{vm: vm, devs: append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...), keys: map[int32]int32{}},
		dsDemand:  map[*PDatastore]int64{}, policies: map[int32][]string{}}
	if newVersion != "" {
		r.hw = parseHW(newVersion)
	}
	if spec.GuestId != "" {
		if !knownGuestID(spec.GuestId) {
			return vcFault(&types.InvalidArgument{InvalidProperty: "configSpec.guestId"}, keyInvalidDeviceSpec, "unknown guest id %q", spec.GuestId)
		}
		r.guestID = spec.GuestId
	}
	if spec.MemoryMB < 0 || spec.NumCPUs < 0 {
		return vcFault(&types.InvalidArgument{InvalidProperty: "configSpec"}, keyInvalidDeviceSpec, "negative memory or CPU count")
	}
	if tf := ruleSnapshotModeSet(vm, spec.ExtraConfig); tf != nil {
		return tf
	}
	for i, ch := range spec.DeviceChange {
		dc := ch.GetVirtualDeviceConfigSpec()
		if dc.Device == nil {
			return invalidSpec(i, "device change %d has no device", i)
		}
		var tf *taskFault
		switch dc.Operation {
		case types.VirtualDeviceConfigSpecOperationAdd:
			tf = r.add(i, dc)
		case types.VirtualDeviceConfigSpecOperationEdit:
			tf = r.edit(i, dc)
		case types.VirtualDeviceConfigSpecOperationRemove:
			tf = r.remove(i, dc)
		default:
			tf = invalidSpec(i, "unknown operation %q", dc.Operation)
		}
		if tf != nil {
			return tf
		}
	}
	if tf := r.checkWhole(len(spec.DeviceChange) - 1); tf != nil {
		return tf
	}
	r.commit(spec, newVersion)
	return nil
}

// hwNeeded: NVDIMMs need virtual hardware 14 or later (D-VMADM70, D-RM70).
func (r *reconfig) hwNeeded(i int, what string) *taskFault {
	if r.hw >= 14 {
		return nil
	}
	cur := fmt.Sprintf("vmx-%02d", r.hw)
	return vcFault(&types.DeviceUnsupportedForVmVersion{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)},
		CurrentVersion: cur, ExpectedVersion: "vmx-14"}, keyHWVersion,
		"%s requires virtual hardware version 14 or later; %s is %s", what, r.vm.Name, cur)
}

func (r *reconfig) noPMem() *taskFault {
	return insufficientPMem("Insufficient persistent memory: host %s has no PMem", r.h.name)
}

// guestSupportsPMem: NVDIMMs need a guest whose descriptor has
// persistentMemorySupported (D-VMADM70; CV docs).
func (r *reconfig) guestSupportsPMem() *taskFault {
	if g := guestByID(r.guestID); g != nil && g.pmem {
		return nil
	}
	return vcFault(&types.UnsupportedGuest{InvalidVmConfig: types.InvalidVmConfig{Property: "guestId"}, UnsupportedGuestOS: r.guestID},
		keyInvalidDeviceSpec, "The guest OS %s of %s does not support persistent memory (NVDIMM)", r.guestID, r.vm.Name)
}

func (r *reconfig) add(i int, dc *types.VirtualDeviceConfigSpec) *taskFault {
	vd := dc.Device.GetVirtualDevice()
	oldKey := vd.Key
	var tf *taskFault
	switch d := dc.Device.(type) {
	case *types.VirtualNVDIMMController:
		tf = r.addNVDIMMController(i, d)
	case *types.VirtualNVDIMM:
		tf = r.addNVDIMM(i, dc, d)
	case *types.VirtualDisk:
		tf = r.addDisk(i, dc, d)
	default:
		tf = r.addOther(i, dc.Device)
	}
	if tf != nil {
		return tf
	}
	if oldKey != vd.Key {
		r.keys[oldKey] = vd.Key
	}
	return nil
}

// addNVDIMMController: at most one per VM (VirtualHardwareOption.numNVDIMMControllers max 1).
func (r *reconfig) addNVDIMMController(i int, d *types.VirtualNVDIMMController) *taskFault {
	if _, ok := r.nvdimmController(); ok {
		return invalidSpec(i, "a VM can have at most one NVDIMM controller")
	}
	if f := r.hwNeeded(i, "An NVDIMM controller"); f != nil {
		return f
	}
	d.Key = nvdimmCtlKey
	d.BusNumber = 0
	d.Device = nil
	d.ControllerKey = 100
	d.DeviceInfo = &types.Description{Label: nvdimmCtlLabel, Summary: nvdimmCtlLabel}
	r.devs = append(r.devs, d)
	return nil
}

// addNVDIMM: powered off (D-NVDIMM70 "Power off the virtual machine"),
// hardware 14+, a PMem guest, no snapshots, PMem on the host, at most 64
// (D-VMADM70), sizes per VirtualNVDIMMOption, an empty backing, the PMem
// policy or none.
func (r *reconfig) addNVDIMM(i int, dc *types.VirtualDeviceConfigSpec, d *types.VirtualNVDIMM) *taskFault {
	vm := r.vm
	if f := r.hwNeeded(i, "An NVDIMM"); f != nil {
		return f
	}
	if f := vm.powerOffRequired("Adding an NVDIMM"); f != nil {
		return f
	}
	if f := r.guestSupportsPMem(); f != nil {
		return f
	}
	if vm.hasSnapshots() {
		return vcFault(&types.InvalidState{}, keyNVDIMMSnapshots, "Cannot add an NVDIMM to %s: the VM has snapshots; remove them first", vm.Name)
	}
	if f := ruleNVDIMMBacking(i, d); f != nil {
		return f
	}
	if f := ruleNVDIMMPolicy(i, dc.Profile); f != nil {
		return f
	}
	if r.h.pmemDS == nil {
		return r.noPMem()
	}
	if f := ruleNVDIMMSize(i, d.CapacityInMB); f != nil {
		return f
	}
	if r.count((*types.VirtualNVDIMM)(nil)) >= 64 {
		return invalidSpec(i, "a VM can have at most 64 NVDIMMs")
	}
	ci, ok := r.nvdimmController()
	if ctl := r.resolve(d.ControllerKey); ok && d.ControllerKey != 0 && ctl != r.devs[ci].GetVirtualDevice().Key {
		return invalidSpec(i, "NVDIMM controllerKey %d is not the VM's NVDIMM controller", d.ControllerKey)
	}
	if !ok {
		// No controller in the VM or the spec: add one, as the vSphere Client does.
		r.devs = append(r.devs, newNVDIMMController())
		ci = len(r.devs) - 1
	}
	unit, _ := r.freeUnit(nvdimmCtlKey, 64, -1)
	n := r.freeLabel("NVDIMM")
	nv := newNVDIMM(r.freeKey(nvdimmKeyBase), unit, n, d.CapacityInMB, r.h.pmemDS, vm.Name)
	d.Key, d.ControllerKey, d.UnitNumber, d.DeviceInfo, d.Backing = nv.Key, nvdimmCtlKey, nv.UnitNumber, nv.DeviceInfo, nv.Backing
	r.attach(ci, d.Key)
	r.devs = append(r.devs, d)
	r.pmemDemand += d.CapacityInMB << 20
	return nil
}

func (r *reconfig) addDisk(i int, dc *types.VirtualDeviceConfigSpec, d *types.VirtualDisk) *taskFault {
	vm, h := r.vm, r.h
	vd := &d.VirtualDevice
	ctlKey := r.resolve(vd.ControllerKey)
	ctl, ci := r.controller(ctlKey)
	max, skip, ok := int32(0), int32(0), false
	if ctl != nil {
		max, skip, ok = unitLimits(ctl)
	}
	if !ok || ctl == nil {
		return invalidSpec(i, "disk controllerKey %d is not a disk controller of %s", vd.ControllerKey, vm.Name)
	}
	if _, nvctl := ctl.(*types.VirtualNVDIMMController); nvctl {
		return invalidSpec(i, "a disk cannot be attached to the NVDIMM controller")
	}
	size := d.CapacityInBytes
	if size <= 0 {
		size = d.CapacityInKB * 1024
	}
	if size <= 0 || size > maxDiskBytes || d.CapacityInKB > maxDiskBytes/1024 {
		return invalidSpec(i, "disk capacity must be positive and at most 62 TB")
	}
	target, tf := vm.diskTarget(i, h, dc, d)
	if tf != nil {
		return tf
	}
	if !h.reaches(target) {
		return vcFault(&types.InvalidDatastore{Datastore: &target.Self, Name: target.Name}, keyInvalidDeviceSpec,
			"Datastore %s is not accessible from host %s", target.Name, h.name)
	}
	if target.isPMem() {
		if f := rulePMemDiskPowerState(vm); f != nil {
			return f
		}
		if f := rulePMemDiskSnapshots(vm, "Cannot add a PMem disk"); f != nil {
			return f
		}
		r.pmemDemand += roundMiB(size)
		size = roundMiB(size)
	} else {
		r.dsDemand[target] += size
	}
	if vd.UnitNumber == nil {
		u, ok := r.freeUnit(ctlKey, max, skip)
		if !ok {
			return invalidSpec(i, "controller %d has no free unit", ctlKey)
		}
		vd.UnitNumber = types.NewInt32(u)
	} else {
		for _, o := range r.devs {
			ov := o.GetVirtualDevice()
			if ov.ControllerKey == ctlKey && ov.UnitNumber != nil && *ov.UnitNumber == *vd.UnitNumber {
				return invalidSpec(i, "unit %d of controller %d is in use", *vd.UnitNumber, ctlKey)
			}
		}
	}
	name := ""
	if b := backingFile(d); b != nil {
		var p object.DatastorePath
		if p.FromString(b.FileName) && p.Path != "" && p.Datastore == target.Name {
			name = b.FileName
		}
	}
	if name == "" {
		name = r.uniqueDiskPath(target)
	}
	d.Key = r.freeKey(diskKeyBase)
	d.ControllerKey = ctlKey
	d.CapacityInBytes = size
	d.CapacityInKB = size / 1024
	d.Backing = makeDiskBacking(target, name, diskMode(d), stableUUID("disk", fmt.Sprintf("%s/%d/%d", vm.Name, d.Key, time.Now().UnixNano())))
	d.DeviceInfo = &types.Description{Label: fmt.Sprintf("Hard disk %d", r.freeLabel("Hard disk")), Summary: kbSummary(d.CapacityInKB)}
	r.attach(ci, d.Key)
	r.devs = append(r.devs, d)
	if ids, set := policyFromSpec(dc.Profile, target); set {
		r.policies[d.Key] = ids
	}
	return nil
}

// addOther adds any other device; disk controllers get vSphere's keys and
// labels: SCSI 1000+bus, SATA 15000+bus, NVMe 31000+bus.
func (r *reconfig) addOther(i int, dev types.BaseVirtualDevice) *taskFault {
	vd := dev.GetVirtualDevice()
	if base, label, ok := controllerFamily(dev); ok {
		bus := dev.(types.BaseVirtualController).GetVirtualController().BusNumber
		if bus < 0 || bus > 3 {
			return invalidSpec(i, "controller busNumber %d out of range 0-3", bus)
		}
		if r.index(base+bus) >= 0 {
			return invalidSpec(i, "%s %d already exists", label, bus)
		}
		vd.Key = base + bus
		vd.DeviceInfo = &types.Description{Label: fmt.Sprintf("%s %d", label, bus), Summary: label}
		if vd.ControllerKey == 0 {
			vd.ControllerKey = 100
		}
		dev.(types.BaseVirtualController).GetVirtualController().Device = nil
	}
	if vd.Key <= 0 || r.index(vd.Key) >= 0 {
		vd.Key = r.freeKey(maxKey(r.devs) + 1)
	}
	vd.ControllerKey = r.resolve(vd.ControllerKey)
	if vd.DeviceInfo == nil || vd.DeviceInfo.GetDescription().Label == "" {
		name := reflect.TypeOf(dev).Elem().Name()
		vd.DeviceInfo = &types.Description{Label: fmt.Sprintf("%s %d", name, r.count(dev)), Summary: name}
	}
	if _, ci := r.controller(vd.ControllerKey); ci >= 0 {
		r.attach(ci, vd.Key)
	}
	r.devs = append(r.devs, dev)
	return nil
}

func (r *reconfig) edit(i int, dc *types.VirtualDeviceConfigSpec) *taskFault {
	dev := dc.Device
	vd := dev.GetVirtualDevice()
	idx := r.index(vd.Key)
	if idx < 0 {
		return invalidSpec(i, "no device with key %d", vd.Key)
	}
	switch old := r.devs[idx].(type) {
	case *types.VirtualNVDIMM:
		nd, ok := dev.(*types.VirtualNVDIMM)
		if !ok {
			return invalidSpec(i, "device %d is an NVDIMM", vd.Key)
		}
		return r.growNVDIMM(i, idx, old, nd)
	case *types.VirtualDisk:
		nd, ok := dev.(*types.VirtualDisk)
		if !ok {
			return invalidSpec(i, "device %d is a disk", vd.Key)
		}
		return r.editDisk(i, idx, dc, old, nd)
	default:
		if reflect.TypeOf(dev) != reflect.TypeOf(old) {
			return invalidSpec(i, "device %d is a %s, not a %s", vd.Key,
				reflect.TypeOf(old).Elem().Name(), reflect.TypeOf(dev).Elem().Name())
		}
		nd := cloneDevice(dev)
		nd.GetVirtualDevice().Key = vd.Key
		if nd.GetVirtualDevice().DeviceInfo == nil {
			nd.GetVirtualDevice().DeviceInfo = old.GetVirtualDevice().DeviceInfo
		}
		r.devs[idx] = nd
	}
	return nil
}

// growNVDIMM: cold growth only (VirtualNVDIMMOption growable true,
// hotGrowable false), never shrink (CV refuses it), sizes per ruleNVDIMMSize.
func (r *reconfig) growNVDIMM(i, idx int, old, nd *types.VirtualNVDIMM) *taskFault {
	if nd.CapacityInMB == old.CapacityInMB {
		return nil
	}
	if nd.CapacityInMB < old.CapacityInMB {
		return invalidSpec(i, "NVDIMM %s cannot shrink from %d MB to %d MB", old.DeviceInfo.GetDescription().Label, old.CapacityInMB, nd.CapacityInMB)
	}
	if f := ruleNVDIMMSize(i, nd.CapacityInMB); f != nil {
		return f
	}
	if f := r.vm.powerOffRequired("Growing an NVDIMM"); f != nil {
		return f
	}
	r.pmemDemand += (nd.CapacityInMB - old.CapacityInMB) << 20
	c := r.mutable(idx).(*types.VirtualNVDIMM)
	c.CapacityInMB = nd.CapacityInMB
	c.DeviceInfo.GetDescription().Summary = mbSummary(nd.CapacityInMB)
	return nil
}

func (r *reconfig) editDisk(i, idx int, dc *types.VirtualDeviceConfigSpec, old, nd *types.VirtualDisk) *taskFault {
	ds := deviceDatastore(old)
	onPMem := ds != nil && ds.isPMem()
	if hasPMemProfile(dc.Profile) && !onPMem {
		return invalidSpecKey(i, keyPMemPolicy, "the PMem storage policy cannot be applied to an existing disk with ReconfigVM_Task; use RelocateVM_Task (Storage vMotion)")
	}
	if onPMem && len(dc.Profile) > 0 && !hasPMemProfile(dc.Profile) {
		// "The PMem policy is not editable ... To change the policy, migrate or clone the VM" (D-STOR67)
		return invalidSpecKey(i, keyPMemPolicy, "the storage policy of a PMem disk cannot be changed with ReconfigVM_Task; migrate the disk off PMem (RelocateVM_Task)")
	}
	// clients may set either field; the larger one wins
	size := nd.CapacityInBytes
	if kb := nd.CapacityInKB * 1024; kb > size {
		size = kb
	}
	cur := deviceBytes(old)
	if size > maxDiskBytes || nd.CapacityInKB > maxDiskBytes/1024 || nd.CapacityInBytes < 0 || nd.CapacityInKB < 0 {
		return invalidSpec(i, "disk capacity must be positive and at most 62 TB")
	}
	if size > 0 && size < cur {
		return invalidSpec(i, "disk %s cannot shrink", old.DeviceInfo.GetDescription().Label)
	}
	c := r.mutable(idx).(*types.VirtualDisk)
	if size > cur {
		if onPMem {
			r.pmemDemand += roundMiB(size) - cur
			size = roundMiB(size)
		} else if ds != nil {
			r.dsDemand[ds] += size - cur
		}
		c.CapacityInBytes = size
		c.CapacityInKB = size / 1024
		c.DeviceInfo.GetDescription().Summary = kbSummary(c.CapacityInKB)
	}
	if m := diskMode(nd); nd.Backing != nil && m != "" && m != diskMode(old) {
		b := backingFile(old)
		c.Backing = makeDiskBacking(ds, b.FileName, m, diskUUIDOf(old))
	}
	if ids, set := policyFromSpec(dc.Profile, ds); set {
		r.policies[old.Key] = ids
	}
	return nil
}

func (r *reconfig) remove(i int, dc *types.VirtualDeviceConfigSpec) *taskFault {
	key := dc.Device.GetVirtualDevice().Key
	idx := r.index(key)
	if idx < 0 {
		return invalidSpec(i, "no device with key %d", key)
	}
	old := r.devs[idx]
	switch o := old.(type) {
	case *types.VirtualNVDIMM:
		if f := r.vm.powerOffRequired("Removing an NVDIMM"); f != nil {
			return f
		}
		r.pmemDemand -= o.CapacityInMB << 20
	case *types.VirtualNVDIMMController:
		if f := r.vm.powerOffRequired("Removing the NVDIMM controller"); f != nil {
			return f
		}
	case *types.VirtualDisk:
		if dc.FileOperation == types.VirtualDeviceConfigSpecFileOperationDestroy {
			if ds := deviceDatastore(o); ds != nil && ds.isPMem() {
				r.pmemDemand -= deviceBytes(o)
			} else if ds != nil {
				r.dsDemand[ds] -= deviceBytes(o)
			}
		}
		r.dropPolicy = append(r.dropPolicy, key)
	}
	r.detach(old.GetVirtualDevice().ControllerKey, key)
	r.devs = append(r.devs[:idx:idx], r.devs[idx+1:]...)
	return nil
}

// checkWhole runs the checks on the resulting configuration: controllers,
// NVDIMM hardware/guest/total (GuestOsDescriptor.supportedMaxPersistentMemoryMB,
// GOVH), host PMem and datastore space.
func (r *reconfig) checkWhole(last int) *taskFault {
	nvCount := r.count((*types.VirtualNVDIMM)(nil))
	var nvTotal int64
	for _, d := range r.devs {
		if nv, ok := d.(*types.VirtualNVDIMM); ok {
			nvTotal += nv.CapacityInMB
		}
	}
	if _, ok := r.nvdimmController(); nvCount > 0 && !ok {
		return invalidSpec(last, "the NVDIMM controller cannot be removed while NVDIMMs remain")
	}
	for _, d := range r.devs {
		if _, ok := d.(*types.VirtualDisk); ok {
			if c, _ := r.controller(d.GetVirtualDevice().ControllerKey); c == nil {
				return invalidSpec(last, "the controller of %s cannot be removed while the disk is attached",
					d.GetVirtualDevice().DeviceInfo.GetDescription().Label)
			}
		}
	}
	if nvCount > 0 {
		if f := r.hwNeeded(last, "An NVDIMM"); f != nil {
			return f
		}
		if f := r.guestSupportsPMem(); f != nil {
			return f
		}
		if g := guestByID(r.guestID); nvTotal > g.maxPMem {
			return invalidSpecKey(last, keyNVDIMMSize, "total NVDIMM capacity %d MB exceeds the guest maximum of %d MB", nvTotal, g.maxPMem)
		}
	}
	if r.pmemDemand > 0 {
		if r.h.pmemDS == nil {
			return r.noPMem()
		}
		if free := r.h.pmemFree(); r.pmemDemand > free {
			return insufficientPMem("Insufficient persistent memory: requested %d MB, host %s has %d MB free", r.pmemDemand>>20, r.h.name, free>>20)
		}
		if f := haAdmission(r.h, r.pmemDemand); f != nil {
			return f
		}
	}
	for ds, need := range r.dsDemand {
		if need > 0 && need > ds.Summary.FreeSpace {
			return newFault(&types.InsufficientStorageSpace{},
				"Insufficient disk space on datastore %s: requested %d MB, %d MB free", ds.Name, need>>20, ds.Summary.FreeSpace>>20)
		}
	}
	return nil
}

// commit applies a validated spec.
func (r *reconfig) commit(spec *types.VirtualMachineConfigSpec, newVersion string) {
	vm, h := r.vm, r.h
	if r.pmemDemand != 0 && h.pmemDS != nil {
		h.pmemDS.adjustFree(-r.pmemDemand)
	}
	for ds, need := range r.dsDemand {
		ds.adjustFree(-need)
	}
	for _, k := range r.dropPolicy {
		vm.clearDiskPolicy(k)
	}
	for k, ids := range r.policies {
		vm.setDiskPolicy(k, ids)
	}
	guestID := r.guestID
	numDisks := int32(r.count((*types.VirtualDisk)(nil)))
	changes := []types.PropertyChange{
		{Name: "config.hardware.device", Val: r.devs},
		{Name: "summary.config.numVirtualDisks", Val: numDisks},
		{Name: "config.modified", Val: time.Now()},
		{Name: "config.changeVersion", Val: time.Now().UTC().Format(time.RFC3339Nano)},
	}
	if newVersion != "" {
		changes = append(changes, types.PropertyChange{Name: "config.version", Val: newVersion},
			types.PropertyChange{Name: "summary.config.hwVersion", Val: newVersion})
	}
	if spec.GuestId != "" {
		changes = append(changes,
			types.PropertyChange{Name: "config.guestId", Val: guestID},
			types.PropertyChange{Name: "config.guestFullName", Val: guestFullName(guestID)},
			types.PropertyChange{Name: "summary.config.guestId", Val: guestID},
			types.PropertyChange{Name: "summary.config.guestFullName", Val: guestFullName(guestID)},
			types.PropertyChange{Name: "guest.guestFamily", Val: guestFamilyOf(guestID)})
	}
	if spec.Name != "" && spec.Name != vm.Name {
		spec.Name = escapeName(spec.Name)
		changes = append(changes, types.PropertyChange{Name: "name", Val: spec.Name},
			types.PropertyChange{Name: "config.name", Val: spec.Name},
			types.PropertyChange{Name: "summary.config.name", Val: spec.Name})
	}
	if spec.MemoryMB > 0 {
		changes = append(changes, types.PropertyChange{Name: "config.hardware.memoryMB", Val: int32(spec.MemoryMB)},
			types.PropertyChange{Name: "summary.config.memorySizeMB", Val: int32(spec.MemoryMB)})
	}
	if spec.NumCPUs > 0 {
		changes = append(changes, types.PropertyChange{Name: "config.hardware.numCPU", Val: spec.NumCPUs},
			types.PropertyChange{Name: "summary.config.numCpu", Val: spec.NumCPUs})
	}
	if spec.NumCoresPerSocket > 0 {
		changes = append(changes, types.PropertyChange{Name: "config.hardware.numCoresPerSocket", Val: spec.NumCoresPerSocket})
	}
	if spec.Annotation != "" {
		changes = append(changes, types.PropertyChange{Name: "config.annotation", Val: spec.Annotation},
			types.PropertyChange{Name: "summary.config.annotation", Val: spec.Annotation})
	}
	if spec.CpuAllocation != nil {
		changes = append(changes, types.PropertyChange{Name: "config.cpuAllocation", Val: spec.CpuAllocation})
	}
	if spec.MemoryAllocation != nil {
		changes = append(changes, types.PropertyChange{Name: "config.memoryAllocation", Val: spec.MemoryAllocation})
	}
	if len(spec.ExtraConfig) > 0 {
		extra := append([]types.BaseOptionValue(nil), vm.Config.ExtraConfig...)
		for _, ov := range spec.ExtraConfig {
			o := ov.GetOptionValue()
			replaced := false
			for k, cur := range extra {
				if cur.GetOptionValue().Key == o.Key {
					replaced = true
					if s, ok := o.Value.(string); ok && s == "" {
						extra = append(extra[:k], extra[k+1:]...)
					} else {
						extra[k] = ov
					}
					break
				}
			}
			if !replaced {
				extra = append(extra, ov)
			}
		}
		changes = append(changes, types.PropertyChange{Name: "config.extraConfig", Val: extra})
	}
	simulator.Map.Update(vm, changes)
	vm.syncDatastores()
	vm.refreshLayout()
}

// controllerFamily gives the key base and label of a disk controller type.
func controllerFamily(d types.BaseVirtualDevice) (int32, string, bool) {
	switch d.(type) {
	case types.BaseVirtualSCSIController:
		return 1000, "SCSI controller", true
	case types.BaseVirtualSATAController:
		return 15000, "SATA controller", true
	case *types.VirtualNVMEController:
		return 31000, "NVME controller", true
	}
	return 0, "", false
}

func maxKey(devs []types.BaseVirtualDevice) int32 {
	m := int32(0)
	for _, d := range devs {
		if k := d.GetVirtualDevice().Key; k > m {
			m = k
		}
	}
	return m
}

// diskTarget decides where a new disk goes: the host's PMem datastore for
// the PMem policy or a LocalPMem backing, else the datastore named in the
// backing (fileName "[ds] ..." or backing.datastore), else the VM home.
func (vm *PVM) diskTarget(i int, h *hostState, dc *types.VirtualDeviceConfigSpec, d *types.VirtualDisk) (*PDatastore, *taskFault) {
	_, localPMem := d.Backing.(*types.VirtualDiskLocalPMemBackingInfo)
	b := backingFile(d)
	if d.Backing != nil && b == nil {
		return nil, invalidSpec(i, "unsupported disk backing %T (pmemsim supports file backings)", d.Backing)
	}
	if f := rulePMemDatastoreDirect(i, namedDatastore(b)); f != nil {
		return nil, f
	}
	if hasPMemProfile(dc.Profile) || localPMem {
		if h.pmemDS == nil {
			return nil, insufficientPMem("Insufficient persistent memory: host %s has no PMem", h.name)
		}
		return h.pmemDS, nil
	}
	if b != nil {
		var p object.DatastorePath
		if p.FromString(b.FileName) && p.Datastore != "" {
			ds := vm.datastoreNamed(p.Datastore)
			if ds == nil {
				return nil, vcFault(&types.InvalidDatastore{Name: p.Datastore}, keyInvalidDeviceSpec, "Datastore %s not found", p.Datastore)
			}
			return ds, nil
		}
		if b.Datastore != nil {
			ds, ok := simulator.Map.Get(*b.Datastore).(*PDatastore)
			if !ok {
				return nil, vcFault(&types.InvalidDatastore{Datastore: b.Datastore}, keyInvalidDeviceSpec, "Datastore %s not found", b.Datastore.Value)
			}
			return ds, nil
		}
	}
	home := vm.homeDatastore()
	if home == nil {
		return nil, newFault(&types.InvalidDatastore{}, "the VM home datastore of %s is unknown", vm.Name)
	}
	return home, nil
}
