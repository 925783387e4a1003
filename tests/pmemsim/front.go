package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/soap"
)

// frontHandler sits in front of vcsim's ServeMux. It adds what the stock
// server lacks: request statistics, artificial latency, the /pbm/sdk alias,
// the PBM session taken from the vcSessionCookie SOAP header, a
// vimServiceVersions.xml consistent with --api-version, and panic safety
// (a bug in a handler answers with a SOAP fault instead of dropping the
// connection).
type frontHandler struct {
	mux     http.Handler
	latency time.Duration
	api     string

	mu    sync.Mutex
	stats map[string]int64
}

func newFrontHandler(mux http.Handler, o *options) *frontHandler {
	return &frontHandler{mux: mux, latency: time.Duration(o.latencyMs) * time.Millisecond,
		api: o.apiVersion, stats: map[string]int64{}}
}

var (
	// The SOAP method is the first element inside <Body>, whatever prefix.
	bodyMethodRe = regexp.MustCompile(`<(?:[A-Za-z0-9_]+:)?Body[^>]*>\s*<(?:[A-Za-z0-9_]+:)?([A-Za-z0-9_]+)`)
	vcCookieRe   = regexp.MustCompile(`<(?:[A-Za-z0-9_]+:)?vcSessionCookie[^>]*>([^<]+)<`)
)

func (h *frontHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.latency > 0 {
		time.Sleep(h.latency)
	}
	switch {
	case r.URL.Path == "/pmemsim/stats":
		h.serveStats(w)
		return
	case r.URL.Path == "/pmemsim/restart":
		h.serveRestart(w, r)
		return
	}
	if down, _ := estate.life.down(time.Now()); down {
		writeUnavailable(w, r.URL.Path)
		return
	}
	switch {
	case r.URL.Path == "/sdk/vimServiceVersions.xml":
		h.serveVersions(w)
		return
	case r.URL.Path == "/pbm/sdk":
		// pyVmomi's pbm samples use /pbm/sdk, govmomi uses /pbm.
		r.URL.Path = "/pbm"
	}

	if r.Method == http.MethodPost && (r.URL.Path == "/sdk" || r.URL.Path == "/pbm" || strings.HasPrefix(r.URL.Path, "/sdk/")) {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		method := ""
		if m := bodyMethodRe.FindSubmatch(body); m != nil {
			method = string(m[1])
			h.mu.Lock()
			h.stats[method]++
			h.mu.Unlock()
		}
		if why, ok := unsupportedMethods[method]; ok {
			writeSoapFault(w, "NotSupported", why)
			return
		}
		if method == "ReconfigVM_Task" || method == "CreateVM_Task" {
			body = rewriteConfigSpecPMem(body)
		}
		if method == "EnterMaintenanceMode_Task" || method == "ExitMaintenanceMode_Task" {
			body = maintenanceThis(body) // maintenance.go: the host's companion object
		}
		if r.URL.Path == "/pbm" {
			r.URL.Path = pbmPath // pmemsim's PBM registry (pbm.go)
			if _, err := r.Cookie(soap.SessionCookieName); err != nil {
				if m := vcCookieRe.FindSubmatch(body); m != nil {
					val := strings.Trim(string(m[1]), `"`)
					r.AddCookie(&http.Cookie{Name: soap.SessionCookieName, Value: val})
				}
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		cw := &cookieQuoter{ResponseWriter: w, status: http.StatusOK}
		done := estate.sessions.track(r, method, body)
		defer func() { done(cw.status) }()
		w = cw
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintf(os.Stderr, "pmemsim: recovered from panic: %v\n%s", p, debug.Stack())
				writeSoapFault(w, "SystemError", "pmemsim internal error: "+fmt.Sprint(p))
			}
		}()
	}
	if cw, ok := w.(*cookieQuoter); ok {
		h.mux.ServeHTTP(cw, r)
		return
	}
	h.mux.ServeHTTP(&cookieQuoter{ResponseWriter: w}, r)
}

var (
	pmemElemRe     = regexp.MustCompile(`(?s)<(?:[A-Za-z0-9_]+:)?pmem(?:\s[^>]*)?>(.*?)</(?:[A-Za-z0-9_]+:)?pmem>`)
	snapshotModeRe = regexp.MustCompile(`<(?:[A-Za-z0-9_]+:)?snapshotMode[^>]*>([^<]*)<`)
)

// rewriteConfigSpecPMem turns ConfigSpec.pmem (VirtualMachineVirtualPMem,
// vSphere 7.0.3) into extraConfig pmem.snapshotMode, the vmx key it is stored
// as (govmomi ovf/fixtures/external/SSM-VM-export.ovf). govmomi 0.24 has no
// such field, so its decoder would drop the element. A pmem element without
// snapshotMode is dropped (unset means "leave it").
func rewriteConfigSpecPMem(body []byte) []byte {
	return pmemElemRe.ReplaceAllFunc(body, func(el []byte) []byte {
		m := snapshotModeRe.FindSubmatch(el)
		if m == nil {
			return nil
		}
		return []byte(`<extraConfig><key>` + snapshotModeKey + `</key><value xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
			`xmlns:xsd="http://www.w3.org/2001/XMLSchema" xsi:type="xsd:string">` + string(m[1]) + `</value></extraConfig>`)
	})
}

// cookieQuoter makes vcsim's session cookie look like vCenter's:
// vmware_soap_session="<id>"; Path=/; HttpOnly. pyVmomi samples take the
// session id with cookie.split('"')[1] for the PBM vcSessionCookie header.
// It also tells the session tracker about new sessions and records the
// status code.
type cookieQuoter struct {
	http.ResponseWriter
	done   bool
	status int
}

func (c *cookieQuoter) fix() {
	if c.done {
		return
	}
	c.done = true
	hdr := c.ResponseWriter.Header()
	cookies := hdr.Values("Set-Cookie")
	for i, v := range cookies {
		prefix := soap.SessionCookieName + "="
		if strings.HasPrefix(v, prefix) && !strings.HasPrefix(v, prefix+`"`) {
			val := strings.SplitN(strings.TrimPrefix(v, prefix), ";", 2)[0]
			estate.sessions.login(val)
			cookies[i] = fmt.Sprintf(`%s"%s"; Path=/; HttpOnly`, prefix, val)
		}
	}
}

func (c *cookieQuoter) WriteHeader(code int) {
	c.fix()
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *cookieQuoter) Write(b []byte) (int, error) {
	c.fix()
	return c.ResponseWriter.Write(b)
}

// unsupportedMethods are refused before vcsim sees them: their stock
// implementations assume files on local directories and plain
// *simulator.Datastore objects, and would leave half-created VMs behind.
var unsupportedMethods = map[string]string{
	"RegisterVM_Task": "pmemsim does not simulate RegisterVM_Task",
	"ImportVApp":      "pmemsim does not simulate ImportVApp",
}

// writeSoapFault answers with a vim fault of the given type.
func writeSoapFault(w http.ResponseWriter, fault, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	detail := ""
	if fault == "SystemError" {
		detail = "<reason>" + xmlEscape(msg) + "</reason>"
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><%sFault xmlns="urn:vim25" xsi:type="%s">%s</%sFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
		xmlEscape(msg), fault, fault, detail, fault)
}

func (h *frontHandler) serveStats(w http.ResponseWriter) {
	h.mu.Lock()
	data, _ := json.Marshal(h.stats)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// serveRestart is POST /pmemsim/restart?down=SECONDS (restart.go).
func (h *frontHandler) serveRestart(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST /pmemsim/restart?down=SECONDS", http.StatusMethodNotAllowed)
		return
	}
	down := 0.0
	if v := r.URL.Query().Get("down"); v != "" {
		d, err := strconv.ParseFloat(v, 64)
		if err != nil || d < 0 || d > 3600 || math.IsNaN(d) {
			http.Error(w, "down: seconds, 0 to 3600", http.StatusBadRequest)
			return
		}
		down = d
	}
	keep, _ := r.Context().Value(connKey{}).(net.Conn)
	rep := estate.restart(time.Duration(down*float64(time.Second)), keep)
	data, _ := json.Marshal(rep)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close") // this connection goes too
	_, _ = w.Write(data)
}

// writeUnavailable is what vCenter's reverse proxy (rhttpproxy) answers
// while vpxd is not up: HTTP 503 with a plain-text body naming the endpoint.
func writeUnavailable(w http.ResponseWriter, path string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "503 Service Unavailable (Failed to connect to endpoint: [N7Vmacore4Http20NamedPipeServiceSpecE:0x0000pmemsim] _serverNamespace = %s action = Allow _pipeName =/var/run/vmware/vpxd-webserver-pipe)", path)
}

// serveVersions replaces vcsim's document, which always lists 6.0 and 5.5 as
// prior versions whatever ApiVersion is.
func (h *frontHandler) serveVersions(w http.ResponseWriter) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<namespaces version=\"1.0\">\n <namespace>\n  <name>urn:vim25</name>\n")
	fmt.Fprintf(&b, "  <version>%s</version>\n  <priorVersions>\n", h.api)
	for _, v := range priorAPIVersions(h.api) {
		fmt.Fprintf(&b, "   <version>%s</version>\n", v)
	}
	b.WriteString("  </priorVersions>\n </namespace>\n</namespaces>\n")
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, b.String())
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xmlEscapeText(&b, s)
	return b.String()
}

func xmlEscapeText(w io.Writer, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	_, err := io.WriteString(w, r.Replace(s))
	return err
}

// quietLogger drops net/http's "TLS handshake error" noise (clients probing
// the port, tests closing connections).
func quietLogger() *log.Logger {
	return log.New(io.Discard, "", 0)
}
