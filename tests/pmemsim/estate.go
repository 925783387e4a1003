package main

import (
	"os"
	"sync"
	"sync/atomic"
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

// Estate is the one simulator state: the settings from the command line,
// pmemsim's index of the inventory, the task scheduler, the recentTask
// lists, the WaitForUpdatesEx hub, the session tracker, the moref counters
// and the temp directories. main builds one (newEstate, then buildEstate)
// and nothing else holds simulator state: the remaining package-level vars
// are constants in all but name (regexps, lookup tables, morefs).
//
// Ownership and locking, field group by field group:
//   - settings: written by newEstate, read-only afterwards (no lock);
//   - inventory index (dcs, hosts, hostByRef): filled by buildEstate before
//     the server serves, read-only afterwards; vms changes at run time
//     (CreateVM_Task, Destroy_Task, UnregisterVM) under mu;
//   - mu: see below; the VMs, datastores and hosts it guards are vcsim
//     registry objects, not fields of Estate;
//   - sched, hub, sessions, life, each faultRule: their own mutex;
//   - recentMu: the recentTask lists of every entity;
//   - dsSeq, tempDirs: buildEstate and close only (one goroutine);
//     moSeq: atomic.
type Estate struct {
	// Settings (command line).
	copyRate    float64 // --copy-rate, bytes per second
	apiVersion  string  // --api-version, full form
	faults      *faultSet
	relax       map[string]bool // --relax rules
	recentWin   time.Duration   // --recent-task-window
	maxPage     int             // --max-page: RetrievePropertiesEx / WaitForUpdatesEx cap, 0 = none
	sessionIdle time.Duration   // --session-idle-timeout, 0 = never
	toolsDelay  time.Duration   // --tools-delay, 0 = tools run at once

	// mu (the package global simMu before) serialises every change pmemsim
	// makes to VMs, datastores and hosts (device lists, PMem and free-space
	// accounting, folder children, vms), so that validation and commit of
	// one task are atomic with respect to the others.
	//
	// Lock order: the object lock vcsim's dispatcher holds for a SOAP call
	// (or the VM lock a task goroutine takes first, lockVM) -> mu -> any
	// other object's lock taken through simulator.Map.WithLock. Handlers of
	// methods on datastores and hosts never take mu.
	mu sync.Mutex

	// Inventory index.
	dcs       []*dcState            // datacenters, in inventory order
	hosts     map[string]*hostState // by dcState.hostKey
	hostByRef map[types.ManagedObjectReference]*hostState
	vms       map[types.ManagedObjectReference]*PVM

	// Moref counters: datastore-N (buildEstate) and group-vN / vm-N for
	// folders and VMs made at run time (nextID).
	dsSeq int
	moSeq int64

	// Tasks (tasks.go).
	sched    *scheduler
	recentMu sync.Mutex // guards the recentTask lists pmemsim maintains

	// PropertyCollector and sessions (paging.go, updates.go, sessions.go);
	// set by buildEstate once vcsim's registry exists.
	hub      *updateHub // fans registry changes out to WaitForUpdatesEx
	sessions *sessionTracker

	// Restarts (restart.go): the epoch, task ids, open connections, 503s.
	life *restartState

	tempDirs []string // behind the datastores; removed by close
}

// estate is the one Estate of the process. vcsim dispatches a SOAP call by
// reflection to a method of the registry object the moref names
// (PVM.ReconfigVMTask(ctx, req), PFolder.CreateVMTask, PPropertyCollector,
// ...), passing only the call context and the request, and the registry
// itself is vcsim's process-wide simulator.Map (replaced by model.Create).
// So the handlers have no other way to reach the state than a package
// pointer; buildEstate sets it, and everything else reads it. Tests build
// their own Estate the same way.
var estate *Estate

// newEstate makes an empty state with the command-line settings.
func newEstate(o *options) *Estate {
	relax := o.relax
	if relax == nil {
		relax = map[string]bool{}
	}
	return &Estate{
		copyRate:    o.copyRate,
		apiVersion:  o.apiVersion,
		faults:      &faultSet{rules: o.faults},
		relax:       relax,
		recentWin:   o.recentWindow,
		maxPage:     o.maxPage,
		sessionIdle: o.sessionIdle,
		toolsDelay:  o.toolsDelay,
		hosts:       map[string]*hostState{},
		hostByRef:   map[types.ManagedObjectReference]*hostState{},
		vms:         map[types.ManagedObjectReference]*PVM{},
		sched:       newScheduler(),
		life:        newRestartState(),
	}
}

// close removes the temp directories behind the datastores.
func (e *Estate) close() {
	for _, d := range e.tempDirs {
		_ = os.RemoveAll(d)
	}
	e.tempDirs = nil
}

// withLock runs f holding mu (released even if f panics: a panic in a
// handler becomes a SOAP fault and must not leave the simulator locked).
func (e *Estate) withLock(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f()
}

// nextID numbers the folders and VMs made at run time (group-vN, vm-N).
func (e *Estate) nextID() int64 { return 1000 + atomic.AddInt64(&e.moSeq, 1) }

// relaxed reports whether --relax turned a vCenter rule off.
func relaxed(rule string) bool { return estate.relax[rule] }

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
// hold estate.mu.
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
