package publisher

import "github.com/tickcast/tickcast/port"

// Sink, Message and SinkStats are the transport side of a publisher,
// defined in package port (where their contracts are documented) so that
// transports need not import this package.
type (
	Sink      = port.Sink
	Message   = port.Message
	SinkStats = port.SinkStats
)
