package main

import (
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// pmemProfileID is the fixed id of vCenter's "Host-local PMem Default
// Storage Policy" (also in govmomi's pbm/simulator profiles.go).
const pmemProfileID = "c268da1b-b343-49f7-a468-b1deeb7078e0"

// simMu serialises every change pmemsim makes to VMs, datastores and hosts
// (device lists, PMem and free-space accounting), so that validation and
// commit of one task are atomic with respect to the others.
//
// Lock order: the object lock vcsim's dispatcher holds for a SOAP call (or
// the VM lock a task goroutine takes first) -> simMu -> any other object's
// lock taken through simulator.Map.WithLock. Handlers of methods on
// datastores and hosts never take simMu.
var simMu sync.Mutex

// withSimMu runs f holding simMu (released even if f panics: a panic in a
// handler becomes a SOAP fault and must not leave the simulator locked).
func withSimMu(f func()) {
	simMu.Lock()
	defer simMu.Unlock()
	f()
}

// Estate indexes the simulated inventory.
type Estate struct {
	dcs        []*dcState            // datacenters, in inventory order
	hosts      map[string]*hostState // by dcState.hostKey
	hostByRef  map[types.ManagedObjectReference]*hostState
	vms        map[types.ManagedObjectReference]*PVM
	copyRate   float64
	apiVersion string
	faults     *faultSet
	relax      map[string]bool // --relax rules
	recentWin  time.Duration   // --recent-task-window

	// PropertyCollector and sessions (paging.go, updates.go, sessions.go)
	maxPage  int        // --max-page: RetrievePropertiesEx / WaitForUpdatesEx cap, 0 = none
	hub      *updateHub // fans registry changes out to WaitForUpdatesEx
	sessions *sessionTracker
}

// relaxed reports whether --relax turned a vCenter rule off.
func relaxed(rule string) bool { return estate.relax[rule] }

var estate = &Estate{
	hosts:     map[string]*hostState{},
	hostByRef: map[types.ManagedObjectReference]*hostState{},
	vms:       map[types.ManagedObjectReference]*PVM{},
}

// hostState is pmemsim's view of one ESXi host.
type hostState struct {
	name     string
	host     *simulator.HostSystem
	pmemCap  int64 // bytes; 0 = no PMem
	pmemUUID string
	pmemDS   *PDatastore
	pool     types.ManagedObjectReference // root resource pool of its compute resource
	envb     types.ManagedObjectReference
	dc       *dcState
	// share of pmemCap reserved by vSphere HA PMem admission control (ha.go)
	haPMemPercent int
}

func (h *hostState) ref() types.ManagedObjectReference { return h.host.Self }

// pmemFree is the PMem still available on the host, in bytes.
func (h *hostState) pmemFree() int64 {
	if h.pmemDS == nil {
		return 0
	}
	return h.pmemDS.Summary.FreeSpace
}

// reaches tells whether the host mounts the datastore.
func (h *hostState) reaches(ds *PDatastore) bool {
	for _, r := range h.host.Datastore {
		if r == ds.Self {
			return true
		}
	}
	return false
}

// PDatastore wraps vcsim's Datastore (by value, so the PropertyCollector and
// ContainerView can reach the mo.Datastore inside) to keep capacity and free
// space under pmemsim's control: stock RefreshDatastore resets them to the
// statfs() of a temp directory.
type PDatastore struct {
	simulator.Datastore
	pmemHost *hostState // set for a host's PMem datastore
}

func (ds *PDatastore) Get() mo.Reference { return &ds.Datastore }

func (ds *PDatastore) isPMem() bool { return ds.pmemHost != nil }

// RefreshDatastore only bumps the timestamp: pmemsim tracks free space itself.
func (ds *PDatastore) RefreshDatastore(*types.RefreshDatastore) soap.HasFault {
	now := time.Now()
	ds.Info.GetDatastoreInfo().Timestamp = &now
	return &methods.RefreshDatastoreBody{Res: &types.RefreshDatastoreResponse{}}
}

// adjustFree adds delta bytes to the datastore's free space and publishes
// it (and, for a PMem datastore, the host's availablePMemCapacity). Callers
// hold simMu.
func (ds *PDatastore) adjustFree(delta int64) {
	if delta == 0 {
		return
	}
	free := ds.Summary.FreeSpace + delta
	info := ds.Info.GetDatastoreInfo()
	info.FreeSpace = free
	info.MaxFileSize = free
	info.MaxVirtualDiskCapacity = free
	simulator.Map.Update(ds, []types.PropertyChange{
		{Name: "summary.freeSpace", Val: free},
		{Name: "info", Val: ds.Info},
	})
	if h := ds.pmemHost; h != nil {
		simulator.Map.Update(h.host, []types.PropertyChange{
			{Name: "summary.quickStats.availablePMemCapacity", Val: int32(free >> 20)},
		})
	}
}
