package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// listenPprof serves net/http/pprof on GATEWAY_PPROF_ADDR, a listener of
// its own: profiles are never reachable on the public port.
func (g *Gateway) listenPprof() error {
	ln, err := net.Listen("tcp", g.cfg.PprofAddr)
	if err != nil {
		return fmt.Errorf("GATEWAY_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	g.pprofLn = ln
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g.pprofSrv = srv // closed by Close before it waits for the workers
	g.closers = append(g.closers, srv.Close)
	g.work.Go("pprof listener", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.log.Info("pprof listener started", "addr", ln.Addr().String())
	return nil
}

// PprofAddr is the pprof listen address, or "" when GATEWAY_PPROF_ADDR is unset.
func (g *Gateway) PprofAddr() string {
	if g.pprofLn == nil {
		return ""
	}
	return g.pprofLn.Addr().String()
}
