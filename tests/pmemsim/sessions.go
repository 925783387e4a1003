package main

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// API sessions expire after --session-idle-timeout (default 30m, vCenter's
// API session idle timeout) without a call. vcsim 0.24 has the knob
// (simulator.SessionIdleTimeout, default 0 = never) but only checks it every
// timeout interval and counts a call as activity when it starts, so a long
// WaitForUpdatesEx could be expired under a client's feet. pmemsim tracks
// activity in its HTTP front instead: every request carrying the session
// cookie (SOAP, PBM) refreshes it, a request in progress keeps it alive, and
// the first request after the timeout ends the session (TerminateSession
// through vcsim's in-process client) before vcsim sees the request, which
// then faults NotAuthenticated like any call without a session.

type sessionTracker struct {
	idle   time.Duration // 0 = never expire
	end    func(key string)
	mu     sync.Mutex
	active map[string]*sessionUse
}

type sessionUse struct {
	last     time.Time
	inFlight int
}

func newSessionTracker(idle time.Duration, end func(string)) *sessionTracker {
	return &sessionTracker{idle: idle, end: end, active: map[string]*sessionUse{}}
}

// login records a session vcsim just created (seen in Set-Cookie).
func (t *sessionTracker) login(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.active[key]; !ok {
		t.active[key] = &sessionUse{last: time.Now()}
	}
}

// sweep ends every session idle for longer than the timeout.
func (t *sessionTracker) sweep(now time.Time) {
	if t.idle <= 0 {
		return
	}
	var expired []string
	t.mu.Lock()
	for k, u := range t.active {
		if u.inFlight == 0 && now.Sub(u.last) > t.idle {
			expired = append(expired, k)
			delete(t.active, k)
		}
	}
	t.mu.Unlock()
	for _, k := range expired {
		t.end(k)
	}
}

// begin marks a request of the session as in progress; finish ends it. Both
// refresh the idle time.
func (t *sessionTracker) begin(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.active[key]
	if ok {
		u.inFlight++
		u.last = time.Now()
	}
	return ok
}

func (t *sessionTracker) finish(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u, ok := t.active[key]; ok {
		u.inFlight--
		u.last = time.Now()
	}
}

// forget drops sessions that ended through Logout or TerminateSession.
func (t *sessionTracker) forget(keys ...string) {
	t.mu.Lock()
	for _, k := range keys {
		delete(t.active, k)
	}
	t.mu.Unlock()
	for _, k := range keys {
		estate.hub.dropSession(k)
	}
}

// terminateSession ends a session in vcsim, as SessionManager.TerminateSession
// does (its calls then fault NotAuthenticated), and ends its waits.
func terminateSession(c *vim25.Client) func(string) {
	return func(key string) {
		_, _ = methods.TerminateSession(context.Background(), c, &types.TerminateSession{
			This: *c.ServiceContent.SessionManager, SessionId: []string{key}})
		estate.hub.dropSession(key)
	}
}

var terminateIDRe = regexp.MustCompile(`<(?:[A-Za-z0-9_]+:)?sessionId[^>]*>([^<]+)<`)

// track wraps one SOAP request of the session whose key the request carries.
// It returns the function to call when the request is done.
func (t *sessionTracker) track(r *http.Request, method string, body []byte) func(status int) {
	t.sweep(time.Now())
	key := ""
	if c, err := r.Cookie(soap.SessionCookieName); err == nil {
		key = c.Value
	}
	if key == "" || !t.begin(key) {
		return func(int) {}
	}
	return func(status int) {
		t.finish(key)
		if status != http.StatusOK {
			return
		}
		switch method {
		case "Logout":
			t.forget(key)
		case "TerminateSession":
			var ids []string
			for _, m := range terminateIDRe.FindAllSubmatch(body, -1) {
				ids = append(ids, string(m[1]))
			}
			t.forget(ids...)
		}
	}
}

// requireSession faults NotAuthenticated for PropertyCollector reads without
// a session (vcsim lets RetrieveProperties(Ex) and Fetch through), except
// reads of the SessionManager: vCenter answers currentSession with "unset"
// when not logged in, which is how pyVim's VimSessionOrientedStub tells that
// it must log in again (pyVim/connect.py, makeUserLoginMethod:
// "if not sm.currentSession"). The ServiceInstance stays readable (Fetch of
// "content" is how some clients start).
func requireSession(ctx *simulator.Context, specs []types.PropertyFilterSpec) *soap.Fault {
	if ctx.Session != nil {
		return nil
	}
	for _, s := range specs {
		for _, o := range s.ObjectSet {
			if (o.Obj.Type != "SessionManager" && o.Obj.Type != "ServiceInstance") || len(o.SelectSet) != 0 {
				return simulator.Fault("The session is not authenticated.", &types.NotAuthenticated{
					NoPermission: types.NoPermission{Object: o.Obj, PrivilegeId: "System.View"}})
			}
		}
	}
	return nil
}

// unauthenticatedRead answers a read of the SessionManager without a session:
// the object, with every property unset.
func unauthenticatedRead(specs []types.PropertyFilterSpec) *types.RetrieveResult {
	res := &types.RetrieveResult{}
	for _, s := range specs {
		for _, o := range s.ObjectSet {
			if o.Obj.Type == "SessionManager" {
				res.Objects = append(res.Objects, types.ObjectContent{Obj: o.Obj})
			}
		}
	}
	return res
}
