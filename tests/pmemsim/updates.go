package main

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// WaitForUpdatesEx as vCenter answers it, replacing vcsim 0.24's:
//   - a pending change is returned as soon as it is published (vcsim polls
//     its queue on a 250 ms ticker "to allow updates to accumulate");
//   - at most maxPageSize() ObjectUpdates per call (vCenter's default is
//     100, fewer if options.maxObjectUpdates asks for fewer), with
//     truncated=true and a version from which the next call returns the
//     rest at once (govmomi HEAD simulator/property_collector.go:
//     defaultMaxObjectUpdates = 100 // vCenter's default);
//   - every session's collector gets the updates: vcsim 0.24 registers the
//     ServiceContent collector's per-session clones as registry handlers
//     under the same moref, so only the last session to wait got updates.
//
// One registry handler (the hub) receives every Put/Update/Remove and hands
// it to the collectors that have waited at least once.

// waitState is a collector's WaitForUpdatesEx state.
type waitState struct {
	session string
	pending []types.ObjectUpdate                                                   // raw registry changes not yet matched against the filters
	notify  chan struct{}                                                          // signalled when pending grows
	refs    map[types.ManagedObjectReference]map[types.ManagedObjectReference]bool // filter -> objects it has reported
	backlog []types.PropertyFilterUpdate                                           // matched, not yet returned (truncation)
	version int64
	cancel  context.CancelFunc // of the WaitForUpdatesEx in progress
	ended   bool
}

// updateHub fans registry changes out to collectors.
type updateHub struct {
	mu   sync.Mutex
	subs map[*PPropertyCollector]bool
}

var hubRef = types.ManagedObjectReference{Type: "PmemsimUpdateHub", Value: "pmemsim-update-hub"}

func (h *updateHub) Reference() types.ManagedObjectReference { return hubRef }

func (h *updateHub) push(u types.ObjectUpdate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for pc := range h.subs {
		pc.mu.Lock()
		if w := pc.wait; w != nil && !w.ended {
			w.pending = append(w.pending, u)
			select {
			case w.notify <- struct{}{}:
			default:
			}
		}
		pc.mu.Unlock()
	}
}

func (h *updateHub) PutObject(o mo.Reference) {
	h.push(types.ObjectUpdate{Obj: o.Reference(), Kind: types.ObjectUpdateKindEnter})
}

func (h *updateHub) UpdateObject(o mo.Reference, changes []types.PropertyChange) {
	h.push(types.ObjectUpdate{Obj: o.Reference(), Kind: types.ObjectUpdateKindModify, ChangeSet: changes})
}

func (h *updateHub) RemoveObject(ref types.ManagedObjectReference) {
	h.push(types.ObjectUpdate{Obj: ref, Kind: types.ObjectUpdateKindLeave})
}

func (h *updateHub) subscribe(pc *PPropertyCollector) {
	h.mu.Lock()
	h.subs[pc] = true
	h.mu.Unlock()
}

func (h *updateHub) unsubscribe(pc *PPropertyCollector) {
	h.mu.Lock()
	delete(h.subs, pc)
	h.mu.Unlock()
	pc.mu.Lock()
	if w := pc.wait; w != nil {
		w.ended = true
		w.pending, w.backlog = nil, nil
		if w.cancel != nil {
			w.cancel()
		}
	}
	pc.mu.Unlock()
}

// dropSession forgets every collector of a session that ended (logout,
// TerminateSession, idle timeout) and ends its waits.
func (h *updateHub) dropSession(key string) {
	h.mu.Lock()
	var gone []*PPropertyCollector
	for pc := range h.subs {
		pc.mu.Lock()
		if pc.wait != nil && pc.wait.session == key {
			gone = append(gone, pc)
		}
		pc.mu.Unlock()
	}
	h.mu.Unlock()
	for _, pc := range gone {
		h.unsubscribe(pc)
	}
}

func startUpdateHub() {
	estate.hub = &updateHub{subs: map[*PPropertyCollector]bool{}} // a new registry each model.Create
	simulator.Map.AddHandler(estate.hub)
}

// waiter returns the collector's wait state, subscribing it on first use.
func (pc *PPropertyCollector) waiter(ctx *simulator.Context) *waitState {
	pc.mu.Lock()
	w := pc.wait
	if w == nil {
		w = &waitState{notify: make(chan struct{}, 1), refs: map[types.ManagedObjectReference]map[types.ManagedObjectReference]bool{}}
		if ctx.Session != nil {
			w.session = ctx.Session.Key
		}
		pc.wait = w
		defer estate.hub.subscribe(pc)
	}
	pc.mu.Unlock()
	return w
}

func (pc *PPropertyCollector) filters(ctx *simulator.Context) []*simulator.PropertyFilter {
	var out []*simulator.PropertyFilter
	for _, ref := range pc.Filter {
		var obj mo.Reference
		if ctx.Session != nil {
			obj = ctx.Session.Get(ref)
		} else {
			obj = ctx.Map.Get(ref)
		}
		if f, ok := obj.(*simulator.PropertyFilter); ok {
			out = append(out, f)
		}
	}
	return out
}

// retrieve reads objects through vcsim's collector (no paging, no filters).
func (pc *PPropertyCollector) retrieve(ctx *simulator.Context, spec types.PropertyFilterSpec) ([]types.ObjectContent, *soap.Fault) {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{SpecSet: []types.PropertyFilterSpec{spec}})
	if f := res.Fault(); f != nil {
		return nil, f
	}
	body := res.(*methods.RetrievePropertiesExBody)
	if body.Res == nil || body.Res.Returnval == nil {
		return nil, nil
	}
	return body.Res.Returnval.Objects, nil
}

// enterNew adds an "enter" update for every object the filter now covers
// and has not reported yet (the first call reports the whole state).
func (pc *PPropertyCollector) enterNew(ctx *simulator.Context, f *simulator.PropertyFilter, refs map[types.ManagedObjectReference]bool, fu *types.PropertyFilterUpdate) *soap.Fault {
	objs, fault := pc.retrieve(ctx, f.Spec)
	if fault != nil {
		return fault
	}
	for _, o := range objs {
		if refs[o.Obj] {
			continue
		}
		refs[o.Obj] = true
		ou := types.ObjectUpdate{Obj: o.Obj, Kind: types.ObjectUpdateKindEnter}
		for _, p := range o.PropSet {
			ou.ChangeSet = append(ou.ChangeSet, types.PropertyChange{Op: types.PropertyChangeOpAssign, Name: p.Name, Val: p.Val})
		}
		fu.ObjectSet = append(fu.ObjectSet, ou)
	}
	return nil
}

// propSpecApplies tells whether a PropertySpec of type t covers the object
// (same type, or a base type such as ManagedEntity).
func propSpecApplies(t string, ref types.ManagedObjectReference) bool {
	if t == ref.Type {
		return true
	}
	obj := simulator.Map.Get(ref)
	if obj == nil {
		return false
	}
	if g, ok := obj.(interface{ Get() mo.Reference }); ok {
		obj = g.Get()
	}
	rt := reflect.TypeOf(obj)
	for rt.Kind() == reflect.Ptr {
		rt = rt.Elem()
	}
	if rt.Kind() != reflect.Struct {
		return false
	}
	f, ok := rt.FieldByName(t)
	return ok && f.Anonymous
}

// matchChanges keeps the changes a filter asked for. A change below a
// requested path ("info.state" for "info") is reported as the requested
// path with its current value, once; a change above a requested path
// ("info" for "info.state") is reported as the requested path.
func (pc *PPropertyCollector) matchChanges(ctx *simulator.Context, f *simulator.PropertyFilter, u types.ObjectUpdate) []types.PropertyChange {
	var out []types.PropertyChange
	seen := map[string]bool{}
	current := func(path string) (types.AnyType, bool) {
		objs, fault := pc.retrieve(ctx, types.PropertyFilterSpec{
			ObjectSet: []types.ObjectSpec{{Obj: u.Obj}},
			PropSet:   []types.PropertySpec{{Type: u.Obj.Type, PathSet: []string{path}}},
		})
		if fault != nil || len(objs) == 0 {
			return nil, false
		}
		for _, p := range objs[0].PropSet {
			if p.Name == path {
				return p.Val, true
			}
		}
		return nil, true // unset now
	}
	for _, c := range u.ChangeSet {
		for _, ps := range f.Spec.PropSet {
			if !propSpecApplies(ps.Type, u.Obj) {
				continue
			}
			if ps.All != nil && *ps.All {
				if !seen[c.Name] {
					seen[c.Name] = true
					out = append(out, c)
				}
				continue
			}
			for _, name := range ps.PathSet {
				switch {
				case name == c.Name:
					if !seen[name] {
						seen[name] = true
						out = append(out, c)
					}
				case strings.HasPrefix(c.Name, name+"."), strings.HasPrefix(name, c.Name+"."):
					if seen[name] {
						continue
					}
					seen[name] = true
					if val, ok := current(name); ok {
						op := types.PropertyChangeOpAssign
						if val == nil {
							op = types.PropertyChangeOpRemove
						}
						out = append(out, types.PropertyChange{Name: name, Op: op, Val: val})
					}
				}
			}
		}
	}
	return out
}

// collectPending matches the pending registry changes against the filters
// and appends the result to the backlog.
func (pc *PPropertyCollector) collectPending(ctx *simulator.Context, w *waitState, initial bool) *soap.Fault {
	pc.mu.Lock()
	pending := w.pending
	w.pending = nil
	pc.mu.Unlock()
	if len(pending) == 0 && !initial {
		return nil
	}
	needEnter := initial
	for _, u := range pending {
		if u.Kind != types.ObjectUpdateKindLeave {
			needEnter = true // a new object, or a change that may alter a traversal
		}
	}
	var out []types.PropertyFilterUpdate
	for _, f := range pc.filters(ctx) {
		refs := w.refs[f.Self]
		if refs == nil {
			refs = map[types.ManagedObjectReference]bool{}
			w.refs[f.Self] = refs
		}
		fu := types.PropertyFilterUpdate{Filter: f.Self}
		entered := map[types.ManagedObjectReference]bool{}
		if needEnter {
			before := len(fu.ObjectSet)
			if fault := pc.enterNew(ctx, f, refs, &fu); fault != nil {
				return fault
			}
			for _, ou := range fu.ObjectSet[before:] {
				entered[ou.Obj] = true
			}
		}
		for _, u := range pending {
			switch u.Kind {
			case types.ObjectUpdateKindModify:
				if !refs[u.Obj] || entered[u.Obj] {
					continue // entered objects already carry their current values
				}
				if cs := pc.matchChanges(ctx, f, u); len(cs) != 0 {
					fu.ObjectSet = append(fu.ObjectSet, types.ObjectUpdate{Obj: u.Obj, Kind: u.Kind, ChangeSet: cs})
				}
			case types.ObjectUpdateKindLeave:
				if refs[u.Obj] {
					delete(refs, u.Obj)
					fu.ObjectSet = append(fu.ObjectSet, types.ObjectUpdate{Obj: u.Obj, Kind: u.Kind})
				}
			}
		}
		if len(fu.ObjectSet) != 0 {
			out = append(out, fu)
		}
	}
	pc.mu.Lock()
	w.backlog = append(w.backlog, out...)
	pc.mu.Unlock()
	return nil
}

// takeBacklog removes up to max ObjectUpdates (0 = all) from the backlog.
func (w *waitState) takeBacklog(max int) ([]types.PropertyFilterUpdate, bool) {
	var out []types.PropertyFilterUpdate
	n := 0
	for len(w.backlog) > 0 {
		fu := w.backlog[0]
		if max > 0 && n+len(fu.ObjectSet) > max {
			k := max - n
			if k > 0 {
				out = append(out, types.PropertyFilterUpdate{Filter: fu.Filter, ObjectSet: fu.ObjectSet[:k], MissingSet: fu.MissingSet})
				w.backlog[0] = types.PropertyFilterUpdate{Filter: fu.Filter, ObjectSet: fu.ObjectSet[k:]}
			}
			return mergeByFilter(out), true
		}
		out = append(out, fu)
		n += len(fu.ObjectSet)
		w.backlog = w.backlog[1:]
	}
	return mergeByFilter(out), false
}

// mergeByFilter joins updates of the same filter (one PropertyFilterUpdate
// per filter in an UpdateSet).
func mergeByFilter(in []types.PropertyFilterUpdate) []types.PropertyFilterUpdate {
	var out []types.PropertyFilterUpdate
	idx := map[types.ManagedObjectReference]int{}
	for _, fu := range in {
		if i, ok := idx[fu.Filter]; ok {
			out[i].ObjectSet = append(out[i].ObjectSet, fu.ObjectSet...)
			out[i].MissingSet = append(out[i].MissingSet, fu.MissingSet...)
			continue
		}
		idx[fu.Filter] = len(out)
		out = append(out, fu)
	}
	return out
}

func (pc *PPropertyCollector) WaitForUpdatesEx(ctx *simulator.Context, r *types.WaitForUpdatesEx) soap.HasFault {
	body := &methods.WaitForUpdatesExBody{}
	set, fault := pc.waitForUpdates(ctx, r.Version, r.Options, true)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	body.Res = &types.WaitForUpdatesExResponse{Returnval: set}
	return body
}

// WaitForUpdates (deprecated) waits without a limit and never truncates.
func (pc *PPropertyCollector) WaitForUpdates(ctx *simulator.Context, r *types.WaitForUpdates) soap.HasFault {
	body := &methods.WaitForUpdatesBody{}
	set, fault := pc.waitForUpdates(ctx, r.Version, nil, false)
	if fault != nil {
		body.Fault_ = fault
		return body
	}
	if set == nil {
		set = &types.UpdateSet{Version: r.Version}
	}
	body.Res = &types.WaitForUpdatesResponse{Returnval: *set}
	return body
}

// CheckForUpdates (deprecated) returns the changes since version at once.
func (pc *PPropertyCollector) CheckForUpdates(ctx *simulator.Context, r *types.CheckForUpdates) soap.HasFault {
	zero := int32(0)
	set, fault := pc.waitForUpdates(ctx, r.Version, &types.WaitOptions{MaxWaitSeconds: &zero}, false)
	if fault != nil {
		return &methods.CheckForUpdatesBody{Fault_: fault}
	}
	return &methods.CheckForUpdatesBody{Res: &types.CheckForUpdatesResponse{Returnval: set}}
}

func (pc *PPropertyCollector) waitForUpdates(ctx *simulator.Context, version string, opts *types.WaitOptions, capped bool) (*types.UpdateSet, *soap.Fault) {
	w := pc.waiter(ctx)
	limit := 0
	if capped {
		var want int32
		if opts != nil {
			want = opts.MaxObjectUpdates
		}
		limit = pageLimit(want, estate.maxPage)
	}
	wait, cancel := context.WithCancel(context.Background())
	defer cancel()
	oneCheck := false
	if opts != nil && opts.MaxWaitSeconds != nil {
		if *opts.MaxWaitSeconds <= 0 {
			oneCheck = true
		} else {
			wait, cancel = context.WithTimeout(wait, time.Duration(*opts.MaxWaitSeconds)*time.Second)
			defer cancel()
		}
	}
	pc.mu.Lock()
	if w.ended {
		pc.mu.Unlock()
		return nil, simulator.Fault("", new(types.RequestCanceled))
	}
	if w.cancel != nil {
		w.cancel() // a newer wait on the same collector supersedes the old one
	}
	w.cancel = cancel
	pc.mu.Unlock()

	if version == "" {
		// A fresh start: report the whole state again.
		pc.mu.Lock()
		w.refs = map[types.ManagedObjectReference]map[types.ManagedObjectReference]bool{}
		w.backlog, w.pending = nil, nil
		pc.mu.Unlock()
		if fault := pc.collectPending(ctx, w, true); fault != nil {
			return nil, fault
		}
	}
	for {
		if fault := pc.collectPending(ctx, w, false); fault != nil {
			return nil, fault
		}
		pc.mu.Lock()
		fus, truncated := w.takeBacklog(limit)
		if len(fus) != 0 || version == "" {
			w.version++
			set := &types.UpdateSet{Version: strconv.FormatInt(w.version, 10), FilterSet: fus}
			if truncated {
				set.Truncated = types.NewBool(true)
			}
			pc.mu.Unlock()
			return set, nil
		}
		ended := w.ended
		pc.mu.Unlock()
		if ended {
			return nil, simulator.Fault("", new(types.RequestCanceled))
		}
		if oneCheck {
			return nil, nil
		}
		select {
		case <-w.notify:
		case <-wait.Done():
			if wait.Err() == context.DeadlineExceeded {
				return nil, nil // maxWaitSeconds passed without changes: unset result
			}
			return nil, simulator.Fault("", new(types.RequestCanceled))
		}
	}
}

// CancelWaitForUpdates ends the WaitForUpdatesEx in progress with RequestCanceled.
func (pc *PPropertyCollector) CancelWaitForUpdates(r *types.CancelWaitForUpdates) soap.HasFault {
	pc.mu.Lock()
	if pc.wait != nil && pc.wait.cancel != nil {
		pc.wait.cancel()
	}
	pc.mu.Unlock()
	return &methods.CancelWaitForUpdatesBody{Res: new(types.CancelWaitForUpdatesResponse)}
}

// DestroyPropertyCollector also ends the collector's waits.
func (pc *PPropertyCollector) DestroyPropertyCollector(ctx *simulator.Context, c *types.DestroyPropertyCollector) soap.HasFault {
	estate.hub.unsubscribe(pc)
	return pc.PropertyCollector.DestroyPropertyCollector(ctx, c)
}
