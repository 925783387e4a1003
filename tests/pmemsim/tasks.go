package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Tasks run asynchronously, as on vCenter: the SOAP call returns the Task
// moref at once, the task sits in state "queued" until the scheduler starts
// it, then "running" with info.progress advancing, then "success" or
// "error". Everything is published with Map.Update so WaitForUpdatesEx
// filters see each step.
//
// Scheduling rules:
//   - per VM, tasks run one at a time in submission order (vCenter
//     serialises operations on a VM; a second task queues behind the first);
//   - Storage vMotions are admitted under vCenter's cost model: at most 2
//     per host (the VM's host and, if different, the target host) and 8 per
//     datastore (every source and destination datastore); the rest stay
//     queued, oldest first.

const (
	hostSvmLimit = 2
	dsSvmLimit   = 8
)

// taskFault is a fault plus the localized message clients read as
// task.info.error.localizedMessage.
type taskFault struct {
	fault types.BaseMethodFault
	msg   string
}

func newFault(f types.BaseMethodFault, format string, a ...interface{}) *taskFault {
	msg := fmt.Sprintf(format, a...)
	f.GetMethodFault().FaultMessage = []types.LocalizableMessage{{Key: "com.vmware.pmemsim.fault", Message: msg}}
	return &taskFault{fault: f, msg: msg}
}

// svmResources are the slots a Storage vMotion holds while running.
type svmResources struct {
	hosts []types.ManagedObjectReference
	dss   []types.ManagedObjectReference
}

type job struct {
	task   *simulator.Task
	vm     *PVM // nil for tasks not on a VM
	method string
	svm    *svmResources
	inject *injected
	entity types.ManagedObjectReference
	run    func(j *job) (types.AnyType, *taskFault)
	epoch  int64 // Estate.life epoch at submission (restart.go)
}

// scheduler is Estate.sched; mu guards all its fields.
type scheduler struct {
	mu      sync.Mutex
	queue   []*job
	vmBusy  map[types.ManagedObjectReference]bool
	hostSvm map[types.ManagedObjectReference]int
	dsSvm   map[types.ManagedObjectReference]int
}

func newScheduler() *scheduler {
	return &scheduler{
		vmBusy:  map[types.ManagedObjectReference]bool{},
		hostSvm: map[types.ManagedObjectReference]int{},
		dsSvm:   map[types.ManagedObjectReference]int{},
	}
}

// submitTask creates a queued task on entity and hands it to the
// scheduler. It returns the task moref for the SOAP response.
func submitTask(vm *PVM, entity types.ManagedObjectReference, entityName, method, descID string,
	svm *svmResources, run func(j *job) (types.AnyType, *taskFault)) types.ManagedObjectReference {
	vmName := ""
	if vm != nil {
		vmName = vm.Name
	}
	return submitTaskFor(vm, entity, entityName, vmName, method, descID, svm, run)
}

// submitTaskFor is submitTask with the VM name --fault vm= globs match
// (the new VM's name for CreateVM_Task).
func submitTaskFor(vm *PVM, entity types.ManagedObjectReference, entityName, vmName, method, descID string,
	svm *svmResources, run func(j *job) (types.AnyType, *taskFault)) types.ManagedObjectReference {
	task := newTask(entity, entityName, method, descID)
	j := &job{task: task, vm: vm, method: method, svm: svm, run: run, entity: entity,
		epoch: estate.life.currentEpoch()}
	addRecentTask(entity, task.Self)
	j.inject = estate.faults.match(method, vmName)
	s := estate.sched
	s.mu.Lock()
	s.queue = append(s.queue, j)
	s.mu.Unlock()
	s.dispatch()
	return task.Self
}

// newTask is simulator.CreateTask with pmemsim's task ids: task-N numbered
// from task-1 again after each restart, as vCenter reuses them (restart.go).
func newTask(entity types.ManagedObjectReference, entityName, method, descID string) *simulator.Task {
	task := &simulator.Task{}
	task.Self = estate.life.newTaskRef(entity)
	task.Info.Key = task.Self.Value
	task.Info.Task = task.Self
	task.Info.Name = method
	task.Info.DescriptionId = fmt.Sprintf("%s.%s", entity.Type, descID)
	ref := entity
	task.Info.Entity = &ref
	task.Info.EntityName = entityName
	task.Info.Reason = &types.TaskReasonUser{UserName: "vcsim"}
	task.Info.QueueTime = time.Now()
	task.Info.State = types.TaskInfoStateQueued
	task.Info.Cancelable = false
	simulator.Map.Put(task)
	return task
}

// dispatch starts every queued job whose VM and Storage vMotion slots are
// free, oldest first. A job never overtakes an older queued job on the
// same VM.
func (s *scheduler) dispatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	blockedVMs := map[types.ManagedObjectReference]bool{}
	rest := s.queue[:0]
	var start []*job
	for _, j := range s.queue {
		var vmRef types.ManagedObjectReference
		if j.vm != nil {
			vmRef = j.vm.Self
		}
		ok := true
		if j.vm != nil && (s.vmBusy[vmRef] || blockedVMs[vmRef]) {
			ok = false
		}
		if ok && j.svm != nil {
			for _, h := range j.svm.hosts {
				if s.hostSvm[h] >= hostSvmLimit {
					ok = false
				}
			}
			for _, d := range j.svm.dss {
				if s.dsSvm[d] >= dsSvmLimit {
					ok = false
				}
			}
		}
		if !ok {
			if j.vm != nil {
				blockedVMs[vmRef] = true
			}
			rest = append(rest, j)
			continue
		}
		if j.vm != nil {
			s.vmBusy[vmRef] = true
		}
		if j.svm != nil {
			for _, h := range j.svm.hosts {
				s.hostSvm[h]++
			}
			for _, d := range j.svm.dss {
				s.dsSvm[d]++
			}
		}
		start = append(start, j)
	}
	s.queue = rest
	for _, j := range start {
		go j.execute()
	}
}

func (s *scheduler) release(j *job) {
	s.mu.Lock()
	if j.vm != nil {
		delete(s.vmBusy, j.vm.Self)
	}
	if j.svm != nil {
		for _, h := range j.svm.hosts {
			s.hostSvm[h]--
		}
		for _, d := range j.svm.dss {
			s.dsSvm[d]--
		}
	}
	s.mu.Unlock()
	s.dispatch()
}

func (j *job) execute() {
	defer estate.sched.release(j)
	runningMu.Lock()
	running[j] = true
	runningMu.Unlock()
	defer func() {
		runningMu.Lock()
		delete(running, j)
		runningMu.Unlock()
	}()
	j.publish([]types.PropertyChange{
		{Name: "info.startTime", Val: time.Now()},
		{Name: "info.state", Val: types.TaskInfoStateRunning},
		{Name: "info.progress", Val: int32(0)},
	})
	var res types.AnyType
	var tf *taskFault
	func() {
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintf(os.Stderr, "pmemsim: task %s panicked: %v\n%s", j.method, p, debug.Stack())
				tf = newFault(&types.SystemError{Reason: "internal error"}, "pmemsim internal error in %s: %v", j.method, p)
			}
		}()
		if j.inject != nil && j.inject.at < 0 {
			tf = j.inject.fault(j)
			return
		}
		res, tf = j.run(j)
	}()
	changes := []types.PropertyChange{{Name: "info.completeTime", Val: time.Now()}}
	if tf != nil {
		changes = append(changes,
			types.PropertyChange{Name: "info.state", Val: types.TaskInfoStateError},
			types.PropertyChange{Name: "info.error", Val: types.LocalizedMethodFault{Fault: tf.fault, LocalizedMessage: tf.msg}})
	} else {
		changes = append(changes,
			types.PropertyChange{Name: "info.progress", Val: int32(100)},
			types.PropertyChange{Name: "info.state", Val: types.TaskInfoStateSuccess})
		if res != nil {
			changes = append(changes, types.PropertyChange{Name: "info.result", Val: res})
		}
	}
	if j.epoch != estate.life.currentEpoch() {
		return // a restart came: the task is gone from vCenter
	}
	j.publish(changes)
	expireRecentTask(j.entity, j.task.Self)
}

// A managed entity's recentTask holds its queued and running tasks and the
// ones that "completed within the past 10 minutes", at most "the 200 most
// recent tasks" (TMDOC: vSphere Web Services Programming Guide 8.0,
// TaskManager). The window is --recent-task-window (default 10m). The lists
// change under Estate.recentMu.

const recentTaskCap = 200 // TMDOC

func addRecentTask(entity, task types.ManagedObjectReference) {
	estate.recentMu.Lock()
	defer estate.recentMu.Unlock()
	if e, ok := simulator.Map.Get(entity).(mo.Entity); ok {
		list := append(append([]types.ManagedObjectReference(nil), e.Entity().RecentTask...), task)
		if len(list) > recentTaskCap {
			list = list[len(list)-recentTaskCap:]
		}
		simulator.Map.Update(e, []types.PropertyChange{{Name: "recentTask", Val: list}})
	}
}

// expireRecentTask drops a finished task from its entity's recentTask once
// the --recent-task-window has passed.
func expireRecentTask(entity, task types.ManagedObjectReference) {
	if estate.recentWin <= 0 {
		dropRecentTask(entity, task)
		return
	}
	// A restart in between cleared the lists, and the id may be reused.
	epoch := estate.life.currentEpoch()
	time.AfterFunc(estate.recentWin, func() {
		if estate.life.currentEpoch() == epoch {
			dropRecentTask(entity, task)
		}
	})
}

func dropRecentTask(entity, task types.ManagedObjectReference) {
	estate.recentMu.Lock()
	defer estate.recentMu.Unlock()
	if e, ok := simulator.Map.Get(entity).(mo.Entity); ok {
		var list []types.ManagedObjectReference
		for _, r := range e.Entity().RecentTask {
			if r != task {
				list = append(list, r)
			}
		}
		simulator.Map.Update(e, []types.PropertyChange{{Name: "recentTask", Val: list}})
	}
}

// progress publishes a progress percentage and fires an injected fault
// whose "at" threshold has been reached.
func (j *job) progress(p int) *taskFault {
	if p > 99 {
		p = 99
	}
	if j.inject != nil && j.inject.at >= 0 && p >= j.inject.at {
		j.publish([]types.PropertyChange{{Name: "info.progress", Val: int32(j.inject.at)}})
		return j.inject.fault(j)
	}
	j.publish([]types.PropertyChange{{Name: "info.progress", Val: int32(p)}})
	return nil
}

// work spends d doing "work", publishing progress from 0 to 99 roughly
// every 100ms (at least a few steps), and stops early on an injected fault.
func (j *job) work(d time.Duration) *taskFault {
	steps := int(d / (100 * time.Millisecond))
	if steps < 4 {
		steps = 4
	}
	if steps > 100 {
		steps = 100
	}
	step := d / time.Duration(steps)
	for i := 1; i <= steps; i++ {
		time.Sleep(step)
		if f := j.progress(i * 100 / steps); f != nil {
			return f
		}
	}
	return nil
}

// quickTaskTime is how long a non-copying task (reconfigure, power, ...) runs.
const quickTaskTime = 30 * time.Millisecond

// lockVM runs f with the VM's registry lock and estate.mu held (the lock order
// documented on estate.mu).
func lockVM(vm *PVM, f func()) {
	simulator.Map.WithLock(vm, func() {
		estate.mu.Lock()
		defer estate.mu.Unlock()
		f()
	})
}
