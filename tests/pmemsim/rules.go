package main

// vCenter rules, one small function per rule. Each comment names the public
// source of the rule; README.md ("vCenter rules") lists them with their
// --relax names, and "Guesses" lists the ones no source settles.

import (
	"fmt"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// faultMessage keys. The two vmprov keys are real (RB168, PCS677); the
// com.vmware.pmemsim.* keys are pmemsim's own (README "Guesses").
const (
	keyPMemDatastoreSetDirectly = "com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly" // RB168
	keyInvalidNVDIMMPolicy      = "com.vmware.vim.vpxd.vmprov.invalidNVDIMMPolicy"      // PCS677
	keyInvalidDeviceSpec        = "com.vmware.pmemsim.invalidDeviceSpec"
	keyNVDIMMSize               = "com.vmware.pmemsim.nvdimmSize"
	keyHWVersion                = "com.vmware.pmemsim.deviceUnsupportedForVmVersion"
	keyPowerState               = "com.vmware.pmemsim.invalidPowerState"
	keyInsufficientPMem         = "com.vmware.pmemsim.insufficientPMem"
	keyReconfigVersion          = "com.vmware.pmemsim.reconfigVersion"
	keySnapshotMode             = "com.vmware.pmemsim.snapshotMode"
	keySnapshotNVDIMM           = "com.vmware.pmemsim.snapshotNVDIMM"
	keyPMemDiskSnapshots        = "com.vmware.pmemsim.pmemDiskWithSnapshots"
	keyNVDIMMSnapshots          = "com.vmware.pmemsim.nvdimmWithSnapshots"
	keyPMemPolicy               = "com.vmware.pmemsim.pmemPolicy"

	msgPMemDatastoreSetDirectly = "Setting a PMem datastore directly for device configuration is not supported. Please use storage profile instead." // RB168
)

// vcFault builds a task fault shaped like vCenter's: localizedMessage is the
// generic text vCenter uses for the fault type ("Invalid configuration for
// device '0'." for InvalidDeviceSpec, as quoted in PCS677), and the reason
// is in fault.faultMessage[] as LocalizableMessage{key, message}.
func vcFault(f types.BaseMethodFault, key, format string, a ...interface{}) *taskFault {
	reason := fmt.Sprintf(format, a...)
	f.GetMethodFault().FaultMessage = []types.LocalizableMessage{{Key: key, Message: reason}}
	return &taskFault{fault: f, msg: genericMessage(f, reason)}
}

// genericMessage is the localizedMessage vCenter shows for a fault type.
// InvalidDeviceSpec is PCS677's; InvalidPowerState, InvalidState and
// InvalidArgument are vCenter's standard texts for those faults (GUESS:
// from memory of vCenter, not a stored source). Other types keep the reason.
func genericMessage(f types.BaseMethodFault, reason string) string {
	switch x := f.(type) {
	case *types.DeviceUnsupportedForVmVersion:
		return fmt.Sprintf("Invalid configuration for device '%d'.", x.DeviceIndex)
	case *types.InvalidDeviceSpec:
		return fmt.Sprintf("Invalid configuration for device '%d'.", x.DeviceIndex)
	case *types.InvalidPowerState:
		return fmt.Sprintf("The attempted operation cannot be performed in the current state (%s).", powerStateLabel(x.ExistingState))
	case *types.InvalidState:
		return "The operation is not allowed in the current state."
	case *types.InvalidArgument:
		return fmt.Sprintf("A specified parameter was not correct: %s", x.InvalidProperty)
	case *types.InsufficientResourcesFault:
		return "Insufficient resources to satisfy the request."
	}
	return reason
}

func powerStateLabel(s types.VirtualMachinePowerState) string {
	switch s {
	case types.VirtualMachinePowerStatePoweredOn:
		return "Powered on"
	case types.VirtualMachinePowerStatePoweredOff:
		return "Powered off"
	case types.VirtualMachinePowerStateSuspended:
		return "Suspended"
	}
	return string(s)
}

// invalidSpec is an InvalidDeviceSpec for deviceChange[i] with a pmemsim key.
func invalidSpec(i int, format string, a ...interface{}) *taskFault {
	return invalidSpecKey(i, keyInvalidDeviceSpec, format, a...)
}

func invalidSpecKey(i int, key, format string, a ...interface{}) *taskFault {
	return vcFault(&types.InvalidDeviceSpec{InvalidVmConfig: types.InvalidVmConfig{Property: fmt.Sprintf("virtualDeviceSpec[%d]", i)},
		DeviceIndex: int32(i)}, key, format, a...)
}

func insufficientPMem(format string, a ...interface{}) *taskFault {
	return vcFault(&types.InsufficientResourcesFault{}, keyInsufficientPMem, format, a...)
}

// ruleReconfigVersion: ConfigSpec.version "is used only while creating a new
// virtual machine, and can be updated by invoking UpgradeVM_Task" (GOVH
// VirtualMachineConfigSpec.Version). Terraform sent it in reconfigure specs
// and VM updates failed on vCenter (hashicorp/terraform-provider-vsphere
// issue #1049, fixed by commit 360bc614 "Only include hardware version in
// CreateSpecs"). The same version is a no-op. Fault type InvalidArgument is a
// GUESS (probe step 1). --relax reconfig-version applies it (powered off).
func ruleReconfigVersion(vm *PVM, version string) (newVersion string, tf *taskFault) {
	if version == "" {
		return "", nil
	}
	n := parseHW(version)
	if n == 0 {
		return "", vcFault(&types.InvalidArgument{InvalidProperty: "configSpec.version"}, keyReconfigVersion,
			"invalid hardware version %q", version)
	}
	if n == vm.hwVersion() {
		return "", nil
	}
	if !relaxed("reconfig-version") {
		return "", vcFault(&types.InvalidArgument{InvalidProperty: "configSpec.version"}, keyReconfigVersion,
			"ConfigSpec.version is used only when creating a virtual machine; use UpgradeVM_Task to change %s from %s to %s",
			vm.Name, vm.Config.Version, version)
	}
	if f := vm.powerOffRequired("Changing the hardware version"); f != nil {
		return "", f
	}
	return fmt.Sprintf("vmx-%02d", n), nil
}

// rulePMemDatastoreDirect: vCenter refuses a device configuration that names
// the PMem datastore: pMemDatastoreSetDirectly "Setting a PMem datastore
// directly for device configuration is not supported. Please use storage
// profile instead." (RB168, vCenter 6.7). pmemsim applies it to device
// backings, RelocateSpec disk locators and spec.datastore (GUESS that
// relocation runs the same check: probe step 2 for locators, a lab check
// for spec.datastore). --relax pmem-locator.
func rulePMemDatastoreDirect(i int, ds *PDatastore) *taskFault {
	if ds == nil || !ds.isPMem() || relaxed("pmem-locator") {
		return nil
	}
	return invalidSpecKey(i, keyPMemDatastoreSetDirectly, "%s (%s)", msgPMemDatastoreSetDirectly, ds.Name)
}

// namedDatastore is the datastore a file backing names: "[ds] ..." in
// fileName, else backing.datastore; nil if neither (or unknown).
func namedDatastore(b *types.VirtualDeviceFileBackingInfo) *PDatastore {
	if b == nil {
		return nil
	}
	var p object.DatastorePath
	if p.FromString(b.FileName) && p.Datastore != "" {
		if ds := datastoreIn(nil, p.Datastore); ds != nil { // PMem datastore names are unique (PMemDS-<uuid>)
			return ds
		}
	}
	if b.Datastore != nil {
		if ds := datastoreByRef(*b.Datastore); ds != nil {
			return ds
		}
	}
	return nil
}

// ruleNVDIMMBacking: a new NVDIMM's backing is left empty (fileName "", no
// datastore) and vCenter places it on the host's PMem datastore (CV
// vm_device_helper.py L341-369, PUP nvdimm_device_spec, D-VMADM70). A
// backing naming the PMem datastore is refused as in RB168.
func ruleNVDIMMBacking(i int, d *types.VirtualNVDIMM) *taskFault {
	b, _ := d.Backing.(*types.VirtualNVDIMMBackingInfo)
	if b == nil || relaxed("pmem-locator") {
		return nil
	}
	fb := &b.VirtualDeviceFileBackingInfo
	if ds := namedDatastore(fb); ds != nil && ds.isPMem() {
		return rulePMemDatastoreDirect(i, ds)
	}
	if strings.TrimSpace(fb.FileName) != "" || fb.Datastore != nil {
		return invalidSpec(i, "an NVDIMM backing must be empty (fileName \"\", no datastore): vCenter places it on the host's PMem datastore; got %q", fb.FileName)
	}
	return nil
}

// ruleNVDIMMPolicy: an NVDIMM whose storage policy is not the PMem policy is
// refused with invalidNVDIMMPolicy (PCS677: "Invalid configuration for device
// '0'." for a replayed NVDIMM spec). No profile is accepted (CV omits it on
// ESXi, VV always).
func ruleNVDIMMPolicy(i int, profiles []types.BaseVirtualMachineProfileSpec) *taskFault {
	for _, p := range profiles {
		if d, ok := p.(*types.VirtualMachineDefinedProfileSpec); ok && d.ProfileId != pmemProfileID {
			return invalidSpecKey(i, keyInvalidNVDIMMPolicy,
				"the storage policy %s is not valid for an NVDIMM: use the Host-local PMem Default Storage Policy (%s)", d.ProfileId, pmemProfileID)
		}
	}
	return nil
}

// ruleNVDIMMSize: NVDIMM sizes follow VirtualNVDIMMOption (capacityInMB
// min/max, granularityInMB; D-VMADM70 and the type docs in
// vsphere-pmem-api.md C): pmemsim advertises 4 MB..6 TiB in 4 MB steps
// (configoption.go). A size outside the range or not a multiple of the
// granularity is InvalidDeviceSpec; growing must keep the granularity.
// --relax nvdimm-granularity accepts any size from 1 MB.
func ruleNVDIMMSize(i int, mb int64) *taskFault {
	min := int64(nvdimmMinMB)
	if relaxed("nvdimm-granularity") {
		min = 1
	}
	if mb < min || mb > maxNVDIMMMB {
		return invalidSpecKey(i, keyNVDIMMSize, "NVDIMM capacityInMB must be from %d to %d (VirtualNVDIMMOption.capacityInMB), got %d", min, maxNVDIMMMB, mb)
	}
	if !relaxed("nvdimm-granularity") && mb%nvdimmGranularityMB != 0 {
		return invalidSpecKey(i, keyNVDIMMSize, "NVDIMM capacityInMB %d is not a multiple of %d MB (VirtualNVDIMMOption.granularityInMB)", mb, nvdimmGranularityMB)
	}
	return nil
}

// rulePMemDiskPowerState: a vPMemDisk is added to a powered-off VM only. A
// GUESS from CV vmware_guest_disk.py L851-856, which refuses vPMemDisk
// changes unless the VM is powered off (the docs are silent; probe step 4).
// --relax pmem-disk-hot-add.
func rulePMemDiskPowerState(vm *PVM) *taskFault {
	if relaxed("pmem-disk-hot-add") {
		return nil
	}
	return vm.powerOffRequired("Adding a PMem disk (vPMemDisk)")
}

// hasSnapshots reports whether the VM has any snapshot.
func (vm *PVM) hasSnapshots() bool {
	return vm.Snapshot != nil && len(vm.Snapshot.RootSnapshotList) > 0
}

// rulePMemDiskSnapshots: VirtualDiskLocalPMemBackingInfo has no parent (no
// delta-disk chain), unlike FlatVer2 (PYTI), so a disk of a VM with
// snapshots cannot be placed on PMem. GUESS, the rule and InvalidState
// (no probe step covers it: README "Guesses", lab check).
// --relax pmem-snapshots.
func rulePMemDiskSnapshots(vm *PVM, what string) *taskFault {
	if !vm.hasSnapshots() || relaxed("pmem-snapshots") {
		return nil
	}
	return vcFault(&types.InvalidState{}, keyPMemDiskSnapshots,
		"%s: %s has snapshots and a PMem disk has no snapshot chain (VirtualDiskLocalPMemBackingInfo has no parent); remove the snapshots first", what, vm.Name)
}

// snapshotModes are VirtualMachineVirtualPMemSnapshotMode's values (GOVH).
var snapshotModes = map[string]bool{"independent_persistent": true, "independent_eraseonrevert": true}

const snapshotModeKey = "pmem.snapshotMode" // vmx key, govmomi ovf/fixtures/external/SSM-VM-export.ovf

// snapshotMode is the VM's pmem.snapshotMode ("" = unset).
func (vm *PVM) snapshotMode() string {
	for _, ov := range vm.Config.ExtraConfig {
		if o := ov.GetOptionValue(); o.Key == snapshotModeKey {
			s, _ := o.Value.(string)
			return s
		}
	}
	return ""
}

// ruleSnapshotModeSet: pmem.snapshotMode (ConfigSpec.pmem.snapshotMode,
// 7.0.3; the front turns it into extraConfig) takes one of the two enum
// values, and "Setting this property will fail if the VM has existing
// snapshots" (GOVH VirtualMachineVirtualPMem.snapshotMode). Fault types
// InvalidArgument / InvalidState are GUESSES (probe step 5 sets the mode
// only on a VM without snapshots: README "Guesses", lab check).
func ruleSnapshotModeSet(vm *PVM, extra []types.BaseOptionValue) *taskFault {
	for _, ov := range extra {
		o := ov.GetOptionValue()
		if o.Key != snapshotModeKey {
			continue
		}
		v, _ := o.Value.(string)
		if v != "" && !snapshotModes[v] {
			return vcFault(&types.InvalidArgument{InvalidProperty: "configSpec.pmem.snapshotMode"}, keySnapshotMode,
				"pmem.snapshotMode %q: want independent_persistent or independent_eraseonrevert", v)
		}
		if v != vm.snapshotMode() && vm.hasSnapshots() && !relaxed("pmem-snapshots") {
			return vcFault(&types.InvalidState{}, keySnapshotMode,
				"pmem.snapshotMode cannot be set on %s: the VM has snapshots", vm.Name)
		}
	}
	return nil
}

// ruleSnapshotNVDIMM: "If unset, taking a VM snapshot will fail when the VM
// is configured with NVDIMMs" (GOVH VirtualMachineVirtualPMem.snapshotMode,
// 7.0.3). InvalidState is a GUESS (probe step 5). --relax pmem-snapshots.
func ruleSnapshotNVDIMM(vm *PVM) *taskFault {
	n := len(vm.nvdimms())
	if n == 0 || vm.snapshotMode() != "" || relaxed("pmem-snapshots") {
		return nil
	}
	return vcFault(&types.InvalidState{}, keySnapshotNVDIMM,
		"Cannot take a snapshot of %s: it has %d NVDIMM device(s) and pmem.snapshotMode is not set (ConfigSpec.pmem.snapshotMode)", vm.Name, n)
}

func datastoreByRef(ref types.ManagedObjectReference) *PDatastore {
	ds, _ := simulator.Map.Get(ref).(*PDatastore)
	return ds
}
