// Command pmemsim is a PMem-aware vCenter simulator built on govmomi's vcsim.
//
// It serves an inventory described by a YAML file (see README.md), models
// host persistent memory, PMem datastores, NVDIMMs, vPMemDisks, Storage
// vMotion with vCenter's concurrency limits, and runs VM tasks
// asynchronously, as a real vCenter does. Run it through ./run.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/vmware/govmomi/pbm/simulator" // registers the /pbm endpoint
	"github.com/vmware/govmomi/simulator"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run returns the process exit code: 0 after a clean shutdown, 2 for usage
// or inventory errors (nothing is printed on stdout then), 1 for runtime
// failures.
func run(args []string) int {
	opts, err := parseFlags(args)
	if err != nil {
		if err == errHelp {
			return 0
		}
		fmt.Fprintf(os.Stderr, "pmemsim: %v\n", err)
		return 2
	}

	inv, err := loadInventory(opts.inventory, opts.inventoryData)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pmemsim: %v\n", err)
		return 2
	}

	start := time.Now()
	est := newEstate(opts) // the one simulator state (estate.go)
	defer est.close()
	model, err := buildEstate(est, inv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pmemsim: building the inventory: %v\n", err)
		return 1
	}
	defer model.Remove()

	cert, pemBytes, err := selfSignedCert()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pmemsim: certificate: %v\n", err)
		return 1
	}
	if opts.certOut != "" {
		if err := os.WriteFile(opts.certOut, pemBytes, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "pmemsim: --cert-out: %v\n", err)
			return 1
		}
	}

	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pmemsim: --listen %s: %v\n", opts.listen, err)
		return 2
	}
	addr := ln.Addr().String()

	// vcsim's NewServer wires every endpoint (/sdk, /pbm, /folder, ...) into
	// its ServeMux and starts a throwaway listener. We keep the mux, close that
	// listener and serve the mux ourselves behind our own handler (stats,
	// latency, PBM session header, panic safety) with our own certificate,
	// because stock vcsim's test certificate fails OpenSSL's default level.
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.RegisterEndpoints = true
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(opts.user, opts.password)}
	vs := model.Service.NewServer()
	mux := model.Service.ServeMux
	vs.Close()
	simulator.Map.SessionManager().ServiceHostName = addr

	srv := &http.Server{
		Handler:   newFrontHandler(mux, opts),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:  quietLogger(),
		// a restart closes every open connection (restart.go)
		ConnState:   est.life.connState,
		ConnContext: connContext,
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()

	u := url.URL{Scheme: "https", Host: addr, Path: "/sdk", User: url.UserPassword(opts.user, opts.password)}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, u.String())
	_ = w.Flush()
	fmt.Fprintf(os.Stderr, "pmemsim: %d hosts, %d VMs, API %s, ready in %s\n",
		len(est.hosts), len(est.vms), opts.apiVersion, time.Since(start).Round(time.Millisecond))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-done:
		fmt.Fprintf(os.Stderr, "pmemsim: server stopped: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return 0
}
