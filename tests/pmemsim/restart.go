package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// A vCenter service restart (POST /pmemsim/restart?down=SECONDS, README
// "Restarting vCenter"). vpxd keeps its inventory in its database, so the
// estate (VMs, disks, NVDIMMs, datastores, PMem accounting) survives; what
// lives only in vpxd's memory does not:
//   - every session ends (old cookies fault NotAuthenticated), with the
//     private PropertyCollectors and views that lived in them, and every
//     WaitForUpdatesEx;
//   - every open connection is closed;
//   - the task history is lost and task ids start again from task-1, so
//     ids are reused (pmemctl's finding; see taskIDs);
//   - tasks still queued are lost (GUESS, lab check in README); a Storage
//     vMotion or other task already running completes on the ESXi side but
//     is no longer reported (its Task object is gone) (GUESS);
//   - for `down` the HTTP front answers every vCenter request with 503
//     Service Unavailable, as vCenter's reverse proxy does while vpxd starts.

// restartState is Estate.life; mu guards all its fields except epoch.
type restartState struct {
	// epoch counts restarts. A job remembers the epoch it was submitted in;
	// a job of an older epoch no longer publishes anything (its Task is gone
	// and its id may already name a new task).
	epoch int64 // atomic

	mu        sync.Mutex
	downUntil time.Time
	taskSeq   int64                                 // last task-N handed out this epoch
	tasks     []types.ManagedObjectReference        // pmemsim's Tasks of this epoch
	entities  map[types.ManagedObjectReference]bool // entities whose recentTask pmemsim filled
	conns     map[net.Conn]bool                     // open client connections
	restarts  int
}

func newRestartState() *restartState {
	return &restartState{entities: map[types.ManagedObjectReference]bool{}, conns: map[net.Conn]bool{}}
}

func (r *restartState) currentEpoch() int64 { return atomic.LoadInt64(&r.epoch) }

// newTaskRef hands out the next task-N of this epoch, skipping ids a Task
// still in the registry holds (a task of stock vcsim, numbered from vcsim's
// global counter).
func (r *restartState) newTaskRef(entity types.ManagedObjectReference) types.ManagedObjectReference {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		r.taskSeq++
		ref := types.ManagedObjectReference{Type: "Task", Value: fmt.Sprintf("task-%d", r.taskSeq)}
		if simulator.Map.Get(ref) == nil {
			r.tasks = append(r.tasks, ref)
			r.entities[entity] = true
			return ref
		}
	}
}

// down reports whether vCenter is (still) restarting, and until when.
func (r *restartState) down(now time.Time) (bool, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return now.Before(r.downUntil), r.downUntil
}

// connState is the http.Server ConnState hook: it keeps the set of open
// connections a restart closes.
func (r *restartState) connState(c net.Conn, s http.ConnState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch s {
	case http.StateNew:
		r.conns[c] = true
	case http.StateClosed, http.StateHijacked:
		delete(r.conns, c)
	}
}

var taskManagerRef = types.ManagedObjectReference{Type: "TaskManager", Value: "TaskManager"}

type connKey struct{}

// connContext stores the connection in the request context (http.Server
// ConnContext), so the restart request can tell its own connection apart.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// restartReport is the JSON answer of POST /pmemsim/restart.
type restartReport struct {
	Restart        int      `json:"restart"`         // 1 for the first restart
	DownSeconds    float64  `json:"down_s"`          // how long vCenter answers 503
	SessionsEnded  int      `json:"sessions_ended"`  // sessions that ended
	TasksForgotten int      `json:"tasks_forgotten"` // Task objects dropped (history)
	LostQueued     []string `json:"lost_queued"`     // "task-N VM method": queued, never run
	Completing     []string `json:"completing"`      // "task-N VM method": running, finishing unseen
	ConnsClosed    int      `json:"conns_closed"`    // connections closed (the restart's own not counted)
}

func jobLabel(j *job) string {
	name := j.task.Info.EntityName
	return strings.TrimSpace(fmt.Sprintf("%s %s %s", j.task.Self.Value, name, j.method))
}

// restart simulates a vCenter service restart; keep is the connection of
// the restart request itself (closed by its own response), nil in tests.
func (e *Estate) restart(down time.Duration, keep net.Conn) restartReport {
	r := e.life
	now := time.Now()
	r.mu.Lock()
	// 503 from now on: nothing reaches the old vpxd while it goes away.
	r.downUntil = now.Add(down)
	if down <= 0 {
		r.downUntil = now.Add(time.Hour) // until the restart below is done
	}
	r.restarts++
	rep := restartReport{Restart: r.restarts, DownSeconds: down.Seconds(), LostQueued: []string{}, Completing: []string{}}
	atomic.AddInt64(&r.epoch, 1)
	tasks, entities := r.tasks, r.entities
	r.tasks, r.entities, r.taskSeq = nil, map[types.ManagedObjectReference]bool{}, 0
	var conns []net.Conn
	for c := range r.conns {
		if c != keep {
			conns = append(conns, c)
		}
	}
	r.mu.Unlock()

	// Every open connection is closed (vpxd's and the proxy's sockets go).
	for _, c := range conns {
		_ = c.Close()
	}
	rep.ConnsClosed = len(conns)

	// Queued tasks are lost; running ones finish unseen (job.publish).
	s := e.sched
	s.mu.Lock()
	for _, j := range s.queue {
		rep.LostQueued = append(rep.LostQueued, jobLabel(j))
	}
	s.queue = nil
	s.mu.Unlock()
	for _, j := range runningJobs() {
		rep.Completing = append(rep.Completing, jobLabel(j))
	}

	// Every session ends, with its collectors, views and waits.
	rep.SessionsEnded = e.sessions.endAll()
	e.hub.reset()

	// The task history is lost: Task objects, TaskManager.recentTask and
	// every entity's recentTask.
	var stock []types.ManagedObjectReference
	if tm, ok := simulator.Map.Get(taskManagerRef).(*simulator.TaskManager); ok {
		tm.Lock()
		stock = tm.RecentTask
		simulator.Map.Update(tm, []types.PropertyChange{{Name: "recentTask", Val: []types.ManagedObjectReference{}}})
		tm.Unlock()
	}
	seen := map[types.ManagedObjectReference]bool{}
	for _, ref := range append(tasks, stock...) {
		if !seen[ref] && simulator.Map.Get(ref) != nil {
			seen[ref] = true
			simulator.Map.Remove(ref)
		}
	}
	rep.TasksForgotten = len(seen)
	e.recentMu.Lock()
	for ref := range entities {
		if obj := simulator.Map.Get(ref); obj != nil {
			simulator.Map.Update(obj, []types.PropertyChange{{Name: "recentTask", Val: []types.ManagedObjectReference{}}})
		}
	}
	e.recentMu.Unlock()

	r.mu.Lock()
	r.downUntil = now.Add(down)
	r.mu.Unlock()
	return rep
}

// running jobs, for the report: tracked by execute.
var (
	runningMu sync.Mutex
	running   = map[*job]bool{}
)

func runningJobs() []*job {
	runningMu.Lock()
	defer runningMu.Unlock()
	var out []*job
	for j := range running {
		if j.epoch < estate.life.currentEpoch() {
			out = append(out, j)
		}
	}
	return out
}

// publish applies task property changes, unless a restart came since the
// job was submitted: its Task is gone from vCenter and its id may name a
// new task, so nothing about it is seen any more.
func (j *job) publish(changes []types.PropertyChange) {
	if j.epoch != estate.life.currentEpoch() {
		return
	}
	simulator.Map.Update(j.task, changes)
}

// endAll ends every session (a restart): their calls then fault
// NotAuthenticated.
func (t *sessionTracker) endAll() int {
	t.mu.Lock()
	keys := make([]string, 0, len(t.active))
	for k := range t.active {
		keys = append(keys, k)
	}
	t.active = map[string]*sessionUse{}
	t.mu.Unlock()
	for _, k := range keys {
		t.end(k)
	}
	return len(keys)
}

// reset ends every wait and forgets every collector (a restart).
func (h *updateHub) reset() {
	h.mu.Lock()
	var all []*PPropertyCollector
	for pc := range h.subs {
		all = append(all, pc)
	}
	h.mu.Unlock()
	for _, pc := range all {
		h.unsubscribe(pc)
	}
}
