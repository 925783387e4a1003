package main

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// PVM wraps vcsim's VirtualMachine by value (see the reference, section F:
// pointer embedding breaks ContainerView and the PropertyCollector) and
// overrides every VM method whose stock version either runs synchronously
// or assumes FlatVer2 disks and files on a local directory.
type PVM struct {
	simulator.VirtualMachine
	tools bool // VMware Tools installed (inventory "tools:", default true)
	// boots counts power state changes, so that a "tools are up" timer of an
	// earlier boot never marks a VM that was powered off (and on) since.
	// Guarded by the VM lock.
	boots int64
	// policies are the PBM associations set explicitly per disk key
	// (pbm.go); absent = the default of the disk's datastore. Guarded by estate.mu.
	policies map[int32][]string
}

func (vm *PVM) Get() mo.Reference { return &vm.VirtualMachine }

func (vm *PVM) host() *hostState { return estate.hostByRef[*vm.Runtime.Host] }

func (vm *PVM) devices() object.VirtualDeviceList {
	return object.VirtualDeviceList(vm.Config.Hardware.Device)
}

func (vm *PVM) hwVersion() int { return parseHW(vm.Config.Version) }

func parseHW(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "vmx-"))
	if err != nil {
		return 0
	}
	return n
}

func (vm *PVM) poweredOn() bool {
	return vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
}

// homeDatastore is the datastore of the VM's .vmx.
func (vm *PVM) homeDatastore() *PDatastore {
	var p object.DatastorePath
	p.FromString(vm.Config.Files.VmPathName)
	return vm.datastoreNamed(p.Datastore)
}

// backingFile returns the file backing of a disk or NVDIMM.
func backingFile(d types.BaseVirtualDevice) *types.VirtualDeviceFileBackingInfo {
	if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
		return b.GetVirtualDeviceFileBackingInfo()
	}
	return nil
}

// deviceDatastore returns the datastore holding a disk or NVDIMM.
func deviceDatastore(d types.BaseVirtualDevice) *PDatastore {
	b := backingFile(d)
	if b == nil {
		return nil
	}
	if b.Datastore != nil {
		if ds, ok := simulator.Map.Get(*b.Datastore).(*PDatastore); ok {
			return ds
		}
	}
	var p object.DatastorePath
	if p.FromString(b.FileName) {
		return datastoreIn(nil, p.Datastore)
	}
	return nil
}

// deviceBytes is the space a disk or NVDIMM takes on its datastore. Disks
// are accounted thick (full capacity), as vcsim does.
func deviceBytes(d types.BaseVirtualDevice) int64 {
	switch x := d.(type) {
	case *types.VirtualDisk:
		if x.CapacityInBytes > 0 {
			return x.CapacityInBytes
		}
		return x.CapacityInKB * 1024
	case *types.VirtualNVDIMM:
		return x.CapacityInMB << 20
	}
	return 0
}

func isStorageDevice(d types.BaseVirtualDevice) bool {
	switch d.(type) {
	case *types.VirtualDisk, *types.VirtualNVDIMM:
		return true
	}
	return false
}

// defaultDevices returns fresh copies of the devices every vcsim VM has,
// plus a PVSCSI controller for the disks.
func defaultDevices() []types.BaseVirtualDevice {
	desc := func(l string) *types.Description { return &types.Description{Label: l, Summary: l} }
	return []types.BaseVirtualDevice{
		&types.VirtualIDEController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 200, DeviceInfo: desc("IDE 0")}, BusNumber: 0}},
		&types.VirtualIDEController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 201, DeviceInfo: desc("IDE 1")}, BusNumber: 1}},
		&types.VirtualPS2Controller{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 300, DeviceInfo: desc("PS2 controller 0")}, Device: []int32{600, 700}}},
		&types.VirtualPCIController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 100, DeviceInfo: desc("PCI controller 0")}, Device: []int32{500, 12000, 1000}}},
		&types.VirtualSIOController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 400, DeviceInfo: desc("SIO controller 0")}}},
		&types.VirtualKeyboard{VirtualDevice: types.VirtualDevice{Key: 600, DeviceInfo: desc("Keyboard"), ControllerKey: 300, UnitNumber: types.NewInt32(0)}},
		&types.VirtualPointingDevice{VirtualDevice: types.VirtualDevice{Key: 700, DeviceInfo: desc("Pointing device"), ControllerKey: 300, UnitNumber: types.NewInt32(1),
			Backing: &types.VirtualPointingDeviceDeviceBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{UseAutoDetect: types.NewBool(false)}, HostPointingDevice: "autodetect"}}},
		&types.VirtualMachineVideoCard{VirtualDevice: types.VirtualDevice{Key: 500, DeviceInfo: desc("Video card "), ControllerKey: 100, UnitNumber: types.NewInt32(0)},
			VideoRamSizeInKB: 4096, NumDisplays: 1, UseAutoDetect: types.NewBool(false), Enable3DSupport: types.NewBool(false), Use3dRenderer: "automatic", GraphicsMemorySizeInKB: 262144},
		&types.VirtualMachineVMCIDevice{VirtualDevice: types.VirtualDevice{Key: 12000, DeviceInfo: desc("VMCI device"), ControllerKey: 100, UnitNumber: types.NewInt32(17)},
			Id: -1, AllowUnrestrictedCommunication: types.NewBool(false), FilterEnable: types.NewBool(true)},
		&types.ParaVirtualSCSIController{VirtualSCSIController: types.VirtualSCSIController{VirtualController: types.VirtualController{
			VirtualDevice: types.VirtualDevice{Key: 1000, DeviceInfo: desc("SCSI controller 0"), ControllerKey: 100, UnitNumber: types.NewInt32(3)}, BusNumber: 0},
			SharedBus: types.VirtualSCSISharingNoSharing, ScsiCtlrUnitNumber: 7, HotAddRemove: types.NewBool(true)}},
	}
}

const (
	scsiKey           = 1000
	nvdimmCtlKey      = 13000
	nvdimmKeyBase     = 14000
	diskKeyBase       = 2000
	defaultDiskMode   = string(types.VirtualDiskModePersistent)
	nvdimmCtlLabel    = "NVDIMM controller 0"
	sizeSummaryFormat = "%s KB"
)

// makeDiskBacking returns the backing for a disk on ds: LocalPMem on a PMem
// datastore (what clients read back for a vPMemDisk), FlatVer2 elsewhere.
func makeDiskBacking(ds *PDatastore, fileName, diskMode, diskUUID string) types.BaseVirtualDeviceBackingInfo {
	if diskMode == "" {
		diskMode = defaultDiskMode
	}
	fb := types.VirtualDeviceFileBackingInfo{FileName: fileName, Datastore: &ds.Self}
	if ds.isPMem() {
		return &types.VirtualDiskLocalPMemBackingInfo{VirtualDeviceFileBackingInfo: fb, DiskMode: diskMode,
			Uuid: diskUUID, VolumeUUID: ds.pmemHost.pmemUUID}
	}
	return &types.VirtualDiskFlatVer2BackingInfo{VirtualDeviceFileBackingInfo: fb, DiskMode: diskMode,
		ThinProvisioned: types.NewBool(false), EagerlyScrub: types.NewBool(false), Split: types.NewBool(false),
		WriteThrough: types.NewBool(false), DigestEnabled: types.NewBool(false), Uuid: diskUUID}
}

func diskMode(d *types.VirtualDisk) string {
	switch b := d.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		return b.DiskMode
	case *types.VirtualDiskLocalPMemBackingInfo:
		return b.DiskMode
	case *types.VirtualDiskSparseVer2BackingInfo:
		return b.DiskMode
	}
	return defaultDiskMode
}

func diskUUIDOf(d *types.VirtualDisk) string {
	switch b := d.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		return b.Uuid
	case *types.VirtualDiskLocalPMemBackingInfo:
		return b.Uuid
	}
	return ""
}

func kbSummary(kb int64) string { return fmt.Sprintf("%s KB", groupDigits(kb)) }
func mbSummary(mb int64) string { return fmt.Sprintf("%s MB", groupDigits(mb)) }

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// vmCapability is the capability set every VM reports.
var vmCapability = configOption("vmx-19", []string{"none"}).Capabilities

// vmParams are what a new VM object needs (inventory VMs and CreateVM_Task).
type vmParams struct {
	name, guestID, version string
	cpus, memoryMB         int32
	tools                  bool
	host                   *hostState
	home                   *PDatastore
	vmPathName             string // "" = "[home] name/name.vmx"
	folder                 types.ManagedObjectReference
	pool                   types.ManagedObjectReference
	uuid, instanceUUID     string
	firmware               string
	devices                []types.BaseVirtualDevice
}

// newVMObject builds a powered-off VM object (not registered yet).
func newVMObject(p vmParams) *PVM {
	h, home := p.host, p.home
	vm := &PVM{tools: p.tools}
	v := &vm.VirtualMachine
	v.Self = types.ManagedObjectReference{Type: "VirtualMachine"}
	v.Name = p.name
	folder := p.folder
	v.Parent = &folder
	now := time.Now()
	vmx := p.vmPathName
	if vmx == "" {
		vmx = fmt.Sprintf("[%s] %s/%s.vmx", home.Name, p.name, p.name)
	}
	var dp object.DatastorePath
	dp.FromString(vmx)
	dir := fmt.Sprintf("[%s] %s/", home.Name, path.Dir(dp.Path))
	if path.Dir(dp.Path) == "." {
		dir = fmt.Sprintf("[%s] ", home.Name)
	}
	if p.firmware == "" {
		p.firmware = string(types.GuestOsDescriptorFirmwareTypeBios)
	}
	rspec := types.DefaultResourceConfigSpec()
	v.Config = &types.VirtualMachineConfigInfo{
		Name:             p.name,
		GuestId:          p.guestID,
		GuestFullName:    guestFullName(p.guestID),
		Version:          p.version,
		Uuid:             p.uuid,
		InstanceUuid:     p.instanceUUID,
		ChangeVersion:    now.UTC().Format(time.RFC3339Nano),
		Modified:         now,
		Template:         false,
		Firmware:         p.firmware,
		Files:            types.VirtualMachineFileInfo{VmPathName: vmx, SnapshotDirectory: dir, SuspendDirectory: dir, LogDirectory: dir},
		Tools:            &types.ToolsConfigInfo{ToolsVersion: 12352, ToolsInstallType: "guestToolsTypeOpenVMTools"},
		Flags:            types.VirtualMachineFlagInfo{},
		DefaultPowerOps:  types.VirtualMachineDefaultPowerOpInfo{},
		CpuAllocation:    &rspec.CpuAllocation,
		MemoryAllocation: &rspec.MemoryAllocation,
		Hardware: types.VirtualHardware{NumCPU: p.cpus, NumCoresPerSocket: 1, MemoryMB: p.memoryMB,
			Device: p.devices},
		LatencySensitivity: &types.LatencySensitivity{Level: types.LatencySensitivitySensitivityLevelNormal},
		BootOptions:        &types.VirtualMachineBootOptions{},
		ExtraConfig:        []types.BaseOptionValue{&types.OptionValue{Key: "pmemsim", Value: "TRUE"}},
	}
	if !p.tools {
		v.Config.Tools.ToolsVersion = 0
	}
	v.Runtime = types.VirtualMachineRuntimeInfo{Host: types.NewReference(h.ref()),
		ConnectionState: types.VirtualMachineConnectionStateConnected, PowerState: types.VirtualMachinePowerStatePoweredOff}
	v.Guest = &types.GuestInfo{GuestId: p.guestID, GuestFullName: guestFullName(p.guestID), GuestFamily: guestFamilyOf(p.guestID)}
	v.Summary = types.VirtualMachineSummary{
		Vm: &v.Self,
		Config: types.VirtualMachineConfigSummary{Name: p.name, VmPathName: vmx, GuestId: p.guestID, GuestFullName: guestFullName(p.guestID),
			NumCpu: p.cpus, MemorySizeMB: p.memoryMB, Uuid: v.Config.Uuid, InstanceUuid: v.Config.InstanceUuid, HwVersion: v.Config.Version},
		Guest:         &types.VirtualMachineGuestSummary{GuestId: p.guestID, GuestFullName: guestFullName(p.guestID)},
		Storage:       &types.VirtualMachineStorageSummary{Timestamp: now},
		OverallStatus: types.ManagedEntityStatusGreen,
	}
	v.Summary.QuickStats.GuestHeartbeatStatus = types.ManagedEntityStatusGray
	v.Summary.Runtime = v.Runtime
	v.Layout = &types.VirtualMachineFileLayout{}
	v.LayoutEx = &types.VirtualMachineFileLayoutEx{Timestamp: now}
	v.Storage = &types.VirtualMachineStorageInfo{Timestamp: now}
	pool := p.pool
	v.ResourcePool = &pool
	v.EnvironmentBrowser = h.envb
	v.Capability = vmCapability
	return vm
}

// loadVM builds one inventory VM directly in the registry.
func loadVM(dc *dcState, spec *VMSpec, folder types.ManagedObjectReference) (*PVM, error) {
	h := dc.host(spec.Host)
	home := dc.datastores[spec.Home]
	seed := dc.seed(spec.Folder + "/" + spec.Name)
	if spec.Folder == "" || dc.index == 0 {
		seed = dc.seed(spec.Name) // the ids of earlier pmemsim versions
	}
	vm := newVMObject(vmParams{name: spec.Name, guestID: spec.GuestID, version: fmt.Sprintf("vmx-%02d", spec.HWVersion),
		cpus: spec.CPUs, memoryMB: spec.MemoryMB, tools: spec.Tools, host: h, home: home, folder: folder, pool: h.pool,
		uuid: stableUUID("vm-bios", seed), instanceUUID: stableUUID("vm-instance", seed), devices: defaultDevices()})
	v := &vm.VirtualMachine

	devs := vm.Config.Hardware.Device
	scsi := devs[len(devs)-1].(*types.ParaVirtualSCSIController)
	unit := int32(0)
	for i, d := range spec.Disks {
		ds := home
		if d.Datastore == "pmem" {
			ds = h.pmemDS
		} else {
			ds = dc.datastores[d.Datastore]
		}
		if unit == 7 {
			unit++
		}
		key := int32(diskKeyBase + i)
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{Key: key, ControllerKey: scsiKey, UnitNumber: types.NewInt32(unit),
				DeviceInfo: &types.Description{Label: fmt.Sprintf("Hard disk %d", i+1), Summary: kbSummary(d.Size / 1024)},
				Backing:    makeDiskBacking(ds, diskFileName(ds, spec.Name, i), defaultDiskMode, stableUUID("disk", fmt.Sprintf("%s/%d", seed, i)))},
			CapacityInKB: d.Size / 1024, CapacityInBytes: d.Size,
		}
		scsi.Device = append(scsi.Device, key)
		devs = append(devs, disk)
		unit++
	}
	if len(spec.NVDIMMs) > 0 {
		devs = append(devs, newNVDIMMController())
		ctl := devs[len(devs)-1].(*types.VirtualNVDIMMController)
		for i, mb := range spec.NVDIMMs {
			nv := newNVDIMM(int32(nvdimmKeyBase+i), int32(i), i+1, mb>>20, h.pmemDS, spec.Name)
			ctl.Device = append(ctl.Device, nv.Key)
			devs = append(devs, nv)
		}
	}
	vm.Config.Hardware.Device = devs
	v.Summary.Config.NumVirtualDisks = int32(len(spec.Disks))

	simulator.Map.Put(vm)
	fo := folderMO(folder)
	fo.ChildEntity = append(fo.ChildEntity, vm.Self)
	h.host.Vm = append(h.host.Vm, vm.Self)
	if pool, ok := simulator.Map.Get(h.pool).(*simulator.ResourcePool); ok {
		pool.Vm = append(pool.Vm, vm.Self)
	}
	for _, d := range vm.Config.Hardware.Device {
		if isStorageDevice(d) {
			deviceDatastore(d).adjustFree(-deviceBytes(d))
		}
	}
	vm.syncDatastores()
	vm.refreshLayout()
	if spec.Power == "poweredOn" {
		vm.setPower(types.VirtualMachinePowerStatePoweredOn)
	} else {
		vm.setPower(types.VirtualMachinePowerStatePoweredOff)
	}
	for i := 0; i < spec.Snapshots; i++ {
		vm.addSnapshot(fmt.Sprintf("snapshot-%d", i+1), "created by pmemsim at load", false)
	}
	estate.vms[vm.Self] = vm
	return vm, nil
}

// diskFileName names disk i of a VM: vm/vm.vmdk, vm/vm_1.vmdk, ...
func diskFileName(ds *PDatastore, vmName string, i int) string {
	if i == 0 {
		return fmt.Sprintf("[%s] %s/%s.vmdk", ds.Name, vmName, vmName)
	}
	return fmt.Sprintf("[%s] %s/%s_%d.vmdk", ds.Name, vmName, vmName, i)
}

func newNVDIMMController() *types.VirtualNVDIMMController {
	return &types.VirtualNVDIMMController{VirtualController: types.VirtualController{
		VirtualDevice: types.VirtualDevice{Key: nvdimmCtlKey, DeviceInfo: &types.Description{Label: nvdimmCtlLabel, Summary: nvdimmCtlLabel}},
		BusNumber:     0}}
}

func newNVDIMM(key, unit int32, n int, mb int64, ds *PDatastore, vmName string) *types.VirtualNVDIMM {
	return &types.VirtualNVDIMM{
		VirtualDevice: types.VirtualDevice{Key: key, ControllerKey: nvdimmCtlKey, UnitNumber: types.NewInt32(unit),
			DeviceInfo: &types.Description{Label: fmt.Sprintf("NVDIMM %d", n), Summary: mbSummary(mb)},
			Backing: &types.VirtualNVDIMMBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
				FileName: fmt.Sprintf("[%s] %s/%s_nvdimm_%d.nvdimm", ds.Name, vmName, vmName, n), Datastore: &ds.Self}}},
		CapacityInMB: mb,
	}
}

// syncDatastores recomputes vm.datastore (home + every disk and NVDIMM
// datastore) and the datastores' vm lists. Callers hold estate.mu.
func (vm *PVM) syncDatastores() {
	want := []types.ManagedObjectReference{}
	seen := map[types.ManagedObjectReference]bool{}
	add := func(ds *PDatastore) {
		if ds != nil && !seen[ds.Self] {
			seen[ds.Self] = true
			want = append(want, ds.Self)
		}
	}
	add(vm.homeDatastore())
	for _, d := range vm.Config.Hardware.Device {
		if isStorageDevice(d) {
			add(deviceDatastore(d))
		}
	}
	for _, ref := range vm.Datastore {
		if !seen[ref] {
			if ds, ok := simulator.Map.Get(ref).(*PDatastore); ok {
				simulator.RemoveReference(&ds.Vm, vm.Self)
				simulator.Map.Update(ds, []types.PropertyChange{{Name: "vm", Val: ds.Vm}})
			}
		}
	}
	for _, ref := range want {
		if ds, ok := simulator.Map.Get(ref).(*PDatastore); ok && simulator.FindReference(ds.Vm, vm.Self) == nil {
			ds.Vm = append(ds.Vm, vm.Self)
			simulator.Map.Update(ds, []types.PropertyChange{{Name: "vm", Val: ds.Vm}})
		}
	}
	simulator.Map.Update(vm, []types.PropertyChange{{Name: "datastore", Val: want}})
}

// refreshLayout rebuilds layoutEx, storage and summary.storage from the
// device list (pmemsim keeps no files; sizes are the provisioned sizes).
func (vm *PVM) refreshLayout() {
	now := time.Now()
	lx := &types.VirtualMachineFileLayoutEx{Timestamp: now}
	usage := map[types.ManagedObjectReference]*types.VirtualMachineUsageOnDatastore{}
	var order []types.ManagedObjectReference
	use := func(ds *PDatastore, committed int64) {
		if ds == nil {
			return
		}
		u, ok := usage[ds.Self]
		if !ok {
			u = &types.VirtualMachineUsageOnDatastore{Datastore: ds.Self}
			usage[ds.Self] = u
			order = append(order, ds.Self)
		}
		u.Committed += committed
		u.Unshared += committed
	}
	addFile := func(name, typ string, size int64) int32 {
		key := int32(len(lx.File))
		lx.File = append(lx.File, types.VirtualMachineFileLayoutExFileInfo{Key: key, Name: name, Type: typ, Size: size, UniqueSize: size, Accessible: types.NewBool(true)})
		return key
	}
	addFile(vm.Config.Files.VmPathName, string(types.VirtualMachineFileLayoutExFileTypeConfig), 4096)
	use(vm.homeDatastore(), 4096)
	var layoutDisks []types.VirtualMachineFileLayoutDiskLayout
	for _, d := range vm.Config.Hardware.Device {
		switch x := d.(type) {
		case *types.VirtualDisk:
			b := backingFile(x)
			desc := addFile(b.FileName, string(types.VirtualMachineFileLayoutExFileTypeDiskDescriptor), 512)
			ext := addFile(strings.TrimSuffix(b.FileName, ".vmdk")+"-flat.vmdk", string(types.VirtualMachineFileLayoutExFileTypeDiskExtent), deviceBytes(x))
			lx.Disk = append(lx.Disk, types.VirtualMachineFileLayoutExDiskLayout{Key: x.Key,
				Chain: []types.VirtualMachineFileLayoutExDiskUnit{{FileKey: []int32{desc, ext}}}})
			layoutDisks = append(layoutDisks, types.VirtualMachineFileLayoutDiskLayout{Key: x.Key, DiskFile: []string{b.FileName}})
			use(deviceDatastore(x), deviceBytes(x))
		case *types.VirtualNVDIMM:
			b := backingFile(x)
			addFile(b.FileName, "nvdimm", deviceBytes(x))
			use(deviceDatastore(x), deviceBytes(x))
		}
	}
	st := &types.VirtualMachineStorageInfo{Timestamp: now}
	sum := &types.VirtualMachineStorageSummary{Timestamp: now}
	for _, ref := range order {
		st.PerDatastoreUsage = append(st.PerDatastoreUsage, *usage[ref])
		sum.Committed += usage[ref].Committed
		sum.Unshared += usage[ref].Unshared
	}
	layout := &types.VirtualMachineFileLayout{ConfigFile: []string{path.Base(vm.Config.Files.VmPathName)}, Disk: layoutDisks}
	if vm.Layout != nil {
		layout.Snapshot = vm.Layout.Snapshot
	}
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "layoutEx", Val: lx},
		{Name: "layout", Val: layout},
		{Name: "storage", Val: st},
		{Name: "summary.storage", Val: sum},
	})
}

// setPower changes the power state and the guest/tools fields that go with it.
func (vm *PVM) setPower(state types.VirtualMachinePowerState) {
	vm.setPowerTools(state, true)
}

// setPowerTools is setPower with whether a powered-on guest's Tools run yet,
// in the same update: a WaitForUpdatesEx between two updates would otherwise
// see Tools up at power-on, before --tools-delay.
func (vm *PVM) setPowerTools(state types.VirtualMachinePowerState, toolsUp bool) {
	on := state == types.VirtualMachinePowerStatePoweredOn
	vm.boots++
	var boot interface{} // nil clears the property
	if on {
		boot = time.Now()
	}
	toolsRunning, guestState, toolsStatus := "guestToolsNotRunning", "notRunning", types.VirtualMachineToolsStatusToolsNotRunning
	if !vm.tools {
		toolsStatus = types.VirtualMachineToolsStatusToolsNotInstalled
	} else if on && toolsUp {
		toolsRunning, guestState, toolsStatus = "guestToolsRunning", "running", types.VirtualMachineToolsStatusToolsOk
	}
	hb := types.ManagedEntityStatusGray
	if on && vm.tools && toolsUp {
		hb = types.ManagedEntityStatusGreen
	}
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "runtime.powerState", Val: state},
		{Name: "summary.runtime.powerState", Val: state},
		{Name: "runtime.bootTime", Val: boot},
		{Name: "summary.runtime.bootTime", Val: boot},
		{Name: "summary.runtime.host", Val: *vm.Runtime.Host},
		{Name: "guest.toolsRunningStatus", Val: toolsRunning},
		{Name: "guest.toolsStatus", Val: toolsStatus},
		{Name: "guest.guestState", Val: guestState},
		{Name: "summary.guest.toolsRunningStatus", Val: toolsRunning},
		{Name: "summary.guest.toolsStatus", Val: toolsStatus},
		{Name: "summary.quickStats.guestHeartbeatStatus", Val: hb},
	})
}

// boot powers the VM on as a power-on task does: the guest boots, and VMware
// Tools report running only --tools-delay later (at once when 0 or without
// Tools). Call it under the VM lock (lockVM).
func (vm *PVM) boot() {
	delay := estate.toolsDelay
	if !vm.tools || delay <= 0 {
		vm.setPower(types.VirtualMachinePowerStatePoweredOn)
		return
	}
	vm.setPowerTools(types.VirtualMachinePowerStatePoweredOn, false)
	seq := vm.boots
	time.AfterFunc(delay, func() {
		lockVM(vm, func() {
			if vm.boots == seq && vm.poweredOn() {
				vm.setTools(true)
			}
		})
	})
}

// setTools publishes whether VMware Tools run in a powered-on guest.
func (vm *PVM) setTools(running bool) {
	toolsRunning, guestState, toolsStatus := "guestToolsNotRunning", "notRunning", types.VirtualMachineToolsStatusToolsNotRunning
	hb := types.ManagedEntityStatusGray
	if running {
		toolsRunning, guestState, toolsStatus = "guestToolsRunning", "running", types.VirtualMachineToolsStatusToolsOk
		hb = types.ManagedEntityStatusGreen
	}
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "guest.toolsRunningStatus", Val: toolsRunning},
		{Name: "guest.toolsStatus", Val: toolsStatus},
		{Name: "guest.guestState", Val: guestState},
		{Name: "summary.guest.toolsRunningStatus", Val: toolsRunning},
		{Name: "summary.guest.toolsStatus", Val: toolsStatus},
		{Name: "summary.quickStats.guestHeartbeatStatus", Val: hb},
	})
}

// folderMO returns the folder data of a (wrapped or stock) folder.
func folderMO(ref types.ManagedObjectReference) *mo.Folder {
	switch f := simulator.Map.Get(ref).(type) {
	case *PFolder:
		return &f.Folder.Folder
	case *simulator.Folder:
		return &f.Folder
	}
	return nil
}
