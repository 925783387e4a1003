package main

import (
	"reflect"
	"strconv"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// PPropertyCollector adds what vcsim 0.24 lacks:
//   - RetrievePropertiesEx pages like vCenter: at most maxPageSize() objects
//     per page (vCenter's default is 100, fewer if options.maxObjects asks
//     for fewer) plus a token; ContinueRetrievePropertiesEx /
//     CancelRetrievePropertiesEx page through the rest. Tokens belong to the
//     collector that issued them (the session's view of the ServiceContent
//     collector, or a private collector made with CreatePropertyCollector).
//   - WaitForUpdatesEx with truncation and without vcsim's 250 ms ticker
//     (updates.go).
//   - PropertyCollector calls without a valid session fault NotAuthenticated,
//     except reads of the SessionManager (sessions.go).
//
// vcsim clones the registered PropertyCollector's type for every session
// (reflect.New of the Go type, so a zero PPropertyCollector), and
// CreatePropertyCollector makes PPropertyCollectors too.
type PPropertyCollector struct {
	simulator.PropertyCollector

	mu      sync.Mutex
	pages   map[string]*pendingPage // token -> the rest of a RetrievePropertiesEx result
	pageSeq int64
	wait    *waitState // WaitForUpdatesEx state, made on first use
}

type pendingPage struct {
	rest []types.ObjectContent
	size int
}

func (pc *PPropertyCollector) Get() mo.Reference { return &pc.PropertyCollector }

func wrapPropertyCollector() {
	pcRef := simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance).Content.PropertyCollector
	if pc, ok := simulator.Map.Get(pcRef).(*simulator.PropertyCollector); ok {
		// Copy only the managed-object data: the rest of vcsim's
		// PropertyCollector (locks, filters) starts from its zero value, as
		// vcsim's own per-session clones do.
		np := &PPropertyCollector{}
		np.PropertyCollector.PropertyCollector = pc.PropertyCollector
		simulator.Map.Put(np)
	}
}

// CreatePropertyCollector makes private collectors of pmemsim's type, so
// that they page too (vcsim's makes a plain PropertyCollector).
func (pc *PPropertyCollector) CreatePropertyCollector(ctx *simulator.Context, c *types.CreatePropertyCollector) soap.HasFault {
	cpc := &PPropertyCollector{}
	cpc.Self.Type = "PropertyCollector" // Session.Put would name it after the Go type
	return &methods.CreatePropertyCollectorBody{Res: &types.CreatePropertyCollectorResponse{
		Returnval: ctx.Session.Put(cpc).Reference()}}
}

// pageLimit is the page size for a request: vCenter's cap (--max-page,
// default 100) unless the client asks for fewer; 0 = no limit.
func pageLimit(maxObjects int32, maxPage int) int {
	n := int(maxObjects)
	if maxPage > 0 && (n <= 0 || n > maxPage) {
		n = maxPage
	}
	return n
}

// page returns the first n objects and keeps the rest under a new token.
func (pc *PPropertyCollector) page(objs []types.ObjectContent, n int) ([]types.ObjectContent, string) {
	if n <= 0 || len(objs) <= n {
		return objs, ""
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.pages == nil {
		pc.pages = map[string]*pendingPage{}
	}
	pc.pageSeq++
	token := strconv.FormatInt(pc.pageSeq, 10)
	pc.pages[token] = &pendingPage{rest: objs[n:], size: n}
	return objs[:n], token
}

func (pc *PPropertyCollector) takePage(token string) *pendingPage {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	p := pc.pages[token]
	delete(pc.pages, token)
	return p
}

func (pc *PPropertyCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	if f := requireSession(ctx, r.SpecSet); f != nil {
		return &methods.RetrievePropertiesExBody{Fault_: f}
	}
	if ctx.Session == nil {
		return &methods.RetrievePropertiesExBody{Res: &types.RetrievePropertiesExResponse{Returnval: unauthenticatedRead(r.SpecSet)}}
	}
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	body, ok := res.(*methods.RetrievePropertiesExBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	rv := body.Res.Returnval
	rv.Objects, rv.Token = pc.page(rv.Objects, pageLimit(r.Options.MaxObjects, estate.maxPage))
	return body
}

// RetrieveProperties (deprecated) returns everything in one response, as on
// vCenter: it has no paging.
func (pc *PPropertyCollector) RetrieveProperties(ctx *simulator.Context, r *types.RetrieveProperties) soap.HasFault {
	if f := requireSession(ctx, r.SpecSet); f != nil {
		return &methods.RetrievePropertiesBody{Fault_: f}
	}
	if ctx.Session == nil {
		return &methods.RetrievePropertiesBody{Res: &types.RetrievePropertiesResponse{Returnval: unauthenticatedRead(r.SpecSet).Objects}}
	}
	return pc.PropertyCollector.RetrieveProperties(ctx, r)
}

func (pc *PPropertyCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	p := pc.takePage(r.Token)
	if p == nil {
		return &methods.ContinueRetrievePropertiesExBody{Fault_: simulator.Fault("unknown token", &types.InvalidArgument{InvalidProperty: "token"})}
	}
	objs, token := pc.page(p.rest, p.size)
	return &methods.ContinueRetrievePropertiesExBody{Res: &types.ContinueRetrievePropertiesExResponse{
		Returnval: types.RetrieveResult{Objects: objs, Token: token}}}
}

func (pc *PPropertyCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, r *types.CancelRetrievePropertiesEx) soap.HasFault {
	pc.takePage(r.Token)
	return &methods.CancelRetrievePropertiesExBody{Res: &types.CancelRetrievePropertiesExResponse{}}
}

// FetchResponse mirrors vcsim's internal type (same element name) so that
// pmemsim can answer Fetch itself.
type FetchResponse struct {
	Returnval types.AnyType `xml:"returnval,omitempty,typeattr"`
}

type fetchBody struct {
	Res    *FetchResponse `xml:"FetchResponse,omitempty"`
	Fault_ *soap.Fault    `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *fetchBody) Fault() *soap.Fault { return b.Fault_ }

// Fetch is what pyVmomi uses for every lazy property read. Stock vcsim
// panics (index out of range) when the property is unset, e.g.
// vm.snapshot on a VM without snapshots; pmemsim answers "unset" instead.
// The request type lives in vcsim's internal package, hence interface{}.
func (pc *PPropertyCollector) Fetch(ctx *simulator.Context, req interface{}) (res soap.HasFault) {
	if this, ok := reflect.Indirect(reflect.ValueOf(req)).FieldByName("This").Interface().(types.ManagedObjectReference); ok {
		if f := requireSession(ctx, []types.PropertyFilterSpec{{ObjectSet: []types.ObjectSpec{{Obj: this}}}}); f != nil {
			return &fetchBody{Fault_: f}
		}
		if ctx.Session == nil && this.Type == "SessionManager" {
			return &fetchBody{Res: &FetchResponse{}} // currentSession etc.: unset
		}
	}
	defer func() {
		if p := recover(); p != nil {
			res = &fetchBody{Res: &FetchResponse{}}
		}
	}()
	m := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch")
	out := m.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}
