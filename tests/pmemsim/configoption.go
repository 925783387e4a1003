package main

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// PEnvironmentBrowser answers QueryConfigOption(Ex) with a config option
// pyVmomi can deserialize (stock vcsim omits required GuestOsDescriptor
// fields) carrying the PMem guest fields and the NVDIMM hardware options,
// and QueryConfigTarget with the PMem reservation available.
type PEnvironmentBrowser struct {
	simulator.EnvironmentBrowser
}

func (b *PEnvironmentBrowser) Get() mo.Reference { return &b.EnvironmentBrowser }

func wrapEnvironmentBrowsers() {
	for _, h := range estate.hosts {
		if eb, ok := simulator.Map.Get(h.envb).(*simulator.EnvironmentBrowser); ok {
			simulator.Map.Put(&PEnvironmentBrowser{EnvironmentBrowser: *eb})
		}
	}
}

// hosts behind this browser (one compute resource).
func (b *PEnvironmentBrowser) hosts() []*hostState {
	var out []*hostState
	for _, h := range estate.hosts {
		if h.envb == b.Self {
			out = append(out, h)
		}
	}
	return out
}

var (
	yes = types.NewBool(true)
	no  = types.NewBool(false)
)

func intOpt(min, max, def int32) types.IntOption {
	return types.IntOption{Min: min, Max: max, DefaultValue: def}
}

func guestDescriptor(g guestInfo) types.GuestOsDescriptor {
	disk := "VirtualLsiLogicSASController"
	if g.family == "linuxGuest" {
		disk = "ParaVirtualSCSIController"
	}
	d := types.GuestOsDescriptor{
		Id: g.id, Family: g.family, FullName: g.fullName,
		SupportedMaxCPUs: 768, NumSupportedPhysicalSockets: 128, NumSupportedCoresPerSocket: 128,
		SupportedMinMemMB: 512, SupportedMaxMemMB: 25165824, RecommendedMemMB: 2048, RecommendedColorDepth: 32,
		SupportedDiskControllerList: []string{"ParaVirtualSCSIController", "VirtualLsiLogicSASController", "VirtualAHCIController", "VirtualNVMEController"},
		RecommendedSCSIController:   disk, RecommendedDiskController: disk,
		SupportedNumDisks: 60, RecommendedDiskSizeMB: 40960,
		RecommendedCdromController: "VirtualAHCIController",
		SupportedEthernetCard:      []string{"VirtualVmxnet3", "VirtualE1000e"},
		RecommendedEthernetCard:    "VirtualVmxnet3",
		SupportsWakeOnLan:          true, SmcRequired: no, SupportsVMI: no,
		SupportsMemoryHotAdd: yes, SupportsCpuHotAdd: yes, SupportsCpuHotRemove: no,
		Supports3D: yes, Recommended3D: no, SmcRecommended: no, Ich7mRecommended: no, UsbRecommended: no,
		SupportedFirmware: []string{"bios", "efi"}, RecommendedFirmware: "efi",
		SupportedUSBControllerList: []string{"VirtualUSBXHCIController"}, RecommendedUSBController: "VirtualUSBXHCIController",
		SupportLevel: "supported", SupportedForCreate: yes,
		VRAMSizeInKB:              &types.IntOption{Min: 1024, Max: 262144, DefaultValue: 4096},
		NumSupportedFloppyDevices: 2, SupportsPvscsiControllerForBoot: yes, DiskUuidEnabled: yes, SupportsHotPlugPCI: yes,
		PersistentMemorySupported:           types.NewBool(g.pmem),
		PersistentMemoryHotAddSupported:     types.NewBool(false),
		PersistentMemoryHotRemoveSupported:  types.NewBool(false),
		PersistentMemoryColdGrowthSupported: types.NewBool(g.pmem),
		PersistentMemoryHotGrowthSupported:  types.NewBool(false),
	}
	if g.pmem {
		d.SupportedMinPersistentMemoryMB = 4
		d.SupportedMaxPersistentMemoryMB = g.maxPMem
		d.RecommendedPersistentMemoryMB = 4096
		d.PersistentMemoryColdGrowthGranularityMB = 4
		d.PersistentMemoryHotGrowthGranularityMB = 4
	}
	return d
}

// The VirtualNVDIMMOption pmemsim advertises; ruleNVDIMMSize enforces it.
const (
	nvdimmMinMB         = 4
	nvdimmGranularityMB = 4
)

// configOption builds the option for a hardware version key ("vmx-19").
func configOption(key string, guestIDs []string) *types.VirtualMachineConfigOption {
	hw := parseHW(key)
	if hw == 0 {
		hw = 19
	}
	opt := &types.VirtualMachineConfigOption{
		Version:     fmt.Sprintf("vmx-%02d", hw),
		Description: fmt.Sprintf("Hardware version %d", hw),
		Capabilities: types.VirtualMachineCapability{SnapshotOperationsSupported: true, MultipleSnapshotsSupported: true,
			SnapshotConfigSupported: true, PoweredOffSnapshotsSupported: true, MemorySnapshotsSupported: true,
			RevertToSnapshotSupported: true, QuiescedSnapshotsSupported: true, ConsolePreferencesSupported: true,
			CpuFeatureMaskSupported: true, S1AcpiManagementSupported: true, SettingScreenResolutionSupported: true,
			ToolsAutoUpdateSupported: true, SwapPlacementSupported: true, ToolsSyncTimeSupported: true,
			VirtualMmuUsageSupported: true, DiskSharesSupported: true, BootOptionsSupported: true, BootRetryOptionsSupported: yes,
			SettingVideoRamSizeSupported: true, SettingDisplayTopologySupported: yes, RecordReplaySupported: no,
			ChangeTrackingSupported: yes, MultipleCoresPerSocketSupported: yes, VmNpivWwnDisableSupported: yes, VmNpivWwnUpdateSupported: yes,
			HostBasedReplicationSupported: yes, GuestAutoLockSupported: yes, MemoryReservationLockSupported: yes,
			FeatureRequirementSupported: yes, PoweredOnMonitorTypeChangeSupported: yes, SeSparseDiskSupported: yes,
			NestedHVSupported: yes, VPMCSupported: yes},
		SupportedMonitorType: []string{"release", "debug", "stats"},
	}
	share := types.SharesOption{SharesOption: intOpt(0, 1000000, 1000), DefaultLevel: types.SharesLevelNormal}
	hwopt := types.VirtualHardwareOption{
		HwVersion:             int32(hw),
		DeviceListReadonly:    false,
		NumCPU:                []int32{1, 2, 4, 8, 16, 32, 64, 128},
		NumCoresPerSocket:     &types.IntOption{Min: 1, Max: 64, DefaultValue: 1},
		NumCpuReadonly:        false,
		MemoryMB:              types.LongOption{Min: 4, Max: 25165824, DefaultValue: 2048},
		NumPCIControllers:     intOpt(1, 1, 1),
		NumIDEControllers:     intOpt(2, 2, 2),
		NumUSBControllers:     intOpt(0, 1, 0),
		NumUSBXHCIControllers: &types.IntOption{Min: 0, Max: 1, DefaultValue: 0},
		NumSIOControllers:     intOpt(1, 1, 1),
		NumPS2Controllers:     intOpt(1, 1, 1),
		ResourceConfigOption: &types.ResourceConfigOption{
			CpuAllocationOption:    types.ResourceAllocationOption{SharesOption: share},
			MemoryAllocationOption: types.ResourceAllocationOption{SharesOption: share},
		},
		VirtualDeviceOption: []types.BaseVirtualDeviceOption{
			&types.VirtualDiskOption{VirtualDeviceOption: types.VirtualDeviceOption{Type: "VirtualDisk", PlugAndPlay: true, HotRemoveSupported: types.NewBool(true)},
				CapacityInKB: types.LongOption{Min: 1024, Max: 68719476736, DefaultValue: 41943040}},
		},
	}
	if hw >= 14 {
		hwopt.NumNVDIMMControllers = &types.IntOption{Min: 0, Max: 1, DefaultValue: 0}
		hwopt.VirtualDeviceOption = append(hwopt.VirtualDeviceOption,
			&types.VirtualNVDIMMControllerOption{VirtualControllerOption: types.VirtualControllerOption{
				VirtualDeviceOption: types.VirtualDeviceOption{Type: "VirtualNVDIMMController", HotRemoveSupported: types.NewBool(false)},
				Devices:             intOpt(0, 64, 0)},
				NumNVDIMMControllers: intOpt(0, 1, 0)},
			&types.VirtualNVDIMMOption{VirtualDeviceOption: types.VirtualDeviceOption{Type: "VirtualNVDIMM", HotRemoveSupported: types.NewBool(false)},
				CapacityInMB: types.LongOption{Min: nvdimmMinMB, Max: sixTiBMB, DefaultValue: 4096}, Growable: true, HotGrowable: false, GranularityInMB: nvdimmGranularityMB})
	}
	opt.HardwareOptions = hwopt
	for _, id := range guestIDs {
		if g := guestByID(id); g != nil {
			opt.GuestOSDescriptor = append(opt.GuestOSDescriptor, guestDescriptor(*g))
		}
	}
	// SDK: "If there is no match, the whole list is returned."
	if len(opt.GuestOSDescriptor) == 0 {
		for _, g := range guestTable {
			opt.GuestOSDescriptor = append(opt.GuestOSDescriptor, guestDescriptor(g))
		}
	}
	return opt
}

func (b *PEnvironmentBrowser) QueryConfigOption(req *types.QueryConfigOption) soap.HasFault {
	return &methods.QueryConfigOptionBody{Res: &types.QueryConfigOptionResponse{Returnval: configOption(req.Key, nil)}}
}

func (b *PEnvironmentBrowser) QueryConfigOptionEx(req *types.QueryConfigOptionEx) soap.HasFault {
	key := ""
	var ids []string
	if req.Spec != nil {
		key, ids = req.Spec.Key, req.Spec.GuestId
	}
	return &methods.QueryConfigOptionExBody{Res: &types.QueryConfigOptionExResponse{Returnval: configOption(key, ids)}}
}

func (b *PEnvironmentBrowser) QueryConfigOptionDescriptor(ctx *simulator.Context, req *types.QueryConfigOptionDescriptor) soap.HasFault {
	var hosts []types.ManagedObjectReference
	for _, h := range b.hosts() {
		hosts = append(hosts, h.ref())
	}
	var out []types.VirtualMachineConfigOptionDescriptor
	for hw := 11; hw <= 21; hw++ {
		if hw == 16 || hw == 12 {
			continue
		}
		k := fmt.Sprintf("vmx-%02d", hw)
		out = append(out, types.VirtualMachineConfigOptionDescriptor{Key: k, Description: fmt.Sprintf("Hardware version %d", hw),
			Host: hosts, CreateSupported: types.NewBool(true), DefaultConfigOption: types.NewBool(hw == 19),
			RunSupported: types.NewBool(true), UpgradeSupported: types.NewBool(true)})
	}
	return &methods.QueryConfigOptionDescriptorBody{Res: &types.QueryConfigOptionDescriptorResponse{Returnval: out}}
}

// QueryConfigTarget lists datastores and the PMem reservation available
// (stock vcsim asserts *simulator.Datastore, which pmemsim wraps).
func (b *PEnvironmentBrowser) QueryConfigTarget(ctx *simulator.Context, req *types.QueryConfigTarget) soap.HasFault {
	target := &types.ConfigTarget{SmcPresent: types.NewBool(false)}
	hosts := b.hosts()
	if req.Host != nil {
		hosts = nil
		if h := estate.hostByRef[*req.Host]; h != nil {
			hosts = append(hosts, h)
		}
	}
	seen := map[types.ManagedObjectReference]bool{}
	var pmem int64
	for _, h := range hosts {
		target.NumCpus += int32(h.host.Summary.Hardware.NumCpuPkgs)
		target.NumCpuCores += int32(h.host.Summary.Hardware.NumCpuCores)
		target.NumNumaNodes++
		if f := h.pmemAvailable() >> 20; f > pmem { // free minus the HA PMem reserve (ha.go)
			pmem = f
		}
		for _, ref := range h.host.Datastore {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			if ds, ok := simulator.Map.Get(ref).(*PDatastore); ok {
				target.Datastore = append(target.Datastore, types.VirtualMachineDatastoreInfo{
					VirtualMachineTargetInfo: types.VirtualMachineTargetInfo{Name: ds.Name},
					Datastore:                ds.Summary, Capability: ds.Capability,
					Mode:            string(types.HostMountModeReadWrite),
					VStorageSupport: string(types.FileSystemMountInfoVStorageSupportStatusVStorageUnsupported),
				})
			}
		}
	}
	target.AvailablePersistentMemoryReservationMB = pmem
	return &methods.QueryConfigTargetBody{Res: &types.QueryConfigTargetResponse{Returnval: target}}
}
