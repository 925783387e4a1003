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

func invalidSpec(i int, format string, a ...interface{}) *taskFault {
	return newFault(&types.InvalidDeviceSpec{InvalidVmConfig: types.InvalidVmConfig{Property: fmt.Sprintf("virtualDeviceSpec[%d]", i)}, DeviceIndex: int32(i)}, format, a...)
}

func (vm *PVM) powerOffRequired(what string) *taskFault {
	if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff {
		return nil
	}
	return newFault(&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: vm.Runtime.PowerState},
		"%s requires the VM to be powered off (%s is %s)", what, vm.Name, vm.Runtime.PowerState)
}

// reconfigure validates and applies a ConfigSpec. Callers hold the VM lock and simMu.
func (vm *PVM) reconfigure(spec *types.VirtualMachineConfigSpec) *taskFault {
	h := vm.host()
	if vm.Config.Template {
		return newFault(&types.NotSupported{}, "%s is a template", vm.Name)
	}
	hw := vm.hwVersion()
	newVersion := ""
	if spec.Version != "" {
		n := parseHW(spec.Version)
		if n == 0 {
			return newFault(&types.InvalidArgument{InvalidProperty: "configSpec.version"}, "invalid hardware version %q", spec.Version)
		}
		if n != hw {
			if f := vm.powerOffRequired("Changing the hardware version"); f != nil {
				return f
			}
			newVersion = fmt.Sprintf("vmx-%02d", n)
			hw = n
		}
	}
	guestID := vm.Config.GuestId
	if spec.GuestId != "" {
		if !knownGuestID(spec.GuestId) {
			return newFault(&types.InvalidArgument{InvalidProperty: "configSpec.guestId"}, "unknown guest id %q", spec.GuestId)
		}
		guestID = spec.GuestId
	}
	if spec.MemoryMB < 0 || spec.NumCPUs < 0 {
		return newFault(&types.InvalidArgument{InvalidProperty: "configSpec"}, "negative memory or CPU count")
	}

	e := &devEditor{vm: vm, devs: append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...), keys: map[int32]int32{}}
	pmemDemand := int64(0)
	dsDemand := map[*PDatastore]int64{}
	hwNeeded := func(i int, what string) *taskFault {
		if hw < 14 {
			return newFault(&types.DeviceUnsupportedForVmVersion{InvalidDeviceSpec: types.InvalidDeviceSpec{DeviceIndex: int32(i)},
				CurrentVersion: fmt.Sprintf("vmx-%02d", hw), ExpectedVersion: "vmx-14"},
				"%s requires virtual hardware version 14 or later; %s is %s", what, vm.Name, fmt.Sprintf("vmx-%02d", hw))
		}
		return nil
	}
	noPMem := func() *taskFault {
		return newFault(&types.InsufficientResourcesFault{}, "Insufficient persistent memory: host %s has no PMem", h.name)
	}

	for i, ch := range spec.DeviceChange {
		dc := ch.GetVirtualDeviceConfigSpec()
		if dc.Device == nil {
			return invalidSpec(i, "device change %d has no device", i)
		}
		dev := dc.Device
		vd := dev.GetVirtualDevice()
		switch dc.Operation {
		case types.VirtualDeviceConfigSpecOperationAdd:
			oldKey := vd.Key
			switch d := dev.(type) {
			case *types.VirtualNVDIMMController:
				if _, ok := e.nvdimmController(); ok {
					return invalidSpec(i, "a VM can have at most one NVDIMM controller")
				}
				if f := hwNeeded(i, "An NVDIMM controller"); f != nil {
					return f
				}
				d.Key = nvdimmCtlKey
				d.BusNumber = 0
				d.Device = nil
				d.ControllerKey = 100
				d.DeviceInfo = &types.Description{Label: nvdimmCtlLabel, Summary: nvdimmCtlLabel}
				e.devs = append(e.devs, d)
			case *types.VirtualNVDIMM:
				if f := hwNeeded(i, "An NVDIMM"); f != nil {
					return f
				}
				if f := vm.powerOffRequired("Adding an NVDIMM"); f != nil {
					return f
				}
				if g := guestByID(guestID); g == nil || !g.pmem {
					return newFault(&types.UnsupportedGuest{InvalidVmConfig: types.InvalidVmConfig{Property: "guestId"}, UnsupportedGuestOS: guestID},
						"The guest OS %s of %s does not support persistent memory (NVDIMM)", guestID, vm.Name)
				}
				if vm.Snapshot != nil && len(vm.Snapshot.RootSnapshotList) > 0 {
					return newFault(&types.InvalidState{}, "Cannot add an NVDIMM to %s: the VM has snapshots; remove them first", vm.Name)
				}
				if h.pmemDS == nil {
					return noPMem()
				}
				if d.CapacityInMB <= 0 || d.CapacityInMB > maxNVDIMMMB {
					return invalidSpec(i, "NVDIMM capacityInMB must be from 1 to %d, got %d", maxNVDIMMMB, d.CapacityInMB)
				}
				if e.count((*types.VirtualNVDIMM)(nil)) >= 64 {
					return invalidSpec(i, "a VM can have at most 64 NVDIMMs")
				}
				ci, ok := e.nvdimmController()
				if ctl := e.resolve(d.ControllerKey); ok && d.ControllerKey != 0 && ctl != e.devs[ci].GetVirtualDevice().Key {
					return invalidSpec(i, "NVDIMM controllerKey %d is not the VM's NVDIMM controller", d.ControllerKey)
				}
				if !ok {
					// No controller in the VM or the spec: add one, as the vSphere Client does.
					e.devs = append(e.devs, newNVDIMMController())
					ci = len(e.devs) - 1
				}
				unit, _ := e.freeUnit(nvdimmCtlKey, 64, -1)
				n := e.freeLabel("NVDIMM")
				nv := newNVDIMM(e.freeKey(nvdimmKeyBase), unit, n, d.CapacityInMB, h.pmemDS, vm.Name)
				d.Key, d.ControllerKey, d.UnitNumber, d.DeviceInfo, d.Backing = nv.Key, nvdimmCtlKey, nv.UnitNumber, nv.DeviceInfo, nv.Backing
				e.attach(ci, d.Key)
				e.devs = append(e.devs, d)
				pmemDemand += d.CapacityInMB << 20
			case *types.VirtualDisk:
				ctlKey := e.resolve(vd.ControllerKey)
				ctl, ci := e.controller(ctlKey)
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
				target, tf := vm.diskTarget(h, dc, d)
				if tf != nil {
					return tf
				}
				if !h.reaches(target) {
					return newFault(&types.InvalidDatastore{Datastore: &target.Self, Name: target.Name},
						"Datastore %s is not accessible from host %s", target.Name, h.name)
				}
				if target.isPMem() {
					pmemDemand += roundMiB(size)
					size = roundMiB(size)
				} else {
					dsDemand[target] += size
				}
				if vd.UnitNumber == nil {
					u, ok := e.freeUnit(ctlKey, max, skip)
					if !ok {
						return invalidSpec(i, "controller %d has no free unit", ctlKey)
					}
					vd.UnitNumber = types.NewInt32(u)
				} else {
					for _, o := range e.devs {
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
					name = e.uniqueDiskPath(target)
				}
				d.Key = e.freeKey(diskKeyBase)
				d.ControllerKey = ctlKey
				d.CapacityInBytes = size
				d.CapacityInKB = size / 1024
				d.Backing = makeDiskBacking(target, name, diskMode(d), stableUUID("disk", fmt.Sprintf("%s/%d/%d", vm.Name, d.Key, time.Now().UnixNano())))
				d.DeviceInfo = &types.Description{Label: fmt.Sprintf("Hard disk %d", e.freeLabel("Hard disk")), Summary: kbSummary(d.CapacityInKB)}
				e.attach(ci, d.Key)
				e.devs = append(e.devs, d)
			default:
				if base, label, ok := controllerFamily(dev); ok {
					// disk controllers get vSphere's keys and labels:
					// SCSI 1000+bus, SATA 15000+bus, NVMe 31000+bus
					bus := dev.(types.BaseVirtualController).GetVirtualController().BusNumber
					if bus < 0 || bus > 3 {
						return invalidSpec(i, "controller busNumber %d out of range 0-3", bus)
					}
					if e.index(base+bus) >= 0 {
						return invalidSpec(i, "%s %d already exists", label, bus)
					}
					vd.Key = base + bus
					vd.DeviceInfo = &types.Description{Label: fmt.Sprintf("%s %d", label, bus), Summary: label}
					if vd.ControllerKey == 0 {
						vd.ControllerKey = 100
					}
					dev.(types.BaseVirtualController).GetVirtualController().Device = nil
				}
				if vd.Key <= 0 || e.index(vd.Key) >= 0 {
					vd.Key = e.freeKey(maxKey(e.devs) + 1)
				}
				vd.ControllerKey = e.resolve(vd.ControllerKey)
				if vd.DeviceInfo == nil || vd.DeviceInfo.GetDescription().Label == "" {
					name := reflect.TypeOf(dev).Elem().Name()
					vd.DeviceInfo = &types.Description{Label: fmt.Sprintf("%s %d", name, e.count(dev)), Summary: name}
				}
				if _, ci := e.controller(vd.ControllerKey); ci >= 0 {
					e.attach(ci, vd.Key)
				}
				e.devs = append(e.devs, dev)
			}
			if oldKey != vd.Key {
				e.keys[oldKey] = vd.Key
			}
		case types.VirtualDeviceConfigSpecOperationEdit:
			idx := e.index(vd.Key)
			if idx < 0 {
				return invalidSpec(i, "no device with key %d", vd.Key)
			}
			switch old := e.devs[idx].(type) {
			case *types.VirtualNVDIMM:
				nd, ok := dev.(*types.VirtualNVDIMM)
				if !ok {
					return invalidSpec(i, "device %d is an NVDIMM", vd.Key)
				}
				if nd.CapacityInMB > maxNVDIMMMB {
					return invalidSpec(i, "NVDIMM capacityInMB must be at most %d, got %d", maxNVDIMMMB, nd.CapacityInMB)
				}
				if nd.CapacityInMB < old.CapacityInMB {
					return invalidSpec(i, "NVDIMM %s cannot shrink from %d MB to %d MB", old.DeviceInfo.GetDescription().Label, old.CapacityInMB, nd.CapacityInMB)
				}
				if nd.CapacityInMB > old.CapacityInMB {
					if f := vm.powerOffRequired("Growing an NVDIMM"); f != nil {
						return f
					}
					pmemDemand += (nd.CapacityInMB - old.CapacityInMB) << 20
					c := e.mutable(idx).(*types.VirtualNVDIMM)
					c.CapacityInMB = nd.CapacityInMB
					c.DeviceInfo.GetDescription().Summary = mbSummary(nd.CapacityInMB)
				}
			case *types.VirtualDisk:
				nd, ok := dev.(*types.VirtualDisk)
				if !ok {
					return invalidSpec(i, "device %d is a disk", vd.Key)
				}
				ds := deviceDatastore(old)
				if hasPMemProfile(dc.Profile) && (ds == nil || !ds.isPMem()) {
					return invalidSpec(i, "the PMem storage policy cannot be applied to an existing disk with ReconfigVM_Task; use RelocateVM_Task (Storage vMotion)")
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
				c := e.mutable(idx).(*types.VirtualDisk)
				if size > cur {
					if ds != nil && ds.isPMem() {
						pmemDemand += roundMiB(size) - cur
						size = roundMiB(size)
					} else if ds != nil {
						dsDemand[ds] += size - cur
					}
					c.CapacityInBytes = size
					c.CapacityInKB = size / 1024
					c.DeviceInfo.GetDescription().Summary = kbSummary(c.CapacityInKB)
				}
				if m := diskMode(nd); nd.Backing != nil && m != "" && m != diskMode(old) {
					b := backingFile(old)
					c.Backing = makeDiskBacking(ds, b.FileName, m, diskUUIDOf(old))
				}
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
				e.devs[idx] = nd
			}
		case types.VirtualDeviceConfigSpecOperationRemove:
			idx := e.index(vd.Key)
			if idx < 0 {
				return invalidSpec(i, "no device with key %d", vd.Key)
			}
			old := e.devs[idx]
			switch o := old.(type) {
			case *types.VirtualNVDIMM:
				if f := vm.powerOffRequired("Removing an NVDIMM"); f != nil {
					return f
				}
				pmemDemand -= o.CapacityInMB << 20
			case *types.VirtualNVDIMMController:
				if f := vm.powerOffRequired("Removing the NVDIMM controller"); f != nil {
					return f
				}
			case *types.VirtualDisk:
				if dc.FileOperation == types.VirtualDeviceConfigSpecFileOperationDestroy {
					if ds := deviceDatastore(o); ds != nil && ds.isPMem() {
						pmemDemand -= deviceBytes(o)
					} else if ds != nil {
						dsDemand[ds] -= deviceBytes(o)
					}
				}
			}
			e.detach(old.GetVirtualDevice().ControllerKey, vd.Key)
			e.devs = append(e.devs[:idx:idx], e.devs[idx+1:]...)
		default:
			return invalidSpec(i, "unknown operation %q", dc.Operation)
		}
	}

	// whole-spec checks
	nvCount := e.count((*types.VirtualNVDIMM)(nil))
	var nvTotal int64
	for _, d := range e.devs {
		if nv, ok := d.(*types.VirtualNVDIMM); ok {
			nvTotal += nv.CapacityInMB
		}
	}
	if _, ok := e.nvdimmController(); nvCount > 0 && !ok {
		return invalidSpec(len(spec.DeviceChange)-1, "the NVDIMM controller cannot be removed while NVDIMMs remain")
	}
	for _, d := range e.devs {
		if _, ok := d.(*types.VirtualDisk); ok {
			if c, _ := e.controller(d.GetVirtualDevice().ControllerKey); c == nil {
				return invalidSpec(len(spec.DeviceChange)-1, "the controller of %s cannot be removed while the disk is attached",
					d.GetVirtualDevice().DeviceInfo.GetDescription().Label)
			}
		}
	}
	if nvCount > 0 {
		if hw < 14 {
			return newFault(&types.DeviceUnsupportedForVmVersion{CurrentVersion: fmt.Sprintf("vmx-%02d", hw), ExpectedVersion: "vmx-14"},
				"NVDIMMs require virtual hardware version 14 or later")
		}
		g := guestByID(guestID)
		if g == nil || !g.pmem {
			return newFault(&types.UnsupportedGuest{InvalidVmConfig: types.InvalidVmConfig{Property: "guestId"}, UnsupportedGuestOS: guestID},
				"The guest OS %s does not support persistent memory (NVDIMM)", guestID)
		}
		if nvTotal > g.maxPMem {
			return invalidSpec(len(spec.DeviceChange)-1, "total NVDIMM capacity %d MB exceeds the guest maximum of %d MB", nvTotal, g.maxPMem)
		}
	}
	if pmemDemand > 0 {
		if h.pmemDS == nil {
			return noPMem()
		}
		if free := h.pmemFree(); pmemDemand > free {
			return newFault(&types.InsufficientResourcesFault{},
				"Insufficient persistent memory: requested %d MB, host %s has %d MB free", pmemDemand>>20, h.name, free>>20)
		}
		if f := haAdmission(h, pmemDemand); f != nil {
			return f
		}
	}
	for ds, need := range dsDemand {
		if need > 0 && need > ds.Summary.FreeSpace {
			return newFault(&types.InsufficientStorageSpace{},
				"Insufficient disk space on datastore %s: requested %d MB, %d MB free", ds.Name, need>>20, ds.Summary.FreeSpace>>20)
		}
	}

	// commit
	if pmemDemand != 0 && h.pmemDS != nil {
		h.pmemDS.adjustFree(-pmemDemand)
	}
	for ds, need := range dsDemand {
		ds.adjustFree(-need)
	}
	numDisks := int32(e.count((*types.VirtualDisk)(nil)))
	changes := []types.PropertyChange{
		{Name: "config.hardware.device", Val: e.devs},
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
	return nil
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
func (vm *PVM) diskTarget(h *hostState, dc *types.VirtualDeviceConfigSpec, d *types.VirtualDisk) (*PDatastore, *taskFault) {
	_, localPMem := d.Backing.(*types.VirtualDiskLocalPMemBackingInfo)
	b := backingFile(d)
	if d.Backing != nil && b == nil {
		return nil, newFault(&types.InvalidDeviceSpec{}, "unsupported disk backing %T (pmemsim supports file backings)", d.Backing)
	}
	if hasPMemProfile(dc.Profile) || localPMem {
		if h.pmemDS == nil {
			return nil, newFault(&types.InsufficientResourcesFault{}, "Insufficient persistent memory: host %s has no PMem", h.name)
		}
		return h.pmemDS, nil
	}
	if b != nil {
		var p object.DatastorePath
		if p.FromString(b.FileName) && p.Datastore != "" {
			ds := vm.datastoreNamed(p.Datastore)
			if ds == nil {
				return nil, newFault(&types.InvalidDatastore{Name: p.Datastore}, "Datastore %s not found", p.Datastore)
			}
			return ds, nil
		}
		if b.Datastore != nil {
			ds, ok := simulator.Map.Get(*b.Datastore).(*PDatastore)
			if !ok {
				return nil, newFault(&types.InvalidDatastore{Datastore: b.Datastore}, "Datastore %s not found", b.Datastore.Value)
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
