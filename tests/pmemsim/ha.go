package main

import (
	"fmt"

	"github.com/vmware/govmomi/vim25/types"
	"gopkg.in/yaml.v3"
)

// vSphere HA PMem admission control (vSphere 7.0 U2+): "When PMem admission
// control is enabled, PMem capacity is reserved across the cluster" (vSphere
// 7.0 Resource Management, "vSphere HA Admission Control PMem Reservation").
// An inventory cluster with
//
//	ha: {pmem_admission_control: true, pmem_failover_percent: 25}
//
// gets configurationEx.dasConfig with a failover-resources admission
// control policy carrying pMemAdmissionControlEnabled and
// pMemFailoverResourcesPercent; each of its hosts keeps that share of its
// PMem free, so QueryConfigTarget's availablePersistentMemoryReservationMB
// shrinks and an NVDIMM or vPMemDisk add/grow beyond free − reserved fails
// with InsufficientResourcesFault.

// HASpec is a cluster's ha: key.
type HASpec struct {
	PMemAdmission bool
	PMemPercent   int  // share of each host's PMem reserved for failover
	AutoPercent   bool // pmem_failover_percent absent: computed for one host failure
	CPUPercent    int
	MemoryPercent int
}

func (r *reader) readHA(n *yaml.Node, path string) (*HASpec, error) {
	m, err := r.mapping(n, path, "pmem_admission_control", "pmem_failover_percent", "cpu_failover_percent", "memory_failover_percent")
	if err != nil {
		return nil, err
	}
	ha := &HASpec{CPUPercent: 25, MemoryPercent: 25, AutoPercent: true}
	if kv, ok := m["pmem_admission_control"]; ok {
		if ha.PMemAdmission, err = r.boolean(kv[1], path+".pmem_admission_control"); err != nil {
			return nil, err
		}
	}
	ints := []struct {
		key string
		dst *int
	}{{"pmem_failover_percent", &ha.PMemPercent}, {"cpu_failover_percent", &ha.CPUPercent}, {"memory_failover_percent", &ha.MemoryPercent}}
	for _, it := range ints {
		if kv, ok := m[it.key]; ok {
			if *it.dst, err = r.integer(kv[1], path+"."+it.key, 0, 100); err != nil {
				return nil, err
			}
			if it.key == "pmem_failover_percent" {
				ha.AutoPercent = false
			}
		}
	}
	if !ha.PMemAdmission && !ha.AutoPercent {
		return nil, r.errf(m["pmem_failover_percent"][0], path+".pmem_failover_percent", "needs pmem_admission_control: true")
	}
	return ha, nil
}

// ClusterFailoverResourcesAdmissionControlPolicy is govmomi 0.24's type plus
// the 7.0 U2 PMem fields it lacks. The encoder names the xsi:type after the
// Go type, so clients read a plain ClusterFailoverResourcesAdmissionControlPolicy
// with pMemAdmissionControlEnabled, pMemFailoverResourcesPercent and
// autoComputePMemFailoverResourcesPercent set.
type ClusterFailoverResourcesAdmissionControlPolicy struct {
	types.ClusterFailoverResourcesAdmissionControlPolicy

	PMemAdmissionControlEnabled             *bool `xml:"pMemAdmissionControlEnabled"`
	PMemFailoverResourcesPercent            int32 `xml:"pMemFailoverResourcesPercent,omitempty"`
	AutoComputePMemFailoverResourcesPercent *bool `xml:"autoComputePMemFailoverResourcesPercent"`
}

// haPolicy builds the admission control policy of a cluster.
func haPolicy(ha *HASpec, percent int) *ClusterFailoverResourcesAdmissionControlPolicy {
	p := &ClusterFailoverResourcesAdmissionControlPolicy{
		ClusterFailoverResourcesAdmissionControlPolicy: types.ClusterFailoverResourcesAdmissionControlPolicy{
			ClusterDasAdmissionControlPolicy: types.ClusterDasAdmissionControlPolicy{ResourceReductionToToleratePercent: types.NewInt32(100)},
			CpuFailoverResourcesPercent:      int32(ha.CPUPercent),
			MemoryFailoverResourcesPercent:   int32(ha.MemoryPercent),
			FailoverLevel:                    1,
			AutoComputePercentages:           types.NewBool(false),
		},
		PMemAdmissionControlEnabled:             types.NewBool(ha.PMemAdmission),
		PMemFailoverResourcesPercent:            int32(percent),
		AutoComputePMemFailoverResourcesPercent: types.NewBool(ha.AutoPercent),
	}
	return p
}

// haDasConfig is the dasConfig of a cluster with an ha: key.
func haDasConfig(ha *HASpec, hosts int) (types.ClusterDasConfigInfo, int) {
	percent := ha.PMemPercent
	if ha.AutoPercent && hosts > 0 {
		percent = (100 + hosts - 1) / hosts // tolerate one host failure
	}
	if !ha.PMemAdmission {
		percent = 0
	}
	return types.ClusterDasConfigInfo{
		Enabled:                    types.NewBool(true),
		AdmissionControlEnabled:    types.NewBool(true),
		FailoverLevel:              1,
		AdmissionControlPolicy:     haPolicy(ha, percent),
		HostMonitoring:             string(types.ClusterDasConfigInfoServiceStateEnabled),
		VmMonitoring:               string(types.ClusterDasConfigInfoVmMonitoringStateVmMonitoringDisabled),
		HBDatastoreCandidatePolicy: string(types.ClusterDasConfigInfoHBDatastoreCandidateAllFeasibleDsWithUserPreference),
	}, percent
}

// pmemReserved is the PMem (bytes) HA admission control keeps free on the
// host for failover: its share of the host's PMem capacity.
func (h *hostState) pmemReserved() int64 {
	if h.haPMemPercent <= 0 {
		return 0
	}
	return roundMiB(h.pmemCap * int64(h.haPMemPercent) / 100)
}

// pmemAvailable is the PMem a new reservation may take: free minus the HA
// reserve (never negative).
func (h *hostState) pmemAvailable() int64 {
	a := h.pmemFree() - h.pmemReserved()
	if a < 0 {
		return 0
	}
	return a
}

// haAdmission refuses a PMem demand (bytes) that only fits by eating into
// the cluster's HA PMem reserve. Called by ReconfigVM_Task/CreateVM_Task
// after the plain free-space check.
func haAdmission(h *hostState, demand int64) *taskFault {
	if demand <= 0 || h.haPMemPercent <= 0 || demand <= h.pmemAvailable() {
		return nil
	}
	return newFault(&types.InsufficientResourcesFault{},
		"Insufficient persistent memory: requested %d MB, host %s has %d MB free of which %d MB are reserved by vSphere HA PMem admission control (%d%%)",
		demand>>20, h.name, h.pmemFree()>>20, h.pmemReserved()>>20, h.haPMemPercent)
}

// String helps error messages.
func (ha *HASpec) String() string {
	return fmt.Sprintf("pmem_admission_control=%v pmem_failover_percent=%d", ha.PMemAdmission, ha.PMemPercent)
}
