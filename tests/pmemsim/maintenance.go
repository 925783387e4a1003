package main

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Host maintenance mode. Stock vcsim (govmomi simulator/host_system.go,
// EnterMaintenanceModeTask / ExitMaintenanceModeTask) only flips
// runtime.inMaintenanceMode at once, whatever runs on the host. vCenter
// does not: "The task completes when the host successfully enters
// maintenance mode or the timeout expires, and in the latter case the task
// contains a Timeout fault. If the timeout is less than or equal to zero,
// there is no timeout" (vSphere API, EnterMaintenanceModeRequestType.timeout);
// the fault type thrown is Timedout (vim.fault.Timedout, "Thrown by
// EnterMaintenanceMode_Task"). Without DRS in fully automated mode nothing
// moves the VMs for the caller: the task waits until every VM on the host is
// powered off or migrated away. Powered-off VMs may stay
// (evacuatePoweredOffVms=false, the default: "powered-off virtual machines
// do not need to be moved").
//
// vcsim's HostSystem is asserted as *simulator.HostSystem in many vcsim
// handlers, so pmemsim cannot replace it in the registry as it does VMs and
// folders. Instead every host gets a companion object (hostOps, moref
// HostSystem:<host>/maint) that implements the two methods, and the HTTP
// front points those two SOAP calls at it (maintenanceThis). The task's
// entity is the host itself.

// maintenancePoll is how often an entering host re-checks its VMs.
const maintenancePoll = 50 * time.Millisecond

type hostOps struct {
	Self types.ManagedObjectReference
	h    *hostState
}

func (o *hostOps) Reference() types.ManagedObjectReference { return o.Self }

func opsRef(host types.ManagedObjectReference) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: host.Type, Value: host.Value + "/maint"}
}

// registerHostOps adds the companion object of every host (buildEstate).
func registerHostOps() {
	for _, h := range estate.hostByRef {
		simulator.Map.Put(&hostOps{Self: opsRef(h.ref()), h: h})
	}
}

var thisRe = regexp.MustCompile(`(<(?:[A-Za-z0-9_]+:)?_this[^>]*>)([^<]+)(<)`)

// maintenanceThis points EnterMaintenanceMode_Task / ExitMaintenanceMode_Task
// at the host's companion object.
func maintenanceThis(body []byte) []byte {
	return thisRe.ReplaceAllFunc(body, func(m []byte) []byte {
		p := thisRe.FindSubmatch(m)
		v := strings.TrimSpace(string(p[2]))
		if strings.HasSuffix(v, "/maint") {
			return m
		}
		return []byte(string(p[1]) + v + "/maint" + string(p[3]))
	})
}

// poweredOnVMs lists the VMs on h that block maintenance mode (powered on
// or suspended: a suspended VM still has its state on the host; GUESS that
// vCenter counts it, Lab). Callers hold estate.mu.
func poweredOnVMs(h *hostState) []string {
	var names []string
	for _, vm := range estate.vms {
		if vm.Runtime.Host == nil || *vm.Runtime.Host != h.ref() {
			continue
		}
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			names = append(names, vm.Name)
		}
	}
	sort.Strings(names)
	return names
}

func (o *hostOps) setMaintenance(on bool) {
	host := o.h.host
	simulator.Map.WithLock(host, func() {
		host.Runtime.InMaintenanceMode = on
		simulator.Map.Update(host, []types.PropertyChange{
			{Name: "runtime.inMaintenanceMode", Val: on},
			{Name: "summary.runtime.inMaintenanceMode", Val: on},
		})
	})
}

// EnterMaintenanceModeTask waits until no VM runs on the host, then sets
// runtime.inMaintenanceMode; with timeout > 0 it fails with Timedout after
// that many seconds, naming the VMs still running, and the host stays out of
// maintenance. A host already in maintenance mode: InvalidState (vSphere API
// lists InvalidState for EnterMaintenanceMode_Task; that it is raised for
// this case is a GUESS, Lab).
func (o *hostOps) EnterMaintenanceModeTask(ctx *simulator.Context, req *types.EnterMaintenanceMode_Task) soap.HasFault {
	h := o.h
	timeout := time.Duration(req.Timeout) * time.Second
	ref := submitTask(nil, h.ref(), h.name, "EnterMaintenanceMode_Task", "enterMaintenanceMode", nil,
		func(j *job) (types.AnyType, *taskFault) {
			if h.host.Runtime.InMaintenanceMode {
				return nil, newFault(&types.InvalidState{}, "Host %s is already in maintenance mode", h.name)
			}
			start := time.Now()
			for {
				var running []string
				estate.withLock(func() { running = poweredOnVMs(h) })
				if len(running) == 0 {
					o.setMaintenance(true)
					return nil, nil
				}
				if timeout > 0 && time.Since(start) >= timeout {
					return nil, newFault(&types.Timedout{},
						"Operation timed out: host %s did not enter maintenance mode; powered-on virtual machines remain on it: %s",
						h.name, strings.Join(running, ", "))
				}
				if f := j.progress(0); f != nil {
					return nil, f
				}
				time.Sleep(maintenancePoll)
			}
		})
	return &methods.EnterMaintenanceMode_TaskBody{Res: &types.EnterMaintenanceMode_TaskResponse{Returnval: ref}}
}

// ExitMaintenanceModeTask clears runtime.inMaintenanceMode; a host not in
// maintenance mode: InvalidState (vSphere API lists InvalidState for
// ExitMaintenanceMode_Task; GUESS for this case).
func (o *hostOps) ExitMaintenanceModeTask(ctx *simulator.Context, req *types.ExitMaintenanceMode_Task) soap.HasFault {
	h := o.h
	ref := submitTask(nil, h.ref(), h.name, "ExitMaintenanceMode_Task", "exitMaintenanceMode", nil,
		func(j *job) (types.AnyType, *taskFault) {
			if f := j.work(quickTaskTime); f != nil {
				return nil, f
			}
			if !h.host.Runtime.InMaintenanceMode {
				return nil, newFault(&types.InvalidState{}, "Host %s is not in maintenance mode", h.name)
			}
			o.setMaintenance(false)
			return nil, nil
		})
	return &methods.ExitMaintenanceMode_TaskBody{Res: &types.ExitMaintenanceMode_TaskResponse{Returnval: ref}}
}
