package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// blockingTask submits a task on vm whose work waits for release (closed by
// the test) and then records that it ran.
func blockingTask(vm *PVM, release chan struct{}, ran *bool) types.ManagedObjectReference {
	return submitTask(vm, vm.Self, vm.Name, "RelocateVM_Task", "relocate", nil,
		func(j *job) (types.AnyType, *taskFault) {
			<-release
			*ran = true
			return nil, nil
		})
}

func taskInfo(t *testing.T, ref types.ManagedObjectReference) *types.TaskInfo {
	t.Helper()
	task, ok := simulator.Map.Get(ref).(*simulator.Task)
	if !ok {
		return nil
	}
	return &task.Info
}

func waitTaskState(t *testing.T, ref types.ManagedObjectReference, want types.TaskInfoState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if info := taskInfo(t, ref); info != nil && info.State == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never %s: %+v", ref.Value, want, taskInfo(t, ref))
}

func TestRestartForgetsTasksAndReusesIDs(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	app, db := e.vmNamed(t, "app-01"), e.vmNamed(t, "db-01")
	var ended []string
	e.sessions.end = func(k string) { ended = append(ended, k) }
	e.sessions.login("s1")
	e.sessions.login("s2")

	release := make(chan struct{})
	var ranA, ranB bool
	a := blockingTask(app, release, &ranA) // running
	b := blockingTask(app, release, &ranB) // queued behind a (same VM)
	if a.Value != "task-1" || b.Value != "task-2" {
		t.Fatalf("ids %s %s", a.Value, b.Value)
	}
	waitTaskState(t, a, types.TaskInfoStateRunning)
	if taskInfo(t, b).State != types.TaskInfoStateQueued {
		t.Fatal("b must be queued")
	}
	if len(app.RecentTask) != 2 {
		t.Fatalf("recentTask %v", app.RecentTask)
	}

	rep := e.restart(2*time.Second, nil)
	if rep.Restart != 1 || rep.SessionsEnded != 2 || len(ended) != 2 || rep.TasksForgotten < 2 { // also the stock tasks of the build
		t.Fatalf("report %+v, ended %v", rep, ended)
	}
	if len(rep.LostQueued) != 1 || !strings.HasPrefix(rep.LostQueued[0], "task-2 app-01") ||
		len(rep.Completing) != 1 || !strings.HasPrefix(rep.Completing[0], "task-1 app-01") {
		t.Fatalf("report %+v", rep)
	}
	if taskInfo(t, a) != nil || taskInfo(t, b) != nil {
		t.Fatal("the task history must be gone")
	}
	if len(app.RecentTask) != 0 {
		t.Fatalf("recentTask after restart %v", app.RecentTask)
	}
	if down, until := e.life.down(time.Now()); !down || time.Until(until) < time.Second {
		t.Fatalf("down %v until %v", down, until)
	}

	// The new server numbers from task-1 again: the id names another task.
	var ranC bool
	release2 := make(chan struct{})
	c := blockingTask(db, release2, &ranC)
	if c != a {
		t.Fatalf("new id %s, want %s reused", c.Value, a.Value)
	}
	waitTaskState(t, c, types.TaskInfoStateRunning)

	// The old running task completes on the ESXi side, unseen: task-1 is
	// still the new, running task of db-01.
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for !ranA && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if !ranA || ranB {
		t.Fatalf("ran a=%v (want true) b=%v (want false: lost while queued)", ranA, ranB)
	}
	info := taskInfo(t, c)
	if info.State != types.TaskInfoStateRunning || info.Entity.Value != db.Self.Value {
		t.Fatalf("task-1 after the old task ended: %s on %s", info.State, info.Entity.Value)
	}
	close(release2)
	waitTaskState(t, c, types.TaskInfoStateSuccess)
	if rep := e.restart(0, nil); rep.Restart != 2 || rep.SessionsEnded != 0 {
		t.Fatalf("second restart %+v", rep)
	}
	if down, _ := e.life.down(time.Now()); down {
		t.Fatal("down=0 must not leave vCenter down")
	}
	if tm := simulator.Map.Get(taskManagerRef).(*simulator.TaskManager); len(tm.RecentTask) != 0 {
		t.Fatalf("TaskManager.recentTask %v", tm.RecentTask)
	}

}

func TestRestartEndpointAnd503(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	served := 0
	h := newFrontHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }), &options{apiVersion: "7.0.3.0"})
	do := func(method, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader("")))
		return w
	}
	if w := do("GET", "/pmemsim/restart"); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", w.Code)
	}
	for _, bad := range []string{"x", "-1", "NaN", "99999"} {
		if w := do("POST", "/pmemsim/restart?down="+bad); w.Code != http.StatusBadRequest {
			t.Fatalf("down=%s: %d", bad, w.Code)
		}
	}
	w := do("POST", "/pmemsim/restart?down=0.3")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"restart":1`) || !strings.Contains(w.Body.String(), `"down_s":0.3`) {
		t.Fatalf("restart: %d %s", w.Code, w.Body.String())
	}
	for _, p := range []string{"/sdk", "/pbm", "/sdk/vimServiceVersions.xml"} {
		w := do("POST", p)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "503 Service Unavailable") {
			t.Fatalf("%s while down: %d %s", p, w.Code, w.Body.String())
		}
	}
	if w := do("GET", "/pmemsim/stats"); w.Code != http.StatusOK {
		t.Fatalf("stats while down: %d", w.Code)
	}
	if served != 0 {
		t.Fatal("nothing reaches vCenter while it is down")
	}
	time.Sleep(350 * time.Millisecond)
	if w := do("POST", "/sdk"); w.Code == http.StatusServiceUnavailable || served != 1 {
		t.Fatalf("after down: %d, served %d", w.Code, served)
	}
	_ = e
}
