package main

// Storage policy association per disk, as PBM reports it.
//
// vcsim's pbm simulator answers PbmQueryAssociatedProfile with nothing and
// has no ComplianceManager object. pmemsim serves PBM from a second copy of
// vcsim's pbm registry (pbmsim.New(), mounted at pbmPath; the front maps
// /pbm and /pbm/sdk there) in which the ProfileManager also answers
// PbmQueryAssociatedProfiles and a ComplianceManager answers
// PbmCheckCompliance and PbmFetchComplianceResult for "virtualDiskId"
// objects ("<vm moid>:<device key>").

import (
	"strconv"
	"strings"
	"time"

	pbmmethods "github.com/vmware/govmomi/pbm/methods"
	pbmsim "github.com/vmware/govmomi/pbm/simulator"
	pbmtypes "github.com/vmware/govmomi/pbm/types"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const pbmPath = "/pmemsim/pbm"

// Policy ids of vcsim's PBM profiles (pbm/simulator/profiles.go).
const (
	vsanDefaultProfileID = "aa6d5a82-1c88-45da-85d3-3d74b91a5bad"
	vvolDefaultProfileID = "f4e5bade-15a2-4805-bf8e-52318c4ce443"
)

func init() {
	simulator.RegisterEndpoint(func(s *simulator.Service, r *simulator.Registry) {
		if !r.IsVPX() {
			return
		}
		reg := pbmsim.New()
		reg.Path = pbmPath
		content := pbmtypes.PbmServiceInstanceContent{}
		if si, ok := reg.Get(pbmServiceInstance).(*pbmsim.ServiceInstance); ok {
			content = si.Content
		}
		reg.Put(&pbmProfileManager{ProfileManager: pbmsim.ProfileManager{ManagedObjectReference: content.ProfileManager}})
		reg.Put(&pbmComplianceManager{ManagedObjectReference: content.ComplianceManager})
		s.RegisterSDK(reg)
	})
}

var pbmServiceInstance = types.ManagedObjectReference{Type: "PbmServiceInstance", Value: "ServiceInstance"}

// defaultPolicy is the association a disk gets from
// VirtualMachineDefaultProfileSpec ("the Default Storage Policy of the target
// datastore", GOVH): the PMem policy on PMem, vSAN's and VVol's defaults on
// those, and none on VMFS/NFS and the other "legacy hubs" (real-vcenter.md
// row 3: PbmAssignDefaultRequirementProfile raises PbmLegacyHubsNotSupported
// for them).
func defaultPolicy(ds *PDatastore) []string {
	switch {
	case ds == nil:
		return []string{}
	case ds.isPMem():
		return []string{pmemProfileID}
	case strings.EqualFold(ds.Summary.Type, "vsan"):
		return []string{vsanDefaultProfileID}
	case strings.EqualFold(ds.Summary.Type, "VVOL"):
		return []string{vvolDefaultProfileID}
	}
	return []string{}
}

// policyFromSpec reads a device or locator profile list: a
// DefinedProfileSpec sets the association, DefaultProfileSpec sets the
// target's default, EmptyProfileSpec clears it (GOVH
// VirtualMachineDefaultProfileSpec / VirtualMachineEmptyProfileSpec). No
// profile: set=false (the association is kept).
func policyFromSpec(profiles []types.BaseVirtualMachineProfileSpec, target *PDatastore) (ids []string, set bool) {
	for _, p := range profiles {
		switch x := p.(type) {
		case *types.VirtualMachineDefinedProfileSpec:
			ids, set = append(ids, x.ProfileId), true
		case *types.VirtualMachineDefaultProfileSpec:
			return defaultPolicy(target), true
		case *types.VirtualMachineEmptyProfileSpec:
			return []string{}, true
		}
	}
	if set {
		return ids, true
	}
	return nil, false
}

// diskPolicy is the PBM association of a disk: what was last set, else the
// default of the datastore it was created on (inventory disks: the PMem
// policy for vPMemDisks, none elsewhere). Callers hold estate.mu.
func (vm *PVM) diskPolicy(d types.BaseVirtualDevice) []string {
	if ids, ok := vm.policies[d.GetVirtualDevice().Key]; ok {
		return ids
	}
	return defaultPolicy(deviceDatastore(d))
}

func (vm *PVM) setDiskPolicy(key int32, ids []string) {
	if vm.policies == nil {
		vm.policies = map[int32][]string{}
	}
	vm.policies[key] = append([]string{}, ids...)
}

func (vm *PVM) clearDiskPolicy(key int32) { delete(vm.policies, key) }

// compliance: a disk associated with the PMem policy is compliant only on
// PMem (a vPMemDisk moved off PMem without a new profile is reported
// non-compliant: GUESS, real-vcenter.md row 3; probe step 3 settles the
// association, a lab check the compliance status); vSAN and VVol
// defaults need their datastore type; other policies are compliant; no
// association is notApplicable.
func compliance(ids []string, ds *PDatastore) string {
	if len(ids) == 0 {
		return string(pbmtypes.PbmComplianceStatusNotApplicable)
	}
	for _, id := range ids {
		var ok bool
		switch id {
		case pmemProfileID:
			ok = ds != nil && ds.isPMem()
		case vsanDefaultProfileID:
			ok = ds != nil && strings.EqualFold(ds.Summary.Type, "vsan")
		case vvolDefaultProfileID:
			ok = ds != nil && strings.EqualFold(ds.Summary.Type, "VVOL")
		default:
			ok = true
		}
		if !ok {
			return string(pbmtypes.PbmComplianceStatusNonCompliant)
		}
	}
	return string(pbmtypes.PbmComplianceStatusCompliant)
}

// pbmDisk resolves a PbmServerObjectRef of type virtualDiskId.
func pbmDisk(ref pbmtypes.PbmServerObjectRef) (*PVM, types.BaseVirtualDevice) {
	if ref.ObjectType != string(pbmtypes.PbmObjectTypeVirtualDiskId) {
		return nil, nil
	}
	moid, dev, ok := strings.Cut(ref.Key, ":")
	if !ok {
		return nil, nil
	}
	key, err := strconv.Atoi(dev)
	if err != nil {
		return nil, nil
	}
	vm, _ := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: moid}).(*PVM)
	if vm == nil {
		return nil, nil
	}
	d, ok := vm.devices().FindByKey(int32(key)).(*types.VirtualDisk)
	if !ok {
		return vm, nil
	}
	return vm, d
}

type pbmProfileManager struct {
	pbmsim.ProfileManager
}

// PbmQueryAssociatedProfiles returns each disk's policy ids. Unknown
// entities and objects other than virtual disks get an empty list (the VM
// home has no association in pmemsim).
func (m *pbmProfileManager) PbmQueryAssociatedProfiles(req *pbmtypes.PbmQueryAssociatedProfiles) soap.HasFault {
	res := &pbmtypes.PbmQueryAssociatedProfilesResponse{}
	estate.withLock(func() {
		for _, e := range req.Entities {
			r := pbmtypes.PbmQueryProfileResult{Object: e}
			if vm, d := pbmDisk(e); d != nil {
				for _, id := range vm.diskPolicy(d) {
					r.ProfileId = append(r.ProfileId, pbmtypes.PbmProfileId{UniqueId: id})
				}
			}
			res.Returnval = append(res.Returnval, r)
		}
	})
	return &pbmmethods.PbmQueryAssociatedProfilesBody{Res: res}
}

type pbmComplianceManager struct {
	types.ManagedObjectReference
}

func (m *pbmComplianceManager) results(entities []pbmtypes.PbmServerObjectRef) []pbmtypes.PbmComplianceResult {
	var out []pbmtypes.PbmComplianceResult
	now := time.Now()
	estate.withLock(func() {
		for _, e := range entities {
			r := pbmtypes.PbmComplianceResult{CheckTime: now, Entity: e,
				ComplianceStatus: string(pbmtypes.PbmComplianceStatusUnknown)}
			if vm, d := pbmDisk(e); d != nil {
				ids := vm.diskPolicy(d)
				if len(ids) > 0 {
					r.Profile = &pbmtypes.PbmProfileId{UniqueId: ids[0]}
				}
				r.ComplianceStatus = compliance(ids, deviceDatastore(d))
			}
			out = append(out, r)
		}
	})
	return out
}

func (m *pbmComplianceManager) PbmCheckCompliance(req *pbmtypes.PbmCheckCompliance) soap.HasFault {
	return &pbmmethods.PbmCheckComplianceBody{Res: &pbmtypes.PbmCheckComplianceResponse{Returnval: m.results(req.Entities)}}
}

func (m *pbmComplianceManager) PbmFetchComplianceResult(req *pbmtypes.PbmFetchComplianceResult) soap.HasFault {
	return &pbmmethods.PbmFetchComplianceResultBody{Res: &pbmtypes.PbmFetchComplianceResultResponse{Returnval: m.results(req.Entities)}}
}
