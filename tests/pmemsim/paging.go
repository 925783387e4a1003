package main

import (
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// PPropertyCollector adds what vcsim 0.24 lacks: RetrievePropertiesEx
// honours options.maxObjects and returns a token, and
// ContinueRetrievePropertiesEx / CancelRetrievePropertiesEx page through
// the rest. vcsim clones the registered PropertyCollector's type for every
// session, so each session's collector gets these methods, and
// CreatePropertyCollector makes PPropertyCollectors too; the pages are
// kept in one process-wide table.
type PPropertyCollector struct {
	simulator.PropertyCollector
}

func (pc *PPropertyCollector) Get() mo.Reference { return &pc.PropertyCollector }

var (
	pagesMu  sync.Mutex
	pages    = map[string][]types.ObjectContent{}
	pageSeq  int64
	pageSize = map[string]int{}
)

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

// page splits objects: returns the first n and stores the rest under a token.
func page(objs []types.ObjectContent, n int) ([]types.ObjectContent, string) {
	if n <= 0 || len(objs) <= n {
		return objs, ""
	}
	token := strconv.FormatInt(atomic.AddInt64(&pageSeq, 1), 10)
	pagesMu.Lock()
	pages[token] = objs[n:]
	pageSize[token] = n
	pagesMu.Unlock()
	return objs[:n], token
}

func (pc *PPropertyCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, r)
	body, ok := res.(*methods.RetrievePropertiesExBody)
	if !ok || body.Res == nil || body.Res.Returnval == nil {
		return res
	}
	n := int(r.Options.MaxObjects)
	rv := body.Res.Returnval
	rv.Objects, rv.Token = page(rv.Objects, n)
	return body
}

func (pc *PPropertyCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	pagesMu.Lock()
	rest, ok := pages[r.Token]
	n := pageSize[r.Token]
	delete(pages, r.Token)
	delete(pageSize, r.Token)
	pagesMu.Unlock()
	if !ok {
		return &methods.ContinueRetrievePropertiesExBody{Fault_: simulator.Fault("unknown token", &types.InvalidArgument{InvalidProperty: "token"})}
	}
	objs, token := page(rest, n)
	return &methods.ContinueRetrievePropertiesExBody{Res: &types.ContinueRetrievePropertiesExResponse{
		Returnval: types.RetrieveResult{Objects: objs, Token: token}}}
}

func (pc *PPropertyCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, r *types.CancelRetrievePropertiesEx) soap.HasFault {
	pagesMu.Lock()
	delete(pages, r.Token)
	delete(pageSize, r.Token)
	pagesMu.Unlock()
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
	defer func() {
		if p := recover(); p != nil {
			res = &fetchBody{Res: &FetchResponse{}}
		}
	}()
	m := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch")
	out := m.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}
