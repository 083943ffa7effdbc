package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickcast/tickcast/metrics"
)

// checkMetricsAddr checks a --metrics value: HOST:PORT, the host an IP
// address or a name (empty: every interface), the port 0 to 65535.
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: --metrics %q: want HOST:PORT, e.g. 127.0.0.1:9464", errUsage, addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%w: --metrics %q: port %q is not a number from 0 to 65535", errUsage, addr, port)
	}
	_ = host
	return nil
}

// serveMetrics serves the collectors (and the Go runtime's and the
// process's metrics) at http://addr/metrics, if addr is set, and returns
// the function that stops serving. The address it listens on is printed on
// stderr (addr may ask for port 0).
func (e *env) serveMetrics(addr string, cs ...prometheus.Collector) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(cs...)
	srv, err := metrics.Listen(addr, reg, e.logger)
	if err != nil {
		return nil, err
	}
	e.notice("metrics at %s", srv.URL())
	return func() { srv.Close() }, nil
}
