package subscriber

import "github.com/tickcast/tickcast/port"

// Source, Batch, Raw and LineEvent are the transport side of a subscriber,
// defined in package port (where their contracts are documented) so that
// transports need not import this package.
type (
	Source        = port.Source
	Batch         = port.Batch
	Raw           = port.Raw
	LineEvent     = port.LineEvent
	LineEventKind = port.LineEventKind
)

// Line events, as port defines them.
const (
	LineUp   = port.LineUp
	LineDown = port.LineDown
	LineLoss = port.LineLoss
)
