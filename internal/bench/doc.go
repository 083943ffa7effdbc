// Package bench is tickcast's benchmark harness: the engine of
// `tickcast bench`.
//
// A benchmark is a plan of runs. Each run starts a publisher and one or
// more subscribers as separate processes (the harness re-executes its own
// binary with a hidden child subcommand, or runs the libzmq C peer), lets
// them warm up, measures, and collects from every process a result:
// counts, an HdrHistogram of latencies, GC and CPU figures. Scenarios:
//
//   - latency: the publisher sends on a fixed schedule at a target rate.
//     Every tick carries its intended send time, and the subscriber records
//     receive time − intended time, so a stall anywhere (pacer, publisher,
//     transport, subscriber) is charged to every tick it delayed: no
//     coordinated omission. The pacer's own lateness is measured and
//     reported apart.
//   - throughput: the publisher sends as fast as it can, swept over batch
//     size and flush delay; the subscriber reports delivered ticks/s and
//     bytes/s, and loss.
//   - fanout: the latency scenario with N subscriber processes.
//   - loss: the latency scenario across two network namespaces joined by a
//     veth pair, with nftables dropping a fraction of the publisher's
//     packets: what repair costs in the tail (root only).
//
// Implementations run side by side in the same plan: tickcast itself,
// libzmq (Debian's, through a small C peer the harness compiles) and
// go-zeromq/zmq4 with one tick per message, the naive Go baseline.
//
// A run that misses its target rate (by more than Config.RateTolerance) or
// loses ticks is marked FAIL in every output: the terminal report, the
// JSON, the plots and the ratios. Its numbers are kept, never averaged in.
//
// Run runs a plan and returns a Report; Report.WriteText and
// Report.WriteFiles render it; Child is what the child processes run.
package bench
